"""One :class:`Call` per DingTalk operation: what to send, built and validated before any I/O.

A call carries the operation's name (used in logs, errors, pacing and budget accounting), the method, the
path with every id percent-encoded as one segment, the query, the JSON body, the idempotency key and what
shape its answer must have (see :mod:`airflow_dtcal.core.answers`). Bad input raises
:class:`~airflow_dtcal.payloads.InvalidArgumentError` naming the argument, before anything is sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.ids import MAX_ATTENDEES_PER_CALL, require_id, validate_response_status
from airflow_dtcal.core.times import read_wire_time

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
        checked ``result`` is the answer), or ``"stream"`` (Stream mode's ``endpoint`` and ``ticket``).
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


# --------------------------------------------------------------------------------------------- idempotency


def derive_client_token(*parts: Any) -> str:
    """A deterministic ``x-client-token`` (32 hex chars) from the parts that identify one logical write.

    Operators pass (dag id, task id, run id, map index, operation, payload); the hook derives one per chunk.
    The same parts always give the same token, so a retried request is recognised by DingTalk as a repeat.
    """
    canonical = json.dumps(
        parts, sort_keys=True, separators=(",", ":"), default=_canonical, ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _canonical(value: Any) -> Any:
    """JSON for values json cannot write: sets in sorted order (never hash order), the rest as text."""
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) if isinstance(v, (set, frozenset)) else v for v in value), key=str)
    return str(value)


def events_path(user_id: str, calendar_id: str) -> str:
    return f"/v1.0/calendar/users/{segment(user_id, 'user_id')}/calendars/{segment(calendar_id, 'calendar_id')}/events"


def event_path(user_id: str, calendar_id: str, event_id: str, suffix: str = "") -> str:
    return f"{events_path(user_id, calendar_id)}/{segment(event_id, 'event_id')}{suffix}"


def _page_size(value: Any, high: int, field_name: str = "page_size") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise InvalidArgumentError(field_name, f"must be a whole number from 1 to {high}", value)
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


def _check_times(body: Mapping[str, Any], field: str) -> None:
    """A raw body's ``start``/``end``, read by the one rule before anything is sent (a ``dateTime`` with
    neither offset nor ``timeZone`` names ``<field>.start.dateTime``, say)."""
    for name in ("start", "end"):
        if body.get(name) is not None:
            read_wire_time(body[name], f"{field}.{name}")


def create_event(user_id: str, event: Any, calendar_id: str, token: str) -> Call:
    if not isinstance(event, Mapping) or not event.get("summary") or not event.get("start"):
        raise InvalidArgumentError("event", "must be a dict with at least 'summary' and 'start'")
    _check_times(event, "event")
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
    _check_times(changes, "changes")
    body = {**changes, "id": require_id(event_id, "event_id")}
    return Call("PatchEvent", "PUT", path, body=body, client_token=token, expect="event")


def delete_event(
    user_id: str, event_id: str, calendar_id: str, push_notification: bool | None, token: str
) -> Call:
    params = {}
    if optional_flag(push_notification, "push_notification") is not None:
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


#: The longest ``syncToken`` we send back: DingTalk's are short opaque strings; this only bounds the URL.
MAX_SYNC_TOKEN_CHARS = 4096
_SYNC_TOKEN = re.compile(r"[!-~]+")


def check_sync_token(value: Any, field_name: str = "sync_token") -> str:
    """A ``syncToken`` as given back by ListEvents: printable ASCII without spaces, at most 4096 characters."""
    if not isinstance(value, str) or not _SYNC_TOKEN.fullmatch(value) or len(value) > MAX_SYNC_TOKEN_CHARS:
        raise InvalidArgumentError(
            field_name,
            f"must be the syncToken a ListEvents answer gave (printable ASCII, no spaces, at most "
            f"{MAX_SYNC_TOKEN_CHARS} characters), or None for a full listing",
            value,
        )
    return value


def list_event_changes(
    user_id: str,
    calendar_id: str,
    *,
    sync_token: str | None,
    time_min: str | None,
    page_size: int,
    max_attendees: int,
) -> Call:
    """ListEvents for incremental sync: deletions included (``showDeleted``), never ``timeMax`` (DingTalk
    returns no ``syncToken`` when it is set); ``timeMin`` only for a full listing."""
    params: dict[str, Any] = {
        "maxResults": _page_size(page_size, 100),
        "maxAttendees": _page_size(max_attendees, 100, "max_attendees"),
        "showDeleted": "true",
    }
    if sync_token is not None:
        params["syncToken"] = check_sync_token(sync_token)
        if time_min is not None:
            raise InvalidArgumentError(
                "time_min", "cannot be combined with sync_token (a delta covers the whole calendar)", time_min
            )
    elif time_min is not None:
        if not isinstance(time_min, str) or not time_min.strip():
            raise InvalidArgumentError("time_min", "must be an ISO-8601 date-time or None", time_min)
        params["timeMin"] = time_min.strip()
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


# --------------------------------------------------------------------------------------------- lifecycle


def optional_flag(value: Any, field_name: str) -> bool | None:
    if value is not None and not isinstance(value, bool):  # 1 == True: not a flag
        raise InvalidArgumentError(field_name, "must be true, false or None", value)
    return value


def cancel_event(user_id: str, event_id: str, calendar_id: str, scope: str | None, token: str) -> Call:
    """CancelEvent (SDK-only): the organizer cancels the event; it stays readable with status cancelled."""
    path = event_path(user_id, calendar_id, event_id, "/cancel")
    params = {"scope": require_id(scope, "scope")} if scope is not None else {}
    return Call("CancelEvent", "POST", path, params=params, client_token=token, expect="none")


def transfer_event(
    user_id: str,
    event_id: str,
    new_organizer_id: str,
    calendar_id: str,
    exit_calendar: bool | None,
    notify: bool | None,
    token: str,
) -> Call:
    """TransferEvent (SDK-only): the organizer ``user_id`` hands the event to ``new_organizer_id``."""
    path = event_path(user_id, calendar_id, event_id, "/transfer")
    new = require_id(new_organizer_id, "new_organizer_id")
    if new == require_id(user_id, "user_id"):
        raise InvalidArgumentError("new_organizer_id", "is already the organizer", new)
    body: dict[str, Any] = {"newOrganizerId": new}
    for key, name, flag in (
        ("isExitCalendar", "exit_calendar", exit_calendar),
        ("needNotifyViaO2O", "notify", notify),
    ):
        if optional_flag(flag, name) is not None:
            body[key] = flag
    return Call("TransferEvent", "POST", path, body=body, client_token=token, expect="none")


def list_events_view(
    user_id: str, calendar_id: str, *, time_min: Any, time_max: Any, page_size: int, max_attendees: int
) -> Call:
    """ListEventsView: the events in a window with recurring series expanded into their occurrences."""
    path = f"/v1.0/calendar/users/{segment(user_id, 'user_id')}/calendars/{segment(calendar_id, 'calendar_id')}/eventsview"
    params = _occurrence_window(time_min, time_max, page_size, max_attendees)
    return Call("ListEventsView", "GET", path, params=params, expect="page:events")


def _occurrence_window(time_min: Any, time_max: Any, page_size: int, max_attendees: int) -> dict[str, Any]:
    """The query of a listing of occurrences (ListEventsView, ListInstances): both window ends required."""
    for name, value in (("time_min", time_min), ("time_max", time_max)):
        if not isinstance(value, str) or not value.strip():
            raise InvalidArgumentError(
                name, "is required: an ISO-8601 date-time, e.g. 2026-03-09T00:00:00Z", value
            )
    return {
        "timeMin": time_min.strip(),
        "timeMax": time_max.strip(),
        "maxResults": _page_size(page_size, 100),
        "maxAttendees": _page_size(max_attendees, 100),
    }


def list_instances(
    user_id: str,
    calendar_id: str,
    event_id: str,
    *,
    time_min: Any,
    time_max: Any,
    page_size: int,
    max_attendees: int,
) -> Call:
    """ListInstances (SDK-only): the occurrences of one recurring series in a window, each with its own id,
    ``seriesMasterId`` and ``originStart``."""
    path = event_path(user_id, calendar_id, event_id, "/instances")
    params = _occurrence_window(time_min, time_max, page_size, max_attendees)
    return Call("ListInstances", "GET", path, params=params, expect="page:events")


# --------------------------------------------------------------------------------------------- free/busy

#: GetSchedule takes at most 20 people per call [DOC free-schedule].
MAX_SCHEDULE_USERS = 20


def get_schedule(user_id: str, user_ids: list[str], start_time: str, end_time: str) -> Call:
    """GetSchedule: the busy times of up to 20 people; times in the SDK's UTC form ``yyyy-MM-ddTHH:mmZ``."""
    if not 1 <= len(user_ids) <= MAX_SCHEDULE_USERS:
        raise InvalidArgumentError(
            "user_ids", f"1 to {MAX_SCHEDULE_USERS} per GetSchedule call", len(user_ids)
        )
    path = f"/v1.0/calendar/users/{segment(user_id, 'user_id')}/querySchedule"
    body = {"userIds": list(user_ids), "startTime": start_time, "endTime": end_time}
    return Call("GetSchedule", "POST", path, body=body, expect="object")


# --------------------------------------------------------------------------------------------- meeting rooms

#: Rooms per event [DOC add-a-meeting-room]; rooms per GetMeetingRoomsSchedule call (DingTalk recommends 5).
MAX_ROOMS_PER_EVENT = 5
MAX_ROOMS_PER_SCHEDULE_CALL = 5


def room_ids(value: Any, field_name: str = "room_ids", high: int = MAX_ROOMS_PER_EVENT) -> list[str]:
    """1 to ``high`` distinct room ids."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise InvalidArgumentError(field_name, "must be a list of room ids", value)
    ids = [require_id(room, f"{field_name}[{i}]") for i, room in enumerate(value)]
    if not 1 <= len(ids) <= high:
        raise InvalidArgumentError(field_name, f"must name 1 to {high} rooms", len(ids))
    if len(set(ids)) != len(ids):
        raise InvalidArgumentError(field_name, "names a room twice", value)
    return ids


def add_meeting_rooms(user_id: str, event_id: str, rooms: list[str], calendar_id: str, token: str) -> Call:
    path = event_path(user_id, calendar_id, event_id, "/meetingRooms")
    body = {"meetingRoomsToAdd": [{"roomId": room} for room in room_ids(rooms)]}
    return Call("AddMeetingRooms", "POST", path, body=body, client_token=token, expect="object")


def remove_meeting_rooms(user_id: str, event_id: str, rooms: list[str], calendar_id: str, token: str) -> Call:
    path = event_path(user_id, calendar_id, event_id, "/meetingRooms/batchRemove")
    body = {"meetingRoomsToRemove": [{"roomId": room} for room in room_ids(rooms)]}
    return Call("RemoveMeetingRooms", "POST", path, body=body, client_token=token, expect="object")


#: The answers a meeting room gives a booking (GetEvent's ``meetingRooms[].responseStatus`` [DOC
#: query-details-about-an-event]; ``tentative`` is "pending approval").
ROOM_RESPONSES = ("accepted", "declined", "tentative")


def meeting_room_respond(
    user_id: str, event_id: str, room_id: str, response_status: str, calendar_id: str, token: str
) -> Call:
    """MeetingRoomRespond (SDK-only): a room's answer to its booking by the event."""
    if response_status not in ROOM_RESPONSES:
        raise InvalidArgumentError(
            "response_status", f"must be one of {', '.join(ROOM_RESPONSES)}", response_status
        )
    path = event_path(user_id, calendar_id, event_id, f"/meetingRooms/{segment(room_id, 'room_id')}/respond")
    body = {"responseStatus": response_status}
    return Call("MeetingRoomRespond", "POST", path, body=body, client_token=token, expect="object")


def get_meeting_rooms_schedule(user_id: str, rooms: list[str], start_time: str, end_time: str) -> Call:
    """GetMeetingRoomsSchedule: busy times of rooms; the window may span at most 90 days [DOC]."""
    path = f"/v1.0/calendar/users/{segment(user_id, 'user_id')}/meetingRooms/schedules/query"
    body = {
        "roomIds": room_ids(rooms, high=MAX_ROOMS_PER_SCHEDULE_CALL),
        "startTime": start_time,
        "endTime": end_time,
    }
    return Call("GetMeetingRoomsSchedule", "POST", path, body=body, expect="object")


def list_meeting_rooms(union_id: str, page_size: int, next_token: int | None = None) -> Call:
    """QueryMeetingRoomList (rooms module): one page of the org's rooms; ``nextToken`` is a number."""
    params: dict[str, Any] = {
        "unionId": require_id(union_id, "union_id"),
        "maxResults": _page_size(page_size, 100),
    }
    if next_token is not None:
        params["nextToken"] = next_token
    return Call("QueryMeetingRoomList", "GET", "/v1.0/rooms/meetingRoomLists", params=params, expect="object")


# --------------------------------------------------------------------------------------------- people (legacy API)

USER_GET_PATH = "/topapi/v2/user/get"
USER_BY_MOBILE_PATH = "/topapi/v2/user/getbymobile"
USER_BY_UNION_ID_PATH = "/topapi/user/getbyunionid"


def get_user(user_id: str) -> Call:
    """A member's details by org userId: ``userid``, ``unionid``, ``name``, ``active``... (legacy API)."""
    body = {"userid": require_id(user_id, "user_id")}
    return Call("GetUser", "POST", USER_GET_PATH, body=body, expect="legacy:user", legacy=True)


def get_user_by_mobile(mobile: str) -> Call:
    """The userId of the member with this mobile number, as DingTalk stores it (legacy API; see
    :func:`airflow_dtcal.planning.people.normalise_mobile`)."""
    body = {"mobile": require_id(mobile, "mobile")}
    return Call(
        "GetUserByMobile", "POST", USER_BY_MOBILE_PATH, body=body, expect="legacy:userid", legacy=True
    )


def get_user_by_union_id(union_id: str) -> Call:
    """The org userId of the person with this unionId, and their ``contact_type`` (0: a member of the
    organisation, 1: an external contact) (legacy API)."""
    body = {"unionid": require_id(union_id, "union_id")}
    return Call(
        "GetUserByUnionId", "POST", USER_BY_UNION_ID_PATH, body=body, expect="legacy:userid", legacy=True
    )


# --------------------------------------------------------------------------------------------- check-in

#: GetSignInList and GetSignOutList, by the ``type`` DingTalk takes.
SIGN_IN_LISTS = {
    "sign_in": ("GetSignInList", "/signin"),
    "not_yet_sign_in": ("GetSignInList", "/signin"),
    "sign_out": ("GetSignOutList", "/signOut"),
    "not_yet_sign_out": ("GetSignOutList", "/signOut"),
}


def sign_ins(organizer_id: str, event_id: str, calendar_id: str, *, status: str, page_size: int) -> Call:
    """One event's check-in (or check-out) list; the path user is the organizer."""
    if status not in SIGN_IN_LISTS:
        raise InvalidArgumentError("status", f"must be one of {', '.join(SIGN_IN_LISTS)}", status)
    operation, suffix = SIGN_IN_LISTS[status]
    path = event_path(organizer_id, calendar_id, event_id, suffix)
    params = {"maxResults": _page_size(page_size, 500), "type": status}
    return Call(operation, "GET", path, params=params, expect="page:users")


#: GetSignInLink and GetSignOutLink (SDK-only), by direction: the operation, its path and answer field.
CHECK_IN_LINKS = {
    "in": ("GetSignInLink", "/signInLinks", "signInLink"),
    "out": ("GetSignOutLink", "/signOutLinks", "signOutLink"),
}


def check_in_link(organizer_id: str, event_id: str, calendar_id: str, direction: str) -> Call:
    """The link attendees open to check in (``direction="in"``) or out (``"out"``) of an event."""
    if direction not in CHECK_IN_LINKS:
        raise InvalidArgumentError("direction", "must be 'in' or 'out'", direction)
    operation, suffix, _field = CHECK_IN_LINKS[direction]
    return Call(operation, "GET", event_path(organizer_id, calendar_id, event_id, suffix), expect="object")


# --------------------------------------------------------------------------------------------- legacy ids

#: Legacy event ids per ConvertLegacyEventId call: undocumented, chosen small (the answer is a map).
MAX_LEGACY_IDS_PER_CALL = 100


def convert_legacy_event_ids(user_id: str, legacy_ids: list[str]) -> Call:
    """ConvertLegacyEventId (SDK-only): the v1.0 event ids of events made with the old calendar API."""
    path = f"/v1.0/calendar/users/{segment(user_id, 'user_id')}/legacyEventIds/convert"
    if not 1 <= len(legacy_ids) <= MAX_LEGACY_IDS_PER_CALL:
        raise InvalidArgumentError(
            "legacy_event_ids", f"must name 1 to {MAX_LEGACY_IDS_PER_CALL} ids a call", len(legacy_ids)
        )
    return Call("ConvertLegacyEventId", "POST", path, body={"legacyEventIds": legacy_ids}, expect="object")


# --------------------------------------------------------------------------------------------- stream

STREAM_OPEN_PATH = "/v1.0/gateway/connections/open"
_TOPIC = re.compile(r"[A-Za-z0-9_*./-]{1,128}")


def open_stream_connection(app_key: str, app_secret: str, topics: Any) -> Call:
    """Stream mode's connection-open call: a WebSocket endpoint and a one-time ticket for this app's events.

    The app credentials go in the body (that is the protocol); the call needs no access token and is not a
    calendar call, so it is neither paced nor counted against the monthly quota.
    """
    if isinstance(topics, str) or not isinstance(topics, list | tuple) or not topics:
        raise InvalidArgumentError("topics", "must be a non-empty list of event topics", topics)
    for index, topic in enumerate(topics):
        if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
            raise InvalidArgumentError(
                f"topics[{index}]", "must be an event topic such as 'calendar_event_change' or '*'", topic
            )
    body = {
        "clientId": app_key,
        "clientSecret": app_secret,
        "subscriptions": [{"type": "EVENT", "topic": topic} for topic in dict.fromkeys(topics)],
        "ua": USER_AGENT_PRODUCT,
        "localIp": "",
    }
    return Call(
        "OpenStreamConnection", "POST", STREAM_OPEN_PATH, body=body, authenticated=False, expect="stream"
    )
