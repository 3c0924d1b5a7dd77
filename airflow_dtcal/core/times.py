"""DingTalk times: what a DAG author passes (pendulum / datetime / date / ISO-8601 strings) and what the
wire carries (``{dateTime, timeZone}`` for a timed event, ``{date}`` for an all-day one).

Pure: no I/O, no Airflow. **One rule reads every wire time** (:func:`read_wire_time`); every other module
that needs the instant or the day of a DingTalk ``start``/``end`` (the update diff, free/busy, the export
rows, the watch's fingerprints, the event-key window) goes through it:

* ``{"dateTime": "2026-03-09T10:00:00+08:00", "timeZone": ...}``: a date-time **with** a UTC offset (or
  ``Z``) is that instant, whatever the ``timeZone`` beside it (which only says how the event is shown).
* ``{"dateTime": "2026-03-09T10:00:00", "timeZone": "Asia/Shanghai"}``: a date-time **without** an offset
  is a wall-clock time in its ``timeZone`` (DingTalk documents ``timeZone`` as the zone the ``dateTime``
  belongs to; the SDK and CreateEvent accept this form and GetEvent returns it as it was written).
* ``{"dateTime": "2026-03-09T10:00:00"}`` with no ``timeZone``: **refused**. DingTalk documents no default
  for the v1.0 API (only the legacy API said Asia/Shanghai); reading it as UTC, or as any zone, would move
  a meeting by hours without a word, so the rule names the field instead of guessing.
* ``{"date": "2026-03-09"}``: an all-day day (``yyyy-MM-dd``); an ``end`` date is exclusive. A day has no
  instant of its own: a caller that needs one says in which zone the day starts (:meth:`WireTime.at`).
* A local time a zone skips or repeats (daylight saving) is read as RFC 5545 §3.3.5 reads it, as do
  Python's ``zoneinfo`` and Java's ``java.time``: a repeated time is its **first** occurrence; a skipped
  time is read with the offset in force **before** the gap (``2026-03-08T02:30`` in America/New_York is
  07:30 UTC, shown as 03:30 EDT). Naive date-times a DAG author passes with ``timezone=`` follow it too.

Anything else (not an object, both or neither of ``date`` and ``dateTime``, text that is not ISO-8601, a
``timeZone`` that is not an IANA name) raises :class:`InvalidArgumentError` naming the field, e.g.
``start.dateTime``. Callers reading a server answer turn that into their own answer error, or fall back,
as each documents.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pendulum

from airflow_dtcal.core.errors import InvalidArgumentError

DAYS_OF_WEEK = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


def zone(name: Any, field: str):
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError(field, "must be an IANA time zone name such as 'Asia/Shanghai'", name)
    try:
        return pendulum.timezone(name.strip())
    except Exception:
        raise InvalidArgumentError(field, "is not a known IANA time zone", name) from None


def zone_name(tzinfo: Any) -> str | None:
    """The IANA name of a tzinfo, or None for a fixed offset / unnamed zone."""
    if tzinfo is None:
        return None
    name = getattr(tzinfo, "key", None) or getattr(tzinfo, "name", None)
    if not isinstance(name, str) or not name or name[0] in "+-":
        return None
    if name in ("UTC", "Etc/UTC", "utc"):
        return "UTC"
    try:
        pendulum.timezone(name)
    except Exception:
        return None
    return name


def parse_time(value: Any, field: str) -> dt.date | dt.datetime:
    """date, datetime (naive or aware) from a pendulum/datetime/date object or an ISO-8601 string."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise InvalidArgumentError(field, "must not be empty")
        try:
            parsed = pendulum.parse(text, exact=True, tz=None)
        except Exception:
            raise InvalidArgumentError(field, "is not an ISO-8601 date or date-time", value) from None
        if isinstance(parsed, (dt.datetime, dt.date)):
            return parsed
        raise InvalidArgumentError(field, "must be a date or a date-time, not a time or duration", value)
    raise InvalidArgumentError(field, "must be a pendulum/datetime, a date, or an ISO-8601 string", value)


def event_times(
    start: Any,
    end: Any = None,
    *,
    all_day: bool | None = None,
    timezone: str | None = None,
    default_timezone: str | None = None,
) -> tuple[dict, dict, bool]:
    """Build DingTalk ``start`` / ``end`` objects and ``isAllDay``.

    Timed events: the instants of ``start`` and ``end`` are shown in one time zone, chosen as
    ``timezone`` (explicit) > the values' own IANA zone (unless UTC) > ``default_timezone`` (e.g. the DAG's)
    > the values' zone. A naive datetime needs ``timezone``. ``end`` is required and must be after ``start``.

    All-day events (``all_day=True``, or dates given): ``end`` is the *last day* of the event, inclusive, and
    defaults to ``start``; DingTalk's exclusive end date (the day after) is computed here.
    """
    tz_explicit = zone(timezone, "timezone") if timezone is not None else None
    if default_timezone is not None:
        zone(default_timezone, "default_timezone")
    first = parse_time(start, "start")
    last = parse_time(end, "end") if end is not None else None

    is_date = not isinstance(first, dt.datetime)
    if all_day is None:
        all_day = is_date and (last is None or not isinstance(last, dt.datetime))
    if not isinstance(all_day, bool):
        raise InvalidArgumentError("all_day", "must be true or false", all_day)

    if all_day:
        first_day = as_day(first, "start")
        last_day = as_day(last, "end") if last is not None else first_day
        if last_day < first_day:
            raise InvalidArgumentError("end", f"the last day {last_day} is before start {first_day}")
        exclusive = last_day + dt.timedelta(days=1)
        return {"date": first_day.isoformat()}, {"date": exclusive.isoformat()}, True

    if not isinstance(first, dt.datetime):
        raise InvalidArgumentError(
            "start", "is a date without a time; pass all_day=True or a date-time", start
        )
    if last is None:
        raise InvalidArgumentError("end", "is required for a timed event")
    if not isinstance(last, dt.datetime):
        raise InvalidArgumentError("end", "is a date without a time but start has a time", end)

    if tz_explicit is not None:
        shown_in = tz_explicit
    else:
        for name, value in (("start", first), ("end", last)):
            if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
                raise InvalidArgumentError(
                    name, "is a naive date-time; give it a UTC offset or zone, or pass timezone=", value
                )
        start_zone, end_zone = zone_name(first.tzinfo), zone_name(last.tzinfo)
        if start_zone and end_zone and start_zone != end_zone:
            raise InvalidArgumentError(
                "end",
                f"is in time zone {end_zone} but start is in {start_zone}; DingTalk needs one zone "
                "(pass timezone= to choose)",
            )
        own = start_zone or end_zone
        if own and own != "UTC":
            name = own
        elif default_timezone:
            name = default_timezone
        else:
            name = own or "UTC"
        shown_in = pendulum.timezone(name)

    first_at = localize(first, shown_in)
    last_at = localize(last, shown_in)
    if last_at <= first_at:
        raise InvalidArgumentError(
            "end", f"must be after start ({first_at.isoformat()})", last_at.isoformat()
        )
    return (
        {"dateTime": first_at.isoformat(), "timeZone": shown_in.name},
        {"dateTime": last_at.isoformat(), "timeZone": shown_in.name},
        False,
    )


def as_day(value: dt.date | dt.datetime, field: str) -> dt.date:
    if isinstance(value, dt.datetime):
        if (value.hour, value.minute, value.second, value.microsecond) != (0, 0, 0, 0):
            raise InvalidArgumentError(
                field, "has a time of day but the event is all-day; pass a date", value
            )
        return value.date()
    return value


def localize(value: dt.datetime, zone) -> pendulum.DateTime:
    """``value`` shown in ``zone``: an aware value keeps its instant; a naive one is a wall-clock time in
    ``zone``, read by the daylight-saving rule of this module (the first of a repeated time; a skipped time
    with the offset before the gap)."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        wall = dt.datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=zone,
            fold=0,
        )  # a zoneinfo zone (pendulum's are) with fold=0 reads it as RFC 5545 does
        return pendulum.instance(wall.astimezone(dt.timezone.utc)).in_timezone(zone)
    return pendulum.instance(value).in_timezone(zone)


_WIRE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class WireTime:
    """A DingTalk ``start``/``end`` read by :func:`read_wire_time`: an instant (timed) or a day (all-day)."""

    instant: pendulum.DateTime | None = None  #: a timed value's instant, in UTC
    day: dt.date | None = None  #: an all-day value's day
    zone: str | None = None  #: the IANA ``timeZone`` given beside ``dateTime``, if any

    @property
    def all_day(self) -> bool:
        return self.day is not None

    def at(self, day_zone: Any = "UTC") -> pendulum.DateTime:
        """The instant (UTC); for an all-day value, the start of its day in ``day_zone``."""
        if self.day is None:
            return self.instant  # type: ignore[return-value]  # a WireTime holds one or the other
        tz = day_zone if not isinstance(day_zone, str) else zone(day_zone, "timezone")
        return localize(dt.datetime(self.day.year, self.day.month, self.day.day), tz).in_timezone("UTC")

    def shown(self) -> pendulum.DateTime | dt.date:
        """The value as a DAG author would pass it again: the instant shown in its own zone, or the day."""
        if self.day is not None:
            return self.day
        return self.at().in_timezone(self.zone) if self.zone else self.at()


def _given(value: Any) -> bool:
    return value is not None and value != ""


def read_wire_time(value: Any, field: str) -> WireTime:
    """Read a DingTalk ``start``/``end`` object by the rule of this module; raises
    :class:`InvalidArgumentError` naming ``field`` (or ``field.dateTime`` ...) when it cannot."""
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(field, "must be a {dateTime, timeZone} or {date} object", value)
    text, day, zone_text = value.get("dateTime"), value.get("date"), value.get("timeZone")
    if _given(text) and _given(day):
        raise InvalidArgumentError(field, "has both dateTime and date; a time is one or the other", value)
    if _given(day):
        if not isinstance(day, str) or not _WIRE_DATE.fullmatch(day):
            raise InvalidArgumentError(f"{field}.date", "must be a date in the form yyyy-MM-dd", day)
        try:
            return WireTime(day=dt.date.fromisoformat(day))
        except ValueError:
            raise InvalidArgumentError(f"{field}.date", "is not a calendar date", day) from None
    if not _given(text):
        raise InvalidArgumentError(
            field, "has neither dateTime (a timed event) nor date (an all-day one)", value
        )
    if not isinstance(text, str):
        raise InvalidArgumentError(f"{field}.dateTime", "must be an ISO-8601 date-time string", text)
    shown_in = zone(zone_text, f"{field}.timeZone") if _given(zone_text) else None
    parsed = parse_time(text, f"{field}.dateTime")
    if not isinstance(parsed, dt.datetime):
        raise InvalidArgumentError(f"{field}.dateTime", "must be a date-time, not a date", text)
    if parsed.tzinfo is None or parsed.tzinfo.utcoffset(parsed) is None:
        if shown_in is None:
            raise InvalidArgumentError(
                f"{field}.dateTime",
                "has no UTC offset and no timeZone beside it, so the instant it means is unknown",
                text,
            )
        moment = localize(parsed, shown_in)
    else:
        moment = pendulum.instance(parsed)
    return WireTime(instant=moment.in_timezone("UTC"), zone=shown_in.name if shown_in is not None else None)


def wire_instant(value: Any, field: str, day_zone: Any = "UTC") -> pendulum.DateTime:
    """The instant (UTC) of a wire ``start``/``end`` by :func:`read_wire_time`; an all-day date at the start
    of its day in ``day_zone`` (UTC unless given)."""
    return read_wire_time(value, field).at(day_zone)


def instant(value: Any, field: str) -> pendulum.DateTime:
    """An aware instant from a pendulum/datetime or ISO-8601 string a DAG author passes (a query window,
    not a wire ``start``/``end``: see :func:`read_wire_time`); naive values are read as UTC."""
    parsed = parse_time(value, field)
    if not isinstance(parsed, dt.datetime):
        raise InvalidArgumentError(field, "must be a date-time, not a date", value)
    if parsed.tzinfo is None or parsed.tzinfo.utcoffset(parsed) is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return pendulum.instance(parsed)


def iso_instant(value: Any, field: str) -> str:
    """:func:`instant` as DingTalk's query form, UTC: ``2026-03-09T08:00:00Z``."""
    return instant(value, field).in_timezone("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
