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

from airflow_dtcal.core.errors import DingTalkAnswerError, InvalidArgumentError
from airflow_dtcal.core.times import WireTime, event_times, localize, parse_time, read_wire_time, zone
from airflow_dtcal.planning.events import (
    MAX_DESCRIPTION_LENGTH,
    MAX_SUMMARY_LENGTH,
    UI_NAMES,
    _text,
    normalize_reminders,
    normalize_ui_configs,
    notification_switches,
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
        "uiConfigs",
        "extra",
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
    ui_configs: Mapping[str, str] | None = None,
    chat_notification: bool | None = None,
    push_notification: bool | None = None,
    extra_fields: Mapping[str, Any] | None = None,
    operation: str = "GetEvent",
) -> dict:
    """The PatchEvent fields (wire format, without ``id``) that would change ``current``; ``{}`` if none.

    Times: give ``start`` to move the event; without ``end`` a timed event keeps its length and an all-day
    one becomes one day long (``end`` is the last day, inclusive, as for creating). Naive date-times are read
    in ``timezone``, else the event's own zone. ``timezone`` alone shows the same instants in another zone.
    The event's times are read as :func:`~airflow_dtcal.core.times.read_wire_time` says (an offset-less
    ``dateTime`` in its ``timeZone``); the same instants in another offset are no change. When the new times
    need the event's and DingTalk's cannot be read, :class:`DingTalkAnswerError` names ``operation`` (the
    call that returned ``current``) and the field. Attendees are not changed here: use the attendee operators.

    ``ui_configs`` names only the detail-page elements to set; the others keep their state (the whole list
    is sent, since whether PatchEvent merges or replaces it is undocumented). ``chat_notification`` /
    ``push_notification`` are DingTalk's ``extra`` switches for the notices of this change: sent only with a
    change (they are not part of the event, so alone they change nothing).
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
        changes.update(_time_changes(current, start, end, all_day, timezone, default_timezone, operation))
    if location is not None:
        if not isinstance(location, str) or not location.strip():
            raise InvalidArgumentError("location", "must be a non-empty string", location)
        if location != (current.get("location") or {}).get("displayName"):
            changes["location"] = {"displayName": location}
    if reminders is not None:
        reminder_list = normalize_reminders(reminders) or []
        if _reminder_set(reminder_list) != _reminder_set(current.get("reminders") or []):
            changes["reminders"] = reminder_list
    if recurrence is not None:
        rule = validate_recurrence(recurrence)
        if rule != _current_recurrence(current.get("recurrence")):
            changes["recurrence"] = rule
    if online_meeting is not None:
        if online_meeting is not True:
            raise InvalidArgumentError(
                "online_meeting",
                "True adds a DingTalk video meeting; DingTalk has no documented way to remove one",
                online_meeting,
            )
        if not current.get("onlineMeetingInfo"):  # sending it again would replace the meeting and its link
            changes["onlineMeetingInfo"] = {"type": "dingtalk"}
    wanted_ui = normalize_ui_configs(ui_configs)
    if wanted_ui:
        have = _ui_states(current.get("uiConfigs"))
        merged = {**have, **{item["uiName"]: item["uiStatus"] for item in wanted_ui}}
        if merged != have:
            changes["uiConfigs"] = [{"uiName": n, "uiStatus": merged[n]} for n in UI_NAMES if n in merged]
    switches = notification_switches(chat_notification, push_notification)
    if extra_fields:
        if not isinstance(extra_fields, Mapping):
            raise InvalidArgumentError("extra_fields", "must be a dict of wire-format fields", extra_fields)
        clash = sorted(set(extra_fields) & (NAMED_FIELDS | {"id"}))
        if clash:
            raise InvalidArgumentError("extra_fields", f"sets {clash} which have their own arguments")
        changes.update({k: v for k, v in extra_fields.items() if current.get(k) != v})
    if changes and switches:
        changes["extra"] = switches
    return changes


def _ui_states(value: Any) -> dict[str, str]:
    """``{uiName: uiStatus}`` of an event's ``uiConfigs`` as DingTalk returns them (unreadable items skipped:
    the wanted state is then sent)."""
    if not isinstance(value, list):
        return {}
    return {
        item["uiName"]: item["uiStatus"]
        for item in value
        if isinstance(item, Mapping)
        and isinstance(item.get("uiName"), str)
        and isinstance(item.get("uiStatus"), str)
    }


def _time_changes(current, start, end, all_day, timezone, default_timezone, operation) -> dict:
    """The new ``start``/``end``/``isAllDay`` (all three), or ``{}`` when they would not change the event.

    The current times are read by the one rule (:func:`~airflow_dtcal.core.times.read_wire_time`): an
    offset-less ``dateTime`` in its ``timeZone``. Whatever is not given keeps its instant (a timezone-only
    update shows the same instants in the new zone); times that cannot be read make any wanted time a
    change, and raise :class:`DingTalkAnswerError` when the new times need them (to keep a length, say).
    """
    (cur_start, start_error), (cur_end, end_error) = _read(current, "start"), _read(current, "end")

    def known(value: WireTime | None, error: InvalidArgumentError | None) -> WireTime:
        if value is None:
            raise DingTalkAnswerError(operation, 200, None, f"the event's {error}")
        return value

    zone_name = timezone or (cur_start.zone if cur_start else None) or default_timezone
    moved = start is not None
    if start is None:
        start = known(cur_start, start_error).shown()
    timed = all_day is False or (all_day is None and not current.get("isAllDay"))
    if end is None and timed:
        end = _keep_length(start, known(cur_start, start_error), known(cur_end, end_error), zone_name)
    elif end is None and not moved and not timed and cur_end is not None and cur_end.day is not None:
        end = cur_end.day - dt.timedelta(days=1)  # the last day, inclusive, as event_times takes it
    new_start, new_end, new_all_day = event_times(
        start, end, all_day=all_day, timezone=zone_name, default_timezone=default_timezone
    )
    if (
        new_all_day == bool(current.get("isAllDay"))
        and _same_time(new_start, cur_start)
        and _same_time(new_end, cur_end)
    ):
        return {}
    return {"start": new_start, "end": new_end, "isAllDay": new_all_day}


def _read(current: Mapping[str, Any], name: str) -> tuple[WireTime | None, InvalidArgumentError | None]:
    try:
        return read_wire_time(current.get(name), name), None
    except InvalidArgumentError as err:
        return None, err


def _keep_length(start: Any, cur_start: WireTime, cur_end: WireTime, zone_name: str | None) -> Any:
    """``start`` plus the current event's length (a timed event moved by its start keeps its length, in
    elapsed time), or None when ``start`` or the current event is not a date-time (event_times then says
    what is missing)."""
    first = parse_time(start, "start")
    if not isinstance(first, dt.datetime) or cur_start.all_day or cur_end.all_day:
        return None
    if first.tzinfo is None or first.tzinfo.utcoffset(first) is None:
        if zone_name is None:
            return None  # event_times names the naive start
        first = localize(first, zone(zone_name, "timezone"))
    length = cur_end.at() - cur_start.at()
    return pendulum.instance(first).in_timezone("UTC") + length.as_timedelta()


def _same_time(wanted: Mapping[str, Any], current: WireTime | None) -> bool:
    """Whether a time event_times built means what the event holds: the same day, or the same instant
    shown in the same zone (another offset of the same instant is no change)."""
    if current is None:  # a time we cannot read is a change
        return False
    mine = read_wire_time(wanted, "start")
    return (mine.day, mine.instant, mine.zone) == (current.day, current.instant, current.zone)


def _reminder_set(items: Any) -> list[tuple[str, int]]:
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            return [("unreadable", -1)]
        try:
            out.append((str(item.get("method", "dingtalk")), int(item["minutes"])))
        except (KeyError, TypeError, ValueError):
            return [("unreadable", -1)]
    return sorted(out)


def _current_recurrence(value: Any) -> dict | None:
    if value is None:
        return None
    try:
        return validate_recurrence(value)
    except InvalidArgumentError:
        return None  # unreadable: a wanted recurrence is sent
