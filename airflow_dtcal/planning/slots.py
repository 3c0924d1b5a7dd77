"""Finding a meeting slot: a pure function over free/busy data (no I/O, no Airflow).

:func:`busy_times` turns a GetSchedule (people) or GetMeetingRoomsSchedule (rooms) answer into busy
intervals per id; :func:`find_slot` returns the first slot of a window, on working days and within working
hours in one time zone, where everyone (or a quorum you name, with the people who must come) is free, and,
when rooms are given, one of them too.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_dtcal.core.errors import DingTalkAnswerError, InvalidArgumentError
from airflow_dtcal.core.times import DAYS_OF_WEEK, instant, localize, wire_instant
from airflow_dtcal.core.times import zone as _timezone

Interval = tuple[dt.datetime, dt.datetime]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
_PYTHON_WEEKDAY = {name: (i - 1) % 7 for i, name in enumerate(DAYS_OF_WEEK)}  # monday = 0


def busy_times(
    information: Iterable[Mapping[str, Any]],
    *,
    id_key: str = "userId",
    timezone: str = "UTC",
    tentative_is_busy: bool = True,
) -> dict[str, list[Interval]]:
    """``{id: [(start, end), ...]}`` (UTC, sorted, merged) from ``scheduleInformation`` items.

    ``id_key`` is ``userId`` for GetSchedule and ``roomId`` for GetMeetingRoomsSchedule. Times are read by
    :func:`~airflow_dtcal.core.times.read_wire_time` (an offset-less ``dateTime`` in its ``timeZone``); an
    all-day item (``{date}``) is busy from midnight to midnight in ``timezone``. An item with an ``error``
    raises, and so does a time that cannot be read (:class:`DingTalkAnswerError` naming the item): a person
    whose calendar cannot be read is not free.
    """
    zone = _timezone(timezone, "timezone")
    operation = "GetSchedule" if id_key == "userId" else "GetMeetingRoomsSchedule"
    out: dict[str, list[Interval]] = {}
    for index, info in enumerate(information):
        who = info.get(id_key)
        if not isinstance(who, str) or not who:
            raise InvalidArgumentError(f"scheduleInformation[{index}].{id_key}", "is missing", who)
        if info.get("error"):
            raise InvalidArgumentError(
                f"scheduleInformation[{index}]",
                f"DingTalk could not read the schedule of {who!r}",
                info["error"],
            )
        spans = []
        for number, item in enumerate(info.get("scheduleItems") or []):
            where = f"scheduleInformation[{index}].scheduleItems[{number}]"
            if not isinstance(item, Mapping):
                raise DingTalkAnswerError(operation, 200, None, f"{where} is not an object")
            status = str(item.get("status", "BUSY")).upper()
            if status == "FREE" or (status == "TENTATIVE" and not tentative_is_busy):
                continue
            try:
                first = wire_instant(item.get("start"), "start", zone)
                last = wire_instant(item.get("end"), "end", zone)
            except InvalidArgumentError as err:
                raise DingTalkAnswerError(operation, 200, None, f"{where}.{err}") from None
            spans.append((first, last))
        out.setdefault(who, []).extend(spans)
    return {who: _merged(spans) for who, spans in out.items()}


def _merged(spans: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _free(spans: list[Interval], start: dt.datetime, end: dt.datetime) -> bool:
    """No busy span of the merged, sorted ``spans`` overlaps ``[start, end)``."""
    i = bisect.bisect_left(spans, (end,)) - 1  # the last span starting before ``end``
    return i < 0 or spans[i][1] <= start


def _clock(value: Any, field: str) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidArgumentError(field, "must be a time of day such as '09:00'", value)


def _minutes(value: Any, field: str, low: int, high: int) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        minutes = value.total_seconds() / 60
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        minutes = value
    else:
        raise InvalidArgumentError(field, "must be a number of minutes or a timedelta", value)
    if not low <= minutes <= high or minutes != int(minutes):
        raise InvalidArgumentError(field, f"must be a whole number of minutes from {low} to {high}", value)
    return dt.timedelta(minutes=int(minutes))


def find_slot(
    people: Mapping[str, Sequence[Interval]],
    *,
    window_start: Any,
    window_end: Any,
    duration: Any,
    timezone: str,
    working_hours: tuple[Any, Any] = ("09:00", "18:00"),
    working_days: Sequence[str] = WEEKDAYS,
    quorum: int | None = None,
    required: Sequence[str] = (),
    rooms: Mapping[str, Sequence[Interval]] | None = None,
    step: Any = 15,
) -> dict | None:
    """The first slot in ``[window_start, window_end)`` that suits, or None.

    :param people: busy intervals per person (see :func:`busy_times`); everyone counts, free or not.
    :param duration: minutes (or a timedelta), 5 to 1,440.
    :param timezone: IANA zone of the working hours and of the answer.
    :param working_hours: ``(start, end)`` times of day; a slot lies within them on one day.
    :param working_days: day names, lowercase.
    :param quorum: how many people must be free (default: all of them).
    :param required: people who must be free whatever the quorum.
    :param rooms: busy intervals per room; if given, one room must be free too (the first free one, in
        the order given, is chosen).
    :param step: minutes between candidate starts (default 15), counted from the start of working hours.
    :return: ``{"start", "end"`` (ISO-8601 in ``timezone``), ``"timezone", "free", "busy", "room"}``.
    """
    zone = _timezone(timezone, "timezone")
    first = instant(window_start, "window_start").in_timezone(zone)
    last = instant(window_end, "window_end").in_timezone(zone)
    if last <= first:
        raise InvalidArgumentError("window_end", "must be after window_start", window_end)
    if (last - first).in_days() > 366:
        raise InvalidArgumentError("window_end", "must be at most a year after window_start")
    length = _minutes(duration, "duration", 5, 1440)
    every = _minutes(step, "step", 1, 1440)
    if not isinstance(working_hours, (list, tuple)) or len(working_hours) != 2:
        raise InvalidArgumentError("working_hours", "must be a (start, end) pair such as ('09:00', '18:00')")
    opens, closes = _clock(working_hours[0], "working_hours[0]"), _clock(working_hours[1], "working_hours[1]")
    if closes <= opens:
        raise InvalidArgumentError("working_hours", "must end after they start", working_hours)
    days = _working_days(working_days)
    everyone = list(people)
    if not everyone:
        raise InvalidArgumentError("attendees", "must name at least one person")
    missing = [who for who in required if who not in people]
    if missing:
        raise InvalidArgumentError("required", f"names people who are not attendees: {missing}")
    need = len(everyone) if quorum is None else quorum
    if isinstance(need, bool) or not isinstance(need, int) or not 1 <= need <= len(everyone):
        raise InvalidArgumentError("quorum", f"must be a whole number from 1 to {len(everyone)}", quorum)
    busy = {
        who: _merged([(instant(s, "busy"), instant(e, "busy")) for s, e in spans])
        for who, spans in people.items()
    }
    room_busy = None
    if rooms is not None:
        if not rooms:
            raise InvalidArgumentError("rooms", "must name at least one room when given")
        room_busy = {
            room: _merged([(instant(s, "busy"), instant(e, "busy")) for s, e in spans])
            for room, spans in rooms.items()
        }

    day = first.date()
    while day <= last.date():
        if day.weekday() in days:
            slot = localize(dt.datetime.combine(day, opens.replace(tzinfo=None)), zone)
            day_end = localize(dt.datetime.combine(day, closes.replace(tzinfo=None)), zone)
            while slot + length <= day_end and slot + length <= last:
                if slot >= first:
                    found = _suits(slot, slot + length, busy, need, required, room_busy)
                    if found is not None:
                        free, room = found
                        return {
                            "start": slot.isoformat(),
                            "end": (slot + length).isoformat(),
                            "timezone": zone.name,
                            "free": free,
                            "busy": [who for who in everyone if who not in free],
                            "room": room,
                        }
                slot = slot + every
        day += dt.timedelta(days=1)
    return None


def _suits(start, end, busy, need, required, room_busy) -> tuple[list[str], str | None] | None:
    free = [who for who, spans in busy.items() if _free(spans, start, end)]
    if len(free) < need or any(who not in free for who in required):
        return None
    if room_busy is None:
        return free, None
    for room, spans in room_busy.items():
        if _free(spans, start, end):
            return free, room
    return None


def _working_days(value: Any) -> set[int]:
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)) or not value:
        raise InvalidArgumentError(
            "working_days", "must be a list of day names such as ['monday', 'friday']", value
        )
    out = set()
    for name in value:
        if name not in _PYTHON_WEEKDAY:
            raise InvalidArgumentError("working_days", f"{name!r} is not one of {', '.join(DAYS_OF_WEEK)}")
        out.add(_PYTHON_WEEKDAY[name])
    return out
