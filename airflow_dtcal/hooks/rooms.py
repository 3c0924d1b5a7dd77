"""Free/busy and meeting-room operations, each written once as a flow (:mod:`.operation`): people's busy
times (GetSchedule, 20 people per call), rooms' busy times (5 rooms per call, a window of at most 90 days),
booking and releasing rooms (at most 5 per event), and the organisation's room list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_dtcal.core import calls
from airflow_dtcal.core.calls import Call
from airflow_dtcal.core.errors import DingTalkAnswerError, InvalidArgumentError
from airflow_dtcal.core.ids import chunked, normalize_attendee_ids
from airflow_dtcal.core.times import instant
from airflow_dtcal.hooks.operation import Context, Emit, Flow, Listing

#: The window form GetSchedule and GetMeetingRoomsSchedule document: UTC, to the minute.
SCHEDULE_TIME = "%Y-%m-%dT%H:%MZ"
#: GetMeetingRoomsSchedule's longest window [DOC queries-free-and-busy-meeting-room-information].
MAX_ROOM_WINDOW_DAYS = 90


def get_schedule(
    ctx: Context, user_id: str, user_ids: Sequence[str], *, start: Any, end: Any
) -> Flow[list[dict]]:
    """Busy times of ``user_ids`` between ``start`` and ``end`` (GetSchedule), 20 people per call.

    Returns DingTalk's ``scheduleInformation`` items, one per person, in the order asked:
    ``{userId, error, scheduleItems: [{status: BUSY|TENTATIVE, start, end}]}``. ``start``/``end`` are
    date-times (pendulum/datetime or ISO-8601; naive ones are UTC), sent to the minute.
    """
    ids = normalize_attendee_ids(user_ids, "user_ids")
    window = _window(start, end)
    out: list[dict] = []
    for chunk in chunked(ids, calls.MAX_SCHEDULE_USERS):
        call = calls.get_schedule(user_id, list(chunk), *window)
        out.extend(_schedule_items(call, (yield call), "userId"))
    return out


def get_meeting_rooms_schedule(
    ctx: Context, user_id: str, room_ids: Sequence[str], *, start: Any, end: Any
) -> Flow[list[dict]]:
    """Busy times of rooms (GetMeetingRoomsSchedule), 5 rooms per call, a window of at most 90 days.

    Returns ``scheduleInformation`` items in the order asked: ``{roomId, error, scheduleItems: [{status,
    start, end, eventId, organizer: {id}}]}``.
    """
    ids = calls.room_ids(list(room_ids) if isinstance(room_ids, list | tuple) else room_ids, high=10**6)
    window = _window(start, end, MAX_ROOM_WINDOW_DAYS)
    out: list[dict] = []
    for chunk in chunked(ids, calls.MAX_ROOMS_PER_SCHEDULE_CALL):
        call = calls.get_meeting_rooms_schedule(user_id, list(chunk), *window)
        out.extend(_schedule_items(call, (yield call), "roomId"))
    return out


def add_meeting_rooms(
    ctx: Context,
    user_id: str,
    event_id: str,
    room_ids: Sequence[str],
    *,
    calendar_id: str = "primary",
    client_token: str | None = None,
) -> Flow[None]:
    """Book rooms for an event as its organizer (at most 5 per event); a room already taken at that time
    is refused with ``meetingRoomNotAvailable`` (:class:`~airflow_dtcal.exceptions.DingTalkAPIError`)."""
    token = calls.client_token(client_token)
    yield calls.add_meeting_rooms(user_id, event_id, room_ids, calendar_id, token)  # type: ignore[arg-type]


def remove_meeting_rooms(
    ctx: Context,
    user_id: str,
    event_id: str,
    room_ids: Sequence[str],
    *,
    calendar_id: str = "primary",
    client_token: str | None = None,
) -> Flow[None]:
    """Release rooms of an event as its organizer."""
    token = calls.client_token(client_token)
    yield calls.remove_meeting_rooms(user_id, event_id, room_ids, calendar_id, token)  # type: ignore[arg-type]


def meeting_room_respond(
    ctx: Context,
    user_id: str,
    event_id: str,
    room_id: str,
    response_status: str,
    *,
    calendar_id: str = "primary",
    client_token: str | None = None,
) -> Flow[None]:
    """A booked room's answer to the event (MeetingRoomRespond, SDK-only): ``accepted``, ``declined`` or
    ``tentative`` (pending approval), for rooms whose bookings an app approves. ``user_id`` is the
    event's organizer (the emulator's rule; DingTalk documents no other)."""
    token = calls.client_token(client_token)
    answer = yield calls.meeting_room_respond(user_id, event_id, room_id, response_status, calendar_id, token)
    if isinstance(answer, dict) and answer.get("result") is False:
        raise DingTalkAnswerError("MeetingRoomRespond", 200, None, "DingTalk answered result: false")


def iter_meeting_rooms(ctx: Context, union_id: str, *, page_size: int = 100) -> Listing:
    """The organisation's meeting rooms (QueryMeetingRoomList), page by page, as seen by ``union_id``.

    This API pages with a number (``nextToken``, with ``hasMore``), not a string: its own loop, with the
    same ``max_pages`` bound as the others.
    """
    token: int | None = None
    for page in range(1, ctx.settings.max_pages + 2):
        call = calls.list_meeting_rooms(union_id, page_size, token)
        body = yield call
        rooms = body.get("result") if isinstance(body, dict) else None
        if not isinstance(rooms, list) or not all(isinstance(r, dict) and r.get("roomId") for r in rooms):
            raise DingTalkAnswerError(call.operation, 200, None, "the answer has no result list of rooms")
        token = body.get("nextToken") if body.get("hasMore") else None
        if token is not None and (isinstance(token, bool) or not isinstance(token, int)):
            raise DingTalkAnswerError(call.operation, 200, None, "nextToken is not a number")
        yield Emit(rooms)
        if token is None:
            return
        if page >= ctx.settings.max_pages:
            raise DingTalkAnswerError(
                call.operation, 200, None, f"more than max_pages={ctx.settings.max_pages} pages"
            )


def _window(start: Any, end: Any, max_days: int | None = None) -> tuple[str, str]:
    first, last = instant(start, "start"), instant(end, "end")
    if last <= first:
        raise InvalidArgumentError("end", "must be after start", end)
    if max_days is not None and (last - first).total_seconds() > max_days * 86400:
        raise InvalidArgumentError(
            "end", f"must be at most {max_days} days after start (DingTalk's limit)", end
        )
    return first.in_timezone("UTC").strftime(SCHEDULE_TIME), last.in_timezone("UTC").strftime(SCHEDULE_TIME)


def _schedule_items(call: Call, body: Any, key: str) -> list[dict]:
    """``scheduleInformation`` of a free/busy answer, checked: a list of objects naming their ``key``."""
    items = body.get("scheduleInformation") if isinstance(body, dict) else None
    if not isinstance(items, list) or not all(
        isinstance(item, dict) and isinstance(item.get(key), str) and item[key] for item in items
    ):
        raise DingTalkAnswerError(
            call.operation, 200, None, f"the answer has no scheduleInformation list of objects with a {key}"
        )
    return items
