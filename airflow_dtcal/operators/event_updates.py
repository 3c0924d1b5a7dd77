"""Operators that change an existing event as its organizer: edit or reschedule it, cancel it, hand it over.

Import them from :mod:`airflow_dtcal.operators.events` (which hands them out lazily) or from here. Importing
this module is cheap (the scheduler does it on every DAG parse): the hook and the payload builders are
imported only when a task runs. Arguments are template fields stored unchanged and checked in ``execute()``,
before any request; people are unionIds, or see ``id_type``
(:class:`~airflow_dtcal.operators.base.DingTalkCalendarBaseOperator`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dtcal.operators.arguments import ONE
from airflow_dtcal.operators.base import (
    DingTalkCalendarBaseOperator,
    Execution,
    check_flags,
    dag_timezone,
    event_fields,
)

if TYPE_CHECKING:
    from airflow.sdk import Context, XComArg

__all__ = ["CancelEventOperator", "TransferEventOperator", "UpdateEventOperator"]


class UpdateEventOperator(DingTalkCalendarBaseOperator):
    """Reschedule or edit an event as its organizer, sending only what changed (PatchEvent).

    Takes the pythonic arguments of :class:`CreateEventOperator`; each is optional and ``None`` leaves the
    field as it is. The operator reads the event first (GetEvent) and sends only the fields that differ, or
    nothing at all; it returns ``{"id", "changed": [wire fields]}``.

    :param organizer_id: the organizer (only the organizer may change an event): a unionId, or see
        ``id_type``. (templated)
    :param event_id: the event, e.g. ``create.output``. (templated)
    :param start: the new start; without ``end`` a timed event keeps its length. (templated)
    :param end: the new end (all-day events: the last day, inclusive). (templated)
    :param timezone: IANA zone; naive date-times are read in it, else in the event's own zone. (templated)
    :param online_meeting: True adds a DingTalk video meeting when the event has none. False is refused:
        DingTalk documents no way to remove one (PatchEvent leaves fields it is not sent as they are, and
        sending ``onlineMeetingInfo`` replaces the meeting; nothing clears it).
    :param ui_configs: detail-page elements to set, ``{element: state}`` as for
        :class:`CreateEventOperator`; elements not named keep their state. (templated)
    :param chat_notification: with a change, whether attendees get a 1:1 chat notice of it (DingTalk's
        ``extra`` switch; its default when None). Alone it sends nothing.
    :param push_notification: likewise for the pop-up notice.

    Attendees are not changed here: use ``SyncAttendeesOperator`` (DingTalk recommends the attendee calls).
    """

    people = {"organizer_id": ONE}
    event_ids = ("event_id",)
    writes = ("PatchEvent",)
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
        "ui_configs",
        "extra_fields",
        "calendar_id",
        "client_token",
        "dingtalk_conn_id",
    )
    template_fields_renderers = {"description": "md", "recurrence": "json", "extra_fields": "json"}

    def __init__(
        self,
        *,
        organizer_id: str | XComArg,
        event_id: str | XComArg,
        summary: str | XComArg | None = None,
        start: Any = None,
        end: Any = None,
        all_day: bool | None = None,
        timezone: str | XComArg | None = None,
        description: str | XComArg | None = None,
        location: str | XComArg | None = None,
        reminders: Any = None,
        recurrence: Any = None,
        online_meeting: bool | None = None,
        ui_configs: dict | XComArg | None = None,
        chat_notification: bool | None = None,
        push_notification: bool | None = None,
        extra_fields: dict | XComArg | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ui_configs: Any = ui_configs  # rendered in place before execute(), checked there
        self.chat_notification = chat_notification
        self.push_notification = push_notification
        self.organizer_id = organizer_id
        self.event_id = event_id
        self.summary = summary
        self.start = start
        self.end = end
        self.all_day = all_day
        self.timezone: Any = timezone  # rendered in place before execute(), checked there
        self.description = description
        self.location = location
        self.reminders = reminders
        self.recurrence = recurrence
        self.online_meeting = online_meeting
        self.extra_fields: Any = extra_fields  # rendered in place before execute(), checked there

    def changes(self, current: dict, context: Context) -> dict:
        """The PatchEvent fields that differ from ``current`` (raises on a bad argument)."""
        from airflow_dtcal.planning.update import event_changes

        return event_changes(
            current,
            **event_fields(self),
            chat_notification=self.chat_notification,
            push_notification=self.push_notification,
            default_timezone=dag_timezone(context),
        )

    def check(self, ex: Execution) -> None:
        """What can be checked without the event: every field but the times' relation to the event's own."""
        from airflow_dtcal.core.times import parse_time, zone
        from airflow_dtcal.planning.update import event_changes

        times = {"start": None, "end": None, "all_day": None, "timezone": None}  # they need the event
        event_changes(
            {},
            **{**event_fields(self), **times},
            chat_notification=self.chat_notification,
            push_notification=self.push_notification,
        )
        for name in ("start", "end"):
            if getattr(self, name) is not None:
                parse_time(getattr(self, name), name)
        if self.timezone:
            zone(self.timezone, "timezone")
        check_flags(self, "all_day")

    def run(self, ex: Execution) -> dict:
        from airflow_dtcal.exceptions import invalid_arguments

        organizer, event_id, calendar = ex.organizer_id, ex.event_id, ex.calendar_id
        current = ex.hook.get_event(organizer, event_id, calendar_id=calendar)
        with invalid_arguments():
            changes = self.changes(current, ex.context)
        if not changes:
            self.log.info("Event %s already is as described; nothing sent", event_id)
            return {"id": event_id, "changed": []}
        token = ex.token("PatchEvent", [organizer, calendar, event_id, changes])
        ex.hook.patch_event(organizer, event_id, changes, calendar_id=calendar, client_token=token)
        self.log.info("Updated %s of event %s", ", ".join(sorted(changes)), event_id)
        return {"id": event_id, "changed": sorted(changes)}


class CancelEventOperator(DingTalkCalendarBaseOperator):
    """Cancel an event for everyone, as its organizer (CancelEvent); it stays readable, status ``cancelled``.

    :param organizer_id: the organizer: a unionId, or see ``id_type``. (templated)
    :param event_id: the event. (templated)
    :param scope: DingTalk's ``scope`` query parameter, passed through (values undocumented). (templated)
    :param ignore_missing: succeed when the event is already gone (deleted).

    Cancelling a cancelled event succeeds. Use ``DeleteEventOperator`` to remove an event instead.
    """

    people = {"organizer_id": ONE}
    event_ids = ("event_id",)
    writes = ("CancelEvent",)
    template_fields: Sequence[str] = (
        "organizer_id",
        "event_id",
        "scope",
        "calendar_id",
        "client_token",
        "dingtalk_conn_id",
    )

    def __init__(
        self,
        *,
        organizer_id: str | XComArg,
        event_id: str | XComArg,
        scope: str | XComArg | None = None,
        ignore_missing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.organizer_id = organizer_id
        self.event_id = event_id
        self.scope = scope
        self.ignore_missing = ignore_missing

    def check(self, ex: Execution) -> dict[str, Any]:
        from airflow_dtcal.core.ids import require_id

        check_flags(self, "ignore_missing")
        return {"scope": require_id(self.scope, "scope") if self.scope is not None else None}

    def run(self, ex: Execution) -> None:
        from airflow_dtcal.exceptions import DingTalkNotFoundError

        organizer, event_id, calendar = ex.organizer_id, ex.event_id, ex.calendar_id
        token = ex.token("CancelEvent", [organizer, calendar, event_id])
        try:
            ex.hook.cancel_event(
                organizer, event_id, calendar_id=calendar, scope=ex.scope, client_token=token
            )
        except DingTalkNotFoundError:
            if not self.ignore_missing:
                raise
            self.log.info("Event %s was already gone", event_id)
            return
        self.log.info("Cancelled event %s as %s", event_id, organizer)


class TransferEventOperator(DingTalkCalendarBaseOperator):
    """Hand an event to a new organizer, e.g. when the organizer leaves (TransferEvent); returns the event id.

    :param organizer_id: the current organizer: a unionId, or see ``id_type``. (templated)
    :param event_id: the event. (templated)
    :param new_organizer_id: the new organizer: a unionId, or see ``id_type``. (templated)
    :param exit_calendar: also take the event out of the old organizer's calendar.
    :param notify: send the new organizer a 1:1 notice.

    A cleared or repeated task first reads the event as the new organizer: if the hand-over already
    happened it sends nothing (the old organizer may no longer change the event).
    """

    people = {"organizer_id": ONE, "new_organizer_id": ONE}
    event_ids = ("event_id",)
    writes = ("TransferEvent",)
    template_fields: Sequence[str] = (
        "organizer_id",
        "event_id",
        "new_organizer_id",
        "calendar_id",
        "client_token",
        "dingtalk_conn_id",
    )

    def __init__(
        self,
        *,
        organizer_id: str | XComArg,
        event_id: str | XComArg,
        new_organizer_id: str | XComArg,
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

    def check(self, ex: Execution) -> None:
        check_flags(self, "exit_calendar", "notify")

    def run(self, ex: Execution) -> str:
        from airflow_dtcal.exceptions import DingTalkNotFoundError

        organizer, new, event_id, calendar = ex.organizer_id, ex.new_organizer_id, ex.event_id, ex.calendar_id
        try:
            seen = ex.hook.get_event(new, event_id, calendar_id=calendar, max_attendees=1)
        except DingTalkNotFoundError:
            seen = {}
        if (seen.get("organizer") or {}).get("id") == new:
            self.log.info("Event %s is already organized by %s; nothing sent", event_id, new)
            return event_id
        ex.hook.transfer_event(
            organizer,
            event_id,
            new,
            calendar_id=calendar,
            exit_calendar=self.exit_calendar,
            notify=self.notify,
            client_token=ex.token("TransferEvent", [organizer, calendar, event_id, new]),
        )
        self.log.info("Handed event %s from %s to %s", event_id, organizer, new)
        return event_id
