"""Operators that read a calendar: the events in a window, with recurring series expanded or as stored.

Importing this module is cheap (the scheduler does it on every DAG parse): the hook is imported only when a
task runs. Arguments are template fields stored unchanged and validated in ``execute()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dtcal import payloads
from airflow_dtcal.exceptions import invalid_arguments as _arguments
from airflow_dtcal.operators.base import DingTalkCalendarBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class ListEventsOperator(DingTalkCalendarBaseOperator):
    """Return the events of a calendar in a window (all pages), as DingTalk returns them.

    :param user_id: unionId whose calendar is read (organizer or attendee). (templated)
    :param time_min: window start: pendulum/datetime or ISO-8601 string (naive: UTC). (templated)
    :param time_max: window end, at most a year after ``time_min``. (templated)
    :param expand_recurring: True (default): ListEventsView, one item per occurrence of a recurring series,
        each with ``seriesMasterId`` and ``originStart``. False: ListEvents, a series once, as stored.
    :param max_attendees: attendees listed per event, 1 to 100 (default 100).

    Cancelled events are left out (with ``expand_recurring=False``, ``show_deleted=True`` lists them).
    """

    template_fields: Sequence[str] = ("user_id", "time_min", "time_max", "calendar_id")

    def __init__(
        self,
        *,
        user_id: str,
        time_min: Any,
        time_max: Any,
        expand_recurring: bool = True,
        show_deleted: bool = False,
        max_attendees: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.user_id = user_id
        self.time_min = time_min
        self.time_max = time_max
        self.expand_recurring = expand_recurring
        self.show_deleted = show_deleted
        self.max_attendees = max_attendees

    def execute(self, context: Context) -> list[dict]:
        with _arguments():
            user = payloads.require_id(self.user_id, "user_id")
            calendar = self._calendar()
            first = payloads.instant(self.time_min, "time_min")
            last = payloads.instant(self.time_max, "time_max")
            if last <= first:
                raise payloads.InvalidArgumentError("time_max", "must be after time_min", self.time_max)
            if (last - first).in_days() > 366:
                raise payloads.InvalidArgumentError("time_max", "must be at most a year after time_min")
            self._check_flags("expand_recurring", "show_deleted")
            if self.expand_recurring and self.show_deleted:
                raise payloads.InvalidArgumentError(
                    "show_deleted", "is for expand_recurring=False (ListEventsView has no deleted events)"
                )
        window = {
            "time_min": payloads.iso_instant(first, "time_min"),
            "time_max": payloads.iso_instant(last, "time_max"),
        }
        hook = self.get_hook()
        if self.expand_recurring:
            events = hook.list_events_view(
                user, calendar_id=calendar, max_attendees=self.max_attendees, **window
            )
        else:
            events = [
                event
                for event in hook.iter_events(
                    user, calendar_id=calendar, show_deleted=self.show_deleted, **window
                )
            ]
        self.log.info(
            "%s has %d events from %s to %s", user, len(events), window["time_min"], window["time_max"]
        )
        return events
