"""event_changes: only what differs between the event DingTalk returns and the arguments, compared by meaning."""

from __future__ import annotations

import pytest

from airflow_dtcal.core.errors import DingTalkAnswerError, InvalidArgumentError
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


# ------------------------------------------------------------------ times in both stored forms (issue 18)

#: One event as DingTalk may hold it: its dateTime with an offset, or without one (read in its timeZone).
STORED_FORMS = {
    "offset": {
        "start": {"dateTime": "2026-03-09T16:00:00+08:00", "timeZone": TZ},
        "end": {"dateTime": "2026-03-09T17:00:00+08:00", "timeZone": TZ},
    },
    "no offset": {
        "start": {"dateTime": "2026-03-09T16:00:00", "timeZone": TZ},
        "end": {"dateTime": "2026-03-09T17:00:00", "timeZone": TZ},
    },
}


@pytest.fixture(params=sorted(STORED_FORMS))
def stored(request) -> dict:
    return {**CURRENT, **STORED_FORMS[request.param]}


def test_a_timezone_only_update_keeps_the_instants(stored):
    changes = event_changes(stored, timezone="Europe/Berlin")
    # 16:00 in Shanghai is 08:00 UTC is 09:00 in Berlin; not 16:00 in Berlin
    assert changes == {
        "start": {"dateTime": "2026-03-09T09:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-03-09T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        "isAllDay": False,
    }
    assert event_changes(stored, timezone=TZ) == {}  # its own zone: nothing to send


def test_the_same_instants_in_another_offset_are_no_change(stored):
    for start, end in (
        ("2026-03-09T08:00:00Z", "2026-03-09T09:00:00Z"),
        ("2026-03-09T09:00:00+01:00", "2026-03-09T10:00:00+01:00"),
        ("2026-03-09T16:00:00+08:00", "2026-03-09T17:00:00+08:00"),
        ("2026-03-09T16:00:00", "2026-03-09T17:00:00"),  # naive: read in the event's own zone
    ):
        assert event_changes(stored, start=start, end=end) == {}
    assert event_changes(stored, start="2026-03-09T08:00:00Z") == {}  # and the length kept is the same
    assert event_changes(stored, end="2026-03-09T09:00:00Z") == {}


def test_rescheduling_keeps_the_length_and_reads_naive_times_in_the_events_zone(stored):
    assert event_changes(stored, start="2026-03-10T09:30:00") == {
        "start": {"dateTime": "2026-03-10T09:30:00+08:00", "timeZone": TZ},
        "end": {"dateTime": "2026-03-10T10:30:00+08:00", "timeZone": TZ},
        "isAllDay": False,
    }
    # only the end: the start keeps its instant
    assert event_changes(stored, end="2026-03-09T18:30:00")["start"] == {
        "dateTime": "2026-03-09T16:00:00+08:00",
        "timeZone": TZ,
    }
    # a new zone and a naive start: the start is read in the new zone, the length kept
    moved = event_changes(stored, start="2026-03-10T09:30:00", timezone="Europe/Berlin")
    assert moved["start"] == {"dateTime": "2026-03-10T09:30:00+01:00", "timeZone": "Europe/Berlin"}
    assert moved["end"] == {"dateTime": "2026-03-10T10:30:00+01:00", "timeZone": "Europe/Berlin"}


def test_the_length_kept_is_elapsed_time_across_a_daylight_saving_change():
    ny = "America/New_York"
    two_days = {
        **CURRENT,
        "start": {"dateTime": "2026-03-06T12:00:00", "timeZone": ny},  # 17:00 UTC
        "end": {"dateTime": "2026-03-08T12:00:00", "timeZone": ny},  # 16:00 UTC: 47 hours, over the change
    }
    moved = event_changes(two_days, start="2026-03-13T12:00:00")  # no change of offset in between
    assert moved["end"] == {"dateTime": "2026-03-15T11:00:00-04:00", "timeZone": ny}


def test_an_all_day_event_keeps_its_days_on_a_timezone_only_update():
    days = {**CURRENT, "start": {"date": "2026-03-09"}, "end": {"date": "2026-03-12"}, "isAllDay": True}
    assert event_changes(days, timezone="Europe/Berlin") == {}
    assert event_changes(days, all_day=True) == {}


UNREADABLE = {  # a dateTime with neither offset nor timeZone: the instant it means is unknown
    **CURRENT,
    "start": {"dateTime": "2026-03-09T16:00:00"},
    "end": {"dateTime": "2026-03-09T17:00:00"},
}


def test_times_that_cannot_be_read_are_a_change_when_the_new_ones_are_whole():
    whole = {"start": "2026-03-09T16:00:00+08:00", "end": "2026-03-09T17:00:00+08:00", "timezone": TZ}
    assert event_changes(UNREADABLE, **whole) == {
        "start": {"dateTime": "2026-03-09T16:00:00+08:00", "timeZone": TZ},
        "end": {"dateTime": "2026-03-09T17:00:00+08:00", "timeZone": TZ},
        "isAllDay": False,
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timezone": "Europe/Berlin"},  # the instants to keep are unknown
        {"start": "2026-03-10T09:00:00+08:00"},  # the length to keep is unknown
        {"end": "2026-03-10T09:00:00+08:00"},  # the start to keep is unknown
    ],
)
def test_times_that_cannot_be_read_are_refused_when_the_new_ones_need_them(kwargs):
    with pytest.raises(
        DingTalkAnswerError, match=r"GetEvent .*the event's start\.dateTime: has no UTC offset"
    ):
        event_changes(UNREADABLE, **kwargs)
    with pytest.raises(DingTalkAnswerError, match=r"ListEvents .*start\.dateTime"):
        event_changes(UNREADABLE, operation="ListEvents", **kwargs)
    missing = {k: v for k, v in CURRENT.items() if k not in ("start", "end")}
    with pytest.raises(DingTalkAnswerError, match="the event's start: must be a"):
        event_changes(missing, **kwargs)
    assert event_changes(UNREADABLE, summary="Review") == {}  # the times are not read when not changed
