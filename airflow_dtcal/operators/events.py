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

    def run(self, context: Context) -> list[dict]:
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


class SyncEventsOperator(DingTalkCalendarBaseOperator):
    """Make the organizer's events of a set equal a desired list: create the missing, update the changed,
    cancel the removed; several writes in flight. Returns ``{"created", "updated", "unchanged": {key: event
    id}, "cancelled": [event ids], "attendees": {key: {"added", "removed"}}}``.

    :param organizer_id: unionId of the organizer. (templated)
    :param events: the desired events, e.g. an upstream task's table of training sessions: dicts of
        ``CreateEventOperator`` arguments (``summary``, ``start``, ``end``, ``timezone``, ``description``,
        ``attendees``, ``location``, ``reminders``, ``recurrence``...) plus a stable ``key``. (templated)
    :param scope: names the set, e.g. ``"training-sessions"``; only events this set created are ever
        updated or cancelled. (templated)
    :param time_min: start of the window the set lives in; every desired event must start inside it, and
        events of the set outside it are left alone. (templated)
    :param time_max: end of the window, at most a year after ``time_min``. (templated)
    :param max_in_flight: writes sent at once (default: the connection's ``max_in_flight``; the hook paces
        them within DingTalk's 20 calls/s).
    :param sync_attendees: also make the attendees of existing events equal each desired event's
        ``attendees`` (one ListAttendees per such event and run, then adds and removes only the difference;
        the organizer stays). Default False: attendees are set when an event is created.

    The keys are kept as hashed markers on the description's last line (see ``docs/lifecycle.md``), so
    whatever runs created the events, a sync finds them.
    """

    template_fields: Sequence[str] = (
        "organizer_id",
        "events",
        "scope",
        "time_min",
        "time_max",
        "calendar_id",
    )
    template_fields_renderers = {"events": "json"}

    def __init__(
        self,
        *,
        organizer_id: str,
        events: Any,
        scope: str,
        time_min: Any,
        time_max: Any,
        max_in_flight: int | None = None,
        sync_attendees: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.organizer_id = organizer_id
        self.sync_attendees = sync_attendees
        self.events = events
        self.scope = scope
        self.time_min = time_min
        self.time_max = time_max
        self.max_in_flight = max_in_flight

    def _dag_zone(self, context: Context) -> str | None:
        dag = context.get("dag") if hasattr(context, "get") else None
        name = getattr(getattr(dag, "timezone", None), "name", None)
        return name if isinstance(name, str) and name[:1] not in "+-" else None

    def run(self, context: Context) -> dict:
        from airflow_dtcal.planning.event_sets import check_window, desired_events, plan_sync

        with _arguments():
            organizer = payloads.require_id(self.organizer_id, "organizer_id")
            calendar = self._calendar()
            zone = self._dag_zone(context)
            desired = desired_events(self.events, scope=self.scope, default_timezone=zone)
            time_min, time_max = check_window(desired, self.time_min, self.time_max)
            limit = self.max_in_flight
            if limit is not None and (
                isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 64
            ):
                raise payloads.InvalidArgumentError(
                    "max_in_flight", "must be a whole number from 1 to 64", limit
                )
        hook = self.get_hook()
        existing = list(
            hook.iter_events(organizer, time_min=time_min, time_max=time_max, calendar_id=calendar)
        )
        with _arguments():
            plan = plan_sync(desired, existing, scope=self.scope, default_timezone=zone)
        writes = []
        for item in plan.create:
            token = self._client_token(
                context, "CreateEvent", [organizer, calendar, self.scope, item.key, item.body]
            )
            writes.append(("created", item.key, None, (item.body,), token))
        for item, event_id, changes in plan.update:
            token = self._client_token(
                context, "PatchEvent", [organizer, calendar, event_id, changes], per_try=True
            )
            writes.append(("updated", item.key, event_id, (changes,), token))
        if self.sync_attendees:
            matched = [(d, event_id) for d, event_id, _changes in plan.update] + plan.unchanged
            for item, event_id in matched:
                if item.attendees is not None:
                    token = self._client_token(
                        context,
                        "SyncAttendees",
                        [organizer, calendar, event_id, item.attendees],
                        per_try=True,
                    )
                    writes.append(("attendees", item.key, event_id, (item.attendees,), token))
        for event_id, key in plan.cancel:
            token = self._client_token(context, "CancelEvent", [organizer, calendar, event_id], per_try=True)
            writes.append(("cancelled", key, event_id, (), token))
        try:
            results = send_writes(hook, organizer, calendar, writes, self.max_in_flight)
        except Exception:
            self.log.error(
                "A write of the sync of %r failed; writes not yet started were not sent. Running the task "
                "again is safe: events already written are found by their keys",
                self.scope,
            )
            raise
        summary: dict[str, Any] = {
            "created": {},
            "updated": {},
            "unchanged": {d.key: event_id for d, event_id in plan.unchanged},
            "cancelled": [],
            "attendees": {},
        }
        for (verb, key, target, _args, _token), outcome in zip(writes, results, strict=True):
            if verb == "cancelled":
                summary["cancelled"].append(target)
            elif verb == "attendees":
                if outcome["added"] or outcome["removed"]:
                    summary["attendees"][key] = outcome
            else:
                summary[verb][key] = outcome
        self.log.info(
            "Synced %s events of %r for %s: %d created, %d updated, %d unchanged, %d cancelled",
            len(desired),
            self.scope,
            organizer,
            len(summary["created"]),
            len(summary["updated"]),
            len(summary["unchanged"]),
            len(summary["cancelled"]),
        )
        return summary


def send_writes(
    hook: Any, organizer: str, calendar: str, writes: list[tuple], max_in_flight: int | None
) -> list:
    """Send the sync's writes, ``max_in_flight`` at once (the hook's ``run_many``); one outcome per write, in
    order: the event id, or ``{"added", "removed"}`` for an attendee sync. On the first error no new write
    starts; the error is raised once those in flight finish.
    """
    from airflow_dtcal.core.calls import derive_client_token
    from airflow_dtcal.planning.event_sets import attendee_changes

    def write(item: tuple) -> Any:
        verb, _key, target, args, token = item
        if verb == "created":
            return hook.create_event(organizer, *args, calendar_id=calendar, client_token=token)["id"]
        if verb == "updated":
            hook.patch_event(organizer, target, *args, calendar_id=calendar, client_token=token)
            return target
        if verb == "cancelled":
            hook.cancel_event(organizer, target, calendar_id=calendar, client_token=token)
            return target
        current = [a["id"] for a in hook.iter_attendees(organizer, target, calendar_id=calendar)]
        add, remove = attendee_changes(args[0], current, organizer)
        if remove:
            hook.remove_attendees(
                organizer,
                target,
                remove,
                calendar_id=calendar,
                client_token=derive_client_token(token, "remove"),
            )
        if add:
            hook.add_attendees(
                organizer, target, add, calendar_id=calendar, client_token=derive_client_token(token, "add")
            )
        return {"added": [a["id"] for a in add], "removed": remove}

    return hook.run_many(write, writes, max_in_flight=max_in_flight)
