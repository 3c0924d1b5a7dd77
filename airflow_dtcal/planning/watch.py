"""What a calendar change is, for :class:`~airflow_dtcal.triggers.watch.CalendarChangeTrigger`: the watched
calendars a Stream notice wakes, a listed event classified (create, update, delete), fingerprints of the
fields a watch compares, the dedup key of a change. Pure: no Airflow import, no I/O.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.times import read_wire_time


def notice_calendars(
    data: Mapping[str, Any], calendars: Iterable[str], event_ids: Iterable[str] | None = None
) -> list[str]:
    """The watched calendars a ``calendar_event_change`` notice says changed (those of ``calendars`` in its
    ``unionIdList``); none when it names no event, or an event not among ``event_ids`` (when given: its
    ``calendarEventId`` or ``legacyCalendarEventId``). A notice is only a wake-up: the watch reads what
    changed from the calendar's change log."""
    event_id = data.get("calendarEventId")
    union_ids = data.get("unionIdList")
    if not isinstance(event_id, str) or not event_id or not isinstance(union_ids, list):
        return []
    if event_ids is not None:
        legacy = data.get("legacyCalendarEventId")
        if not {event_id, legacy} & set(event_ids):
            return []
    watched = set(calendars)
    return sorted({u for u in union_ids if isinstance(u, str) and u in watched})


def classify(event: Mapping[str, Any], known: bool = False) -> str:
    """A listed event's change: ``delete`` (cancelled or deleted); ``update`` for an event seen before
    (``known``); else ``create`` when it was not updated since it was created, ``update`` when it was.
    (DingTalk's createTime and updateTime count minutes: an event created and changed within a minute,
    never seen before, is a ``create``.)"""
    if event.get("status") == "cancelled":
        return "delete"
    if known:
        return "update"
    created, updated = event.get("createTime"), event.get("updateTime")
    if created is not None and created == updated:
        return "create"
    return "update"


#: Hex digits of one field's hash in a fingerprint.
FIELD_HASH = 8


def fingerprint(event: Mapping[str, Any], fields: Iterable[str]) -> str:
    """The hashes of ``fields`` of an event (times compared by instant, not by their text), in the order
    of the sorted field names, :data:`FIELD_HASH` hex digits each."""
    return "".join(_hash(_canonical(event.get(name)))[:FIELD_HASH] for name in sorted(fields))


def changed_fields(old: str, new: str, fields: list[str]) -> list[str] | None:
    """Which of ``fields`` differ between two fingerprints, in the order of ``fields``; None when ``old``
    was taken over other fields (it cannot tell)."""
    names = sorted(fields)
    if len(old) != FIELD_HASH * len(names) or len(new) != len(old):
        return None
    changed = {
        name
        for i, name in enumerate(names)
        if old[i * FIELD_HASH : (i + 1) * FIELD_HASH] != new[i * FIELD_HASH : (i + 1) * FIELD_HASH]
    }
    return [name for name in fields if name in changed]


def payload_hash(event: Mapping[str, Any]) -> str:
    return _hash(event)


def dedup_key(source: str, calendar: str, event: Mapping[str, Any]) -> str:
    """The key of one change: the watched calendar, the event and a hash of the event as it was read.
    Reading the same change again (after a restart, from an older position) gives the same key; a later
    change of the event another one."""
    return f"{source}:{calendar}:{event.get('id')}:{payload_hash(event)}"


def field_change_key(source: str, calendar: str, event_id: str, old: str | None, new: str | None) -> str:
    """The key of one change of a watch with ``fields``: the watched calendar, the event, and the watched
    fields' fingerprint before (``old``; None when the watch did not know the event) and after (``new``;
    None for a cancellation). It names the change of the watched fields alone: a copy of the watch that
    reads the change later, when the event has changed in other fields too, gives the same key. The same
    fields changed back and forth (A to B, B to A, A to B again) repeat a key."""
    return f"{source}:{calendar}:{event_id}:{_hash([old, new])}"


def resync_key(source: str, calendar: str, lost_token: str) -> str:
    """The key of a calendar's resync after ``lost_token`` expired (the same lost token, the same key)."""
    return f"{source}:{calendar}:resync:{_hash(lost_token)[:12]}"


def summary_of(event: Mapping[str, Any]) -> dict:
    return {name: event.get(name) for name in ("summary", "start", "end", "status")}


def _canonical(value: Any) -> Any:
    """A timed ``start``/``end`` as its instant (by :func:`~airflow_dtcal.core.times.read_wire_time`: an
    offset-less ``dateTime`` in its ``timeZone``), so another offset or display zone of the same instant is
    no change; anything else (an all-day date, a time that cannot be read) as it is."""
    if not isinstance(value, Mapping) or not value.get("dateTime"):
        return value
    try:
        moment = read_wire_time(value, "time")
    except InvalidArgumentError:
        return value
    # The shape fingerprints had before the rule: stored cursors keep matching for offset-bearing times.
    return {**value, "dateTime": moment.at().isoformat(), "timeZone": None}


def _hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def iso_time(value: Any) -> str | None:
    """Epoch milliseconds as an ISO 8601 UTC string."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value) / 1000.0
        return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):
        return None


def seconds_to_next_month() -> float:
    now = dt.datetime.now(dt.timezone.utc)
    days = _calendar.monthrange(now.year, now.month)[1]
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (start + dt.timedelta(days=days) - now).total_seconds()
