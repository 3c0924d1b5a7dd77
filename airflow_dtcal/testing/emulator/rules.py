"""The documented rules for event bodies: times, recurrence, reminders, attendees and the other fields.

Each check raises :func:`~airflow_dtcal.testing.emulator.errors.invalid` with a message that names the field
and the rule, and returns the value normalised to what the emulator stores.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import secrets
import zoneinfo
from typing import Any

from airflow_dtcal.testing.emulator.contract import (
    DAY_NAMES,
    MAX_ATTENDEES_PER_CALL,
    MAX_DESCRIPTION,
    MAX_SUMMARY,
    PATTERN_TYPES,
    RANGE_TYPES,
    RESPONSE_STATUSES,
    UI_NAMES,
    UI_STATUSES,
    WEEK_INDEXES,
)
from airflow_dtcal.testing.emulator.errors import invalid

UTC = dt.timezone.utc
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _blank(value: Any) -> bool:
    return value is None or value == ""


def parse_instant(value: Any, name: str) -> dt.datetime:
    """An ISO-8601 instant (query parameters, range.endDate); naive values are taken as UTC."""
    if not isinstance(value, str) or not value:
        raise invalid(f"{name} must be an ISO-8601 date-time string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise invalid(f"{name} must be an ISO-8601 date-time, got {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def check_string(value: Any, field: str, max_len: int | None = None, required: bool = False) -> str:
    if not isinstance(value, str):
        raise invalid(f"{field} must be a string")
    if required and not value.strip():
        raise invalid(f"{field} is required and must not be empty")
    if max_len is not None and len(value) > max_len:
        raise invalid(f"{field} is {len(value)} characters long; at most {max_len} are allowed")
    return value


def _zone(name: Any, field: str) -> zoneinfo.ZoneInfo:
    if not isinstance(name, str) or not name:
        raise invalid(f"{field} must be an IANA time zone name such as 'Asia/Shanghai'")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise invalid(f"{field} {name!r} is not a valid IANA time zone name") from None


def check_time(obj: Any, field: str) -> tuple[str, Any, str | None, dict]:
    """Validate a start/end object. Returns (form, value, timeZone, normalised wire dict)."""
    if not isinstance(obj, dict):
        raise invalid(f"{field} must be an object with either date (all-day) or dateTime and timeZone")
    date_v, datetime_v, tz_v = obj.get("date"), obj.get("dateTime"), obj.get("timeZone")
    if not _blank(date_v):
        if not _blank(datetime_v) or not _blank(tz_v):
            raise invalid(
                f"{field}: an all-day time takes only date (yyyy-MM-dd); leave dateTime and timeZone empty"
            )
        if not isinstance(date_v, str) or not _DATE_RE.match(date_v):
            raise invalid(f"{field}.date must be a date in the form yyyy-MM-dd, got {date_v!r}")
        try:
            day = dt.date.fromisoformat(date_v)
        except ValueError:
            raise invalid(f"{field}.date {date_v!r} is not a valid calendar date") from None
        return "date", day, None, {"date": date_v}
    if _blank(datetime_v):
        raise invalid(f"{field} needs dateTime and timeZone (timed event) or date (all-day event)")
    if _blank(tz_v):
        raise invalid(f"{field}.timeZone is required with {field}.dateTime")
    zone = _zone(tz_v, f"{field}.timeZone")
    if not isinstance(datetime_v, str) or not _DATETIME_RE.match(datetime_v):
        raise invalid(
            f"{field}.dateTime must be an ISO-8601 date-time such as 2025-09-20T10:15:30+08:00, got {datetime_v!r}"
        )
    text = datetime_v[:-1] + "+00:00" if datetime_v.endswith("Z") else datetime_v
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise invalid(f"{field}.dateTime {datetime_v!r} is not a valid date-time") from None
    if value.tzinfo is None:
        # A wall-clock time in its zone; fold=0 reads a repeated time as its first occurrence and a skipped
        # one with the offset before the gap (RFC 5545 §3.3.5, as java.time does).
        value = value.replace(tzinfo=zone, fold=0)
    # Kept in UTC: astimezone() to the event's own zone then shows a skipped time as the wall clock does.
    return "dateTime", value.astimezone(UTC), tz_v, {"dateTime": datetime_v, "timeZone": tz_v}


def _instant(form: str, value: Any) -> dt.datetime:
    if form == "date":
        return dt.datetime.combine(value, dt.time(0), UTC)
    return value


def check_attendee_list(value: Any, field: str, *, allow_status: bool = False) -> list[dict]:
    if not isinstance(value, list):
        raise invalid(f"{field} must be an array of {{id, isOptional}} objects")
    if len(value) > MAX_ATTENDEES_PER_CALL:
        raise invalid(f"{field} has {len(value)} attendees; at most {MAX_ATTENDEES_PER_CALL} per call")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise invalid(f"{field}[{i}] must be an object with an id")
        ident = item.get("id")
        if not isinstance(ident, str) or not ident.strip():
            raise invalid(f"{field}[{i}].id must be a non-empty string (the user's unionId)")
        optional = item.get("isOptional")
        if optional is not None and not isinstance(optional, bool):
            raise invalid(f"{field}[{i}].isOptional must be a boolean")
        entry = {"id": ident, "isOptional": bool(optional)}
        if allow_status and item.get("responseStatus") is not None:
            if item["responseStatus"] not in RESPONSE_STATUSES:
                raise invalid(f"{field}[{i}].responseStatus must be one of {', '.join(RESPONSE_STATUSES)}")
            entry["responseStatus"] = item["responseStatus"]
        out.append(entry)
    return out


def _check_pattern(pattern: dict) -> dict:
    ptype = pattern.get("type")
    if ptype not in PATTERN_TYPES:
        raise invalid(f"recurrence.pattern.type must be one of {', '.join(PATTERN_TYPES)}, got {ptype!r}")
    out: dict[str, Any] = {"type": ptype}
    interval = pattern.get("interval")
    if interval is not None:
        if not is_int(interval) or interval < 1:
            raise invalid(f"recurrence.pattern.interval must be an integer >= 1, got {interval!r}")
        out["interval"] = interval
    days = pattern.get("daysOfWeek")
    if days is not None:
        if not isinstance(days, str):
            raise invalid(
                "recurrence.pattern.daysOfWeek must be a comma-separated string of lowercase day names "
                "such as 'monday,wednesday' (not an array)"
            )
        if not days or any(name not in DAY_NAMES for name in days.split(",")):
            raise invalid(
                f"recurrence.pattern.daysOfWeek must be comma-separated lowercase day names "
                f"({', '.join(DAY_NAMES)}), got {days!r}"
            )
        out["daysOfWeek"] = days
    elif ptype in ("weekly", "relativeMonthly"):
        raise invalid(f"recurrence.pattern.daysOfWeek is required for type {ptype}")
    day_of_month = pattern.get("dayOfMonth")
    if day_of_month is not None:
        if not is_int(day_of_month) or not 1 <= day_of_month <= 31:
            raise invalid(
                f"recurrence.pattern.dayOfMonth must be an integer from 1 to 31, got {day_of_month!r}"
            )
        out["dayOfMonth"] = day_of_month
    elif ptype == "absoluteMonthly":
        raise invalid("recurrence.pattern.dayOfMonth is required for type absoluteMonthly")
    index = pattern.get("index")
    if index is not None:
        if index not in WEEK_INDEXES:
            raise invalid(f"recurrence.pattern.index must be one of {', '.join(WEEK_INDEXES)}, got {index!r}")
        out["index"] = index
    elif ptype == "relativeMonthly":
        raise invalid("recurrence.pattern.index is required for type relativeMonthly")
    first_day = pattern.get("firstDayOfWeek")
    if first_day is not None:
        if first_day not in DAY_NAMES:
            raise invalid(
                f"recurrence.pattern.firstDayOfWeek must be a lowercase day name, got {first_day!r}"
            )
        out["firstDayOfWeek"] = first_day
    return out


def _check_range(rng: dict, start: dt.datetime) -> dict:
    rtype = rng.get("type")
    if rtype not in RANGE_TYPES:
        raise invalid(f"recurrence.range.type must be one of {', '.join(RANGE_TYPES)}, got {rtype!r}")
    end_date, count = rng.get("endDate"), rng.get("numberOfOccurrences")
    if not _blank(end_date) and count is not None:
        raise invalid("recurrence.range: set endDate or numberOfOccurrences, not both")
    out: dict[str, Any] = {"type": rtype}
    if not _blank(end_date):
        if rtype != "endDate":
            raise invalid(f"recurrence.range.endDate is only allowed with type endDate, not {rtype}")
        if parse_instant(end_date, "recurrence.range.endDate") < start:
            raise invalid("recurrence.range.endDate must not be before the event start")
        out["endDate"] = end_date
    elif rtype == "endDate":
        raise invalid("recurrence.range.endDate is required for type endDate")
    if count is not None:
        if rtype != "numbered":
            raise invalid(
                f"recurrence.range.numberOfOccurrences is only allowed with type numbered, not {rtype}"
            )
        if not is_int(count) or count < 1:
            raise invalid(f"recurrence.range.numberOfOccurrences must be an integer >= 1, got {count!r}")
        out["numberOfOccurrences"] = count
    elif rtype == "numbered":
        raise invalid("recurrence.range.numberOfOccurrences is required for type numbered")
    return out


def check_recurrence(rec: Any, start: dt.datetime) -> dict:
    if not isinstance(rec, dict):
        raise invalid("recurrence must be an object with pattern and range")
    pattern, rng = rec.get("pattern"), rec.get("range")
    if not isinstance(pattern, dict):
        raise invalid("recurrence.pattern is required and must be an object")
    if not isinstance(rng, dict):
        raise invalid("recurrence.range is required and must be an object")
    return {"pattern": _check_pattern(pattern), "range": _check_range(rng, start)}


def check_reminders(value: Any) -> list[dict]:
    if not isinstance(value, list):
        raise invalid("reminders must be an array of {method, minutes} objects")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise invalid(f"reminders[{i}] must be an object")
        if item.get("method") != "dingtalk":
            raise invalid(f"reminders[{i}].method must be 'dingtalk', got {item.get('method')!r}")
        minutes: Any = item.get("minutes")
        if not is_int(minutes) or minutes < 0:
            raise invalid(
                f"reminders[{i}].minutes must be an integer >= 0 (a number, not a string), got {minutes!r}"
            )
        out.append({"method": "dingtalk", "minutes": minutes})
    return out


def _check_times(body: dict, existing: dict | None) -> dict:
    creating = existing is None
    if creating and body.get("start") is None:
        raise invalid("start is required")
    if creating and body.get("end") is None:
        raise invalid("end is required")
    stored = existing or {}
    start_obj = body["start"] if body.get("start") is not None else stored["start"]
    end_obj = body["end"] if body.get("end") is not None else stored["end"]
    s_form, s_value, s_tz, s_wire = check_time(start_obj, "start")
    e_form, e_value, e_tz, e_wire = check_time(end_obj, "end")
    if s_form != e_form:
        raise invalid("start and end must both be all-day (date) or both be timed (dateTime + timeZone)")
    if s_form == "dateTime":
        if e_tz != s_tz:
            raise invalid(f"end.timeZone ({e_tz}) must equal start.timeZone ({s_tz})")
        if e_value <= s_value:
            raise invalid("end.dateTime must be after start.dateTime")
    elif e_value <= s_value:
        raise invalid("end.date must be after start.date (the all-day end date is exclusive)")
    all_day = s_form == "date"
    if body.get("isAllDay") is not None:
        if not isinstance(body["isAllDay"], bool):
            raise invalid("isAllDay must be a boolean")
        if body["isAllDay"] != all_day:
            if all_day:
                raise invalid(
                    "isAllDay is false but start/end use date; timed events need dateTime and timeZone"
                )
            raise invalid("isAllDay is true but start/end use dateTime; all-day events need date only")
    return {
        "start": s_wire,
        "end": e_wire,
        "isAllDay": all_day,
        "_start": _instant(s_form, s_value),
        "_end": _instant(e_form, e_value),
    }


def _online_meeting(info: Any, existing: dict | None) -> dict:
    if not isinstance(info, dict) or info.get("type") != "dingtalk":
        raise invalid("onlineMeetingInfo.type must be 'dingtalk'")
    old = existing.get("onlineMeetingInfo") if existing else None
    if old:
        return old
    conference = str(secrets.randbelow(10**9)).zfill(9)
    return {
        "type": "dingtalk",
        "conferenceId": conference,
        "url": f"https://meeting.dingtalk.com/j/{conference}",
        "extraInfo": {},
    }


def _check_ui_configs(configs: Any) -> list[dict]:
    if not isinstance(configs, list):
        raise invalid("uiConfigs must be an array of {uiName, uiStatus}")
    for i, cfg in enumerate(configs):
        if not isinstance(cfg, dict) or cfg.get("uiName") not in UI_NAMES:
            raise invalid(f"uiConfigs[{i}].uiName must be one of {', '.join(UI_NAMES)}")
        if cfg.get("uiStatus") not in UI_STATUSES:
            raise invalid(f"uiConfigs[{i}].uiStatus must be one of {', '.join(UI_STATUSES)}")
    return [{"uiName": c["uiName"], "uiStatus": c["uiStatus"]} for c in configs]


def event_fields(body: Any, existing: dict | None) -> dict:
    """Validate a CreateEvent (``existing`` None) or PatchEvent body; returns the fields to store."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    creating = existing is None

    def given(name: str) -> bool:
        return body.get(name) is not None

    fields: dict[str, Any] = {}
    if creating or given("summary"):
        if body.get("summary") is None:
            raise invalid("summary is required")
        fields["summary"] = check_string(body["summary"], "summary", MAX_SUMMARY, required=True)
    if given("description"):
        fields["description"] = check_string(body["description"], "description", MAX_DESCRIPTION)
    fields.update(_check_times(body, existing))
    if given("recurrence"):
        fields["recurrence"] = check_recurrence(body["recurrence"], fields["_start"])
    elif existing is not None and existing.get("recurrence") is not None:
        fields["recurrence"] = check_recurrence(existing["recurrence"], fields["_start"])
    if given("reminders"):
        fields["reminders"] = check_reminders(body["reminders"])
    elif creating:
        # Omitted reminders: 15 min before a timed event; 09:00 the day before an all-day one (900 min).
        fields["reminders"] = [{"method": "dingtalk", "minutes": 900 if fields["isAllDay"] else 15}]
    if given("location"):
        loc = body["location"]
        if not isinstance(loc, dict):
            raise invalid("location must be an object {displayName}")
        name = loc.get("displayName")
        if name is not None and not isinstance(name, str):
            raise invalid("location.displayName must be a string")
        fields["location"] = {"displayName": name} if name is not None else {}
    if given("onlineMeetingInfo"):
        fields["onlineMeetingInfo"] = _online_meeting(body["onlineMeetingInfo"], existing)
    if given("extra"):
        extra = body["extra"]
        if not isinstance(extra, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in extra.items()
        ):
            raise invalid('extra must be an object of string keys to string values (e.g. "true")')
        fields["extra"] = dict(extra)
    if given("uiConfigs"):
        fields["uiConfigs"] = _check_ui_configs(body["uiConfigs"])
    if given("richTextDescription"):
        rich = body["richTextDescription"]
        if not isinstance(rich, dict) or not isinstance(rich.get("text", ""), str):
            raise invalid("richTextDescription must be an object {text: string}")
        fields["richTextDescription"] = {"text": rich.get("text", "")}
    for name in ("cardInstances", "categories"):
        if given(name):
            if not isinstance(body[name], list) or not all(isinstance(x, dict) for x in body[name]):
                raise invalid(f"{name} must be an array of objects")
            fields[name] = copy.deepcopy(body[name])
    if given("freeBusyStatus"):
        fields["freeBusyStatus"] = check_string(body["freeBusyStatus"], "freeBusyStatus")
    if creating and given("eventConfig"):
        cfg = body["eventConfig"]
        if not isinstance(cfg, dict) or not all(isinstance(v, bool) for v in cfg.values()):
            raise invalid("eventConfig must be an object of booleans")
        fields["eventConfig"] = dict(cfg)
    if given("attendees"):
        fields["attendees"] = check_attendee_list(body["attendees"], "attendees")
    return fields


def schedule_window(body: dict) -> tuple[Any, Any]:
    for name in ("startTime", "endTime"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise invalid(f"{name} is required (UTC, yyyy-MM-ddTHH:mmZ)")
    start = parse_instant(body["startTime"], "startTime")
    end = parse_instant(body["endTime"], "endTime")
    if end <= start:
        raise invalid("endTime must be after startTime")
    return start, end


def id_list(body: dict, name: str, limit: int) -> list[str]:
    ids = body.get(name)
    if not isinstance(ids, list) or not ids:
        raise invalid(f"{name} is required: a non-empty array of ids")
    if len(ids) > limit:
        raise invalid(f"{name} has {len(ids)} ids; at most {limit} per call")
    if not all(isinstance(i, str) and i.strip() for i in ids):
        raise invalid(f"{name} must contain non-empty string ids")
    return ids
