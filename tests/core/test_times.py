"""The one rule for DingTalk's ``start``/``end`` (airflow_dtcal.core.times.read_wire_time): table tests."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.times import event_times, localize, read_wire_time, wire_instant, zone

UTC = dt.timezone.utc


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


NY = "America/New_York"


@pytest.mark.parametrize(
    ("date_time", "time_zone", "instant"),
    [
        # an offset is the instant; the timeZone beside it only says how the event is shown
        ("2026-03-09T10:00:00+08:00", "Asia/Shanghai", utc(2026, 3, 9, 2)),
        ("2026-03-09T10:00:00+08:00", "Europe/Berlin", utc(2026, 3, 9, 2)),
        ("2026-03-09T10:00:00+08:00", None, utc(2026, 3, 9, 2)),
        # no offset: a wall-clock time in its timeZone
        ("2026-03-09T10:00:00", "Asia/Shanghai", utc(2026, 3, 9, 2)),
        ("2026-03-09T10:00", "Europe/Berlin", utc(2026, 3, 9, 9)),
        ("2026-07-09T10:00:00", "Europe/Berlin", utc(2026, 7, 9, 8)),
        ("2026-03-09T10:00:00.250", "UTC", utc(2026, 3, 9, 10, 0, 0, 250000)),
        # UTC written as Z
        ("2026-03-09T02:00:00Z", "Asia/Shanghai", utc(2026, 3, 9, 2)),
        ("2026-03-09T02:00:00Z", None, utc(2026, 3, 9, 2)),
        # America/New_York, spring forward (2026-03-08 02:00 -> 03:00): 02:30 does not exist; read with the
        # offset before the gap (EST), as RFC 5545 says: 07:30 UTC, which New York shows as 03:30 EDT
        ("2026-03-08T02:30:00", NY, utc(2026, 3, 8, 7, 30)),
        ("2026-03-08T01:59:00", NY, utc(2026, 3, 8, 6, 59)),
        ("2026-03-08T03:00:00", NY, utc(2026, 3, 8, 7)),
        # fall back (2026-11-01 02:00 -> 01:00): 01:30 happens twice; the first (EDT) is meant ...
        ("2026-11-01T01:30:00", NY, utc(2026, 11, 1, 5, 30)),
        # ... and the second is reachable only with its offset
        ("2026-11-01T01:30:00-05:00", NY, utc(2026, 11, 1, 6, 30)),
    ],
)
def test_timed_values_read_as_instants(date_time, time_zone, instant):
    wire = {"dateTime": date_time} if time_zone is None else {"dateTime": date_time, "timeZone": time_zone}
    read = read_wire_time(wire, "start")
    assert read.instant == instant and read.instant.utcoffset() == dt.timedelta(0)
    assert read.zone == time_zone
    assert not read.all_day and read.day is None
    assert wire_instant(wire, "start") == instant
    assert read.at("Asia/Tokyo") == instant  # a zone for days changes nothing for a timed value
    # the SDK sends all three fields: empty ones are absent
    assert read_wire_time({**wire, "date": "", "timeZone": time_zone or ""}, "start") == read


def test_the_two_stored_forms_of_one_instant_read_alike():
    with_offset = read_wire_time({"dateTime": "2026-03-09T16:00:00+08:00", "timeZone": "Asia/Shanghai"}, "s")
    without = read_wire_time({"dateTime": "2026-03-09T16:00:00", "timeZone": "Asia/Shanghai"}, "s")
    assert with_offset == without
    assert without.shown().isoformat() == "2026-03-09T16:00:00+08:00"


def test_all_day_values_are_days():
    read = read_wire_time({"date": "2026-03-09"}, "start")
    assert read.all_day and read.day == dt.date(2026, 3, 9) and read.instant is None
    assert read.shown() == dt.date(2026, 3, 9)
    assert read.at() == utc(2026, 3, 9)  # the day starts at midnight in the zone the caller names: UTC ...
    assert read.at("Asia/Shanghai") == utc(2026, 3, 8, 16)  # ... or another
    assert read_wire_time({"date": "2026-03-08"}, "s").at("America/New_York") == utc(2026, 3, 8, 5)
    assert read_wire_time({"date": "2026-03-10"}, "s").at(zone("America/New_York", "z")) == utc(
        2026, 3, 10, 4
    )
    # the SDK's empty strings beside a date are absent
    assert read_wire_time({"date": "2026-03-09", "dateTime": "", "timeZone": None}, "s").day == dt.date(
        2026, 3, 9
    )


@pytest.mark.parametrize(
    ("wire", "field", "rule"),
    [
        (None, "end", "must be a {dateTime, timeZone} or {date} object"),
        ("2026-03-09T10:00:00+08:00", "end", "must be a {dateTime, timeZone} or {date} object"),
        ({}, "end", "has neither dateTime"),
        ({"timeZone": "Asia/Shanghai"}, "end", "has neither dateTime"),
        (
            {"dateTime": "2026-03-09T10:00:00+08:00", "date": "2026-03-09"},
            "end",
            "has both dateTime and date",
        ),
        # no offset and no timeZone: the instant is unknown, and the rule does not guess
        ({"dateTime": "2026-03-09T10:00:00"}, "end.dateTime", "has no UTC offset and no timeZone"),
        (
            {"dateTime": "2026-03-09T10:00:00", "timeZone": ""},
            "end.dateTime",
            "has no UTC offset and no timeZone",
        ),
        ({"dateTime": "tomorrow at ten", "timeZone": "UTC"}, "end.dateTime", "is not an ISO-8601"),
        ({"dateTime": "2026-02-30T10:00:00", "timeZone": "UTC"}, "end.dateTime", "is not an ISO-8601"),
        ({"dateTime": "2026-03-09", "timeZone": "UTC"}, "end.dateTime", "must be a date-time, not a date"),
        ({"dateTime": 1773021600, "timeZone": "UTC"}, "end.dateTime", "must be an ISO-8601 date-time string"),
        ({"dateTime": "2026-03-09T10:00:00", "timeZone": "Mars/Olympus"}, "end.timeZone", "not a known IANA"),
        ({"dateTime": "2026-03-09T10:00:00+08:00", "timeZone": 8}, "end.timeZone", "must be an IANA"),
        ({"date": "2026-3-9"}, "end.date", "yyyy-MM-dd"),
        ({"date": "2026-03-09T00:00:00"}, "end.date", "yyyy-MM-dd"),
        ({"date": "2026-02-30"}, "end.date", "is not a calendar date"),
        ({"date": 20260309}, "end.date", "yyyy-MM-dd"),
    ],
)
def test_malformed_values_name_the_field(wire, field, rule):
    with pytest.raises(InvalidArgumentError) as err:
        read_wire_time(wire, "end")
    assert err.value.field == field
    assert rule in err.value.rule


def test_naive_arguments_follow_the_same_daylight_saving_rule():
    ny = zone("America/New_York", "timezone")
    assert localize(dt.datetime(2026, 3, 8, 2, 30), ny).isoformat() == "2026-03-08T03:30:00-04:00"
    assert localize(dt.datetime(2026, 11, 1, 1, 30), ny).isoformat() == "2026-11-01T01:30:00-04:00"
    aware = pendulum.datetime(2026, 11, 1, 6, 30, tz="UTC")  # an aware value keeps its instant
    assert localize(aware, ny).isoformat() == "2026-11-01T01:30:00-05:00"
    # what event_times writes, read back by the rule, is what the DAG author meant
    start, end, _ = event_times("2026-11-01T01:30:00", "2026-11-01T02:30:00", timezone="America/New_York")
    assert start == {"dateTime": "2026-11-01T01:30:00-04:00", "timeZone": "America/New_York"}
    assert wire_instant(end, "end") - wire_instant(start, "start") == dt.timedelta(hours=2)
    skipped, _, _ = event_times("2026-03-08T02:30:00", "2026-03-08T04:00:00", timezone="America/New_York")
    assert (
        wire_instant(skipped, "start")
        == read_wire_time({"dateTime": "2026-03-08T02:30:00", "timeZone": "America/New_York"}, "start").at()
    )
