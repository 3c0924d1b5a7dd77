"""FindSlotOperator: the first time when the people (and a room) are free, ready for CreateEventOperator.

Importing this module is cheap (the scheduler does it on every DAG parse): the hook and the slot search are
imported only when a task runs. Arguments are template fields stored unchanged and checked in
``execute()``, before any request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dtcal.exceptions import DingTalkError
from airflow_dtcal.operators.arguments import IDS, ONE
from airflow_dtcal.operators.base import DingTalkCalendarBaseOperator, Execution, check_flags, dag_timezone

if TYPE_CHECKING:
    from airflow.sdk import XComArg

__all__ = ["FindSlotOperator", "NoFreeSlotError"]


class NoFreeSlotError(DingTalkError):
    """No slot in the window suits everyone asked (a retry later may find one)."""


def _number(value: Any) -> Any:
    """A whole number, also from a rendered template (``"30"``)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


class FindSlotOperator(DingTalkCalendarBaseOperator):
    """Find the first slot where the attendees (or a quorum) are free; return it for CreateEventOperator.

    Reads everyone's busy times with GetSchedule (20 people per call) and runs
    :func:`airflow_dtcal.planning.slots.find_slot` over them. The XCom return value is ``{"start", "end",
    "timezone", "free", "busy", "room"}`` (times in ISO-8601 in ``timezone``, people by unionId); ``start``,
    ``end`` and ``timezone`` are also pushed under their own keys, so ``find.output["start"]`` feeds
    ``CreateEventOperator(start=...)``.

    :param organizer_id: who asks (the organizer-to-be): a unionId, or see ``id_type``; counted as an
        attendee unless ``include_organizer=False``. (templated)
    :param attendees: unionIds, or see ``id_type`` (an upstream XComArg works). (templated)
    :param window_start: earliest start: pendulum/datetime or ISO-8601 string (naive: UTC). (templated)
    :param window_end: latest end, at most a year later. (templated)
    :param duration_minutes: length of the meeting, 5 to 1,440 minutes. (templated)
    :param timezone: IANA zone of the working hours and the answer; default the DAG's, else UTC. (templated)
    :param working_hours: ``(start, end)`` times of day, default ``("09:00", "18:00")``.
    :param working_days: day names, default Monday to Friday.
    :param quorum: how many attendees must be free (default all). (templated)
    :param required_attendees: attendees who must be free whatever the quorum; named like ``attendees`` (they
        take its ``id_type``). (templated)
    :param step_minutes: minutes between candidate starts, from the start of working hours (default 15).
    :param rooms: room ids; when given, one of them must be free too (the first free one in this order is
        returned as ``room``; book it with ``AddMeetingRoomsOperator``). (templated)
    :param include_organizer: count the organizer as an attendee (default True).
    :param tentative_is_busy: count unanswered and tentative events as busy (default True).
    :param on_no_slot: ``"fail"`` (raise :class:`NoFreeSlotError`) or ``"skip"`` (skip this task and,
        by default, those downstream).
    :param id_type: for ``organizer_id`` and ``attendees`` (``required_attendees`` follow ``attendees``).
    :param on_unknown: for ``attendees`` and ``required_attendees``.

    Free/busy times belong to people, not to a calendar: this operator takes no ``calendar_id``.
    """

    people = {
        "organizer_id": ONE,
        "attendees": IDS(allow_empty=True),
        "required_attendees": IDS(allow_empty=True, optional=True, id_type_of="attendees"),
    }
    on_calendar = False
    template_fields: Sequence[str] = (
        "organizer_id",
        "attendees",
        "window_start",
        "window_end",
        "duration_minutes",
        "timezone",
        "quorum",
        "required_attendees",
        "rooms",
        "dingtalk_conn_id",
    )

    def __init__(
        self,
        *,
        organizer_id: str | XComArg,
        attendees: Any,
        window_start: Any,
        window_end: Any,
        duration_minutes: Any,
        timezone: str | XComArg | None = None,
        working_hours: Sequence[str] = ("09:00", "18:00"),
        working_days: Sequence[str] = ("monday", "tuesday", "wednesday", "thursday", "friday"),
        quorum: Any = None,
        required_attendees: Any = None,
        rooms: Any = None,
        include_organizer: bool = True,
        step_minutes: int = 15,
        tentative_is_busy: bool = True,
        on_no_slot: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.organizer_id = organizer_id
        self.attendees = attendees
        self.window_start = window_start
        self.window_end = window_end
        self.duration_minutes = duration_minutes
        self.timezone = timezone
        self.working_hours = working_hours
        self.working_days = working_days
        self.quorum = quorum
        self.required_attendees = required_attendees
        self.rooms = rooms
        self.include_organizer = include_organizer
        self.step_minutes = step_minutes
        self.tentative_is_busy = tentative_is_busy
        self.on_no_slot = on_no_slot

    def _people(self, ex: Execution) -> list[str]:
        people = list(ex.attendees)
        if self.include_organizer and ex.organizer_id not in people:
            people.insert(0, ex.organizer_id)
        return people

    def _search(self, ex: Execution) -> dict[str, Any]:
        """The arguments of :func:`~airflow_dtcal.planning.slots.find_slot` but the busy times."""
        from airflow_dtcal.core.times import instant

        return {
            "window_start": instant(self.window_start, "window_start"),
            "window_end": instant(self.window_end, "window_end"),
            "duration": _number(self.duration_minutes),
            "timezone": self.timezone or dag_timezone(ex.context) or "UTC",
            "working_hours": tuple(self.working_hours),
            "working_days": list(self.working_days),
            "quorum": _number(self.quorum),
            "required": ex.required_attendees or [],
            "step": _number(self.step_minutes),
        }

    def check(self, ex: Execution) -> dict[str, Any]:
        from airflow_dtcal.core.calls import room_ids
        from airflow_dtcal.core.errors import InvalidArgumentError
        from airflow_dtcal.planning.slots import find_slot

        if self.on_no_slot not in ("fail", "skip"):
            raise InvalidArgumentError("on_no_slot", "must be 'fail' or 'skip'", self.on_no_slot)
        check_flags(self, "include_organizer", "tentative_is_busy")
        people = self._people(ex)
        if not people:
            raise InvalidArgumentError("attendees", "must name at least one person")
        rooms = None if self.rooms is None else room_ids(self.rooms, "rooms", high=100)
        search = self._search(ex)
        # Checked on the ids as given, before any request; whether the required attendees are attendees is
        # checked once everyone is a unionId (the organizer may be named with another id type).
        search["required"] = [who for who in search["required"] if who in people]
        nobody_busy: dict[str, list] = {who: [] for who in people}
        find_slot(nobody_busy, rooms={room: [] for room in rooms} if rooms else None, **search)
        return {"rooms": rooms}

    def expected_calls(self, ex: Execution) -> int:
        """GetSchedule for 20 people a call, GetMeetingRoomsSchedule for 5 rooms a call."""
        from airflow_dtcal.core.calls import MAX_ROOMS_PER_SCHEDULE_CALL, MAX_SCHEDULE_USERS

        rooms = len(ex.rooms or [])
        return -(-len(self._people(ex)) // MAX_SCHEDULE_USERS) + -(-rooms // MAX_ROOMS_PER_SCHEDULE_CALL)

    def run(self, ex: Execution) -> dict:
        from airflow_dtcal.exceptions import DingTalkInvalidArgumentError, invalid_arguments
        from airflow_dtcal.planning.slots import busy_times, find_slot

        people, rooms, search = self._people(ex), ex.rooms, self._search(ex)
        strangers = [who for who in search["required"] if who not in people]
        if strangers:
            raise DingTalkInvalidArgumentError(
                "required_attendees", f"names people who are not attendees: {', '.join(strangers)}"
            )
        first, last, zone = search["window_start"], search["window_end"], search["timezone"]
        hook = ex.hook
        information = hook.get_schedule(ex.organizer_id, people, start=first, end=last)
        room_information = (
            hook.get_meeting_rooms_schedule(ex.organizer_id, rooms, start=first, end=last) if rooms else None
        )
        with invalid_arguments():
            busy = busy_times(information, timezone=zone, tentative_is_busy=self.tentative_is_busy)
            room_busy = None
            if rooms and room_information is not None:
                taken = busy_times(room_information, id_key="roomId", timezone=zone)
                room_busy = {room: taken.get(room, []) for room in rooms}
            slot = find_slot({who: busy.get(who, []) for who in people}, rooms=room_busy, **search)
        if slot is None:
            message = f"No {search['duration']}-minute slot from {first} to {last} suits {len(people)} people"
            if self.on_no_slot == "skip":
                from airflow_dtcal.compat import AirflowSkipException

                raise AirflowSkipException(message)
            raise NoFreeSlotError(message)
        self.log.info(
            "First free slot: %s to %s (%s); busy then: %s", slot["start"], slot["end"], zone, slot["busy"]
        )
        ti = ex.context["ti"]
        for key in ("start", "end", "timezone"):
            ti.xcom_push(key=key, value=slot[key])
        return slot
