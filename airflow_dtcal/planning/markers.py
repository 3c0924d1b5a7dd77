"""Event keys: how an event carries the key that makes it "the one intended" across runs.

Pure: no I/O, no Airflow.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.ids import whole_number
from airflow_dtcal.core.times import wire_instant
from airflow_dtcal.planning.events import MAX_DESCRIPTION_LENGTH

#: How an event carries its key. DingTalk has no custom-property field that round-trips: ``extra`` is
#: write-only, ``categories`` are the org's meeting types (GetEvent returns only their display name) and
#: ``extendedProperties`` is read-only. The description comes back from GetEvent, ListEvents and
#: ListEventsView alike, so the key lives there, as the last line, hashed (attendees see a short marker,
#: never the key itself).
EVENT_KEY_PREFIX = "[airflow-dtcal:"
MAX_EVENT_KEY_LENGTH = 1024
MAX_KEY_WINDOW_DAYS = 180  # each side; ListEvents allows a window of one year


def event_key_marker(key: Any, field: str = "dedup_key") -> str:
    """The marker an event with ``key`` carries in its description, e.g. ``[airflow-dtcal:3f2a...]``."""
    if not isinstance(key, str) or not key.strip():
        raise InvalidArgumentError(field, "must be a non-empty string (e.g. 'weekly-review-{{ ds }}')", key)
    if len(key) > MAX_EVENT_KEY_LENGTH:
        raise InvalidArgumentError(field, f"is {len(key):,} characters; at most {MAX_EVENT_KEY_LENGTH:,}")
    digest = hashlib.sha256(key.strip().encode()).hexdigest()[:24]
    return f"{EVENT_KEY_PREFIX}{digest}]"


def mark_description(description: str | None, key: Any, field: str = "dedup_key") -> str:
    """``description`` with the key's marker as its last line (kept within DingTalk's 5,000 characters)."""
    marker = event_key_marker(key, field)
    text = (description or "").rstrip()
    if marker in text:
        return text
    marked = f"{text}\n\n{marker}" if text else marker
    if len(marked) > MAX_DESCRIPTION_LENGTH:
        room = MAX_DESCRIPTION_LENGTH - len(marker) - 2
        raise InvalidArgumentError(
            "description", f"leaves no room for the event key's marker; keep it within {room:,} characters"
        )
    return marked


def carries_key(event: Mapping[str, Any], key: Any, field: str = "dedup_key") -> bool:
    """Whether a DingTalk event (wire shape) carries the marker of ``key``."""
    description = event.get("description")
    return isinstance(description, str) and event_key_marker(key, field) in description


def key_search_window(
    event: Mapping[str, Any], days: Any, field: str = "dedup_window_days"
) -> tuple[str, str]:
    """``(timeMin, timeMax)`` for finding an event by key: its own span widened by ``days`` on each side.

    The event's times are read by :func:`~airflow_dtcal.core.times.read_wire_time` (an offset-less
    ``dateTime`` in its ``timeZone``); an all-day event's dates as UTC days, which the day of slack covers.
    """
    days = whole_number(days, field, low=0, high=MAX_KEY_WINDOW_DAYS)
    start = wire_instant(event.get("start"), "start")
    end = wire_instant(event.get("end") or event.get("start"), "end")
    # Always at least one day wide on each side: a zone's offset never moves an event further than that.
    slack = dt.timedelta(days=max(days, 1))
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return (start - slack).strftime(fmt), (end + slack).strftime(fmt)
