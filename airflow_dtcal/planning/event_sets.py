"""Planning a declarative sync of events: which to create, which to update (and how), which to cancel.

Pure: no I/O, no Airflow. A *set* of events is named by a ``scope`` (e.g. ``"training-sessions"``); each
desired event has a stable ``key`` within it. An event of the set carries, on the last line of its
description, the member marker of its key and a seal binding that marker to the event's id (see
:meth:`airflow_dtcal.planning.markers.Markers.set_line`), so a later sync recognises both what it manages
and which desired event each one is, whatever runs created them, and nothing else: an event counts as a
member only when its organizer is the sync's and its seal verifies for its own id. A copy of the line on
another event (pasted into someone's own event, or handed over with TransferEvent) is ignored and reported,
never updated or cancelled.

A created event is marked right after it is created (the seal needs its id): see
:func:`~airflow_dtcal.operators.event_sets.send_writes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.times import instant, wire_instant
from airflow_dtcal.planning.events import build_event
from airflow_dtcal.planning.markers import (
    EVENT_MARKER_LENGTH,
    SET_MARKER_LENGTH,
    Markers,
    check_scope,
    description_of,
    event_id_of,
    legacy_event_marker,
    legacy_set_marker,
    organizer_of,
    room_for,
    with_marker,
)
from airflow_dtcal.planning.update import event_changes

#: The length of a set event's marker line: its member marker, a space, its seal.
LINE_LENGTH = EVENT_MARKER_LENGTH + 1 + SET_MARKER_LENGTH
#: The pythonic arguments a desired event may have (those of CreateEventOperator).
EVENT_ARGUMENTS = frozenset(
    {
        "key",
        "summary",
        "start",
        "end",
        "all_day",
        "timezone",
        "description",
        "attendees",
        "location",
        "reminders",
        "recurrence",
        "online_meeting",
    }
)


def _scoped(scope: str, key: str) -> str:
    """The key the previous release hashed for a set's event."""
    return f"{scope.strip()}/{key.strip()}"


@dataclass
class Desired:
    key: str
    body: dict  # the CreateEvent body; its description has no marker yet (the seal needs the event's id)
    arguments: dict  # the pythonic arguments, for comparing with an existing event (description: unmarked)
    attendees: list[dict] | None = None  # the attendees wanted ({id, isOptional}), when the item names them

    @property
    def text(self) -> str:
        """The description the DAG asked for, without the marker line."""
        return self.body.get("description") or ""


@dataclass
class Plan:
    create: list[Desired] = field(default_factory=list)
    update: list[tuple[Desired, str, dict]] = field(default_factory=list)  # (desired, event id, changes)
    cancel: list[tuple[str, str | None]] = field(default_factory=list)  # (event id, its key if known)
    unchanged: list[tuple[Desired, str]] = field(default_factory=list)
    #: ``(event id, why)``: events that carry the set's markers but are not its members (not ours, a copy).
    ignored: list[tuple[str, str]] = field(default_factory=list)
    #: ``(event id, why)``: events marked by the previous release that were not adopted (left alone).
    left: list[tuple[str, str]] = field(default_factory=list)


def desired_events(
    items: Any, *, scope: str, default_timezone: str | None = None, field_name: str = "events"
) -> list[Desired]:
    """Validate the desired events (dicts of CreateEventOperator arguments plus ``key``) and build bodies
    (each description checked to leave room for the marker line)."""
    check_scope(scope)
    if isinstance(items, (str, Mapping)) or not isinstance(items, Sequence):
        raise InvalidArgumentError(field_name, "must be a list of dicts, each with a 'key'", items)
    out, seen = [], set()
    for i, item in enumerate(items):
        where = f"{field_name}[{i}]"
        if not isinstance(item, Mapping):
            raise InvalidArgumentError(where, "must be a dict of event arguments with a 'key'", item)
        unknown = sorted(set(item) - EVENT_ARGUMENTS)
        if unknown:
            raise InvalidArgumentError(where, f"unknown keys {unknown}; use {sorted(EVENT_ARGUMENTS)}")
        key = item.get("key")
        if not isinstance(key, str) or not key.strip():
            raise InvalidArgumentError(f"{where}.key", "must be a non-empty string, stable across runs", key)
        if key.strip() in seen:
            raise InvalidArgumentError(f"{where}.key", f"{key!r} appears twice")
        seen.add(key.strip())
        arguments = {k: v for k, v in item.items() if k != "key"}
        try:
            body = build_event(**arguments, default_timezone=default_timezone)
            text = room_for(body.get("description"), LINE_LENGTH)
        except InvalidArgumentError as err:
            raise InvalidArgumentError(f"{where}.{err.field}", err.rule) from None
        if text:
            body["description"] = text
        else:
            body.pop("description", None)
        compare = {k: v for k, v in arguments.items() if k not in ("attendees", "description")}
        if compare.get("online_meeting") is not True:  # an existing meeting is never removed
            compare.pop("online_meeting", None)
        wanted = list(body.get("attendees", [])) if item.get("attendees") is not None else None
        out.append(Desired(key.strip(), body, compare, wanted))
    return out


def check_window(desired: list[Desired], time_min: Any, time_max: Any) -> tuple[str, str]:
    """``(timeMin, timeMax)`` in UTC; every desired event must start inside (else it could be missed)."""
    first, last = instant(time_min, "time_min"), instant(time_max, "time_max")
    if last <= first:
        raise InvalidArgumentError("time_max", "must be after time_min", time_max)
    if (last - first).in_days() > 365:
        raise InvalidArgumentError(
            "time_max", "must be at most a year after time_min (DingTalk's ListEvents)"
        )
    for item in desired:
        when = wire_instant(item.body["start"], f"events[{item.key!r}].start")  # all-day: its UTC day
        if not first <= when < last:
            raise InvalidArgumentError(
                f"events[{item.key!r}].start",
                f"is outside the sync window {first} to {last}",
                when.isoformat(),
            )
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return first.in_timezone("UTC").strftime(fmt), last.in_timezone("UTC").strftime(fmt)


def marked_description(
    item: Desired, event_id: str, *, scope: str, organizer: str, calendar: str, markers: Markers
) -> str:
    """The description ``item``'s event ``event_id`` should have: the DAG's text and the sealed marker line."""
    return with_marker(item.text, markers.set_line(organizer, calendar, scope, item.key, event_id))


def plan_sync(
    desired: list[Desired],
    existing: list[Mapping[str, Any]],
    *,
    scope: str,
    organizer: str,
    calendar: str,
    markers: Markers,
    default_timezone: str | None = None,
) -> Plan:
    """What to do so the set's live events in the window are exactly ``desired``.

    ``existing`` is what ListEvents returned for the window of ``organizer``'s calendar (any events). An
    event is a member of the set when ``organizer`` organizes it and its seal verifies for its id; members
    are updated, kept or cancelled. Two live members with one key (made by hand, say) keep the first; the
    other is cancelled. An event of ``organizer`` with the previous release's markers of a desired key is
    adopted when it is the only one for that key and no member has the key (its update writes the new
    markers); other such events are left alone and reported in :attr:`Plan.left`. Events that carry a
    marker of the set but are not members are reported in :attr:`Plan.ignored`; nothing else is touched.
    """
    scope = check_scope(scope)
    by_member = {markers.member(organizer, calendar, scope, d.key): d for d in desired}
    by_legacy = {legacy_event_marker(_scoped(scope, d.key)): d for d in desired}
    legacy_set = legacy_set_marker(scope)
    plan, matched, seen = Plan(), {}, set()
    legacy: dict[str, list[Mapping[str, Any]]] = {}
    for event in existing:
        event_id, text = event_id_of(event), description_of(event)
        if event.get("status") == "cancelled" or "[airflow-dtcal" not in text:
            continue
        if event_id is None or event_id in seen:
            continue  # an answer without an id cannot be written to; several occurrences of one series
        seen.add(event_id)
        ours = organizer_of(event) == organizer
        member = markers.sealed_member(organizer, calendar, scope, event)
        if member is not None and ours:
            wanted = by_member.get(member)
            if wanted is None or wanted.key in matched:
                plan.cancel.append((event_id, wanted.key if wanted else None))
            else:
                matched[wanted.key] = event_id
                _compare(plan, wanted, event, event_id, scope, organizer, calendar, markers, default_timezone)
        elif member is not None or any(m in text for m in by_member):
            why = (
                "its seal does not verify for its id (a copy of another event's marker line)"
                if ours
                else f"it is organized by {organizer_of(event)!r}, not {organizer!r}"
            )
            plan.ignored.append((event_id, why))
        elif legacy_set in text:
            wanted = next((d for m, d in by_legacy.items() if m in text), None)
            if not ours:
                plan.ignored.append(
                    (event_id, f"it is organized by {organizer_of(event)!r}, not {organizer!r}")
                )
            elif wanted is None:
                plan.left.append((event_id, "marked by the previous release for no desired key"))
            else:
                legacy.setdefault(wanted.key, []).append(event)
    for item in desired:
        candidates = legacy.get(item.key, [])
        if item.key in matched or len(candidates) > 1:
            why = "a member has the key" if item.key in matched else "several events have the key"
            plan.left.extend(
                (event_id_of(e) or "", f"marked by the previous release; {why}") for e in candidates
            )
        elif candidates:  # adopted: its update writes the new markers
            event_id = event_id_of(candidates[0]) or ""
            matched[item.key] = event_id
            _compare(
                plan, item, candidates[0], event_id, scope, organizer, calendar, markers, default_timezone
            )
    plan.create = [d for d in desired if d.key not in matched]
    return plan


def _compare(
    plan: Plan,
    wanted: Desired,
    event: Mapping[str, Any],
    event_id: str,
    scope: str,
    organizer: str,
    calendar: str,
    markers: Markers,
    default_timezone: str | None,
) -> None:
    description = marked_description(
        wanted, event_id, scope=scope, organizer=organizer, calendar=calendar, markers=markers
    )
    changes = event_changes(
        event,
        default_timezone=default_timezone,
        operation="ListEvents",
        **{**wanted.arguments, "description": description},
    )
    if changes:
        plan.update.append((wanted, event_id, changes))
    else:
        plan.unchanged.append((wanted, event_id))


def attendee_changes(wanted: list[dict], current: list[str], organizer: str) -> tuple[list[dict], list[str]]:
    """``(attendees to add, ids to remove)`` so an event's attendees become ``wanted``; the organizer stays."""
    have = set(current)
    want = {a["id"] for a in wanted}
    return [a for a in wanted if a["id"] not in have], [
        a for a in current if a not in want and a != organizer
    ]
