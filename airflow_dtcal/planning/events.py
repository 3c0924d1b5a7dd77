"""Event payloads: the CreateEvent body from the pythonic arguments a DAG author writes (summary, times,
attendees, location, reminders, recurrence, online meeting, notices), validated.

Pure: no I/O, no Airflow. Every rule raises :class:`InvalidArgumentError` naming the argument, before any
request is sent. The wire format is in ``../shared/dingtalk-api.md`` §3.1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pendulum

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.ids import MAX_ATTENDEES_PER_CALL, as_list, normalize_attendees, whole_number
from airflow_dtcal.core.times import DAYS_OF_WEEK, event_times, parse_time

MAX_SUMMARY_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 5000
WEEK_INDEXES = ("first", "second", "third", "fourth", "last")
RECURRENCE_TYPES = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly")
RANGE_TYPES = ("noEnd", "endDate", "numbered")
REMINDER_METHODS = ("dingtalk",)
MAX_REMINDER_MINUTES = 60 * 24 * 28  # four weeks; DingTalk documents no bound, this catches unit mistakes


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
    parsed = parse_time(value, "recurrence.range.endDate")
    if isinstance(parsed, dt.datetime):
        if parsed.tzinfo is None:
            raise InvalidArgumentError("recurrence.range.endDate", "is a naive date-time; add a zone", value)
        moment = pendulum.instance(parsed).in_timezone("UTC")
    else:
        moment = pendulum.datetime(parsed.year, parsed.month, parsed.day, 23, 59, tz="UTC")
    return moment.strftime("%Y-%m-%dT%H:%MZ")


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
    out_pattern["interval"] = whole_number(pattern.get("interval", 1), f"{field}.pattern.interval", high=99)
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
        out_pattern["dayOfMonth"] = whole_number(
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
        out_range["numberOfOccurrences"] = whole_number(
            rng.get("numberOfOccurrences"), f"{field}.range.numberOfOccurrences", high=999
        )
    elif rtype == "endDate":
        end_date = rng.get("endDate")
        if not isinstance(end_date, str) or not end_date:
            raise InvalidArgumentError(f"{field}.range.endDate", "is required for an endDate range", end_date)
        parse_time(end_date, f"{field}.range.endDate")
        out_range["endDate"] = end_date
    elif len(rng) > 1:
        raise InvalidArgumentError(f"{field}.range", "a noEnd range takes no endDate or numberOfOccurrences")
    return {"pattern": out_pattern, "range": out_range}


# --------------------------------------------------------------------------------------------- detail page

#: What an event's detail page lets attendees see and do (``uiConfigs`` [DOC modify-event]): the elements,
#: and their states (``disable`` shows on the newer detail page only; older clients hide instead).
UI_NAMES = ("updateEventButton", "deleteEventButton", "transferEventButton", "attendee", "comment")
UI_STATUSES = ("hide", "disable", "enable")


def normalize_ui_configs(value: Any, field: str = "ui_configs") -> list[dict] | None:
    """``{"deleteEventButton": "hide", "comment": "disable"}`` -> DingTalk's ``uiConfigs`` list, in the
    documented element order; None when not given. Each element and state is checked."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            field, "must be a dict of detail-page element -> state, e.g. {'comment': 'hide'}", value
        )
    for name, status in value.items():
        if name not in UI_NAMES:
            raise InvalidArgumentError(f"{field}[{name!r}]", f"is not one of {', '.join(UI_NAMES)}")
        if status not in UI_STATUSES:
            raise InvalidArgumentError(
                f"{field}[{name!r}]", f"must be one of {', '.join(UI_STATUSES)}", status
            )
    return [{"uiName": name, "uiStatus": value[name]} for name in UI_NAMES if name in value]


def notification_switches(chat_notification: Any, push_notification: Any) -> dict[str, str]:
    """DingTalk's ``extra`` switches for a write: ``{"noChatNotification": "true", ...}`` for the flags
    given (``None``: DingTalk's default, nothing sent) [DOC create-and-delete-an-event sample]."""
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
    return flags


# --------------------------------------------------------------------------------------------- reminders


def normalize_reminders(value: Any, field: str = "reminders") -> list[dict] | None:
    """``None`` (DingTalk's default: 15 min before), ``[]`` (no reminders), or minutes / dicts."""
    if value is None:
        return None
    items = as_list(value, field) if not isinstance(value, int) else [value]
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
        minutes = whole_number(item, f"{where}.minutes", low=0, high=MAX_REMINDER_MINUTES)
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
    ui_configs: Mapping[str, str] | None = None,
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
    flags = notification_switches(chat_notification, push_notification)
    if flags:
        body["extra"] = flags
    ui = normalize_ui_configs(ui_configs)
    if ui:
        body["uiConfigs"] = ui
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
