"""Planning a declarative sync of events: which to create, which to update (and how), which to cancel.

Pure: no I/O, no Airflow. A *set* of events is named by a ``scope`` (e.g. ``"training-sessions"``); each
desired event has a stable ``key`` within it. An event of the set carries, on the last line of its
description, the marker of its key (as :func:`airflow_dtcal.payloads.mark_description` writes it, for the
key ``<scope>/<key>``) and the marker of the set, so a later sync recognises both what it manages and which
desired event each one is, whatever runs created them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.times import instant, wire_instant
from airflow_dtcal.planning.events import MAX_DESCRIPTION_LENGTH, build_event
from airflow_dtcal.planning.markers import event_key_marker
from airflow_dtcal.planning.update import event_changes

SET_PREFIX = "[airflow-dtcal-set:"
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


def set_marker(scope: Any) -> str:
    if not isinstance(scope, str) or not scope.strip():
        raise InvalidArgumentError("scope", "must be a non-empty string naming the set of events", scope)
    return f"{SET_PREFIX}{hashlib.sha256(scope.strip().encode()).hexdigest()[:24]}]"


def _scoped(scope: str, key: str) -> str:
    return f"{scope.strip()}/{key.strip()}"


@dataclass
class Desired:
    key: str
    body: dict  # the CreateEvent body, markers included
    arguments: dict  # the pythonic arguments, for comparing with an existing event
    attendees: list[dict] | None = None  # the attendees wanted ({id, isOptional}), when the item names them


@dataclass
class Plan:
    create: list[Desired] = field(default_factory=list)
    update: list[tuple[Desired, str, dict]] = field(default_factory=list)  # (desired, event id, changes)
    cancel: list[tuple[str, str | None]] = field(default_factory=list)  # (event id, its key if known)
    unchanged: list[tuple[Desired, str]] = field(default_factory=list)


def desired_events(
    items: Any, *, scope: str, default_timezone: str | None = None, field_name: str = "events"
) -> list[Desired]:
    """Validate the desired events (dicts of CreateEventOperator arguments plus ``key``) and build bodies."""
    marker = set_marker(scope)
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
            text = (body.get("description") or "").rstrip()
            line = f"{event_key_marker(_scoped(scope, key))} {marker}"
            description = f"{text}\n\n{line}" if text else line
            if len(description) > MAX_DESCRIPTION_LENGTH:
                raise InvalidArgumentError(
                    "description", f"leaves no room for the sync markers ({len(line) + 2} characters)"
                )
        except InvalidArgumentError as err:
            raise InvalidArgumentError(f"{where}.{err.field}", err.rule) from None
        body["description"] = description
        compare = {k: v for k, v in arguments.items() if k not in ("attendees", "description")}
        compare["description"] = description
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


def plan_sync(
    desired: list[Desired],
    existing: list[Mapping[str, Any]],
    *,
    scope: str,
    default_timezone: str | None = None,
) -> Plan:
    """What to do so the set's live events in the window are exactly ``desired``.

    ``existing`` is what ListEvents returned for the window (any events; those without the set's marker are
    ignored). Two live events with one key (made by hand, say) keep the first; the other is cancelled.
    """
    marker = set_marker(scope)
    by_marker = {event_key_marker(_scoped(scope, d.key)): d for d in desired}
    plan, matched = Plan(), {}
    seen_ids = set()
    for event in existing:
        description = event.get("description")
        event_id = event.get("seriesMasterId") or event.get("id")
        if (
            event.get("status") == "cancelled"
            or not isinstance(description, str)
            or marker not in description
        ):
            continue
        if not isinstance(event_id, str) or not event_id or event_id in seen_ids:
            continue  # an answer without an id cannot be written to; several occurrences of one series
        seen_ids.add(event_id)
        wanted = next((d for m, d in by_marker.items() if m in description), None)
        if wanted is None or wanted.key in matched:
            plan.cancel.append((event_id, wanted.key if wanted else None))
            continue
        matched[wanted.key] = event_id
        changes = event_changes(
            event, default_timezone=default_timezone, operation="ListEvents", **wanted.arguments
        )
        if changes:
            plan.update.append((wanted, event_id, changes))
        else:
            plan.unchanged.append((wanted, event_id))
    plan.create = [d for d in desired if d.key not in matched]
    return plan


def attendee_changes(wanted: list[dict], current: list[str], organizer: str) -> tuple[list[dict], list[str]]:
    """``(attendees to add, ids to remove)`` so an event's attendees become ``wanted``; the organizer stays."""
    have = set(current)
    want = {a["id"] for a in wanted}
    return [a for a in wanted if a["id"] not in have], [
        a for a in current if a not in want and a != organizer
    ]
