"""Pure payload builders and validation for the DingTalk Calendar API.

Nothing here does I/O or imports Airflow: every function turns Python values a DAG author writes
(pendulum / datetime / date / ISO strings, lists of ids, English recurrence rules) into the wire format of
``../shared/dingtalk-api.md``, or raises :class:`InvalidArgumentError` naming the argument and the rule
*before* any request is sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pendulum

MAX_SUMMARY_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 5000
MAX_ATTENDEES_PER_CALL = 500
MAX_ATTENDEES_PER_EVENT = 5000
RESPONSE_STATUSES = ("needsAction", "accepted", "declined", "tentative")
DAYS_OF_WEEK = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
WEEK_INDEXES = ("first", "second", "third", "fourth", "last")
RECURRENCE_TYPES = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly")
RANGE_TYPES = ("noEnd", "endDate", "numbered")
REMINDER_METHODS = ("dingtalk",)
MAX_REMINDER_MINUTES = 60 * 24 * 28  # four weeks; DingTalk documents no bound, this catches unit mistakes


class InvalidArgumentError(ValueError):
    """A value a DAG author passed breaks a rule of the DingTalk contract.

    ``field`` names the argument (e.g. ``"end"`` or ``"attendees[3]"``), ``rule`` says what is required.
    """

    def __init__(self, field: str, rule: str, value: Any = ...):
        self.field = field
        self.rule = rule
        message = f"{field}: {rule}"
        if value is not ...:
            shown = repr(value)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            message += f" (got {shown})"
        super().__init__(message)

    def __reduce__(self):
        return (_rebuild_invalid_argument, (type(self), self.field, self.rule, str(self)))


def _rebuild_invalid_argument(cls, field, rule, message):
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.field, error.rule = field, rule
    return error


# --------------------------------------------------------------------------------------------- identifiers


def require_id(value: Any, field: str, *, hint: str = "") -> str:
    """A non-empty string id (unionId, event id, calendar id), stripped of surrounding white space."""
    if value is None:
        rule = "is required"
        if hint:
            rule += f"; {hint}"
        raise InvalidArgumentError(field, rule, value)
    if not isinstance(value, str):
        raise InvalidArgumentError(field, "must be a string id", value)
    stripped = value.strip()
    if not stripped or stripped.lower() == "none":
        rule = "must be a non-empty id"
        if hint:
            rule += f"; {hint}"
        raise InvalidArgumentError(field, rule, value)
    return stripped


def _as_list(value: Any, field: str) -> list:
    if isinstance(value, str):
        raise InvalidArgumentError(
            field,
            "must be a list of ids, not one string (a Jinja template renders a list as text: pass "
            "the XComArg itself, e.g. upstream.output, or set render_template_as_native_obj=True on the DAG)",
            value,
        )
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise InvalidArgumentError(field, "must be a list", value)
    if isinstance(value, (set, frozenset)):  # no order of its own: take a canonical one, not the hash order
        return sorted(value, key=lambda item: (type(item).__name__, str(item)))
    return list(value)


def normalize_attendees(value: Any, field: str = "attendees", *, allow_empty: bool = False) -> list[dict]:
    """Ids or ``{"id", "isOptional"}`` dicts -> wire attendee dicts, validated.

    Rules: a list; each id a non-empty string; no id twice; at most 5,000 (DingTalk's per-event limit).
    """
    items = _as_list(value, field)
    if not items and not allow_empty:
        raise InvalidArgumentError(field, "must name at least one attendee", value)
    if len(items) > MAX_ATTENDEES_PER_EVENT:
        raise InvalidArgumentError(
            field,
            f"has {len(items):,} attendees; DingTalk allows at most {MAX_ATTENDEES_PER_EVENT:,} per event",
        )
    seen: set[str] = set()
    result = []
    for i, item in enumerate(items):
        where = f"{field}[{i}]"
        optional = False
        if isinstance(item, Mapping):
            unknown = set(item) - {"id", "isOptional", "is_optional"}
            if unknown:
                raise InvalidArgumentError(
                    where, f"unknown keys {sorted(unknown)}; use 'id' and 'isOptional'"
                )
            optional = item.get("isOptional", item.get("is_optional", False))
            if not isinstance(optional, bool):
                raise InvalidArgumentError(f"{where}.isOptional", "must be true or false", optional)
            item = item.get("id")
        if not isinstance(item, str):
            raise InvalidArgumentError(where, "must be a string unionId", item)
        attendee_id = item.strip()
        if not attendee_id:
            raise InvalidArgumentError(where, "must be a non-empty unionId", item)
        if attendee_id in seen:
            raise InvalidArgumentError(where, f"duplicates attendee {attendee_id!r}")
        seen.add(attendee_id)
        result.append({"id": attendee_id, "isOptional": optional})
    return result


def normalize_attendee_ids(
    value: Any, field: str = "attendee_ids", *, allow_empty: bool = False
) -> list[str]:
    """A list of attendee ids (or attendee dicts) -> list of ids, with the same rules."""
    return [a["id"] for a in normalize_attendees(value, field, allow_empty=allow_empty)]


def chunked(items: Sequence, size: int = MAX_ATTENDEES_PER_CALL) -> Iterator[Sequence]:
    """Consecutive slices of at most ``size`` items."""
    if size < 1:
        raise InvalidArgumentError("chunk_size", "must be at least 1", size)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def validate_response_status(value: Any, field: str = "response_status") -> str:
    if value not in RESPONSE_STATUSES:
        raise InvalidArgumentError(field, f"must be one of {', '.join(RESPONSE_STATUSES)}", value)
    return value


# --------------------------------------------------------------------------------------------- time


def _timezone(name: Any, field: str):
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError(field, "must be an IANA time zone name such as 'Asia/Shanghai'", name)
    try:
        return pendulum.timezone(name.strip())
    except Exception:
        raise InvalidArgumentError(field, "is not a known IANA time zone", name) from None


def _zone_name(tzinfo: Any) -> str | None:
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


def _parse_time(value: Any, field: str) -> dt.date | dt.datetime:
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
    tz_explicit = _timezone(timezone, "timezone") if timezone is not None else None
    if default_timezone is not None:
        _timezone(default_timezone, "default_timezone")
    first = _parse_time(start, "start")
    last = _parse_time(end, "end") if end is not None else None

    is_date = not isinstance(first, dt.datetime)
    if all_day is None:
        all_day = is_date and (last is None or not isinstance(last, dt.datetime))
    if not isinstance(all_day, bool):
        raise InvalidArgumentError("all_day", "must be true or false", all_day)

    if all_day:
        first_day = _as_day(first, "start")
        last_day = _as_day(last, "end") if last is not None else first_day
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
        zone = tz_explicit
    else:
        for name, value in (("start", first), ("end", last)):
            if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
                raise InvalidArgumentError(
                    name, "is a naive date-time; give it a UTC offset or zone, or pass timezone=", value
                )
        start_zone, end_zone = _zone_name(first.tzinfo), _zone_name(last.tzinfo)
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
        zone = pendulum.timezone(name)

    first_at = _localize(first, zone)
    last_at = _localize(last, zone)
    if last_at <= first_at:
        raise InvalidArgumentError(
            "end", f"must be after start ({first_at.isoformat()})", last_at.isoformat()
        )
    return (
        {"dateTime": first_at.isoformat(), "timeZone": zone.name},
        {"dateTime": last_at.isoformat(), "timeZone": zone.name},
        False,
    )


def _as_day(value: dt.date | dt.datetime, field: str) -> dt.date:
    if isinstance(value, dt.datetime):
        if (value.hour, value.minute, value.second, value.microsecond) != (0, 0, 0, 0):
            raise InvalidArgumentError(
                field, "has a time of day but the event is all-day; pass a date", value
            )
        return value.date()
    return value


def _localize(value: dt.datetime, zone) -> pendulum.DateTime:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        v = value
        return pendulum.datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, tz=zone)
    return pendulum.instance(value).in_timezone(zone)


# --------------------------------------------------------------------------------------------- recurrence


class Recurrence:
    """English-reading builders for ``recurrence`` (they return the wire dict).

    >>> Recurrence.weekly("monday", "wednesday", count=10)
    {'pattern': {'type': 'weekly', 'interval': 1, 'daysOfWeek': 'monday,wednesday'},
     'range': {'type': 'numbered', 'numberOfOccurrences': 10}}

    End a series with ``count=`` (occurrences) or ``until=`` (a date or date-time); neither means no end.
    """

    @staticmethod
    def daily(*, every: int = 1, count: int | None = None, until: Any = None) -> dict:
        return _recurrence({"type": "daily", "interval": every}, count, until)

    @staticmethod
    def weekly(*days: str, every: int = 1, count: int | None = None, until: Any = None) -> dict:
        return _recurrence({"type": "weekly", "interval": every, "daysOfWeek": _days(days)}, count, until)

    @staticmethod
    def monthly_on_day(day: int, *, every: int = 1, count: int | None = None, until: Any = None) -> dict:
        return _recurrence({"type": "absoluteMonthly", "interval": every, "dayOfMonth": day}, count, until)

    @staticmethod
    def monthly_on_weekday(
        index: str, *days: str, every: int = 1, count: int | None = None, until: Any = None
    ) -> dict:
        pattern = {"type": "relativeMonthly", "interval": every, "index": index, "daysOfWeek": _days(days)}
        return _recurrence(pattern, count, until)

    @staticmethod
    def yearly(*, every: int = 1, count: int | None = None, until: Any = None) -> dict:
        return _recurrence({"type": "absoluteYearly", "interval": every}, count, until)


def _days(days: Sequence[str]) -> str:
    if len(days) == 1 and isinstance(days[0], (list, tuple)):
        days = tuple(days[0])
    return ",".join(d.lower() if isinstance(d, str) else d for d in days)


def _recurrence(pattern: dict, count: int | None, until: Any) -> dict:
    if count is not None and until is not None:
        raise InvalidArgumentError("recurrence", "give count or until, not both")
    if count is not None:
        rng: dict = {"type": "numbered", "numberOfOccurrences": count}
    elif until is not None:
        rng = {"type": "endDate", "endDate": _until(until)}
    else:
        rng = {"type": "noEnd"}
    return validate_recurrence({"pattern": pattern, "range": rng})


def _until(value: Any) -> str:
    """``range.endDate`` in the SDK's documented form ``yyyy-MM-ddTHH:mmZ`` (UTC)."""
    parsed = _parse_time(value, "recurrence.range.endDate")
    if isinstance(parsed, dt.datetime):
        if parsed.tzinfo is None:
            raise InvalidArgumentError("recurrence.range.endDate", "is a naive date-time; add a zone", value)
        moment = pendulum.instance(parsed).in_timezone("UTC")
    else:
        moment = pendulum.datetime(parsed.year, parsed.month, parsed.day, 23, 59, tz="UTC")
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def _positive_int(value: Any, field: str, *, low: int = 1, high: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise InvalidArgumentError(field, f"must be a whole number {bound}", value)
    return value


def validate_recurrence(value: Any, field: str = "recurrence") -> dict:
    """Check a wire-format recurrence dict (from the builders or written by hand) against the contract."""
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            field, "must be a dict with 'pattern' and 'range' (see Recurrence.weekly)", value
        )
    unknown = set(value) - {"pattern", "range"}
    if unknown:
        raise InvalidArgumentError(field, f"unknown keys {sorted(unknown)}")
    pattern = value.get("pattern")
    if not isinstance(pattern, Mapping):
        raise InvalidArgumentError(f"{field}.pattern", "is required and must be a dict", pattern)
    kind = pattern.get("type")
    if kind not in RECURRENCE_TYPES:
        raise InvalidArgumentError(
            f"{field}.pattern.type", f"must be one of {', '.join(RECURRENCE_TYPES)}", kind
        )
    allowed = {"type", "interval", "daysOfWeek", "dayOfMonth", "index", "firstDayOfWeek"}
    unknown = set(pattern) - allowed
    if unknown:
        raise InvalidArgumentError(
            f"{field}.pattern", f"unknown keys {sorted(unknown)} (DingTalk has no 'month')"
        )
    out_pattern = dict(pattern)
    out_pattern["interval"] = _positive_int(pattern.get("interval", 1), f"{field}.pattern.interval", high=99)
    if kind in ("weekly", "relativeMonthly"):
        days = pattern.get("daysOfWeek")
        if isinstance(days, (list, tuple)):
            days = ",".join(days)
        if not isinstance(days, str) or not days:
            raise InvalidArgumentError(f"{field}.pattern.daysOfWeek", f"is required for {kind}", days)
        names = [d.strip() for d in days.split(",")]
        for name in names:
            if name not in DAYS_OF_WEEK:
                raise InvalidArgumentError(
                    f"{field}.pattern.daysOfWeek", f"{name!r} is not one of {', '.join(DAYS_OF_WEEK)}"
                )
        if len(set(names)) != len(names):
            raise InvalidArgumentError(f"{field}.pattern.daysOfWeek", "names a day twice", days)
        out_pattern["daysOfWeek"] = ",".join(names)
    if kind == "absoluteMonthly":
        out_pattern["dayOfMonth"] = _positive_int(
            pattern.get("dayOfMonth"), f"{field}.pattern.dayOfMonth", high=31
        )
    if kind == "relativeMonthly" and pattern.get("index") not in WEEK_INDEXES:
        raise InvalidArgumentError(
            f"{field}.pattern.index", f"must be one of {', '.join(WEEK_INDEXES)}", pattern.get("index")
        )
    if "firstDayOfWeek" in pattern and pattern["firstDayOfWeek"] not in DAYS_OF_WEEK:
        raise InvalidArgumentError(f"{field}.pattern.firstDayOfWeek", "must be a lowercase day name")

    rng = value.get("range", {"type": "noEnd"})
    if not isinstance(rng, Mapping):
        raise InvalidArgumentError(f"{field}.range", "must be a dict", rng)
    rtype = rng.get("type")
    if rtype not in RANGE_TYPES:
        raise InvalidArgumentError(f"{field}.range.type", f"must be one of {', '.join(RANGE_TYPES)}", rtype)
    if "endDate" in rng and "numberOfOccurrences" in rng:
        raise InvalidArgumentError(f"{field}.range", "endDate and numberOfOccurrences must not both be set")
    out_range = {"type": rtype}
    if rtype == "numbered":
        out_range["numberOfOccurrences"] = _positive_int(
            rng.get("numberOfOccurrences"), f"{field}.range.numberOfOccurrences", high=999
        )
    elif rtype == "endDate":
        end_date = rng.get("endDate")
        if not isinstance(end_date, str) or not end_date:
            raise InvalidArgumentError(f"{field}.range.endDate", "is required for an endDate range", end_date)
        _parse_time(end_date, f"{field}.range.endDate")
        out_range["endDate"] = end_date
    elif len(rng) > 1:
        raise InvalidArgumentError(f"{field}.range", "a noEnd range takes no endDate or numberOfOccurrences")
    return {"pattern": out_pattern, "range": out_range}


# --------------------------------------------------------------------------------------------- reminders


def normalize_reminders(value: Any, field: str = "reminders") -> list[dict] | None:
    """``None`` (DingTalk's default: 15 min before), ``[]`` (no reminders), or minutes / dicts."""
    if value is None:
        return None
    items = _as_list(value, field) if not isinstance(value, int) else [value]
    result = []
    for i, item in enumerate(items):
        where = f"{field}[{i}]"
        method = "dingtalk"
        if isinstance(item, Mapping):
            unknown = set(item) - {"method", "minutes"}
            if unknown:
                raise InvalidArgumentError(
                    where, f"unknown keys {sorted(unknown)}; use 'method' and 'minutes'"
                )
            method = item.get("method", "dingtalk")
            item = item.get("minutes")
        if method not in REMINDER_METHODS:
            raise InvalidArgumentError(f"{where}.method", "must be 'dingtalk'", method)
        minutes = _positive_int(item, f"{where}.minutes", low=0, high=MAX_REMINDER_MINUTES)
        result.append({"method": method, "minutes": minutes})
    return result


# --------------------------------------------------------------------------------------------- events


def _text(value: Any, field: str, limit: int, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise InvalidArgumentError(field, "is required")
        return None
    if not isinstance(value, str):
        raise InvalidArgumentError(field, "must be a string", value)
    if required and not value.strip():
        raise InvalidArgumentError(field, "must not be empty")
    if len(value) > limit:
        raise InvalidArgumentError(field, f"is {len(value):,} characters; DingTalk allows at most {limit:,}")
    return value


def build_event(
    *,
    summary: Any,
    start: Any,
    end: Any = None,
    all_day: bool | None = None,
    timezone: str | None = None,
    default_timezone: str | None = None,
    description: Any = None,
    attendees: Any = None,
    location: Any = None,
    reminders: Any = None,
    recurrence: Any = None,
    online_meeting: bool = False,
    chat_notification: bool | None = None,
    push_notification: bool | None = None,
    extra_fields: Mapping | None = None,
) -> dict:
    """A CreateEvent request body. Attendees beyond 500 are *not* cut here: see :func:`split_create_attendees`."""
    body: dict[str, Any] = {"summary": _text(summary, "summary", MAX_SUMMARY_LENGTH, required=True)}
    text = _text(description, "description", MAX_DESCRIPTION_LENGTH, required=False)
    if text:
        body["description"] = text
    body["start"], body["end"], body["isAllDay"] = event_times(
        start, end, all_day=all_day, timezone=timezone, default_timezone=default_timezone
    )
    if attendees is not None:
        listed = normalize_attendees(attendees, "attendees", allow_empty=True)
        if listed:
            body["attendees"] = listed
    if location is not None:
        if not isinstance(location, str) or not location.strip():
            raise InvalidArgumentError("location", "must be a non-empty string", location)
        body["location"] = {"displayName": location}
    rem = normalize_reminders(reminders)
    if rem is not None:
        body["reminders"] = rem
    if recurrence is not None:
        body["recurrence"] = validate_recurrence(recurrence)
    if not isinstance(online_meeting, bool):
        raise InvalidArgumentError("online_meeting", "must be true or false", online_meeting)
    if online_meeting:
        body["onlineMeetingInfo"] = {"type": "dingtalk"}
    flags = {}
    for name, key, flag in (
        ("chat_notification", "noChatNotification", chat_notification),
        ("push_notification", "noPushNotification", push_notification),
    ):
        if flag is None:
            continue
        if not isinstance(flag, bool):
            raise InvalidArgumentError(name, "must be true or false", flag)
        flags[key] = "false" if flag else "true"
    if flags:
        body["extra"] = flags
    if extra_fields:
        if not isinstance(extra_fields, Mapping):
            raise InvalidArgumentError("extra_fields", "must be a dict of wire-format fields", extra_fields)
        clash = set(extra_fields) & set(body)
        if clash:
            raise InvalidArgumentError("extra_fields", f"sets {sorted(clash)} which have their own arguments")
        body.update(extra_fields)
    return body


def split_create_attendees(event: dict) -> tuple[dict, list[dict]]:
    """Keep at most 500 attendees in a create body; return the rest to add afterwards in chunks."""
    attendees = event.get("attendees") or []
    if len(attendees) <= MAX_ATTENDEES_PER_CALL:
        return event, []
    head = dict(event)
    head["attendees"] = attendees[:MAX_ATTENDEES_PER_CALL]
    return head, attendees[MAX_ATTENDEES_PER_CALL:]


# --------------------------------------------------------------------------------------------- idempotency


def derive_client_token(*parts: Any) -> str:
    """A deterministic ``x-client-token`` (32 hex chars) from the parts that identify one logical write.

    Operators pass (dag id, task id, run id, map index, operation, payload); the hook derives one per chunk.
    The same parts always give the same token, so a retried request is recognised by DingTalk as a repeat.
    """
    canonical = json.dumps(
        parts, sort_keys=True, separators=(",", ":"), default=_canonical, ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _canonical(value: Any) -> Any:
    """JSON for values json cannot write: sets in sorted order (never hash order), the rest as text."""
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) if isinstance(v, (set, frozenset)) else v for v in value), key=str)
    return str(value)


# --------------------------------------------------------------------------------------------- event keys

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


def _wire_instant(value: Any, field: str) -> pendulum.DateTime:
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(field, "must be a {dateTime, timeZone} or {date} object", value)
    if value.get("dateTime"):
        return pendulum.instance(_parse_time(value["dateTime"], f"{field}.dateTime")).in_timezone("UTC")
    day = _as_day(_parse_time(value.get("date"), f"{field}.date"), f"{field}.date")
    return pendulum.datetime(day.year, day.month, day.day, tz="UTC")


def key_search_window(
    event: Mapping[str, Any], days: Any, field: str = "dedup_window_days"
) -> tuple[str, str]:
    """``(timeMin, timeMax)`` for finding an event by key: its own span widened by ``days`` on each side.

    An all-day event's dates are read as UTC days, so the window is at most a day wider than needed.
    """
    days = _positive_int(days, field, low=0, high=MAX_KEY_WINDOW_DAYS)
    start = _wire_instant(event.get("start"), "start")
    end = _wire_instant(event.get("end") or event.get("start"), "end")
    # Always at least one day wide on each side: a zone's offset never moves an event further than that.
    slack = dt.timedelta(days=max(days, 1))
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return (start - slack).strftime(fmt), (end + slack).strftime(fmt)


# --------------------------------------------------------------------------------------------- windows


def instant(value: Any, field: str) -> pendulum.DateTime:
    """An aware instant from a pendulum/datetime or ISO-8601 string; naive values are read as UTC."""
    parsed = _parse_time(value, field)
    if not isinstance(parsed, dt.datetime):
        raise InvalidArgumentError(field, "must be a date-time, not a date", value)
    if parsed.tzinfo is None or parsed.tzinfo.utcoffset(parsed) is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return pendulum.instance(parsed)


def iso_instant(value: Any, field: str) -> str:
    """:func:`instant` as DingTalk's query form, UTC: ``2026-03-09T08:00:00Z``."""
    return instant(value, field).in_timezone("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
