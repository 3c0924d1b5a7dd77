"""The documented DingTalk Calendar operations as data: one row per operation, so adding one is a line.

Each :class:`Operation` names the operation as the official SDK does (``alibabacloud-dingtalk`` 2.2.65,
``calendar_1_0``), its method and path template (``{userId}``, ``{calendarId}``...: wire names), whether it
takes the ``x-client-token`` idempotency header, the shape its answer must have
(:func:`~airflow_dtcal.core.answers.check_shape`), whether DingTalk counts it toward the monthly API quota,
and whether it is documented (``doc``) or only in the SDK (``sdk``).

:func:`build_call` turns a row and its arguments into a :class:`~airflow_dtcal.core.calls.Call`, checked
before any request: an unknown operation, a missing or unexpected path parameter, a query or body that is
not plain JSON values, or an idempotency key the operation does not take is refused naming it. Path values
are percent-encoded one segment each (:func:`~airflow_dtcal.core.calls.segment`).

Operations that need a *user's* access token (the SDK's ``*ByMe`` variants: ``/v1.0/calendar/me/...``) are
not rows: the hook holds an app token, which DingTalk does not accept there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_dtcal.core.calls import Call, client_token, segment
from airflow_dtcal.core.errors import InvalidArgumentError

_PARAM = re.compile(r"\{([A-Za-z]+)\}")
#: Path parameters that name a person (a unionId): an operator resolves them by ``id_type``.
PERSON_PARAMS = frozenset({"userId"})
#: The longest query value we send (DingTalk's are ids, tokens, times and numbers; this bounds the URL).
MAX_QUERY_CHARS = 4096
MAX_QUERY_PARAMS = 32


@dataclass(frozen=True)
class Operation:
    """One documented operation (see the module's doc)."""

    name: str
    method: str
    path: str
    client_token: bool = False
    expect: str = "object"
    counted: bool = True
    source: str = "doc"

    @property
    def path_params(self) -> tuple[str, ...]:
        """The path template's parameters, in order."""
        return tuple(_PARAM.findall(self.path))

    @property
    def people(self) -> tuple[str, ...]:
        """The path parameters naming a person (resolvable from userIds or mobiles)."""
        return tuple(name for name in self.path_params if name in PERSON_PARAMS)


_U = "/v1.0/calendar/users/{userId}"
_C = _U + "/calendars/{calendarId}"
_E = _C + "/events/{eventId}"

_ROWS = (
    # events
    Operation("CreateEvent", "POST", _C + "/events", True, "event"),
    Operation("GetEvent", "GET", _E, expect="event"),
    Operation("ListEvents", "GET", _C + "/events", expect="page:events"),
    Operation("ListEventsView", "GET", _C + "/eventsview", expect="page:events"),
    Operation("ListEventsInstances", "GET", _C + "/instances", expect="page:events", source="sdk"),
    Operation("ListInstances", "GET", _E + "/instances", expect="page:events", source="sdk"),
    Operation("PatchEvent", "PUT", _E, True, "event"),
    Operation("DeleteEvent", "DELETE", _E, True, "none"),
    Operation("CancelEvent", "POST", _E + "/cancel", True, source="sdk"),
    Operation("TransferEvent", "POST", _E + "/transfer", True, source="sdk"),
    Operation("ConvertLegacyEventId", "POST", _U + "/legacyEventIds/convert", source="sdk"),
    Operation("ListAiMinutes", "GET", _E + "/minutes", source="sdk"),
    # attendees and responses
    Operation("AddAttendee", "POST", _E + "/attendees", True, "none"),
    Operation("RemoveAttendee", "POST", _E + "/attendees/batchRemove", True, "none"),
    Operation("ListAttendees", "GET", _E + "/attendees", expect="page:attendees"),
    Operation("RespondEvent", "POST", _E + "/respond", True, "none"),
    # free/busy and meeting rooms
    Operation("GetSchedule", "POST", _U + "/querySchedule"),
    Operation("GetMeetingRoomsSchedule", "POST", _U + "/meetingRooms/schedules/query"),
    Operation("AddMeetingRooms", "POST", _E + "/meetingRooms", True),
    Operation("RemoveMeetingRooms", "POST", _E + "/meetingRooms/batchRemove", True),
    Operation("MeetingRoomRespond", "POST", _E + "/meetingRooms/{roomId}/respond", True, source="sdk"),
    Operation("QueryMeetingRoomList", "GET", "/v1.0/rooms/meetingRoomLists"),
    # check-in
    Operation("SignIn", "POST", _E + "/signin"),
    Operation("GetSignInList", "GET", _E + "/signin", expect="page:users"),
    Operation("SignOut", "POST", _E + "/signOut"),
    Operation("GetSignOutList", "GET", _E + "/signOut", expect="page:users"),
    Operation("GetSignInLink", "GET", _E + "/signInLinks"),
    Operation("GetSignOutLink", "GET", _E + "/signOutLinks"),
    Operation("CheckIn", "POST", _E + "/checkIn"),
    # calendars, subscriptions and ACLs
    Operation("ListCalendars", "GET", _U + "/calendars"),
    Operation("CreateSubscribedCalendar", "POST", _U + "/subscribedCalendars"),
    Operation("GetSubscribedCalendar", "GET", _U + "/subscribedCalendars/{calendarId}"),
    Operation("UpdateSubscribedCalendars", "PUT", _U + "/subscribedCalendars/{calendarId}"),
    Operation("DeleteSubscribedCalendar", "DELETE", _U + "/subscribedCalendars/{calendarId}"),
    Operation("SubscribeCalendar", "POST", _C + "/subscribe", expect="none"),
    Operation("UnsubscribeCalendar", "POST", _C + "/unsubscribe"),
    Operation("CreateAcls", "POST", _C + "/acls"),
    Operation("ListAcls", "GET", _C + "/acls", expect="page:acls"),
    Operation("DeleteAcl", "DELETE", _C + "/acls/{aclId}", expect="none"),
    # the rest of the SDK's calendar module
    Operation("ListCategories", "GET", "/v1.0/calendar/categories", True, source="sdk"),
    Operation("GenerateCaldavAccount", "POST", _U + "/caldavAccounts", source="sdk"),
    Operation("ListOrgPlugins", "GET", "/v1.0/calendar/plugins", source="sdk"),
    Operation(
        "UpdateOrgPluginSubscribers", "POST", "/v1.0/calendar/plugins/{pluginId}/subscribers", source="sdk"
    ),
)

#: Every operation by name.
OPERATIONS: dict[str, Operation] = {row.name: row for row in _ROWS}
#: Operations DingTalk does not count toward the monthly quota (none of the calendar ones).
UNCOUNTED = frozenset(row.name for row in _ROWS if not row.counted)


def operation(name: Any) -> Operation:
    """The row of ``name``; an unknown name is refused, naming the known ones."""
    row = OPERATIONS.get(name) if isinstance(name, str) else None
    if row is None:
        raise InvalidArgumentError(
            "operation", f"must be one of the documented operations: {', '.join(sorted(OPERATIONS))}", name
        )
    return row


def argument_name(param: str) -> str:
    """The hook argument of a path parameter (``calendarId`` -> ``calendar_id``)."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", param).lower()


def _path(row: Operation, params: Any, by_argument: bool) -> str:
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise InvalidArgumentError("path_params", "must be a dict of path parameters", params)
    wanted = row.path_params
    missing = [name for name in wanted if params.get(name) is None]
    extra = sorted(str(name) for name in params if name not in wanted)
    if extra:
        allowed = ", ".join(wanted) or "none"
        raise InvalidArgumentError(
            "path_params", f"{row.name} takes no {', '.join(extra)} (its path parameters: {allowed})"
        )
    if missing:
        raise InvalidArgumentError("path_params", f"{row.name} needs {', '.join(missing)} ({row.path})")

    def name(param: str) -> str:
        return argument_name(param) if by_argument else f"path_params.{param}"

    return _PARAM.sub(lambda m: segment(params[m.group(1)], name(m.group(1))), row.path)


def _query(row: Operation, query: Any) -> dict[str, str]:
    if query is None:
        return {}
    if not isinstance(query, Mapping):
        raise InvalidArgumentError("query", "must be a dict of query parameters", query)
    if len(query) > MAX_QUERY_PARAMS:
        raise InvalidArgumentError("query", f"at most {MAX_QUERY_PARAMS} parameters", len(query))
    out: dict[str, str] = {}
    for key, value in query.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]{0,63}", key):
            raise InvalidArgumentError(
                "query", "names must be DingTalk parameter names (letters, digits)", key
            )
        if value is None:
            continue
        if isinstance(value, bool):  # DingTalk's other SDKs send lower case; Python's str() would not
            text = "true" if value else "false"
        elif isinstance(value, (int, str)) or (isinstance(value, float) and value == value):
            text = str(value)
        else:
            raise InvalidArgumentError(
                f"query.{key}", "must be a string, a number or true/false", type(value).__name__
            )
        if len(text) > MAX_QUERY_CHARS:
            raise InvalidArgumentError(f"query.{key}", f"must be at most {MAX_QUERY_CHARS} characters")
        out[key] = text
    return out


def build_call(
    name: Any,
    path_params: Any = None,
    query: Any = None,
    body: Any = None,
    token: str | None = None,
    *,
    by_argument: bool = False,
) -> Call:
    """The checked :class:`~airflow_dtcal.core.calls.Call` of one operation of the table.

    ``token`` is the ``x-client-token``: refused for an operation that takes none; for one that takes it,
    a random one is made when not given (so the hook's own retries stay idempotent). With
    ``by_argument``, a bad path value is named by the hook method's argument (``calendar_id``) instead of
    ``path_params.calendarId``.
    """
    row = operation(name)
    path = _path(row, path_params, by_argument)
    params = _query(row, query)
    if body is not None and row.method in ("GET", "DELETE"):
        raise InvalidArgumentError("body", f"{row.name} is a {row.method} and sends no body", body)
    if body is not None and not isinstance(body, Mapping):
        raise InvalidArgumentError("body", "must be a dict (a JSON object) or None", type(body).__name__)
    if token is not None and not row.client_token:
        raise InvalidArgumentError(
            "client_token", f"{row.name} takes no x-client-token (DingTalk does not de-duplicate it)"
        )
    call = Call(
        row.name,
        row.method,
        path,
        params=params,
        body=None if body is None else dict(body),
        client_token=client_token(token) if row.client_token else None,
        expect=row.expect,
    )
    call.json_body()  # a body that is not plain JSON is refused now, before any request
    return call


def check_operation(value: Any, argument: str = "operation") -> str:
    """An operation name of the table (an operator's rule)."""
    if not isinstance(value, str) or value not in OPERATIONS:
        raise InvalidArgumentError(
            argument, f"must be one of the documented operations: {', '.join(sorted(OPERATIONS))}", value
        )
    return value
