"""Operators that book and release meeting rooms for an event (at most 5 rooms per event).

Importing this module is cheap (the scheduler does it on every DAG parse): the hook is imported only when a
task runs. Arguments are template fields stored unchanged and validated in ``execute()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dtcal import payloads
from airflow_dtcal.exceptions import invalid_arguments as _arguments
from airflow_dtcal.operators.base import EVENT_ID_HINT, DingTalkCalendarBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class _RoomsOperator(DingTalkCalendarBaseOperator):
    template_fields: Sequence[str] = ("organizer_id", "event_id", "room_ids", "calendar_id", "client_token")
    operation = ""

    def __init__(self, *, organizer_id: str, event_id: str, room_ids: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.organizer_id = organizer_id
        self.event_id = event_id
        self.room_ids = room_ids

    def _plan(self, context: Context) -> tuple[str, str, list[str], str, str]:
        from airflow_dtcal.core.calls import room_ids

        with _arguments():
            organizer = payloads.require_id(self.organizer_id, "organizer_id")
            event_id = payloads.require_id(self.event_id, "event_id", hint=EVENT_ID_HINT)
            rooms = room_ids([self.room_ids] if isinstance(self.room_ids, str) else self.room_ids)
            calendar = self._calendar()
            token = self._client_token(
                context, self.operation, [organizer, calendar, event_id, rooms], per_try=True
            )
        return organizer, event_id, rooms, calendar, token


class AddMeetingRoomsOperator(_RoomsOperator):
    """Book meeting rooms for an event as its organizer; returns the room ids.

    :param organizer_id: unionId of the organizer. (templated)
    :param event_id: the event, e.g. ``create.output``. (templated)
    :param room_ids: one room id or a list (at most 5 per event), e.g. ``find_slot.output["room"]``. (templated)

    A room already booked by another event at that time fails the task with ``meetingRoomNotAvailable``.
    """

    operation = "AddMeetingRooms"

    def run(self, context: Context) -> list[str]:
        organizer, event_id, rooms, calendar, token = self._plan(context)
        self.get_hook().add_meeting_rooms(
            organizer, event_id, rooms, calendar_id=calendar, client_token=token
        )
        self.log.info("Booked %s for event %s", ", ".join(rooms), event_id)
        return rooms


class RemoveMeetingRoomsOperator(_RoomsOperator):
    """Release meeting rooms of an event as its organizer; returns the room ids.

    :param organizer_id: unionId of the organizer. (templated)
    :param event_id: the event. (templated)
    :param room_ids: one room id or a list. (templated)
    """

    operation = "RemoveMeetingRooms"

    def run(self, context: Context) -> list[str]:
        organizer, event_id, rooms, calendar, token = self._plan(context)
        self.get_hook().remove_meeting_rooms(
            organizer, event_id, rooms, calendar_id=calendar, client_token=token
        )
        self.log.info("Released %s of event %s", ", ".join(rooms), event_id)
        return rooms
