"""Which operation a method and path name, and the ids the path carries.

Paths are split on ``/`` first and each segment is percent-decoded afterwards, so ``team%2Flead`` is one
user id and ``..%2Fx`` one event id. A segment that decodes to ``.`` or ``..`` is never treated as a step up
or down the path: it is rejected, like an empty id, with a DingTalk-shaped 400 naming the field.
"""

from __future__ import annotations

from urllib.parse import unquote

from airflow_dtcal.testing.emulator import calendars
from airflow_dtcal.testing.emulator.errors import ApiError, invalid, no_such_api

CALENDAR_PREFIX = ("v1.0", "calendar", "users")
#: The legacy contacts endpoints, ``POST /topapi/...`` (on DingTalk, host oapi.dingtalk.com), by path.
LEGACY_ROUTES = {
    ("topapi", "v2", "user", "get"): "GetUser",
    ("topapi", "v2", "user", "getbymobile"): "GetUserByMobile",
    ("topapi", "user", "getbyunionid"): "GetUserByUnionId",
}
#: Positions of ids in ``/v1.0/calendar/users/{userId}/calendars/{calendarId}/events/{eventId}/...``.
ID_POSITIONS = {3: ("userId", "user"), 5: ("calendarId", "calendar"), 7: ("eventId", "event")}
DOT_SEGMENTS = (".", "..")


def split_path(path: str) -> list[str]:
    """The decoded segments of an origin-form path (``/a/b`` -> ``["a", "b"]``)."""
    if not path.startswith("/"):
        raise ApiError(404, "InvalidAction.NotFound", f"Unknown path {path!r}")
    return [unquote(segment, errors="strict") for segment in path[1:].split("/")]


def _check_ids(segs: list[str]) -> dict[str, str]:
    """The ids of a calendar path, each non-empty and never a dot segment."""
    params: dict[str, str] = {}
    for position, (field, key) in ID_POSITIONS.items():
        if position >= len(segs) or (position == 7 and segs[6] != "events"):
            continue
        value = segs[position]
        if value == "":
            raise invalid(f"{field} in the path must not be empty")
        if value in DOT_SEGMENTS:
            raise invalid(f"{field} in the path must not be {value!r}")
        params[key] = value
    _refuse_dot_segments(segs)
    return params


def _refuse_dot_segments(segs: list[str]) -> None:
    for position, value in enumerate(segs):
        if value in DOT_SEGMENTS:
            raise invalid(f"path segment {position + 1} must not be {value!r}")


#: Operations under ``/v1.0/calendar/users/{userId}/`` that are not about one calendar.
USER_ROUTES = {
    ("POST", ("querySchedule",)): "GetSchedule",
    ("POST", ("meetingRooms", "schedules", "query")): "GetMeetingRoomsSchedule",
    ("POST", ("legacyEventIds", "convert")): "ConvertLegacyEventId",
}


def _user_scoped(method: str, segs: list[str]) -> tuple[str, dict] | None:
    if len(segs) < 5 or tuple(segs[:3]) != CALENDAR_PREFIX:
        return None
    operation = USER_ROUTES.get((method, tuple(segs[4:])))
    if operation is None:
        return None
    if segs[3] == "":
        raise invalid("userId in the path must not be empty")
    _refuse_dot_segments(segs)
    return operation, {"user": segs[3]}


def route(method: str, path: str) -> tuple[str, dict]:
    """``(operation, path ids)``; unknown paths raise 404 ``InvalidAction.NotFound``."""
    try:
        segs = split_path(path)
    except UnicodeDecodeError:
        raise invalid("the path is not valid percent-encoded UTF-8") from None
    if segs == ["v1.0", "oauth2", "accessToken"] and method == "POST":
        return "GetAccessToken", {}
    if segs == ["v1.0", "gateway", "connections", "open"] and method == "POST":
        return "OpenStreamConnection", {}
    if segs == ["v1.0", "rooms", "meetingRoomLists"] and method == "GET":
        return "QueryMeetingRoomList", {}
    if method == "POST" and tuple(segs) in LEGACY_ROUTES:
        return LEGACY_ROUTES[tuple(segs)], {}
    user_scoped = _user_scoped(method, segs)
    if user_scoped is not None:
        return user_scoped
    calendar_scoped = calendars.route(method, segs)
    if calendar_scoped is not None:
        _refuse_dot_segments(segs)
        return calendar_scoped
    is_calendar = len(segs) >= 7 and tuple(segs[:3]) == CALENDAR_PREFIX and segs[4] == "calendars"
    params = _check_ids(segs) if is_calendar else {}
    if not is_calendar:
        _refuse_dot_segments(segs)
        raise no_such_api(method, path)
    rest = segs[6:]
    operation = None
    if rest == ["eventsview"] and method == "GET":
        return "ListEventsView", params
    if rest == ["events"]:
        operation = {"POST": "CreateEvent", "GET": "ListEvents"}.get(method)
    elif len(rest) == 2:
        operation = {"GET": "GetEvent", "PUT": "PatchEvent", "DELETE": "DeleteEvent"}.get(method)
    elif rest[2:] == ["attendees"]:
        operation = {"POST": "AddAttendee", "GET": "ListAttendees"}.get(method)
    elif rest[2:] == ["attendees", "batchRemove"] and method == "POST":
        operation = "RemoveAttendee"
    elif rest[2:] == ["respond"] and method == "POST":
        operation = "RespondEvent"
    elif rest[2:] == ["meetingRooms"] and method == "POST":
        operation = "AddMeetingRooms"
    elif rest[2:] == ["meetingRooms", "batchRemove"] and method == "POST":
        operation = "RemoveMeetingRooms"
    elif len(rest) == 5 and rest[2] == "meetingRooms" and rest[4] == "respond" and method == "POST":
        if rest[3] == "":
            raise invalid("roomId in the path must not be empty")
        operation, params["room"] = "MeetingRoomRespond", rest[3]
    elif rest[2:] == ["instances"] and method == "GET":
        operation = "ListInstances"
    elif rest[2:] == ["cancel"] and method == "POST":
        operation = "CancelEvent"
    elif rest[2:] == ["transfer"] and method == "POST":
        operation = "TransferEvent"
    elif rest[2:] == ["signin"]:
        operation = {"POST": "SignIn", "GET": "GetSignInList"}.get(method)
    elif rest[2:] == ["checkIn"] and method == "POST":
        operation = "CheckIn"
    elif rest[2:] == ["signOut"]:
        operation = {"POST": "SignOut", "GET": "GetSignOutList"}.get(method)
    elif rest[2:] == ["signInLinks"] and method == "GET":
        operation = "GetSignInLink"
    elif rest[2:] == ["signOutLinks"] and method == "GET":
        operation = "GetSignOutLink"
    if operation is None or rest[0] != "events":
        raise no_such_api(method, path)
    return operation, params
