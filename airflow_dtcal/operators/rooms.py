"""Operators that book and release meeting rooms for an event (at most 5 rooms per event).

Importing this module is cheap (the scheduler does it on every DAG parse): the hook is imported only when a
task runs. Arguments are template fields stored unchanged and checked in ``execute()``, before any request;
the organizer is a unionId, or see ``id_type``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dtcal.operators.arguments import ONE
from airflow_dtcal.operators.base import DingTalkCalendarBaseOperator, Execution

if TYPE_CHECKING:
    from airflow.sdk import XComArg

__all__ = ["AddMeetingRoomsOperator", "RemoveMeetingRoomsOperator"]


class _RoomsOperator(DingTalkCalendarBaseOperator):
    people = {"organizer_id": ONE}
    event_ids = ("event_id",)
    template_fields: Sequence[str] = (
        "organizer_id",
        "event_id",
        "room_ids",
        "calendar_id",
        "client_token",
        "dingtalk_conn_id",
    )

    def __init__(
        self, *, organizer_id: str | XComArg, event_id: str | XComArg, room_ids: Any, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.organizer_id = organizer_id
        self.event_id = event_id
        self.room_ids = room_ids

    def check(self, ex: Execution) -> dict[str, Any]:
        from airflow_dtcal.core.calls import room_ids

        return {"rooms": room_ids([self.room_ids] if isinstance(self.room_ids, str) else self.room_ids)}

    def run(self, ex: Execution) -> list[str]:
        (operation,) = self.writes
        organizer, event_id, calendar, rooms = ex.organizer_id, ex.event_id, ex.calendar_id, ex.rooms
        booking = operation == "AddMeetingRooms"
        send = ex.hook.add_meeting_rooms if booking else ex.hook.remove_meeting_rooms
        send(
            organizer,
            event_id,
            rooms,
            calendar_id=calendar,
            client_token=ex.token(operation, [organizer, calendar, event_id, rooms]),
        )
        self.log.info("%s %s for event %s", "Booked" if booking else "Released", ", ".join(rooms), event_id)
        return rooms


class AddMeetingRoomsOperator(_RoomsOperator):
    """Book meeting rooms for an event as its organizer; returns the room ids.

    :param organizer_id: the organizer: a unionId, or see ``id_type``. (templated)
    :param event_id: the event, e.g. ``create.output``. (templated)
    :param room_ids: one room id or a list (at most 5 per event), e.g. ``find_slot.output["room"]``. (templated)

    A room already booked by another event at that time fails the task with ``meetingRoomNotAvailable``.
    """

    writes = ("AddMeetingRooms",)


class RemoveMeetingRoomsOperator(_RoomsOperator):
    """Release meeting rooms of an event as its organizer; returns the room ids.

    :param organizer_id: the organizer: a unionId, or see ``id_type``. (templated)
    :param event_id: the event. (templated)
    :param room_ids: one room id or a list. (templated)
    """

    writes = ("RemoveMeetingRooms",)
