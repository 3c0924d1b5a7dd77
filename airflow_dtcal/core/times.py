"""DingTalk times: what a DAG author passes (pendulum / datetime / date / ISO-8601 strings) and what the
wire carries (``{dateTime, timeZone}`` for a timed event, ``{date}`` for an all-day one).

Pure: no I/O, no Airflow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
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

    if is_date:
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
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        v = value
        return pendulum.datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, tz=zone)
    return pendulum.instance(value).in_timezone(zone)


def wire_instant(value: Any, field: str) -> pendulum.DateTime:
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(field, "must be a {dateTime, timeZone} or {date} object", value)
    if value.get("dateTime"):
        return pendulum.instance(parse_time(value["dateTime"], f"{field}.dateTime")).in_timezone("UTC")
    day = as_day(parse_time(value.get("date"), f"{field}.date"), f"{field}.date")
    return pendulum.datetime(day.year, day.month, day.day, tz="UTC")


def instant(value: Any, field: str) -> pendulum.DateTime:
    """An aware instant from a pendulum/datetime or ISO-8601 string; naive values are read as UTC."""
    parsed = parse_time(value, field)
    if not isinstance(parsed, dt.datetime):
        raise InvalidArgumentError(field, "must be a date-time, not a date", value)
    if parsed.tzinfo is None or parsed.tzinfo.utcoffset(parsed) is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return pendulum.instance(parsed)


def iso_instant(value: Any, field: str) -> str:
    """:func:`instant` as DingTalk's query form, UTC: ``2026-03-09T08:00:00Z``."""
    return instant(value, field).in_timezone("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
