"""FindSlotOperator: the first time when the people (and a room) are free, ready for CreateEventOperator.

Importing this module is cheap (the scheduler does it on every DAG parse): the hook is imported only when a
task runs. Arguments are template fields stored unchanged and validated in ``execute()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dtcal import payloads
from airflow_dtcal.exceptions import DingTalkError
from airflow_dtcal.exceptions import invalid_arguments as _arguments
from airflow_dtcal.operators.base import DingTalkCalendarBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class NoFreeSlotError(DingTalkError):
    """No slot in the window suits everyone asked (a retry later may find one)."""


class FindSlotOperator(DingTalkCalendarBaseOperator):
    """Find the first slot where the attendees (or a quorum) are free; return it for CreateEventOperator.

    Reads everyone's busy times with GetSchedule (20 people per call) and runs
    :func:`airflow_dtcal.planning.slots.find_slot` over them. The XCom return value is ``{"start", "end", "timezone",
    "free", "busy", "room"}`` (times in ISO-8601 in ``timezone``); ``start``, ``end`` and ``timezone`` are
    also pushed under their own keys, so ``find.output["start"]`` feeds ``CreateEventOperator(start=...)``.

    :param organizer_id: unionId that asks (the organizer-to-be); counted as an attendee unless
        ``include_organizer=False``. (templated)
    :param attendees: unionIds (an upstream XComArg works). (templated)
    :param window_start: earliest start: pendulum/datetime or ISO-8601 string (naive: UTC). (templated)
    :param window_end: latest end, at most a year later. (templated)
    :param duration_minutes: length of the meeting, 5 to 1,440 minutes. (templated)
    :param timezone: IANA zone of the working hours and the answer; default the DAG's, else UTC. (templated)
    :param working_hours: ``(start, end)`` times of day, default ``("09:00", "18:00")``.
    :param working_days: day names, default Monday to Friday.
    :param quorum: how many attendees must be free (default all). (templated)
    :param required_attendees: attendees who must be free whatever the quorum. (templated)
    :param step_minutes: minutes between candidate starts, from the start of working hours (default 15).
    :param rooms: room ids; when given, one of them must be free too (the first free one in this order is
        returned as ``room``; book it with ``AddMeetingRoomsOperator``). (templated)
    :param tentative_is_busy: count unanswered and tentative events as busy (default True).
    :param on_no_slot: ``"fail"`` (raise :class:`NoFreeSlotError`) or ``"skip"`` (skip this task and,
        by default, those downstream).
    """

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
    )

    def __init__(
        self,
        *,
        organizer_id: str,
        attendees: Any,
        window_start: Any,
        window_end: Any,
        duration_minutes: Any,
        timezone: str | None = None,
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

    def _zone(self, context: Context) -> str:
        if self.timezone:
            return self.timezone
        dag = context.get("dag") if hasattr(context, "get") else None
        name = getattr(getattr(dag, "timezone", None), "name", None)
        return name if isinstance(name, str) and name[:1] not in "+-" else "UTC"

    @staticmethod
    def _number(value: Any) -> Any:
        """A whole number, also from a rendered template (``"30"``)."""
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        return value

    def run(self, context: Context) -> dict:
        from airflow_dtcal.planning.slots import busy_times, find_slot

        with _arguments():
            organizer = payloads.require_id(self.organizer_id, "organizer_id")
            people = payloads.normalize_attendee_ids(self.attendees, "attendees", allow_empty=True)
            if self.include_organizer and organizer not in people:
                people.insert(0, organizer)
            if not people:
                raise payloads.InvalidArgumentError("attendees", "must name at least one person")
            required = payloads.normalize_attendee_ids(
                self.required_attendees or [], "required_attendees", allow_empty=True
            )
            zone = self._zone(context)
            first = payloads.instant(self.window_start, "window_start")
            last = payloads.instant(self.window_end, "window_end")
            if self.on_no_slot not in ("fail", "skip"):
                raise payloads.InvalidArgumentError("on_no_slot", "must be 'fail' or 'skip'", self.on_no_slot)
            self._check_flags("include_organizer", "tentative_is_busy")
            arguments = {
                "window_start": first,
                "window_end": last,
                "duration": self._number(self.duration_minutes),
                "timezone": zone,
                "working_hours": tuple(self.working_hours),
                "working_days": list(self.working_days),
                "quorum": self._number(self.quorum),
                "required": required,
                "step": self._number(self.step_minutes),
            }
            rooms = None
            if self.rooms is not None:
                from airflow_dtcal.core.calls import room_ids

                rooms = room_ids(self.rooms, "rooms", high=100)
            nobody_busy = {room: [] for room in rooms} if rooms is not None else None
            find_slot({who: [] for who in people}, rooms=nobody_busy, **arguments)  # checked before a request
        hook = self.get_hook()
        information = hook.get_schedule(organizer, people, start=first, end=last)
        room_information = (
            hook.get_meeting_rooms_schedule(organizer, rooms, start=first, end=last) if rooms else None
        )
        with _arguments():
            busy = busy_times(information, timezone=zone, tentative_is_busy=self.tentative_is_busy)
            room_busy = None
            if room_information is not None:
                taken = busy_times(room_information, id_key="roomId", timezone=zone)
                room_busy = {room: taken.get(room, []) for room in rooms}
            slot = find_slot({who: busy.get(who, []) for who in people}, rooms=room_busy, **arguments)
        if slot is None:
            message = (
                f"No {arguments['duration']}-minute slot from {first} to {last} suits {len(people)} people"
            )
            if self.on_no_slot == "skip":
                from airflow_dtcal.compat import AirflowSkipException

                raise AirflowSkipException(message)
            raise NoFreeSlotError(message)
        self.log.info(
            "First free slot: %s to %s (%s); busy then: %s", slot["start"], slot["end"], zone, slot["busy"]
        )
        ti = context["ti"]
        for key in ("start", "end", "timezone"):
            ti.xcom_push(key=key, value=slot[key])
        return slot
