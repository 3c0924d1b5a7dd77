"""The watermark of incremental exports, kept beside the data it describes.

Every run writes, with its partitions, one row per calendar into the ``calendars`` table
(``<destination>/calendars/interval_start=.../part-0.jsonl``, see :mod:`airflow_dtcal.export.rows`): how
the calendar was listed in that interval, from when (its *horizon*), and the sync tokens its delta started
from and ended at. Those rows are the watermark, one record per data interval:

* a run of a new interval continues each calendar from where the latest earlier *complete* interval (one
  whose ``calendars`` partition has ``_SUCCESS``) ended it;
* a re-run of an interval starts each calendar again from where that interval's own record started it, so
  it replays the same changes (and any made since) and replaces the partitions;
* a calendar that neither record holds is listed in full from ``time_min``, which becomes its horizon; a
  calendar whose token DingTalk refuses is listed in full again from its horizon (a resync).

Because each interval has its own record, written by the run that wrote the interval's data and moved into
place last, runs of different intervals never overwrite each other's state: two overlapping runs of
adjacent intervals each keep their own, and the next interval continues from the latest one, whichever
finished last. Two runs of the same interval are kept apart by a claim (:mod:`airflow_dtcal.export.claims`).

Bounds, by design (sized for 5,000 calendars and a year of daily intervals, and tested at 10 times that):

* a run reads at most two records (its own and the latest complete earlier one) and keeps only the lines
  of its own calendars, so what it reads does not grow with the number of intervals;
* a record holds at most :data:`MAX_CALENDARS` lines (the plan refuses more calendars) of at most
  :data:`MAX_LINE_BYTES` each (ids are at most 256 characters, tokens at most
  :data:`~airflow_dtcal.core.paging.MAX_TOKEN_CHARS`); a record beyond either bound, or one that is not
  what this module wrote, fails the run before any request, naming the file and how to start afresh;
* the records themselves are one small file per interval partition, like the data, and go with it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from airflow_dtcal.core import jsontext
from airflow_dtcal.core.errors import DingTalkConfigurationError
from airflow_dtcal.core.paging import MAX_TOKEN_CHARS
from airflow_dtcal.export.partition import SUCCESS, data_file_name, partition_name
from airflow_dtcal.export.plan import MAX_CALENDARS, MAX_ID_CHARS
from airflow_dtcal.export.rows import CALENDARS, FULL, INCREMENTAL, RESYNC

#: The longest line of a record: two tokens at their limit, two ids at theirs, and the rest, with room.
MAX_LINE_BYTES = 2 * MAX_TOKEN_CHARS + 2 * MAX_ID_CHARS + 2048
#: A record's line is one flat object; anything nesting deeper is not ours (and is refused before parsing).
MAX_ROW_DEPTH = 2

_PARTITION = re.compile(r"^interval_start=\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\+00-00$")
_TOKEN = re.compile(rf"^[!-~]{{1,{MAX_TOKEN_CHARS}}}$")
_INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
_MODES = (FULL, INCREMENTAL, RESYNC)


class Mark(NamedTuple):
    """One calendar's line in one interval's record."""

    mode: str
    listed_from: str | None
    listed_until: str | None
    started_from: str | None
    ended_at: str | None


class Start(NamedTuple):
    """Where a calendar's listing in a run starts: a delta from ``token``, or (``token`` None) a full
    listing from ``listed_from``; ``listed_from`` is also where a resync lists from (the horizon)."""

    token: str | None
    listed_from: str


def interval_key(start: dt.datetime) -> str:
    """The interval start as ``YYYY-MM-DDTHH:MM:SS+00:00`` (UTC), as rows and the watermark carry it."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("the interval start must be an aware datetime")
    return start.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _damaged(path: Any, problem: str) -> DingTalkConfigurationError:
    return DingTalkConfigurationError(
        f"the export watermark {path} {problem}. It is not what this provider wrote; remove its directory "
        f"({path.parent}) to export those calendars again from the interval before it, or in full"
    )


def _check_line(line: bytes, number: int, path: Any, interval: str) -> tuple[str, Mark]:
    try:
        row = jsontext.loads(line, MAX_ROW_DEPTH)
    except ValueError:  # not JSON, or nested deeper than a row of ours
        row = None
    if not isinstance(row, dict):
        raise _damaged(path, f"line {number} is not a JSON object")
    owner, mode = row.get("calendar_owner"), row.get("mode")
    problem = None
    if row.get("interval_start") != interval:
        problem = f"holds interval_start {row.get('interval_start')!r}, not {interval!r}"
    elif not (isinstance(owner, str) and 0 < len(owner) <= MAX_ID_CHARS):
        problem = "has no calendar_owner"
    elif mode not in _MODES:
        problem = f"has mode {mode!r}"
    else:
        for name in ("listed_from", "listed_until"):
            value = row.get(name)
            if value is not None and not (isinstance(value, str) and _INSTANT.fullmatch(value)):
                problem = f"has a {name} that is not a UTC instant"
        for name in ("started_from", "ended_at"):
            value = row.get(name)
            if value is not None and not (isinstance(value, str) and _TOKEN.fullmatch(value)):
                problem = f"has a {name} that is not a sync token of at most {MAX_TOKEN_CHARS:,} characters"
    if problem:
        raise _damaged(path, f"line {number} {problem}")
    mark = Mark(
        str(mode),
        row.get("listed_from"),
        row.get("listed_until"),
        row.get("started_from"),
        row.get("ended_at"),
    )
    return str(owner), mark


def read_record(path: Any, interval: str, owners: Iterable[str]) -> dict[str, Mark]:
    """The marks of ``owners`` in the record at ``path`` (a pathlib-like file), read line by line within the
    bounds; :class:`DingTalkConfigurationError` names the file when it is damaged or too large."""
    wanted = set(owners)
    marks: dict[str, Mark] = {}
    seen: set[str] = set()
    with path.open("rb") as file:
        for number in range(1, MAX_CALENDARS + 2):
            line = file.readline(MAX_LINE_BYTES + 1)
            if not line:
                return marks
            if number > MAX_CALENDARS:
                raise _damaged(path, f"has more than {MAX_CALENDARS:,} lines")
            if len(line) > MAX_LINE_BYTES:
                raise _damaged(path, f"line {number} is longer than {MAX_LINE_BYTES:,} bytes")
            owner, mark = _check_line(line, number, path, interval)
            if owner in seen:
                raise _damaged(path, f"line {number} repeats calendar_owner {owner!r}")
            seen.add(owner)
            if owner in wanted:
                marks[owner] = mark
    return marks  # pragma: no cover - the loop returns or raises


def _interval_of(name: str) -> str:
    """``interval_start=2026-03-09T00-00-00+00-00`` -> ``2026-03-09T00:00:00+00:00``."""
    value = name.split("=", 1)[1]
    date, time = value[:10], value[11:19].replace("-", ":")
    return f"{date}T{time}+00:00"


def locate(destination: Any, interval_start: dt.datetime) -> tuple[Any | None, Any | None]:
    """The record of the interval itself (a re-run) and that of the latest complete earlier interval, each a
    path or None; one listing of ``<destination>/calendars``."""
    root = destination / CALENDARS
    own_name = partition_name(interval_start)
    record = data_file_name("jsonl")
    own = root / own_name / record
    if not root.exists():
        return None, None
    earlier_names = sorted(
        (item.name for item in root.iterdir() if _PARTITION.match(item.name) and item.name < own_name),
        reverse=True,
    )
    earlier = None
    for name in earlier_names:
        if (root / name / SUCCESS).exists() and (root / name / record).exists():
            earlier = root / name / record
            break
    return (own if own.exists() else None), earlier


def start_points(
    own: Mapping[str, Mark], earlier: Mapping[str, Mark], owners: Iterable[str], time_min: str
) -> dict[str, Start]:
    """Where each calendar of a run starts, from the interval's own record (a re-run) and the latest complete
    earlier one; a calendar in neither is listed in full from ``time_min``. Records of full-mode runs (a
    window, no tokens) are not continued."""
    starts = {}
    for owner in owners:
        mine, before = own.get(owner), earlier.get(owner)
        if mine is not None and mine.listed_until is None and mine.listed_from is not None:
            starts[owner] = Start(mine.started_from, mine.listed_from)
        elif before is not None and before.listed_until is None and before.ended_at and before.listed_from:
            starts[owner] = Start(before.ended_at, before.listed_from)
        else:
            starts[owner] = Start(None, time_min)
    return starts


def load_start_points(
    destination: Any, interval_start: dt.datetime, owners: Iterable[str], time_min: str
) -> dict[str, Start]:
    """:func:`start_points` from the records in ``destination``."""
    owners = list(owners)
    own_path, earlier_path = locate(destination, interval_start)
    own = read_record(own_path, interval_key(interval_start), owners) if own_path else {}
    earlier = {}
    if earlier_path is not None:
        earlier = read_record(earlier_path, _interval_of(earlier_path.parent.name), owners)
    return start_points(own, earlier, owners, time_min)
