"""Operators for the rest of an event's life: one event per intended occurrence, reschedule, cancel, hand over.

Importing this module is cheap (the scheduler does it on every DAG parse): the hook is imported only when a
task runs. Arguments are template fields stored unchanged and validated in ``execute()``.

**One event per occurrence, whatever the runs.** DingTalk remembers an ``x-client-token`` for one day only,
and a manual run, a clear or a backfill has a different run id, so idempotency keys alone cannot stop a
second copy of this week's meeting. :class:`EnsureEventOperator` gives the event a key of yours (e.g. the
week it is for): before creating, it looks for a live event of the organizer around the event's time that
carries the key, and returns that one if there is one. The key is kept as a short hashed marker on the last
line of the description (DingTalk has no custom field that comes back from GetEvent and ListEvents; see
:func:`airflow_dtcal.payloads.mark_description`), so an event whose marker a person deletes is no longer
recognised.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dtcal import payloads
from airflow_dtcal.exceptions import invalid_arguments as _arguments
from airflow_dtcal.operators.calendar import CreateEventOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class EnsureEventOperator(CreateEventOperator):
    """Create an event unless the organizer already has one with the same ``dedup_key``; return its id.

    Takes every argument of :class:`~airflow_dtcal.operators.calendar.CreateEventOperator`, plus:

    :param dedup_key: what makes this event the one intended, stable across runs, e.g.
        ``"data-platform-review-{{ logical_date.strftime('%G-W%V') }}"``. (templated)
    :param dedup_window_days: how far before the start and after the end to look for the event, in days
        (default 7: the event is still found after someone moved it within a week; at most 180).

    The search costs one ListEvents call per 100 events of the organizer in the window.
    """

    template_fields: Sequence[str] = (*CreateEventOperator.template_fields, "dedup_key")

    def __init__(self, *, dedup_key: str, dedup_window_days: int = 7, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dedup_key = dedup_key
        self.dedup_window_days = dedup_window_days

    def build_event(self, context: Context) -> dict:
        event = super().build_event(context)
        event["description"] = payloads.mark_description(event.get("description"), self.dedup_key)
        return event

    def execute(self, context: Context) -> str:
        with _arguments():
            organizer = payloads.require_id(self.organizer_id, "organizer_id")
            calendar = self._calendar()
            event = self.build_event(context)
            time_min, time_max = payloads.key_search_window(event, self.dedup_window_days)
        found = self.get_hook().find_event_by_key(
            organizer, self.dedup_key, time_min=time_min, time_max=time_max, calendar_id=calendar
        )
        if found is not None:
            self.log.info(
                "Organizer %s already has the event for this key (%s); not creating another",
                organizer,
                found["id"],
            )
            return found["id"]
        return super().execute(context)
