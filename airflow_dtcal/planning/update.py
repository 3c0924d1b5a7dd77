"""What to send to PatchEvent: the wire fields that differ between an event as DingTalk returns it and the
arguments a DAG author gives (the same pythonic arguments as for creating one).

Pure: no I/O, no Airflow. ``None`` means "leave as it is" for every argument. DingTalk answers some fields in
another form than it takes them (reminder minutes as strings, date-times possibly in another offset), so
values are compared by meaning, not by text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pendulum

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.times import event_times
from airflow_dtcal.core.times import localize as _localize
from airflow_dtcal.core.times import parse_time as _parse_time
from airflow_dtcal.core.times import zone as _timezone
from airflow_dtcal.planning.events import (
    MAX_DESCRIPTION_LENGTH,
    MAX_SUMMARY_LENGTH,
    _text,
    normalize_reminders,
    validate_recurrence,
)

#: Fields with an argument of their own; ``extra_fields`` must not set them.
NAMED_FIELDS = frozenset(
    {
        "summary",
        "description",
        "start",
        "end",
        "isAllDay",
        "location",
        "reminders",
        "recurrence",
        "onlineMeetingInfo",
        "attendees",
    }
)


def event_changes(
    current: Mapping[str, Any],
    *,
    summary: Any = None,
    start: Any = None,
    end: Any = None,
    all_day: bool | None = None,
    timezone: str | None = None,
    default_timezone: str | None = None,
    description: Any = None,
    location: Any = None,
    reminders: Any = None,
    recurrence: Any = None,
    online_meeting: bool | None = None,
    extra_fields: Mapping[str, Any] | None = None,
) -> dict:
    """The PatchEvent fields (wire format, without ``id``) that would change ``current``; ``{}`` if none.

    Times: give ``start`` to move the event; without ``end`` a timed event keeps its length and an all-day
    one becomes one day long (``end`` is the last day, inclusive, as for creating). Naive date-times are read
    in ``timezone``, else the event's own zone. Attendees are not changed here: use the attendee operators.
    """
    if not isinstance(current, Mapping):
        raise InvalidArgumentError("event", "must be the event as GetEvent returns it", current)
    changes: dict[str, Any] = {}
    if summary is not None:
        text = _text(summary, "summary", MAX_SUMMARY_LENGTH, required=True)
        if text != current.get("summary"):
            changes["summary"] = text
    if description is not None:
        text = _text(description, "description", MAX_DESCRIPTION_LENGTH, required=False)
        if text != (current.get("description") or ""):
            changes["description"] = text
    if start is not None or end is not None or all_day is not None or timezone is not None:
        changes.update(_time_changes(current, start, end, all_day, timezone, default_timezone))
    if location is not None:
        if not isinstance(location, str) or not location.strip():
            raise InvalidArgumentError("location", "must be a non-empty string", location)
        if location != (current.get("location") or {}).get("displayName"):
            changes["location"] = {"displayName": location}
    if reminders is not None:
        wanted = normalize_reminders(reminders)
        if _reminder_set(wanted) != _reminder_set(current.get("reminders") or []):
            changes["reminders"] = wanted
    if recurrence is not None:
        wanted = validate_recurrence(recurrence)
        if wanted != _current_recurrence(current.get("recurrence")):
            changes["recurrence"] = wanted
    if online_meeting is not None:
        if online_meeting is not True:
            raise InvalidArgumentError(
                "online_meeting",
                "True adds a DingTalk video meeting; DingTalk has no documented way to remove one",
                online_meeting,
            )
        if not current.get("onlineMeetingInfo"):  # sending it again would replace the meeting and its link
            changes["onlineMeetingInfo"] = {"type": "dingtalk"}
    if extra_fields:
        if not isinstance(extra_fields, Mapping):
            raise InvalidArgumentError("extra_fields", "must be a dict of wire-format fields", extra_fields)
        clash = sorted(set(extra_fields) & (NAMED_FIELDS | {"id"}))
        if clash:
            raise InvalidArgumentError("extra_fields", f"sets {clash} which have their own arguments")
        changes.update({k: v for k, v in extra_fields.items() if current.get(k) != v})
    return changes


def _time_changes(current, start, end, all_day, timezone, default_timezone) -> dict:
    cur_start, cur_end = current.get("start") or {}, current.get("end") or {}
    if not isinstance(cur_start, Mapping) or not isinstance(cur_end, Mapping):
        raise InvalidArgumentError("event", "has no start/end objects")
    own_zone = cur_start.get("timeZone") or None
    zone_name = timezone or own_zone or default_timezone
    if start is None:
        if end is not None and not current.get("isAllDay") and cur_start.get("dateTime"):
            start = cur_start["dateTime"]
        elif end is not None or all_day is not None or timezone is not None:
            start = cur_start.get("dateTime") or cur_start.get("date")
    if start is None:
        raise InvalidArgumentError("start", "is required to change the time of an event", start)
    timed = all_day is False or (all_day is None and not current.get("isAllDay"))
    if end is None and timed and cur_start.get("dateTime") and cur_end.get("dateTime"):
        end = _keep_length(start, cur_start["dateTime"], cur_end["dateTime"], zone_name)
    elif end is None and timezone is not None and cur_end.get("dateTime"):
        end = cur_end["dateTime"]
    new_start, new_end, new_all_day = event_times(
        start, end, all_day=all_day, timezone=zone_name, default_timezone=default_timezone
    )
    if (
        _same_time(new_start, cur_start)
        and _same_time(new_end, cur_end)
        and new_all_day == bool(current.get("isAllDay"))
    ):
        return {}
    return {"start": new_start, "end": new_end, "isAllDay": new_all_day}


def _keep_length(start: Any, cur_start: str, cur_end: str, zone_name: str | None) -> Any:
    """``start`` plus the current event's length (a timed event moved by its start keeps its length)."""
    first = _parse_time(start, "start")
    if not isinstance(first, dt.datetime):
        return None  # a date: event_times makes it an all-day event or says what is missing
    length = pendulum.parse(cur_end) - pendulum.parse(cur_start)
    if first.tzinfo is None or first.tzinfo.utcoffset(first) is None:
        if zone_name is None:
            return None  # event_times names the naive start
        first = _localize(first, _timezone(zone_name, "timezone"))
    return pendulum.instance(first) + length


def _same_time(wanted: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    if "date" in wanted:
        return current.get("date") == wanted["date"] and not current.get("dateTime")
    if not current.get("dateTime") or current.get("timeZone") != wanted["timeZone"]:
        return False
    try:
        return pendulum.parse(current["dateTime"]) == pendulum.parse(wanted["dateTime"])
    except Exception:  # an answer we cannot read is a change
        return False


def _reminder_set(items: list) -> list[tuple[str, int]]:
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            return [("unreadable", -1)]
        try:
            out.append((str(item.get("method", "dingtalk")), int(item.get("minutes"))))
        except (TypeError, ValueError):
            return [("unreadable", -1)]
    return sorted(out)


def _current_recurrence(value: Any) -> dict | None:
    if value is None:
        return None
    try:
        return validate_recurrence(value)
    except InvalidArgumentError:
        return None  # unreadable: a wanted recurrence is sent
