"""The pure payload builders: time handling, recurrence, reminders, attendees, client tokens."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from airflow_dtcal.core.calls import derive_client_token
from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.ids import normalize_attendees
from airflow_dtcal.core.times import event_times
from airflow_dtcal.planning.events import (
    Recurrence,
    build_event,
    normalize_reminders,
    split_create_attendees,
    validate_recurrence,
)


def test_aware_pendulum_keeps_its_named_zone():
    start, end, all_day = event_times(
        pendulum.datetime(2026, 3, 2, 10, tz="Europe/Berlin"),
        pendulum.datetime(2026, 3, 2, 11, tz="Europe/Berlin"),
    )
    assert start == {"dateTime": "2026-03-02T10:00:00+01:00", "timeZone": "Europe/Berlin"}
    assert end["dateTime"] == "2026-03-02T11:00:00+01:00" and not all_day


def test_utc_data_interval_is_shown_in_the_dag_zone():
    # data_interval_end arrives in UTC; the event is shown in the DAG's time zone.
    start, end, _ = event_times(
        pendulum.datetime(2026, 3, 2, 2, tz="UTC"),
        "2026-03-02T03:00:00+00:00",
        default_timezone="Asia/Shanghai",
    )
    assert start == {"dateTime": "2026-03-02T10:00:00+08:00", "timeZone": "Asia/Shanghai"}
    assert end == {"dateTime": "2026-03-02T11:00:00+08:00", "timeZone": "Asia/Shanghai"}


def test_explicit_timezone_wins_and_reads_naive_values():
    start, end, _ = event_times("2026-03-02T10:00", dt.datetime(2026, 3, 2, 10, 30), timezone="Asia/Tokyo")
    assert start == {"dateTime": "2026-03-02T10:00:00+09:00", "timeZone": "Asia/Tokyo"}
    assert end["dateTime"] == "2026-03-02T10:30:00+09:00"
    converted, _, _ = event_times(
        pendulum.datetime(2026, 3, 2, 10, tz="UTC"),
        pendulum.datetime(2026, 3, 2, 11, tz="UTC"),
        timezone="Asia/Tokyo",
    )
    assert converted["dateTime"] == "2026-03-02T19:00:00+09:00"


def test_fixed_offset_strings_fall_back_to_default_then_utc():
    start, _, _ = event_times("2026-03-02T10:00:00+08:00", "2026-03-02T11:00:00+08:00")
    assert start == {"dateTime": "2026-03-02T02:00:00+00:00", "timeZone": "UTC"}
    start, _, _ = event_times(
        "2026-03-02T10:00:00+08:00", "2026-03-02T11:00:00+08:00", default_timezone="Asia/Shanghai"
    )
    assert start == {"dateTime": "2026-03-02T10:00:00+08:00", "timeZone": "Asia/Shanghai"}


def test_all_day_end_is_inclusive_for_the_user_and_exclusive_on_the_wire():
    assert event_times(dt.date(2024, 6, 1)) == ({"date": "2024-06-01"}, {"date": "2024-06-02"}, True)
    assert event_times("2024-06-01", "2024-06-03") == ({"date": "2024-06-01"}, {"date": "2024-06-04"}, True)
    # A midnight date-time (e.g. a data interval boundary) is accepted as a day.
    assert event_times(pendulum.datetime(2024, 6, 1), all_day=True)[0] == {"date": "2024-06-01"}


@pytest.mark.parametrize(
    "kwargs, field, words",
    [
        ({"start": "2026-03-02T10:00", "end": "2026-03-02T11:00"}, "start", "naive"),
        ({"start": "2026-03-02T10:00+08:00"}, "end", "required"),
        ({"start": "2026-03-02T10:00+08:00", "end": "2026-03-02T09:00+08:00"}, "end", "after start"),
        ({"start": "2026-03-02T10:00+08:00", "end": "2026-03-02T10:00+08:00"}, "end", "after start"),
        (
            {"start": "2026-03-02T10:00", "end": "2026-03-02T11:00", "timezone": "Mars/Olympus"},
            "timezone",
            "IANA",
        ),
        (
            {
                "start": pendulum.datetime(2026, 3, 2, 10, tz="Europe/Paris"),
                "end": pendulum.datetime(2026, 3, 2, 11, tz="Asia/Tokyo"),
            },
            "end",
            "one zone",
        ),
        ({"start": "2026-03-02T10:30+08:00", "all_day": True}, "start", "time of day"),
        ({"start": "2026-03-05", "end": "2026-03-02"}, "end", "before start"),
        ({"start": "2026-03-02"}, None, None),  # valid: one all-day event
        ({"start": "next tuesday", "end": "2026-03-02"}, "start", "ISO-8601"),
        ({"start": 1700000000, "end": 1700003600}, "start", "pendulum"),
        (
            {"start": "2026-03-02", "end": "2026-03-02T10:00+08:00", "all_day": False},
            "start",
            "date without a time",
        ),
    ],
)
def test_time_rules(kwargs, field, words):
    if field is None:
        event_times(**kwargs)
        return
    with pytest.raises(InvalidArgumentError) as caught:
        event_times(**kwargs)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_recurrence_builders_read_as_english():
    assert Recurrence.weekly("Monday", "wednesday", count=10) == {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": "monday,wednesday"},
        "range": {"type": "numbered", "numberOfOccurrences": 10},
    }
    assert Recurrence.daily(every=2) == {
        "pattern": {"type": "daily", "interval": 2},
        "range": {"type": "noEnd"},
    }
    assert Recurrence.monthly_on_day(15, until=dt.date(2026, 12, 31))["range"] == {
        "type": "endDate",
        "endDate": "2026-12-31T23:59Z",
    }
    assert Recurrence.monthly_on_weekday("last", "friday")["pattern"] == {
        "type": "relativeMonthly",
        "interval": 1,
        "index": "last",
        "daysOfWeek": "friday",
    }
    assert Recurrence.yearly(count=3)["pattern"]["type"] == "absoluteYearly"


@pytest.mark.parametrize(
    "build, field",
    [
        (lambda: Recurrence.weekly(count=3), "recurrence.pattern.daysOfWeek"),
        (lambda: Recurrence.weekly("funday"), "recurrence.pattern.daysOfWeek"),
        (lambda: Recurrence.weekly("monday", "monday"), "recurrence.pattern.daysOfWeek"),
        (lambda: Recurrence.daily(every=0), "recurrence.pattern.interval"),
        (lambda: Recurrence.monthly_on_day(32), "recurrence.pattern.dayOfMonth"),
        (lambda: Recurrence.monthly_on_weekday("fifth", "monday"), "recurrence.pattern.index"),
        (lambda: Recurrence.daily(count=3, until="2026-12-01"), "recurrence"),
        (lambda: validate_recurrence({"pattern": {"type": "hourly"}}), "recurrence.pattern.type"),
        (
            lambda: validate_recurrence({"pattern": {"type": "absoluteYearly", "month": 3}}),
            "recurrence.pattern",
        ),
        (
            lambda: validate_recurrence(
                {
                    "pattern": {"type": "daily"},
                    "range": {"type": "endDate", "endDate": "2026-01-01T00:00Z", "numberOfOccurrences": 2},
                }
            ),
            "recurrence.range",
        ),
        (lambda: validate_recurrence("FREQ=WEEKLY"), "recurrence"),
    ],
)
def test_bad_recurrence_names_the_field(build, field):
    with pytest.raises(InvalidArgumentError) as caught:
        build()
    assert caught.value.field == field


def test_reminders():
    assert normalize_reminders(None) is None
    assert normalize_reminders([]) == []
    assert normalize_reminders([15, {"minutes": 60}]) == [
        {"method": "dingtalk", "minutes": 15},
        {"method": "dingtalk", "minutes": 60},
    ]
    for bad, field in (
        ([-5], "reminders[0].minutes"),
        (["15"], "reminders[0].minutes"),
        ([{"method": "sms", "minutes": 5}], "reminders[0].method"),
    ):
        with pytest.raises(InvalidArgumentError) as caught:
            normalize_reminders(bad)
        assert caught.value.field == field


def test_attendee_rules():
    assert normalize_attendees([" a ", {"id": "b", "isOptional": True}]) == [
        {"id": "a", "isOptional": False},
        {"id": "b", "isOptional": True},
    ]
    for bad, field, words in (
        ([], "attendees", "at least one"),
        (["a", "a"], "attendees[1]", "duplicates"),
        (["a", ""], "attendees[1]", "non-empty"),
        (["a", 7], "attendees[1]", "string"),
        ("['a', 'b']", "attendees", "XComArg"),
        ([f"u{i}" for i in range(5001)], "attendees", "5,000"),
        ([{"id": "a", "optional": True}], "attendees[0]", "unknown keys"),
    ):
        with pytest.raises(InvalidArgumentError) as caught:
            normalize_attendees(bad)
        assert caught.value.field == field and words in str(caught.value)


def test_build_event_and_split():
    body = build_event(
        summary="Review",
        start="2026-03-02T10:00+08:00",
        end="2026-03-02T11:00+08:00",
        timezone="Asia/Shanghai",
        description="Agenda",
        attendees=[f"u{i}" for i in range(600)],
        location="Room 1",
        reminders=[10],
        recurrence=Recurrence.weekly("monday", count=4),
        online_meeting=True,
        push_notification=False,
    )
    assert body["location"] == {"displayName": "Room 1"}
    assert body["onlineMeetingInfo"] == {"type": "dingtalk"}
    assert body["extra"] == {"noPushNotification": "true"}
    head, rest = split_create_attendees(body)
    assert len(head["attendees"]) == 500 and len(rest) == 100 and len(body["attendees"]) == 600
    with pytest.raises(InvalidArgumentError, match="summary: must not be empty"):
        build_event(summary="  ", start="2026-03-02")
    with pytest.raises(InvalidArgumentError, match="2,048"):
        build_event(summary="x" * 2049, start="2026-03-02")
    with pytest.raises(InvalidArgumentError, match="5,000"):
        build_event(summary="x", description="d" * 5001, start="2026-03-02")


def test_client_tokens_are_deterministic_and_distinct():
    one = derive_client_token("dag", "task", "run", -1, "CreateEvent", {"summary": "a"})
    assert one == derive_client_token("dag", "task", "run", -1, "CreateEvent", {"summary": "a"})
    assert len(one) == 32
    assert one != derive_client_token("dag", "task", "run", 0, "CreateEvent", {"summary": "a"})
    assert one != derive_client_token("dag", "task", "run", -1, "CreateEvent", {"summary": "b"})
