"""SyncEventsOperator: make a set of the organizer's events equal a desired list (create, update, cancel).

Importing this module is cheap (the scheduler does it on every DAG parse): the hook and the planning code
are imported only when a task runs. Arguments are template fields stored unchanged and checked in
``execute()``, before any request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_dtcal.operators.arguments import EVENT_ATTENDEES, ONE, checked_by, optional
from airflow_dtcal.operators.base import DingTalkCalendarBaseOperator, Execution, check_flags, dag_timezone

if TYPE_CHECKING:
    from airflow.sdk import XComArg

__all__ = ["SyncEventsOperator", "check_max_in_flight", "send_writes"]


def check_max_in_flight(value: Any, argument: str) -> int:
    from airflow_dtcal.core.errors import InvalidArgumentError

    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
        raise InvalidArgumentError(argument, "must be a whole number from 1 to 64", value)
    return value


class SyncEventsOperator(DingTalkCalendarBaseOperator):
    """Make the organizer's events of a set equal a desired list: create the missing, update the changed,
    cancel the removed; several writes in flight. Returns ``{"created", "updated", "unchanged": {key: event
    id}, "cancelled": [event ids], "attendees": {key: {"added", "removed"}}}``.

    :param organizer_id: the organizer: a unionId, or see ``id_type``. (templated)
    :param events: the desired events, e.g. an upstream task's table of training sessions: dicts of
        ``CreateEventOperator`` arguments (``summary``, ``start``, ``end``, ``timezone``, ``description``,
        ``attendees``, ``location``, ``reminders``, ``recurrence``...) plus a stable ``key``. Each event's
        ``attendees`` are unionIds, or see ``id_type`` (argument ``"events"``). (templated)
    :param scope: names the set, e.g. ``"training-sessions"``; only events this set created are ever
        updated or cancelled. (templated)
    :param time_min: start of the window the set lives in; every desired event must start inside it, and
        events of the set outside it are left alone. (templated)
    :param time_max: end of the window, at most a year after ``time_min``. (templated)
    :param max_in_flight: writes sent at once, 1 to 64 (default: the connection's ``max_in_flight``; the hook
        paces them within DingTalk's 20 calls/s).
    :param sync_attendees: also make the attendees of existing events equal each desired event's
        ``attendees`` (one ListAttendees per such event and run, then adds and removes only the difference;
        the organizer stays). Default False: attendees are set when an event is created.
    :param id_type: for ``organizer_id`` and ``events`` (their attendees). :param on_unknown: for the
        events' attendees (``"skip"`` leaves unresolved people out of the events, so a sync removes them).

    The keys are kept as keyed markers on the description's last line, bound to each event's id (see
    ``docs/lifecycle.md``), so whatever runs created the events, a sync finds them, and only them: an event
    counts as the set's when the organizer organizes it and its marker verifies (a copy elsewhere is logged
    and left alone). A created event is marked right after the create (one PatchEvent). With
    ``client_token``, each write's key is derived from it.
    """

    people = {"organizer_id": ONE, "events": EVENT_ATTENDEES}
    writes = ("CreateEvent", "PatchEvent", "CancelEvent", "SyncAttendees")
    template_fields: Sequence[str] = (
        "organizer_id",
        "events",
        "scope",
        "time_min",
        "time_max",
        "calendar_id",
        "client_token",
        "dingtalk_conn_id",
    )
    template_fields_renderers = {"events": "json"}
    rules = {
        "scope": checked_by("airflow_dtcal.planning.markers:check_scope"),
        "max_in_flight": optional(check_max_in_flight),
    }

    def __init__(
        self,
        *,
        organizer_id: str | XComArg,
        events: Any,
        scope: str | XComArg,
        time_min: Any,
        time_max: Any,
        max_in_flight: int | None = None,
        sync_attendees: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.organizer_id = organizer_id
        self.events = events
        self.scope: Any = scope  # rendered in place before execute(), checked there
        self.time_min = time_min
        self.time_max = time_max
        self.max_in_flight = max_in_flight
        self.sync_attendees = sync_attendees

    def check(self, ex: Execution) -> dict[str, Any]:
        from airflow_dtcal.planning.event_sets import check_window, desired_events

        desired = desired_events(ex.events, scope=ex.scope, default_timezone=dag_timezone(ex.context))
        window = check_window(desired, self.time_min, self.time_max)
        check_flags(self, "sync_attendees")
        return {"window": window}

    def run(self, ex: Execution) -> dict:
        from airflow_dtcal.exceptions import invalid_arguments
        from airflow_dtcal.planning.event_sets import desired_events, marked_description, plan_sync

        organizer, calendar, zone, scope = ex.organizer_id, ex.calendar_id, dag_timezone(ex.context), ex.scope
        desired = desired_events(ex.events, scope=scope, default_timezone=zone)  # attendees resolved
        time_min, time_max = ex.window
        hook = ex.hook
        markers = hook.markers()
        existing: list[Mapping[str, Any]] = list(
            hook.iter_events(organizer, time_min=time_min, time_max=time_max, calendar_id=calendar)
        )
        with invalid_arguments():
            plan = plan_sync(
                desired,
                existing,
                scope=scope,
                organizer=organizer,
                calendar=calendar,
                markers=markers,
                default_timezone=zone,
            )
        for event_id, why in plan.ignored:
            self.log.warning(
                "Ignored event %s, which carries a marker of the set %r: %s", event_id, scope, why
            )
        for event_id, why in plan.left:
            self.log.warning(
                "Left event %s alone (%s); cancel it by hand if it is a stale copy", event_id, why
            )

        def mark(item: Any, event_id: str) -> str:
            return marked_description(
                item, event_id, scope=scope, organizer=organizer, calendar=calendar, markers=markers
            )

        writes: list[tuple[str, str | None, Any, tuple, str]] = []
        for item in plan.create:
            token = ex.token("CreateEvent", [organizer, calendar, scope, item.key, item.body])
            writes.append(
                ("created", item.key, None, (item.body, lambda new_id, i=item: mark(i, new_id)), token)
            )
        for item, event_id, changes in plan.update:
            token = ex.token("PatchEvent", [organizer, calendar, event_id, changes])
            writes.append(("updated", item.key, event_id, (changes,), token))
        if self.sync_attendees:
            matched = [(d, event_id) for d, event_id, _changes in plan.update] + plan.unchanged
            for item, event_id in matched:
                if item.attendees is not None:
                    token = ex.token("SyncAttendees", [organizer, calendar, event_id, item.attendees])
                    writes.append(("attendees", item.key, event_id, (item.attendees,), token))
        for event_id, key in plan.cancel:
            token = ex.token("CancelEvent", [organizer, calendar, event_id])
            writes.append(("cancelled", key, event_id, (), token))
        try:
            results = send_writes(hook, organizer, calendar, writes, self.max_in_flight)
        except Exception:
            self.log.error(
                "A write of the sync of %r failed; writes not yet started were not sent. Running the task "
                "again is safe: events already written are found by their keys",
                scope,
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
            scope,
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
        if verb == "created":  # then marked: the seal on its description is bound to its new id
            body, mark = args
            event_id = hook.create_event(organizer, body, calendar_id=calendar, client_token=token)["id"]
            marked = mark(event_id)
            hook.patch_event(
                organizer,
                event_id,
                {"description": marked},
                calendar_id=calendar,
                client_token=derive_client_token(token, "mark", event_id, marked),
            )
            return event_id
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
