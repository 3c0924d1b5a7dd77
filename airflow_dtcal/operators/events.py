"""Operators for an event's life: create (or ensure) it, update, cancel, hand over, delete; list a calendar.

Importing this module is cheap (the scheduler does it on every DAG parse): the hook and the payload builders
are imported only when a task runs. The operators that change an existing event (update, cancel, transfer)
live in :mod:`~airflow_dtcal.operators.event_updates` and the sync of a set of events in
:mod:`~airflow_dtcal.operators.event_sets`; import them from here. Every argument a DAG author would template is a template field, stored
unchanged and checked in ``execute()`` before any request (a bad value raises
:class:`~airflow_dtcal.exceptions.DingTalkInvalidArgumentError` naming it; Airflow does not retry it).

People are unionIds by default; ``id_type="userId"`` or ``"mobile"`` (or a dict per argument) takes the ids
a data team holds, resolved to unionIds before anything is written (see
:class:`~airflow_dtcal.operators.base.DingTalkCalendarBaseOperator`). Return values name people by unionId.

A cleared or retried task re-establishes the state it describes: ``CreateEventOperator`` sends an
``x-client-token`` that is the same on every try (a retry after a lost answer creates no second event), and
on a later try creates a new event only if the one it got back was deleted or cancelled meanwhile. The other
writes are idempotent in DingTalk; their keys include the try number. :class:`EnsureEventOperator` keeps
one event per intended occurrence across runs (a manual run, a clear, a backfill): it gives the event a key
of yours, kept as a short keyed marker on the description's last line (see
:mod:`airflow_dtcal.planning.markers`), and creates only when no live event of the organizer carries it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dtcal.operators.arguments import ATTENDEES, ONE, checked_by
from airflow_dtcal.operators.base import (
    DingTalkCalendarBaseOperator,
    Execution,
    calls_for_people,
    check_flags,
    dag_timezone,
    event_fields,
)
from airflow_dtcal.operators.event_sets import SyncEventsOperator
from airflow_dtcal.operators.event_updates import (
    CancelEventOperator,
    TransferEventOperator,
    UpdateEventOperator,
)

if TYPE_CHECKING:
    from airflow.sdk import XComArg

    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

__all__ = [
    "CancelEventOperator",
    "CreateEventOperator",
    "DeleteEventOperator",
    "EnsureEventOperator",
    "ListEventsOperator",
    "ListInstancesOperator",
    "SyncEventsOperator",
    "TransferEventOperator",
    "UpdateEventOperator",
]


#: How many times a create answered with an event deleted since is made again (each costs a GetEvent and a
#: CreateEvent); more means someone deletes the events as fast as they are made.
MAX_RECREATES = 5


class CreateEventOperator(DingTalkCalendarBaseOperator):
    """Create an event in the organizer's calendar and return its event id (the XCom return value).

    :param organizer_id: the organizer, whose calendar holds the event: a unionId, or see ``id_type``.
        (templated)
    :param summary: title, 1 to 2,048 characters. (templated)
    :param start: pendulum/datetime, date, or ISO-8601 string, e.g. ``"{{ data_interval_end }}"``. (templated)
    :param end: same types; required for timed events. For all-day events it is the *last day* (inclusive,
        default ``start``): DingTalk's exclusive end date is computed for you. (templated)
    :param all_day: all-day event; inferred from ``start`` being a date when not given.
    :param timezone: IANA zone the event is shown in (e.g. ``Asia/Shanghai``); naive date-times are read in it.
        Default: the values' own named zone, else the DAG's time zone. (templated)
    :param description: up to 5,000 characters. (templated)
    :param attendees: ids (unionIds, or see ``id_type``) or ``{"id", "isOptional"}`` dicts (an upstream
        XComArg works). Over 500 are added in chunks after the create. (templated)
    :param location: a display name. (templated)
    :param reminders: minutes before the start (``[15, 60]``); ``[]`` for none; default DingTalk's 15. (templated)
    :param recurrence: a dict from :class:`airflow_dtcal.payloads.Recurrence` (``Recurrence.weekly("monday",
        count=10)``) or the wire format. (templated)
    :param online_meeting: attach a DingTalk video meeting.
    :param chat_notification: send attendees a 1:1 chat notice (DingTalk's default when None).
    :param push_notification: send attendees a pop-up notice (DingTalk's default when None).
    :param ui_configs: what the event's detail page shows attendees: ``{element: state}`` with elements
        ``updateEventButton``, ``deleteEventButton``, ``transferEventButton``, ``attendee``, ``comment`` and
        states ``hide``, ``disable`` (newer clients; older ones hide), ``enable`` (DingTalk's default), e.g.
        ``{"deleteEventButton": "hide", "comment": "disable"}``. (templated)
    :param extra_fields: other wire-format CreateEvent fields (``richTextDescription``, ``categories``...).
    :param id_type: for ``organizer_id`` and ``attendees``. :param on_unknown: for ``attendees``.
    """

    people = {"organizer_id": ONE, "attendees": ATTENDEES(allow_empty=True, optional=True)}
    writes = ("CreateEvent",)
    template_fields: Sequence[str] = (
        "organizer_id",
        "summary",
        "start",
        "end",
        "timezone",
        "description",
        "attendees",
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
        summary: str | XComArg,
        start: Any,
        end: Any = None,
        all_day: bool | None = None,
        timezone: str | XComArg | None = None,
        description: str | XComArg | None = None,
        attendees: Any = None,
        location: str | XComArg | None = None,
        reminders: Any = None,
        recurrence: Any = None,
        online_meeting: bool = False,
        chat_notification: bool | None = None,
        push_notification: bool | None = None,
        ui_configs: dict | XComArg | None = None,
        extra_fields: dict | XComArg | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.organizer_id = organizer_id
        self.summary = summary
        self.ui_configs: Any = ui_configs  # rendered in place before execute(), checked there
        self.start = start
        self.end = end
        self.all_day = all_day
        self.timezone: Any = timezone  # rendered in place before execute(), checked there
        self.description = description
        self.attendees = attendees
        self.location = location
        self.reminders = reminders
        self.recurrence = recurrence
        self.online_meeting = online_meeting
        self.chat_notification = chat_notification
        self.push_notification = push_notification
        self.extra_fields: Any = extra_fields  # rendered in place before execute(), checked there

    def build_event(self, ex: Execution) -> dict:
        """The CreateEvent body from the checked arguments (raises before any request on a bad value)."""
        from airflow_dtcal.planning.events import build_event

        return build_event(
            **event_fields(self),
            default_timezone=dag_timezone(ex.context),
            attendees=ex.attendees,
            chat_notification=self.chat_notification,
            push_notification=self.push_notification,
        )

    def check(self, ex: Execution) -> dict[str, Any]:
        return {"event": self.build_event(ex)}

    def expected_calls(self, ex: Execution) -> int:
        """The create, the adds of attendees beyond its 500, and the check of a replayed answer."""
        from airflow_dtcal.core.ids import MAX_ATTENDEES_PER_CALL

        beyond = max(0, len(ex.attendees or []) - MAX_ATTENDEES_PER_CALL)
        return 1 + calls_for_people(beyond) + (1 if self.may_be_replayed(ex) else 0)

    def creation_token(self, ex: Execution, event: dict) -> str:
        """The CreateEvent's ``x-client-token``: the same on every try of this task instance."""
        return ex.token("CreateEvent", [ex.organizer_id, ex.calendar_id, event])

    def may_be_replayed(self, ex: Execution) -> bool:
        """Whether DingTalk may answer the create with an event made earlier with the same token (which may
        have been deleted or cancelled since): on a later try of the task."""
        return (getattr(ex.context["ti"], "try_number", 1) or 1) > 1

    def run(self, ex: Execution) -> str:
        from airflow_dtcal.core.calls import derive_client_token

        organizer, calendar = ex.organizer_id, ex.calendar_id
        event = {k: v for k, v in ex.event.items() if k != "attendees"}
        if ex.attendees:
            event["attendees"] = ex.attendees
        token = self.creation_token(ex, event)
        hook = ex.hook
        created = hook.create_event(organizer, event, calendar_id=calendar, client_token=token)
        # A replayed answer may name an event deleted or cancelled since: create anew, with a token derived
        # from it (the same for every run that meets the same deleted event), until the event is live.
        for recreated in range(MAX_RECREATES + 1):
            if not (self.may_be_replayed(ex) and _gone(hook, organizer, created["id"], calendar)):
                break
            if recreated == MAX_RECREATES:
                from airflow_dtcal.exceptions import DingTalkError

                raise DingTalkError(
                    f"DingTalk answered {MAX_RECREATES + 1} creates with events deleted or cancelled since; "
                    "not creating more"
                )
            self.log.info(
                "Event %s from an earlier try was deleted or cancelled; creating a new one", created["id"]
            )
            token = derive_client_token(token, "after", created["id"])
            created = hook.create_event(organizer, event, calendar_id=calendar, client_token=token)
        # The summary and description are not logged: a rendered template may hold anything.
        self.log.info(
            "Created DingTalk event %s at %s for organizer %s with %d attendees",
            created["id"],
            event["start"].get("dateTime") or event["start"].get("date"),
            organizer,
            len(event.get("attendees") or []),
        )
        return created["id"]


def _gone(hook: DingTalkCalendarHook, organizer: str, event_id: str, calendar: str) -> bool:
    """Whether an event an earlier try created (DingTalk replays its answer) was deleted or cancelled."""
    from airflow_dtcal.exceptions import DingTalkNotFoundError

    try:
        return hook.get_event(organizer, event_id, calendar_id=calendar).get("status") == "cancelled"
    except DingTalkNotFoundError:
        return True


class EnsureEventOperator(CreateEventOperator):
    """Create an event unless the organizer already has one with the same ``dedup_key``; return its id.

    Takes every argument of :class:`CreateEventOperator`, plus:

    :param dedup_key: what makes this event the one intended, stable across runs, e.g.
        ``"data-platform-review-{{ logical_date.strftime('%G-W%V') }}"``. (templated)
    :param dedup_window_days: how far before the start and after the end to look for the event, in days
        (default 7: the event is still found after someone moved it within a week; at most 180).

    The search (in the organizer's calendar, by unionId whatever ``id_type`` named them with) costs one
    ListEvents call per 100 events of the organizer in the window.

    Runs at the same time (two DAG runs, a backfill beside the schedule) may both search before either has
    created. Their CreateEvent carries the same ``x-client-token``, derived from the organizer, the
    calendar and the key (not the DAG run), so DingTalk takes the second as a repeat of the first and
    answers with the same event: one event. DingTalk remembers a token for a day; when the event it answers
    with was deleted or cancelled since (one GetEvent call checks), a new one is created with a token
    derived from the old event's id, which racing runs share again. A ``client_token`` given to the
    operator replaces the derived one.
    """

    template_fields: Sequence[str] = (*CreateEventOperator.template_fields, "dedup_key")
    rules = {
        "dedup_key": checked_by("airflow_dtcal.planning.markers:check_event_key"),
        "dedup_window_days": checked_by("airflow_dtcal.planning.markers:check_window_days"),
    }

    def __init__(self, *, dedup_key: str | XComArg, dedup_window_days: int = 7, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dedup_key: Any = dedup_key  # rendered in place before execute(), checked there
        self.dedup_window_days = dedup_window_days

    def build_event(self, ex: Execution) -> dict:
        """The CreateEvent body; its description leaves room for the marker, added once the event has an id
        (the marker is bound to it: see :mod:`airflow_dtcal.planning.markers`)."""
        from airflow_dtcal.planning.markers import EVENT_MARKER_LENGTH, room_for

        event = super().build_event(ex)
        text = room_for(event.get("description"), EVENT_MARKER_LENGTH)
        if text:
            event["description"] = text
        return event

    def check(self, ex: Execution) -> dict[str, Any]:
        from airflow_dtcal.planning.markers import key_search_window

        checked = super().check(ex)
        return {**checked, "window": key_search_window(checked["event"], ex.dedup_window_days)}

    def creation_token(self, ex: Execution, event: dict) -> str:
        """The same for every run that ensures this key for this organizer's calendar, so that DingTalk
        collapses concurrent creates into one (a given ``client_token`` wins)."""
        from airflow_dtcal.core.calls import client_token, derive_client_token

        if self.client_token is not None:
            return client_token(self.client_token)
        return derive_client_token(
            "airflow-dtcal", "EnsureEvent", ex.organizer_id, ex.calendar_id, self.dedup_key
        )

    def may_be_replayed(self, ex: Execution) -> bool:
        return True  # the token outlives the run: any run may get back an event deleted since

    def expected_calls(self, ex: Execution) -> int:
        """The search's first page, then the create's calls (when no event has the key yet)."""
        return 1 + super().expected_calls(ex)

    def run(self, ex: Execution) -> str:
        time_min, time_max = ex.window
        organizer, calendar, key = ex.organizer_id, ex.calendar_id, ex.dedup_key
        found = ex.hook.find_event_by_key(
            organizer, key, time_min=time_min, time_max=time_max, calendar_id=calendar
        )
        if found is not None:
            self.log.info(
                "Organizer %s already has the event for this key (%s); not creating another",
                organizer,
                found["id"],
            )
            return found["id"]
        event_id = super().run(ex)
        ex.hook.mark_event(
            organizer, event_id, key, description=ex.event.get("description"), calendar_id=calendar
        )
        return event_id


class DeleteEventOperator(DingTalkCalendarBaseOperator):
    """Delete an event: for everyone when ``user_id`` is the organizer, else from that attendee's calendar.

    :param user_id: the organizer (or an attendee): a unionId, or see ``id_type``. (templated)
    :param event_id: the event. (templated)
    :param push_notification: notify attendees (DingTalk's default when None).
    :param ignore_missing: succeed when the event is already gone.
    """

    people = {"user_id": ONE}
    event_ids = ("event_id",)
    writes = ("DeleteEvent",)
    template_fields: Sequence[str] = (
        "user_id",
        "event_id",
        "calendar_id",
        "client_token",
        "dingtalk_conn_id",
    )

    def __init__(
        self,
        *,
        user_id: str | XComArg,
        event_id: str | XComArg,
        push_notification: bool | None = None,
        ignore_missing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.user_id = user_id
        self.event_id = event_id
        self.push_notification = push_notification
        self.ignore_missing = ignore_missing

    def check(self, ex: Execution) -> None:
        check_flags(self, "push_notification", "ignore_missing")

    def run(self, ex: Execution) -> None:
        from airflow_dtcal.exceptions import DingTalkNotFoundError

        user, event_id, calendar = ex.user_id, ex.event_id, ex.calendar_id
        try:
            ex.hook.delete_event(
                user,
                event_id,
                calendar_id=calendar,
                push_notification=self.push_notification,
                client_token=ex.token("DeleteEvent", [user, calendar, event_id]),
            )
        except DingTalkNotFoundError:
            if not self.ignore_missing:
                raise
            self.log.info("Event %s was already gone", event_id)
            return
        self.log.info("Deleted event %s as %s", event_id, user)


class ListEventsOperator(DingTalkCalendarBaseOperator):
    """Return the events of a calendar in a window (all pages), as DingTalk returns them.

    :param user_id: whose calendar is read (organizer or attendee): a unionId, or see ``id_type``. (templated)
    :param time_min: window start: pendulum/datetime or ISO-8601 string (naive: UTC). (templated)
    :param time_max: window end, at most a year after ``time_min``. (templated)
    :param expand_recurring: True (default): ListEventsView, one item per occurrence of a recurring series,
        each with ``seriesMasterId`` and ``originStart``. False: ListEvents, a series once, as stored.
    :param show_deleted: with ``expand_recurring=False``, also list cancelled events.
    :param max_attendees: attendees listed per event, 1 to 100 (default 100); ListEventsView only.

    Cancelled events are left out unless ``show_deleted=True``.
    """

    people = {"user_id": ONE}
    template_fields: Sequence[str] = ("user_id", "time_min", "time_max", "calendar_id", "dingtalk_conn_id")

    def __init__(
        self,
        *,
        user_id: str | XComArg,
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

    def check(self, ex: Execution) -> dict[str, Any]:
        from airflow_dtcal.core.errors import InvalidArgumentError
        from airflow_dtcal.core.ids import whole_number

        window = _window(self.time_min, self.time_max)
        check_flags(self, "expand_recurring", "show_deleted")
        if self.expand_recurring and self.show_deleted:
            raise InvalidArgumentError(
                "show_deleted", "is for expand_recurring=False (ListEventsView has no deleted events)"
            )
        if not self.expand_recurring and self.max_attendees != 100:
            raise InvalidArgumentError(
                "max_attendees", "is for expand_recurring=True (ListEvents lists every attendee it has)"
            )
        whole_number(self.max_attendees, "max_attendees", high=100)
        return {"window": window}

    def run(self, ex: Execution) -> list[dict]:
        user, calendar, window = ex.user_id, ex.calendar_id, ex.window
        if self.expand_recurring:
            events = ex.hook.list_events_view(
                user, calendar_id=calendar, max_attendees=self.max_attendees, **window
            )
        else:
            events = list(
                ex.hook.iter_events(user, calendar_id=calendar, show_deleted=self.show_deleted, **window)
            )
        self.log.info(
            "%s has %d events from %s to %s", user, len(events), window["time_min"], window["time_max"]
        )
        return events


def _window(time_min: Any, time_max: Any) -> dict[str, str]:
    """``{"time_min", "time_max"}`` as ISO instants: ``time_max`` after ``time_min``, at most a year on."""
    from airflow_dtcal.core.errors import InvalidArgumentError
    from airflow_dtcal.core.times import instant, iso_instant

    first = instant(time_min, "time_min")
    last = instant(time_max, "time_max")
    if last <= first:
        raise InvalidArgumentError("time_max", "must be after time_min", time_max)
    if (last - first).in_days() > 366:
        raise InvalidArgumentError("time_max", "must be at most a year after time_min")
    return {"time_min": iso_instant(first, "time_min"), "time_max": iso_instant(last, "time_max")}


class ListInstancesOperator(DingTalkCalendarBaseOperator):
    """Return the occurrences of one recurring series in a window (ListInstances, all pages), in start
    order: each with its own id, the series' id as ``seriesMasterId`` and its original start as
    ``originStart``.

    An occurrence's id is for reading: DingTalk documents no way to change or cancel one occurrence (see
    docs/lifecycle.md, "One occurrence of a series", for what to do instead).

    :param user_id: the organizer or an attendee of the series: a unionId, or see ``id_type``. (templated)
    :param event_id: the series' event id (its ``seriesMasterId``), e.g. ``create.output``. (templated)
    :param time_min: window start: pendulum/datetime or ISO-8601 string (naive: UTC). (templated)
    :param time_max: window end, at most a year after ``time_min``. (templated)
    :param max_attendees: attendees listed per occurrence, 1 to 100 (default 100).
    """

    people = {"user_id": ONE}
    event_ids = ("event_id",)
    template_fields: Sequence[str] = (
        "user_id",
        "event_id",
        "time_min",
        "time_max",
        "calendar_id",
        "dingtalk_conn_id",
    )

    def __init__(
        self,
        *,
        user_id: str | XComArg,
        event_id: str | XComArg,
        time_min: Any,
        time_max: Any,
        max_attendees: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.user_id = user_id
        self.event_id = event_id
        self.time_min = time_min
        self.time_max = time_max
        self.max_attendees = max_attendees

    def check(self, ex: Execution) -> dict[str, Any]:
        from airflow_dtcal.core.ids import whole_number

        whole_number(self.max_attendees, "max_attendees", high=100)
        return {"window": _window(self.time_min, self.time_max)}

    def run(self, ex: Execution) -> list[dict]:
        window = ex.window
        instances = ex.hook.list_instances(
            ex.user_id, ex.event_id, calendar_id=ex.calendar_id, max_attendees=self.max_attendees, **window
        )
        self.log.info(
            "Series %s has %d occurrences from %s to %s",
            ex.event_id,
            len(instances),
            window["time_min"],
            window["time_max"],
        )
        return instances
