"""One :class:`Call` per DingTalk operation: what to send, built and validated before any I/O.

A call carries the operation's name (used in logs, errors, pacing and budget accounting), the method, the
path with every id percent-encoded as one segment, the query, the JSON body, the idempotency key and what
shape its answer must have (see :mod:`airflow_dtcal.core.answers`). Bad input raises
:class:`~airflow_dtcal.payloads.InvalidArgumentError` naming the argument, before anything is sent.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from airflow_dtcal.payloads import (
    MAX_ATTENDEES_PER_CALL,
    InvalidArgumentError,
    require_id,
    validate_response_status,
)

TOKEN_HEADER = "x-acs-dingtalk-access-token"
CLIENT_TOKEN_HEADER = "x-client-token"
TOKEN_PATH = "/v1.0/oauth2/accessToken"
USER_AGENT_PRODUCT = "airflow-dtcal"

#: An ``x-client-token`` we send: printable ASCII without spaces, so it can never break a header.
_CLIENT_TOKEN = re.compile(r"[!-~]{1,128}")


@dataclass(frozen=True)
class Call:
    """One API request, ready for either transport.

    :ivar expect: the answer's shape: ``"none"`` (no body needed), ``"object"``, ``"event"`` (an object with
        an ``id``), ``"token"``, ``"page:<key>"`` (an object whose ``<key>`` is a list of objects), or, for a
        legacy call, ``"legacy:user"`` / ``"legacy:userid"`` (``{"errcode": 0, "result": {...}}``; the
        checked ``result`` is the answer).
    :ivar legacy: a call to the legacy API (``oapi.dingtalk.com``): sent to the legacy host, with the access
        token in the ``access_token`` query parameter instead of the token header.
    """

    operation: str
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    client_token: str | None = None
    authenticated: bool = True
    expect: str = "object"
    legacy: bool = False

    def json_body(self) -> bytes | None:
        """The body as UTF-8 JSON bytes; NaN and infinities are refused, not sent."""
        if self.body is None:
            return None
        try:
            return json.dumps(self.body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        except (TypeError, ValueError) as err:
            raise InvalidArgumentError(
                self.operation, f"the request body is not plain JSON ({err})"
            ) from None

    def headers(self) -> dict[str, str]:
        return {CLIENT_TOKEN_HEADER: self.client_token} if self.client_token else {}

    def __repr__(self) -> str:  # bodies can be large and hold personal data: name the call only
        return f"Call({self.operation} {self.method} {self.path})"


def segment(value: Any, field_name: str) -> str:
    """One percent-encoded path segment: an id like ``../x`` cannot change the path, ``.``/``..`` are refused."""
    text = require_id(value, field_name)
    if text in (".", ".."):
        raise InvalidArgumentError(field_name, "must not be '.' or '..' (it would change the request path)")
    return quote(text, safe="")


def client_token(value: str | None) -> str:
    """A valid ``x-client-token``: the given one, or a random one that still makes in-hook retries idempotent."""
    if value is None:
        return uuid.uuid4().hex
    if not isinstance(value, str) or not _CLIENT_TOKEN.fullmatch(value):
        raise InvalidArgumentError(
            "client_token", "must be 1 to 128 printable ASCII characters without spaces or line breaks", value
        )
    return value


def events_path(user_id: str, calendar_id: str) -> str:
    return f"/v1.0/calendar/users/{segment(user_id, 'user_id')}/calendars/{segment(calendar_id, 'calendar_id')}/events"


def event_path(user_id: str, calendar_id: str, event_id: str, suffix: str = "") -> str:
    return f"{events_path(user_id, calendar_id)}/{segment(event_id, 'event_id')}{suffix}"


def _page_size(value: Any, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise InvalidArgumentError("page_size", f"must be a whole number from 1 to {high}", value)
    return value


# --------------------------------------------------------------------------------------------- token


def get_access_token(app_key: str, app_secret: str) -> Call:
    return Call(
        "GetAccessToken",
        "POST",
        TOKEN_PATH,
        body={"appKey": app_key, "appSecret": app_secret},
        authenticated=False,
        expect="token",
    )


# --------------------------------------------------------------------------------------------- events


def create_event(user_id: str, event: Any, calendar_id: str, token: str) -> Call:
    if not isinstance(event, Mapping) or not event.get("summary") or not event.get("start"):
        raise InvalidArgumentError("event", "must be a dict with at least 'summary' and 'start'")
    if len(event.get("attendees") or []) > MAX_ATTENDEES_PER_CALL:
        raise InvalidArgumentError(
            "event.attendees", f"at most {MAX_ATTENDEES_PER_CALL} per CreateEvent call"
        )
    return Call(
        "CreateEvent",
        "POST",
        events_path(user_id, calendar_id),
        body=dict(event),
        client_token=token,
        expect="event",
    )


def get_event(user_id: str, event_id: str, calendar_id: str, max_attendees: int | None) -> Call:
    params = {}
    if max_attendees is not None:
        params["maxAttendees"] = _page_size(max_attendees, MAX_ATTENDEES_PER_CALL)
    return Call("GetEvent", "GET", event_path(user_id, calendar_id, event_id), params=params, expect="event")


def patch_event(user_id: str, event_id: str, changes: Any, calendar_id: str, token: str) -> Call:
    path = event_path(user_id, calendar_id, event_id)
    if not isinstance(changes, Mapping) or not changes:
        raise InvalidArgumentError("changes", "must be a non-empty dict of wire-format fields", changes)
    body = {**changes, "id": require_id(event_id, "event_id")}
    return Call("PatchEvent", "PUT", path, body=body, client_token=token, expect="event")


def delete_event(
    user_id: str, event_id: str, calendar_id: str, push_notification: bool | None, token: str
) -> Call:
    params = {}
    if push_notification is not None:
        params["pushNotification"] = "true" if push_notification else "false"
    path = event_path(user_id, calendar_id, event_id)
    return Call("DeleteEvent", "DELETE", path, params=params, client_token=token, expect="none")


def list_events(
    user_id: str,
    calendar_id: str,
    *,
    time_min: str | None,
    time_max: str | None,
    show_deleted: bool,
    page_size: int,
) -> Call:
    params: dict[str, Any] = {"maxResults": _page_size(page_size, 100)}
    if time_min:
        params["timeMin"] = time_min
    if time_max:
        params["timeMax"] = time_max
    if show_deleted:
        params["showDeleted"] = "true"
    return Call("ListEvents", "GET", events_path(user_id, calendar_id), params=params, expect="page:events")


# --------------------------------------------------------------------------------------------- attendees


def add_attendees(
    user_id: str, event_id: str, chunk: list[dict], calendar_id: str, flags: Mapping[str, bool], token: str
) -> Call:
    path = event_path(user_id, calendar_id, event_id, "/attendees")
    body = {"attendeesToAdd": chunk, **flags}
    return Call("AddAttendee", "POST", path, body=body, client_token=token, expect="none")


def remove_attendees(user_id: str, event_id: str, chunk: list[str], calendar_id: str, token: str) -> Call:
    path = event_path(user_id, calendar_id, event_id, "/attendees/batchRemove")
    body = {"attendeesToRemove": [{"id": attendee_id} for attendee_id in chunk]}
    return Call("RemoveAttendee", "POST", path, body=body, client_token=token, expect="none")


def list_attendees(user_id: str, event_id: str, calendar_id: str, page_size: int) -> Call:
    path = event_path(user_id, calendar_id, event_id, "/attendees")
    params = {"maxResults": _page_size(page_size, MAX_ATTENDEES_PER_CALL)}
    return Call("ListAttendees", "GET", path, params=params, expect="page:attendees")


def respond_event(user_id: str, event_id: str, response_status: str, calendar_id: str, token: str) -> Call:
    path = event_path(user_id, calendar_id, event_id, "/respond")
    body = {"responseStatus": validate_response_status(response_status)}
    return Call("RespondEvent", "POST", path, body=body, client_token=token, expect="none")


# --------------------------------------------------------------------------------------------- people (legacy API)

USER_GET_PATH = "/topapi/v2/user/get"
USER_BY_MOBILE_PATH = "/topapi/v2/user/getbymobile"


def get_user(user_id: str) -> Call:
    """A member's details by org userId: ``userid``, ``unionid``, ``name``, ``active``... (legacy API)."""
    body = {"userid": require_id(user_id, "user_id")}
    return Call("GetUser", "POST", USER_GET_PATH, body=body, expect="legacy:user", legacy=True)


def get_user_by_mobile(mobile: str) -> Call:
    """The userId of the active member with this mobile number (legacy API)."""
    body = {"mobile": require_id(mobile, "mobile")}
    return Call(
        "GetUserByMobile", "POST", USER_BY_MOBILE_PATH, body=body, expect="legacy:userid", legacy=True
    )
