"""Expanding a recurring series into its occurrences (ListEventsView), in the event's own time zone.

Patterns: ``daily``, ``weekly`` (``daysOfWeek``, ``firstDayOfWeek``, default sunday), ``absoluteMonthly``
(``dayOfMonth``; months without that day are skipped), ``relativeMonthly`` (``index`` first..fourth/last of
``daysOfWeek``), ``absoluteYearly`` (the start's month and day), each every ``interval`` units. Ranges:
``noEnd``, ``endDate`` (no occurrence starts after it), ``numbered`` (``numberOfOccurrences``, counted from
the series start). Only the stdlib: the emulator must not share code with the client it checks.
"""

from __future__ import annotations

import calendar
import datetime as dt
import zoneinfo
from collections.abc import Iterator

from airflow_dtcal.testing.emulator.contract import DAY_NAMES, WEEK_INDEXES
from airflow_dtcal.testing.emulator.rules import UTC, parse_instant

#: Occurrences computed per series at most (a daily series from decades ago still ends quickly).
MAX_OCCURRENCES = 100_000
_WEEKDAY = {name: (i - 1) % 7 for i, name in enumerate(DAY_NAMES)}  # Python weekday: monday = 0


def _local_start(ev: dict) -> dt.datetime:
    """The series' first start as a naive local date-time (all-day: midnight of the date)."""
    if ev["isAllDay"]:
        day = dt.date.fromisoformat(ev["start"]["date"])
        return dt.datetime.combine(day, dt.time(0))
    zone = zoneinfo.ZoneInfo(ev["start"]["timeZone"])
    return ev["_start"].astimezone(zone).replace(tzinfo=None)


def _to_instant(ev: dict, local: dt.datetime) -> dt.datetime:
    if ev["isAllDay"]:
        return local.replace(tzinfo=UTC)
    return local.replace(tzinfo=zoneinfo.ZoneInfo(ev["start"]["timeZone"])).astimezone(UTC)


def _days(pattern: dict) -> list[int]:
    return sorted(_WEEKDAY[d] for d in pattern.get("daysOfWeek", "").split(",") if d)


def _add_months(day: dt.date, months: int) -> tuple[int, int]:
    total = day.year * 12 + day.month - 1 + months
    return total // 12, total % 12 + 1


def _candidates(pattern: dict, first: dt.datetime) -> Iterator[dt.datetime | None]:
    """Local starts the pattern allows, in order, from the period holding ``first`` (may precede it).

    A period with no occurrence (a month without the 31st) yields None, so a caller counting what it
    takes always ends, even for a series that never occurs.
    """
    kind, every = pattern["type"], pattern.get("interval", 1)
    clock = first.time()
    if kind == "daily":
        day = first.date()
        while True:
            yield dt.datetime.combine(day, clock)
            day += dt.timedelta(days=every)
    elif kind == "weekly":
        week_start = _WEEKDAY[pattern.get("firstDayOfWeek", "sunday")]
        days = sorted(_days(pattern), key=lambda d: (d - week_start) % 7)
        period = first.date() - dt.timedelta(days=(first.weekday() - week_start) % 7)
        while True:
            for d in days:
                yield dt.datetime.combine(period + dt.timedelta(days=(d - week_start) % 7), clock)
            period += dt.timedelta(weeks=every)
    elif kind in ("absoluteMonthly", "relativeMonthly"):
        step = 0
        while True:
            year, month = _add_months(first.date(), step)
            month_days = _month_days(pattern, year, month)
            for month_day in month_days:
                yield dt.datetime.combine(month_day, clock)
            if not month_days:
                yield None
            step += every
    elif kind == "absoluteYearly":
        year = first.year
        while True:
            if first.month != 2 or first.day != 29 or calendar.isleap(year):
                yield dt.datetime.combine(dt.date(year, first.month, first.day), clock)
            else:
                yield None
            year += every


def _month_days(pattern: dict, year: int, month: int) -> list[dt.date]:
    last = calendar.monthrange(year, month)[1]
    if pattern["type"] == "absoluteMonthly":
        day = pattern["dayOfMonth"]
        return [dt.date(year, month, day)] if day <= last else []
    out = []
    for weekday in _days(pattern):
        matching = [d for d in range(1, last + 1) if dt.date(year, month, d).weekday() == weekday]
        index = pattern["index"]
        pick = matching[-1] if index == "last" else matching[WEEK_INDEXES.index(index)]
        out.append(dt.date(year, month, pick))
    return sorted(out)


def occurrences(ev: dict, tmin: dt.datetime, tmax: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """``(start, end)`` instants (UTC) of the occurrences of ``ev`` that overlap ``[tmin, tmax)``."""
    length = ev["_end"] - ev["_start"]
    rec = ev.get("recurrence")
    if rec is None:
        return [(ev["_start"], ev["_end"])] if ev["_start"] < tmax and ev["_end"] > tmin else []
    rng = rec["range"]
    limit = rng.get("numberOfOccurrences") if rng["type"] == "numbered" else None
    until = parse_instant(rng["endDate"], "endDate") if rng["type"] == "endDate" else None
    first = _local_start(ev)
    found, counted = [], 0
    for computed, local in enumerate(_candidates(rec["pattern"], first)):
        if computed >= MAX_OCCURRENCES or (limit is not None and counted >= limit):
            break
        if local is None or local < first:
            continue
        start = _to_instant(ev, local)
        if start >= tmax or (until is not None and start > until):
            break
        counted += 1
        if start + length > tmin:
            found.append((start, start + length))
    return found
