"""find_slot and busy_times: pure functions over free/busy data."""

from __future__ import annotations

import re

import pendulum
import pytest

from airflow_dtcal.core.errors import DingTalkAnswerError, InvalidArgumentError
from airflow_dtcal.planning.slots import busy_times, find_slot

TZ = "Asia/Shanghai"
MONDAY = pendulum.datetime(2026, 3, 9, tz=TZ)


def at(day: int, hour: int, minute: int = 0) -> pendulum.DateTime:
    return pendulum.datetime(2026, 3, day, hour, minute, tz=TZ)


def slot(people, **kwargs):
    args = {
        "window_start": MONDAY,
        "window_end": MONDAY.add(days=7),
        "duration": 60,
        "timezone": TZ,
        **kwargs,
    }
    return find_slot(people, **args)


def test_first_slot_where_everyone_is_free():
    people = {
        "alice": [(at(9, 9), at(9, 10, 30))],
        "bob": [(at(9, 11), at(9, 12)), (at(9, 10, 30), at(9, 11))],  # unsorted, touching: merged
        "carol": [],
    }
    found = slot(people)
    assert found == {
        "start": "2026-03-09T12:00:00+08:00",
        "end": "2026-03-09T13:00:00+08:00",
        "timezone": TZ,
        "free": ["alice", "bob", "carol"],
        "busy": [],
        "room": None,
    }


def test_quorum_and_required_people():
    people = {"alice": [(at(9, 9), at(9, 18))], "bob": [], "carol": [(at(9, 9), at(9, 10))]}
    found = slot(people, quorum=1)
    assert (found["start"], found["free"], found["busy"]) == (
        "2026-03-09T09:00:00+08:00",
        ["bob"],
        ["alice", "carol"],
    )
    assert slot(people, quorum=1, required=["carol"])["start"] == "2026-03-09T10:00:00+08:00"
    found = slot(people, quorum=2, required=["carol"])
    assert found["start"] == "2026-03-09T10:00:00+08:00" and found["free"] == ["bob", "carol"]
    assert found["busy"] == ["alice"]
    assert slot(people)["start"] == "2026-03-10T09:00:00+08:00"  # everyone: not before Tuesday


def test_working_hours_days_step_and_window_edges():
    people = {"alice": []}
    # The window starts Saturday 07:00 in Shanghai: the first slot is Monday 10:00 with working hours 10-16.
    found = slot(
        people,
        window_start=at(7, 7),
        working_hours=("10:00", "16:00"),
        working_days=["monday"],
        step=30,
    )
    assert found["start"] == "2026-03-09T10:00:00+08:00"
    # The window starts mid-morning: candidates keep the step grid from the working-hours start.
    assert slot(people, window_start=at(9, 10, 10), step=30)["start"] == "2026-03-09T10:30:00+08:00"
    # A slot must end by the end of working hours and of the window.
    assert slot(people, window_start=at(9, 17, 30), window_end=at(10, 9, 30)) is None
    assert slot({"alice": [(at(9, 9), at(13, 18))]}) is None


def test_rooms_one_free_room_is_needed():
    people = {"alice": []}
    rooms = {"lotus": [(at(9, 9), at(9, 10))], "peony": [(at(9, 9), at(9, 9, 30))]}
    found = slot(people, rooms=rooms, step=30)
    assert (found["start"], found["room"]) == ("2026-03-09T09:30:00+08:00", "peony")
    assert slot(people, rooms={"lotus": [(at(9, 0), at(16, 0))]}) is None


def test_busy_times_from_schedule_information():
    information = [
        {
            "userId": "alice",
            "scheduleItems": [
                {
                    "status": "BUSY",
                    "start": {"dateTime": "2026-03-09T09:00:00+08:00"},
                    "end": {"dateTime": "2026-03-09T10:00:00+08:00"},
                },
                {
                    "status": "TENTATIVE",
                    "start": {"dateTime": "2026-03-09T10:00:00+08:00"},
                    "end": {"dateTime": "2026-03-09T11:00:00+08:00"},
                },
            ],
        },
        {
            "userId": "bob",
            "scheduleItems": [
                {"status": "BUSY", "start": {"date": "2026-03-10"}, "end": {"date": "2026-03-11"}}
            ],
        },
        {"userId": "carol"},
    ]
    busy = busy_times(information, timezone=TZ)
    assert busy["alice"] == [(at(9, 9), at(9, 11))]  # merged
    assert busy["bob"] == [(at(10, 0), at(11, 0))]  # all day in the zone given
    assert busy["carol"] == []
    relaxed = busy_times(information, timezone=TZ, tentative_is_busy=False)
    assert relaxed["alice"] == [(at(9, 9), at(9, 10))]
    with pytest.raises(InvalidArgumentError, match="could not read the schedule of 'dave'"):
        busy_times([{"userId": "dave", "error": "noPermission"}])


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ({"dateTime": "2026-03-09T09:00:00+08:00"}, {"dateTime": "2026-03-09T10:00:00+08:00"}),
        (
            {"dateTime": "2026-03-09T09:00:00", "timeZone": TZ},  # offset-less: read in its timeZone
            {"dateTime": "2026-03-09T10:00:00", "timeZone": TZ},
        ),
        (
            {"dateTime": "2026-03-09T01:00:00", "timeZone": "UTC"},  # the same hour written in UTC
            {"dateTime": "2026-03-09T02:00:00Z", "timeZone": TZ},
        ),
    ],
)
def test_busy_times_read_both_stored_forms_as_the_same_instants(start, end):
    information = [{"userId": "alice", "scheduleItems": [{"status": "BUSY", "start": start, "end": end}]}]
    # read in another zone than the items' own: it says only where all-day items start and end
    assert busy_times(information, timezone="Europe/Berlin") == {"alice": [(at(9, 9), at(9, 10))]}
    found = slot({"alice": busy_times(information)["alice"]}, window_start=at(9, 9), duration=60)
    assert (
        found["start"] == "2026-03-09T10:00:00+08:00"
    )  # not 09:00 Shanghai, which it would be if read as UTC


@pytest.mark.parametrize(
    ("item", "where"),
    [
        (
            {"start": {"dateTime": "2026-03-09T09:00:00"}, "end": {"dateTime": "2026-03-09T10:00:00"}},
            "scheduleInformation[0].scheduleItems[1].start.dateTime: has no UTC offset and no timeZone",
        ),
        (
            {"start": {"dateTime": "2026-03-09T09:00:00+08:00"}, "end": {"date": "someday"}},
            "scheduleInformation[0].scheduleItems[1].end.date: must be a date",
        ),
        ({"start": {"dateTime": "2026-03-09T09:00:00+08:00"}}, "scheduleItems[1].end: must be a"),
        ("busy", "scheduleInformation[0].scheduleItems[1] is not an object"),
    ],
)
def test_busy_times_refuse_times_they_cannot_read(item, where):
    """A person whose busy times cannot be read is not free: the answer is refused, naming the item."""
    fine = {"status": "BUSY", "start": {"date": "2026-03-10"}, "end": {"date": "2026-03-11"}}
    information = [{"userId": "alice", "scheduleItems": [fine, item]}]
    with pytest.raises(DingTalkAnswerError, match=f"GetSchedule .*{re.escape(where)}"):
        busy_times(information, timezone=TZ)
    rooms = [{"roomId": "r1", "scheduleItems": [fine, item]}]
    with pytest.raises(DingTalkAnswerError, match="GetMeetingRoomsSchedule"):
        busy_times(rooms, id_key="roomId", timezone=TZ)


def test_all_day_busy_items_follow_the_zone_across_daylight_saving():
    spring = [
        {"userId": "a", "scheduleItems": [{"start": {"date": "2026-03-08"}, "end": {"date": "2026-03-09"}}]}
    ]
    [(first, last)] = busy_times(spring, timezone="America/New_York")["a"]
    assert (first.isoformat(), last.isoformat()) == ("2026-03-08T05:00:00+00:00", "2026-03-09T04:00:00+00:00")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"duration": 0}, "duration"),
        ({"duration": 61.5}, "duration"),
        ({"timezone": "Nowhere/City"}, "timezone"),
        ({"window_end": MONDAY}, "window_end"),
        ({"window_end": MONDAY.add(years=2)}, "window_end"),
        ({"working_hours": ("18:00", "09:00")}, "working_hours"),
        ({"working_hours": ("9am", "18:00")}, "working_hours[0]"),
        ({"working_days": ["funday"]}, "working_days"),
        ({"quorum": 4}, "quorum"),
        ({"quorum": 0}, "quorum"),
        ({"required": ["zed"]}, "required"),
        ({"rooms": {}}, "rooms"),
        ({"step": 0}, "step"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(InvalidArgumentError) as err:
        slot({"alice": [], "bob": [], "carol": []}, **kwargs)
    assert err.value.field == field
