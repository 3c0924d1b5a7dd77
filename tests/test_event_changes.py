"""event_changes: only what differs between the event DingTalk returns and the arguments, compared by meaning."""

from __future__ import annotations

import pytest

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.planning.events import Recurrence
from airflow_dtcal.planning.update import event_changes

TZ = "Asia/Shanghai"
CURRENT = {
    "id": "ev",
    "summary": "Review",
    "description": "Agenda",
    "start": {"dateTime": "2026-03-09T16:00:00+08:00", "timeZone": TZ},
    "end": {"dateTime": "2026-03-09T17:00:00+08:00", "timeZone": TZ},
    "isAllDay": False,
    "location": {"displayName": "Lotus"},
    "reminders": [{"method": "dingtalk", "minutes": "15"}],  # DingTalk answers minutes as strings
    "recurrence": Recurrence.weekly("monday", count=4),
    "onlineMeetingInfo": {"type": "dingtalk", "url": "https://meeting.dingtalk.com/j/1"},
}


def test_the_same_values_change_nothing():
    assert (
        event_changes(
            CURRENT,
            summary="Review",
            description="Agenda",
            start="2026-03-09T08:00:00Z",  # the same instant in another offset
            end="2026-03-09T17:00:00+08:00",
            timezone=TZ,
            location="Lotus",
            reminders=[15],
            recurrence=Recurrence.weekly("monday", count=4),
            online_meeting=True,
        )
        == {}
    )
    assert event_changes(CURRENT) == {}


def test_moving_the_start_keeps_the_length_and_sends_the_times_only():
    assert event_changes(CURRENT, start="2026-03-10T09:30:00+08:00", summary="Review") == {
        "start": {"dateTime": "2026-03-10T09:30:00+08:00", "timeZone": TZ},
        "end": {"dateTime": "2026-03-10T10:30:00+08:00", "timeZone": TZ},
        "isAllDay": False,
    }
    # A naive start is read in the event's own zone.
    assert (
        event_changes(CURRENT, start="2026-03-10T09:30:00")["end"]["dateTime"] == "2026-03-10T10:30:00+08:00"
    )


def test_other_fields_are_sent_only_when_they_differ():
    changes = event_changes(
        CURRENT,
        summary="Review (moved)",
        description="New agenda",
        location="Peony",
        reminders=[15, 60],
        recurrence=Recurrence.weekly("tuesday", count=4),
        extra_fields={"freeBusyStatus": "busy"},
    )
    assert sorted(changes) == [
        "description",
        "freeBusyStatus",
        "location",
        "recurrence",
        "reminders",
        "summary",
    ]
    assert changes["reminders"] == [
        {"method": "dingtalk", "minutes": 15},
        {"method": "dingtalk", "minutes": 60},
    ]
    assert changes["location"] == {"displayName": "Peony"}


def test_time_zone_change_keeps_the_instants():
    changes = event_changes(CURRENT, timezone="Europe/Berlin")
    assert changes["start"] == {"dateTime": "2026-03-09T09:00:00+01:00", "timeZone": "Europe/Berlin"}
    assert changes["end"] == {"dateTime": "2026-03-09T10:00:00+01:00", "timeZone": "Europe/Berlin"}


def test_all_day_events():
    day = {**CURRENT, "start": {"date": "2026-03-09"}, "end": {"date": "2026-03-10"}, "isAllDay": True}
    assert event_changes(day, start="2026-03-09") == {}
    assert event_changes(day, start="2026-03-11", end="2026-03-12") == {
        "start": {"date": "2026-03-11"},
        "end": {"date": "2026-03-13"},
        "isAllDay": True,
    }
    timed = event_changes(
        day,
        start="2026-03-11T10:00:00+08:00",
        end="2026-03-11T11:00:00+08:00",
        all_day=False,
        default_timezone=TZ,  # an all-day event has no zone: the DAG's is used, as for creating
    )
    assert timed["isAllDay"] is False and timed["start"]["timeZone"] == TZ


def test_online_meeting_is_added_only_when_missing():
    bare = {k: v for k, v in CURRENT.items() if k != "onlineMeetingInfo"}
    assert event_changes(bare, online_meeting=True) == {"onlineMeetingInfo": {"type": "dingtalk"}}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"summary": ""}, "summary"),
        ({"start": "2026-03-10T10:00:00+08:00", "end": "2026-03-10T09:00:00+08:00"}, "end"),
        ({"reminders": [-1]}, "reminders[0].minutes"),
        ({"location": " "}, "location"),
        ({"online_meeting": False}, "online_meeting"),
        ({"extra_fields": {"summary": "x"}}, "extra_fields"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"recurrence": {"pattern": {"type": "hourly"}}}, "recurrence.pattern.type"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(InvalidArgumentError) as err:
        event_changes(CURRENT, **kwargs)
    assert err.value.field == field
