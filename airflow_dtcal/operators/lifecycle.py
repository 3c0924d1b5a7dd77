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
from airflow_dtcal.operators.base import EVENT_ID_HINT, DingTalkCalendarBaseOperator
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

    def run(self, context: Context) -> str:
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
        return super().run(context)


class UpdateEventOperator(DingTalkCalendarBaseOperator):
    """Reschedule or edit an event as its organizer, sending only what changed (PatchEvent).

    Takes the pythonic arguments of :class:`~airflow_dtcal.operators.calendar.CreateEventOperator`; each
    is optional and ``None`` leaves the field as it is. The operator reads the event first (GetEvent) and
    sends only the fields that differ, or nothing at all; it returns ``{"id", "changed": [wire fields]}``.

    :param organizer_id: unionId of the organizer (only the organizer may change an event). (templated)
    :param event_id: the event, e.g. ``create.output``. (templated)
    :param start: the new start; without ``end`` a timed event keeps its length. (templated)
    :param end: the new end (all-day events: the last day, inclusive). (templated)
    :param timezone: IANA zone; naive date-times are read in it, else in the event's own zone. (templated)
    :param online_meeting: True adds a DingTalk video meeting when the event has none.

    Attendees are not changed here: use ``SyncAttendeesOperator`` (DingTalk recommends the attendee calls).
    """

    template_fields: Sequence[str] = (
        "organizer_id",
        "event_id",
        "summary",
        "start",
        "end",
        "timezone",
        "description",
        "location",
        "reminders",
        "recurrence",
        "extra_fields",
        "calendar_id",
        "client_token",
    )
    template_fields_renderers = {"description": "md", "recurrence": "json", "extra_fields": "json"}

    def __init__(
        self,
        *,
        organizer_id: str,
        event_id: str,
        summary: str | None = None,
        start: Any = None,
        end: Any = None,
        all_day: bool | None = None,
        timezone: str | None = None,
        description: str | None = None,
        location: str | None = None,
        reminders: Any = None,
        recurrence: Any = None,
        online_meeting: bool | None = None,
        extra_fields: dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.organizer_id = organizer_id
        self.event_id = event_id
        self.summary = summary
        self.start = start
        self.end = end
        self.all_day = all_day
        self.timezone = timezone
        self.description = description
        self.location = location
        self.reminders = reminders
        self.recurrence = recurrence
        self.online_meeting = online_meeting
        self.extra_fields = extra_fields

    def changes(self, current: dict, context: Context) -> dict:
        """The PatchEvent fields that differ from ``current`` (raises on a bad argument)."""
        from airflow_dtcal.planning.update import event_changes

        dag = context.get("dag") if hasattr(context, "get") else None
        dag_zone = getattr(getattr(dag, "timezone", None), "name", None)
        return event_changes(
            current,
            summary=self.summary,
            start=self.start,
            end=self.end,
            all_day=self.all_day,
            timezone=self.timezone or None,
            default_timezone=dag_zone if isinstance(dag_zone, str) and dag_zone[:1] not in "+-" else None,
            description=self.description,
            location=self.location,
            reminders=self.reminders,
            recurrence=self.recurrence,
            online_meeting=self.online_meeting,
            extra_fields=self.extra_fields,
        )

    def run(self, context: Context) -> dict:
        with _arguments():
            organizer = payloads.require_id(self.organizer_id, "organizer_id")
            event_id = payloads.require_id(self.event_id, "event_id", hint=EVENT_ID_HINT)
            calendar = self._calendar()
        hook = self.get_hook()
        current = hook.get_event(organizer, event_id, calendar_id=calendar)
        with _arguments():
            changes = self.changes(current, context)
            token = self._client_token(
                context, "PatchEvent", [organizer, calendar, event_id, changes], per_try=True
            )
        if not changes:
            self.log.info("Event %s already is as described; nothing sent", event_id)
            return {"id": event_id, "changed": []}
        hook.patch_event(organizer, event_id, changes, calendar_id=calendar, client_token=token)
        self.log.info("Updated %s of event %s", ", ".join(sorted(changes)), event_id)
        return {"id": event_id, "changed": sorted(changes)}


class CancelEventOperator(DingTalkCalendarBaseOperator):
    """Cancel an event for everyone, as its organizer (CancelEvent); it stays readable, status ``cancelled``.

    :param organizer_id: unionId of the organizer. (templated)
    :param event_id: the event. (templated)
    :param scope: DingTalk's ``scope`` query parameter, passed through (values undocumented). (templated)
    :param ignore_missing: succeed when the event is already gone (deleted).

    Cancelling a cancelled event succeeds. Use ``DeleteEventOperator`` to remove an event instead.
    """

    template_fields: Sequence[str] = ("organizer_id", "event_id", "scope", "calendar_id", "client_token")

    def __init__(
        self,
        *,
        organizer_id: str,
        event_id: str,
        scope: str | None = None,
        ignore_missing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.organizer_id = organizer_id
        self.event_id = event_id
        self.scope = scope
        self.ignore_missing = ignore_missing

    def run(self, context: Context) -> None:
        from airflow_dtcal.exceptions import DingTalkNotFoundError

        with _arguments():
            organizer = payloads.require_id(self.organizer_id, "organizer_id")
            event_id = payloads.require_id(self.event_id, "event_id", hint=EVENT_ID_HINT)
            calendar = self._calendar()
            scope = payloads.require_id(self.scope, "scope") if self.scope is not None else None
            token = self._client_token(context, "CancelEvent", [organizer, calendar, event_id], per_try=True)
        try:
            self.get_hook().cancel_event(
                organizer, event_id, calendar_id=calendar, scope=scope, client_token=token
            )
        except DingTalkNotFoundError:
            if not self.ignore_missing:
                raise
            self.log.info("Event %s was already gone", event_id)
            return
        self.log.info("Cancelled event %s as %s", event_id, organizer)


class TransferEventOperator(DingTalkCalendarBaseOperator):
    """Hand an event to a new organizer, e.g. when the organizer leaves (TransferEvent); returns the event id.

    :param organizer_id: unionId of the current organizer. (templated)
    :param event_id: the event. (templated)
    :param new_organizer_id: unionId of the new organizer. (templated)
    :param exit_calendar: also take the event out of the old organizer's calendar.
    :param notify: send the new organizer a 1:1 notice.

    A cleared or repeated task first reads the event as the new organizer: if the hand-over already
    happened it sends nothing (the old organizer may no longer change the event).
    """

    template_fields: Sequence[str] = (
        "organizer_id",
        "event_id",
        "new_organizer_id",
        "calendar_id",
        "client_token",
    )

    def __init__(
        self,
        *,
        organizer_id: str,
        event_id: str,
        new_organizer_id: str,
        exit_calendar: bool | None = None,
        notify: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.organizer_id = organizer_id
        self.event_id = event_id
        self.new_organizer_id = new_organizer_id
        self.exit_calendar = exit_calendar
        self.notify = notify

    def run(self, context: Context) -> str:
        from airflow_dtcal.exceptions import DingTalkNotFoundError

        with _arguments():
            organizer = payloads.require_id(self.organizer_id, "organizer_id")
            event_id = payloads.require_id(self.event_id, "event_id", hint=EVENT_ID_HINT)
            new = payloads.require_id(self.new_organizer_id, "new_organizer_id")
            calendar = self._calendar()
            self._check_flags("exit_calendar", "notify")
            token = self._client_token(context, "TransferEvent", [organizer, calendar, event_id, new])
        hook = self.get_hook()
        try:
            seen = hook.get_event(new, event_id, calendar_id=calendar, max_attendees=1)
        except DingTalkNotFoundError:
            seen = {}
        if (seen.get("organizer") or {}).get("id") == new:
            self.log.info("Event %s is already organized by %s; nothing sent", event_id, new)
            return event_id
        hook.transfer_event(
            organizer,
            event_id,
            new,
            calendar_id=calendar,
            exit_calendar=self.exit_calendar,
            notify=self.notify,
            client_token=token,
        )
        self.log.info("Handed event %s from %s to %s", event_id, organizer, new)
        return event_id
