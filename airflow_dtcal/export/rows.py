"""The rows of the export's tables, built from DingTalk's answers, and the columns of each table.

Every row starts with the same columns: the data interval it was exported for, the calendar it came from
(owner unionId, calendar id), the event id and the change it records:

* ``snapshot``: the event as listed by a full listing (full mode, the first incremental run, a resync);
* ``upsert``: the event was created or changed since the last run (incremental mode);
* ``delete``: the event was cancelled or deleted, or the owner was removed from it (incremental mode).

A fourth table, ``calendars``, is written by every run whatever tables were asked for: one row per
calendar, saying how it was listed in this interval (``full``, ``incremental`` or ``resync``), from when,
and the sync tokens its delta started from and ended at. It is what a warehouse needs to apply a full
listing (a calendar with no event rows included), and it is the incremental export's watermark (see
:mod:`airflow_dtcal.state.watermarks`).

Rows are plain dicts whose keys follow the table's columns in order, so JSON Lines and Parquet hold the
same values. Times stay as DingTalk gives them (ISO-8601 strings; the check-in time in epoch milliseconds);
an event's ``start_utc``/``end_utc`` add its instants read by the one rule
(:func:`~airflow_dtcal.core.times.read_wire_time`), so rows compare and sort whatever offset or zone each
event was written in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.times import read_wire_time

TABLES = ("events", "attendees", "check_ins", "check_outs")  # the tables a run may be asked for
CALENDARS = "calendars"  # the table every run writes, last

FULL, INCREMENTAL, RESYNC = "full", "incremental", "resync"  # how a calendar was listed (its mode)

SNAPSHOT, UPSERT, DELETE = "snapshot", "upsert", "delete"

#: The columns every table starts with, and their Parquet types.
KEY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("interval_start", "string"),
    ("interval_end", "string"),
    ("calendar_owner", "string"),
    ("calendar_id", "string"),
    ("event_id", "string"),
    ("change", "string"),
)

COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "events": KEY_COLUMNS
    + (
        ("status", "string"),
        ("summary", "string"),
        ("start", "string"),
        ("end", "string"),
        ("start_utc", "string"),  # the instant, UTC, YYYY-MM-DDTHH:MM:SS+00:00; null for all-day events
        ("end_utc", "string"),
        ("time_zone", "string"),
        ("is_all_day", "bool"),
        ("organizer_id", "string"),
        ("organizer_name", "string"),
        ("series_master_id", "string"),
        ("location", "string"),
        ("create_time", "string"),
        ("update_time", "string"),
        ("event", "string"),  # the whole event as DingTalk returned it, as JSON text
    ),
    "attendees": KEY_COLUMNS
    + (
        ("event_status", "string"),
        ("attendee_id", "string"),
        ("display_name", "string"),
        ("response_status", "string"),
        ("is_optional", "bool"),
        ("is_organizer", "bool"),
    ),
    "check_ins": KEY_COLUMNS
    + (
        ("user_id", "string"),
        ("display_name", "string"),
        ("check_in_time", "int64"),  # epoch milliseconds
    ),
    "check_outs": KEY_COLUMNS
    + (
        ("user_id", "string"),
        ("display_name", "string"),
        ("check_out_time", "int64"),  # epoch milliseconds
    ),
    CALENDARS: (
        ("interval_start", "string"),
        ("interval_end", "string"),
        ("calendar_owner", "string"),
        ("calendar_id", "string"),
        ("mode", "string"),  # full / resync: a full listing (snapshot rows); incremental: a delta
        ("listed_from", "string"),  # a full listing's window starts here (UTC); in incremental mode the
        # calendar's horizon: what it has followed since its first full listing
        ("listed_until", "string"),  # full mode: the window's end (UTC); null in incremental mode
        ("started_from", "string"),  # the sync token the delta started from; null for a full listing
        ("ended_at", "string"),  # the sync token the listing ended at (incremental mode)
        ("events", "int64"),  # the events rows written for this calendar in this partition
    ),
}


@dataclass(frozen=True)
class RowContext:
    """What every row of one calendar in one run carries: the data interval and the calendar."""

    interval_start: str
    interval_end: str
    calendar_owner: str
    calendar_id: str

    def key(self, event: Mapping[str, Any], change: str) -> dict[str, Any]:
        return {
            "interval_start": self.interval_start,
            "interval_end": self.interval_end,
            "calendar_owner": self.calendar_owner,
            "calendar_id": self.calendar_id,
            "event_id": event.get("id"),
            "change": change,
        }


def change_kind(event: Mapping[str, Any], *, full: bool) -> str:
    """``snapshot`` for a full listing; otherwise ``delete`` for a cancelled event, else ``upsert``."""
    if full:
        return SNAPSHOT
    return DELETE if is_cancelled(event) else UPSERT


def is_cancelled(event: Mapping[str, Any]) -> bool:
    return event.get("status") == "cancelled"


def _when(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None
    return value.get("dateTime") or value.get("date")


def _utc(value: Any) -> str | None:
    """A timed start/end's instant in the form of ``interval_start``; None for an all-day date or a time the
    rule cannot read (the row keeps DingTalk's text in ``start``/``end`` and ``event``)."""
    try:
        read = read_wire_time(value, "time")
    except InvalidArgumentError:
        return None
    return None if read.all_day else read.at().isoformat(timespec="seconds")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def event_row(context: RowContext, event: Mapping[str, Any], change: str) -> dict[str, Any]:
    """One row of the ``events`` table."""
    start = _object(event, "start")
    organizer = _object(event, "organizer")
    location = _object(event, "location")
    row = context.key(event, change)
    row.update(
        status=_text(event.get("status")),
        summary=_text(event.get("summary")),
        start=_when(event.get("start")),
        end=_when(event.get("end")),
        start_utc=_utc(event.get("start")),
        end_utc=_utc(event.get("end")),
        time_zone=_text(start.get("timeZone")),
        is_all_day=_flag(event.get("isAllDay")),
        organizer_id=_text(organizer.get("id")),
        organizer_name=_text(organizer.get("displayName")),
        series_master_id=_text(event.get("seriesMasterId")),
        location=_text(location.get("displayName")),
        create_time=_text(event.get("createTime")),
        update_time=_text(event.get("updateTime")),
        event=json.dumps(event, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
    )
    return row


def _object(event: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A nested object of the event, or an empty one when it is missing or not an object."""
    value = event.get(key)
    return value if isinstance(value, Mapping) else {}


def inline_attendees(event: Mapping[str, Any]) -> list[dict]:
    """The attendees listed inside the event (ListEvents lists at most ``maxAttendees`` of them)."""
    attendees = event.get("attendees")
    return [dict(a) for a in attendees if isinstance(a, Mapping)] if isinstance(attendees, list) else []


def attendee_rows(
    context: RowContext, event: Mapping[str, Any], change: str, attendees: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The ``attendees`` rows of one event: each attendee with their response."""
    organizer = _object(event, "organizer")
    rows = []
    for attendee in attendees:
        row = context.key(event, change)
        row.update(
            event_status=_text(event.get("status")),
            attendee_id=_text(attendee.get("id")),
            display_name=_text(attendee.get("displayName")),
            response_status=_text(attendee.get("responseStatus")),
            is_optional=_flag(attendee.get("isOptional")),
            is_organizer=attendee.get("id") is not None and attendee.get("id") == organizer.get("id"),
        )
        rows.append(row)
    return rows


def _millis(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ValueError(f"{field}: expected epoch milliseconds, got {value!r}")


#: Per check-in table: DingTalk's time field (GetSignInList / GetSignOutList) and the column it fills.
CHECK_TIMES = {
    "check_ins": ("checkInTime", "check_in_time"),
    "check_outs": ("checkOutTime", "check_out_time"),
}


def check_in_rows(
    context: RowContext,
    event: Mapping[str, Any],
    change: str,
    users: Iterable[Mapping[str, Any]],
    table: str = "check_ins",
) -> list[dict[str, Any]]:
    """The ``check_ins`` rows of one event (who checked in, and when), or with ``table="check_outs"`` its
    ``check_outs`` rows (who checked out, and when)."""
    field, column = CHECK_TIMES[table]
    rows = []
    for user in users:
        row = context.key(event, change)
        row.update(
            {
                "user_id": _text(user.get("userId")),
                "display_name": _text(user.get("displayName")),
                column: _millis(user.get(field), field),
            }
        )
        rows.append(row)
    return rows


def calendar_row(
    context: RowContext,
    *,
    mode: str,
    listed_from: str | None,
    listed_until: str | None,
    started_from: str | None,
    ended_at: str | None,
    events: int,
) -> dict[str, Any]:
    """The ``calendars`` row of one calendar in one run."""
    return {
        "interval_start": context.interval_start,
        "interval_end": context.interval_end,
        "calendar_owner": context.calendar_owner,
        "calendar_id": context.calendar_id,
        "mode": mode,
        "listed_from": listed_from,
        "listed_until": listed_until,
        "started_from": started_from,
        "ended_at": ended_at,
        "events": events,
    }
