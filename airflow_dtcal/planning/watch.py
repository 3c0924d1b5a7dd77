"""What a calendar change is, for :class:`~airflow_dtcal.triggers.watch.CalendarChangeTrigger`: a Stream
notice read into a payload, a listed event classified (create, update, delete), fingerprints of the fields a
watch compares. Pure: no Airflow import, no I/O.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.times import read_wire_time


def stream_notice(data: Mapping[str, Any], calendars: list[str]) -> dict | None:
    """The payload (without source and dedup key) for a ``calendar_event_change`` notice concerning one of
    ``calendars``, or None when it concerns none of them or lacks an event id."""
    event_id = data.get("calendarEventId")
    if not isinstance(event_id, str) or not event_id:
        return None
    union_ids = data.get("unionIdList")
    if not isinstance(union_ids, list):
        return None
    watched = next((u for u in union_ids if isinstance(u, str) and u in calendars), None)
    if watched is None:
        return None
    change = data.get("changeType")
    legacy = data.get("legacyCalendarEventId")
    return {
        "calendar": watched,
        "calendar_id": str(data.get("calendarId") or "primary")[:128],
        "event_id": event_id,
        "legacy_event_id": legacy if isinstance(legacy, str) and legacy else None,
        "change_type": change if isinstance(change, str) and change else "update",
        "update_time": iso_time(data.get("calendarEventUpdateTime")),
        "changed_fields": None,
        "event": None,
    }


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


def fingerprint(event: Mapping[str, Any], fields: list[str]) -> dict[str, str]:
    """A short hash of each of ``fields`` of an event; times compared by instant, not by their text."""
    return {name: _hash(_canonical(event.get(name))) for name in fields}


def payload_hash(event: Mapping[str, Any]) -> str:
    return _hash(event)


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
