"""The checked arguments of one export run. Every rule names the argument it checks
(:class:`~airflow_dtcal.payloads.InvalidArgumentError`), before any request is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pendulum

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.ids import require_id
from airflow_dtcal.core.times import instant, iso_instant
from airflow_dtcal.export.rows import TABLES
from airflow_dtcal.export.writers import FORMATS, PYARROW_HINT, pyarrow_missing

MODES = ("full", "incremental")
MAX_PAGE_SIZE = 100  # ListEvents' maxResults
#: The most calendars one export may follow: 10 times the 5,000 it is sized for (the watermark's bound).
MAX_CALENDARS = 50_000
#: The longest calendar owner id or calendar id an export accepts (DingTalk's unionIds are ~30 characters).
MAX_ID_CHARS = 256


@dataclass(frozen=True)
class ExportPlan:
    calendars: tuple[str, ...]  # owners as given (ids of the operator's id_type)
    mode: str
    tables: tuple[str, ...]
    formats: tuple[str, ...]
    interval_start: pendulum.DateTime
    interval_end: pendulum.DateTime
    time_min: str  # full mode: the window's start; incremental: where a full listing starts (UTC, ISO)
    time_max: str | None  # full mode only
    page_size: int


def check_calendars(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise InvalidArgumentError(
            "calendars",
            "must be a list of calendar owners' ids (a Jinja template renders a list as text: pass the "
            "list itself, or set render_template_as_native_obj=True on the DAG)",
            value,
        )
    if not value:
        raise InvalidArgumentError("calendars", "must name at least one calendar owner", value)
    if len(value) > MAX_CALENDARS:
        raise InvalidArgumentError(
            "calendars", f"names {len(value):,} calendar owners; one export follows at most {MAX_CALENDARS:,}"
        )
    owners: list[str] = []
    seen: set[str] = set()
    for i, owner in enumerate(value):
        owner = require_id(owner, f"calendars[{i}]")
        if len(owner) > MAX_ID_CHARS:
            raise InvalidArgumentError(f"calendars[{i}]", f"must be at most {MAX_ID_CHARS} characters", owner)
        if owner in seen:
            raise InvalidArgumentError(f"calendars[{i}]", "repeats an owner listed before", owner)
        seen.add(owner)
        owners.append(owner)
    return tuple(owners)


def check_formats(value: Any) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise InvalidArgumentError("formats", f"must be a list of formats from {', '.join(FORMATS)}", value)
    formats: list[str] = []
    for item in items:
        if item not in FORMATS:
            raise InvalidArgumentError(
                "formats", f"has an unknown format; expected {', '.join(FORMATS)}", item
            )
        if item not in formats:
            formats.append(item)
    if "jsonl" not in formats:
        raise InvalidArgumentError("formats", "must include 'jsonl' (JSON Lines is always written)", value)
    if "parquet" in formats and pyarrow_missing():
        raise InvalidArgumentError(
            "formats", f"asks for 'parquet', which needs pyarrow, and it is not installed: {PYARROW_HINT}"
        )
    return tuple(formats)


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):  # 1 == True, 0 == False: not flags
        raise InvalidArgumentError(field, "must be true or false", value)
    return bool(value)


def make_plan(
    *,
    calendars: Any,
    mode: Any,
    attendees: Any,
    check_ins: Any,
    formats: Any,
    check_outs: Any = False,
    interval_start: Any,
    interval_end: Any,
    time_min: Any = None,
    time_max: Any = None,
    page_size: Any = MAX_PAGE_SIZE,
) -> ExportPlan:
    """The plan of a run. ``interval_start``/``interval_end`` are the run's data interval; ``time_min`` and
    ``time_max`` default to it."""
    owners = check_calendars(calendars)
    if mode not in MODES:
        raise InvalidArgumentError("mode", f"must be one of {', '.join(MODES)}", mode)
    wanted = {
        "events": True,
        "attendees": _flag(attendees, "attendees"),
        "check_ins": _flag(check_ins, "check_ins"),
        "check_outs": _flag(check_outs, "check_outs"),
    }
    tables = tuple(t for t in TABLES if wanted[t])
    file_formats = check_formats(formats)
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgumentError(
            "page_size", f"must be a whole number from 1 to {MAX_PAGE_SIZE}", page_size
        )
    if interval_start is None:
        raise InvalidArgumentError(
            "interval_start",
            "is required: the run has no data interval (give interval_start and interval_end)",
        )
    start = instant(interval_start, "interval_start")
    end = instant(interval_end if interval_end is not None else interval_start, "interval_end")
    if end < start:
        raise InvalidArgumentError("interval_end", "must not be before interval_start", interval_end)
    first = instant(time_min, "time_min") if time_min is not None else start
    if mode == "incremental":
        if time_max is not None:
            raise InvalidArgumentError(
                "time_max",
                "must not be set in incremental mode: DingTalk returns no syncToken when timeMax is set",
                time_max,
            )
        last = None
    else:
        last = instant(time_max, "time_max") if time_max is not None else end
        if last <= first:
            field = "time_max" if time_max is not None else "interval_end"
            raise InvalidArgumentError(
                field,
                "must be after time_min: full mode lists the events of a window (the data interval by "
                "default); give time_min and time_max for a run whose data interval is empty",
                str(last),
            )
        if (last - first).in_days() > 366:
            raise InvalidArgumentError(
                "time_max", "must be at most a year after time_min (ListEvents' limit)"
            )
    return ExportPlan(
        calendars=owners,
        mode=mode,
        tables=tables,
        formats=file_formats,
        interval_start=start,
        interval_end=end,
        time_min=iso_instant(first, "time_min"),
        time_max=iso_instant(last, "time_max") if last is not None else None,
        page_size=page_size,
    )


def overall_mode(modes: Sequence[str]) -> str:
    """The run's mode from each calendar's: ``resync`` if any resynced, else ``incremental`` if any followed
    a token, else ``full``."""
    for mode in ("resync", "incremental"):
        if mode in modes:
            return mode
    return "full"
