"""Meeting rooms through the hook (sync and async, real HTTP), the room operators and FindSlotOperator with
rooms, directly and in a real Airflow run."""

from __future__ import annotations

import asyncio

import pendulum
import pytest

from airflow_dtcal.exceptions import DingTalkAPIError, DingTalkInvalidArgumentError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.operators.rooms import AddMeetingRoomsOperator, RemoveMeetingRoomsOperator
from airflow_dtcal.planning.events import build_event
from tests.airflow_runs import run_dag
from tests.helpers import ROOT, load_module, task_context

TZ = "Asia/Shanghai"
MONDAY = pendulum.datetime(2026, 3, 9, tz=TZ)
ROOMS = [{"roomId": f"room-{i}", "roomName": f"Room {i}"} for i in range(1, 13)]


def event(organizer: str, start: pendulum.DateTime, minutes: int = 60) -> str:
    body = build_event(summary="Meeting", start=start, end=start.add(minutes=minutes))
    return DingTalkCalendarHook().create_event(organizer, body)["id"]


def test_hook_books_releases_and_reads_rooms(dtcal_emulator):
    dtcal_emulator.seed_rooms(ROOMS)
    hook = DingTalkCalendarHook()
    event_id = event("org", MONDAY.set(hour=10))
    hook.add_meeting_rooms("org", event_id, ["room-1", "room-2"])
    assert [r["roomId"] for r in hook.get_event("org", event_id)["meetingRooms"]] == ["room-1", "room-2"]
    other = event("bob", MONDAY.set(hour=10, minute=30))
    with pytest.raises(DingTalkAPIError) as taken:
        hook.add_meeting_rooms("bob", other, ["room-2"])
    assert taken.value.code == "meetingRoomNotAvailable"
    asyncio.run(hook.aremove_meeting_rooms("org", event_id, ["room-2"]))
    asyncio.run(hook.aadd_meeting_rooms("bob", other, ["room-2"]))
    # Twelve rooms: three GetMeetingRoomsSchedule calls of at most five, answers in the order asked.
    rooms = [r["roomId"] for r in ROOMS]
    info = hook.get_meeting_rooms_schedule("org", rooms, start=MONDAY, end=MONDAY.add(days=1))
    assert [i["roomId"] for i in info] == rooms
    assert {i["roomId"]: [s["eventId"] for s in i["scheduleItems"]] for i in info if i["scheduleItems"]} == {
        "room-1": [event_id],
        "room-2": [other],
    }
    calls = [r for r in dtcal_emulator.requests() if r["operation"] == "GetMeetingRoomsSchedule"]
    assert [len(r["body"]["roomIds"]) for r in calls] == [5, 5, 2]
    assert (
        asyncio.run(hook.aget_meeting_rooms_schedule("org", rooms, start=MONDAY, end=MONDAY.add(days=1)))
        == info
    )
    assert [r["roomId"] for r in hook.iter_meeting_rooms("org", page_size=5)] == rooms

    async def listed():
        return [r["roomId"] async for r in hook.aiter_meeting_rooms("org", page_size=5)]

    assert asyncio.run(listed()) == rooms


def test_hook_refuses_bad_room_arguments_before_any_request(dtcal_emulator):
    hook = DingTalkCalendarHook()
    for rooms, rule in ((["a"] * 2, "twice"), ([f"r{i}" for i in range(6)], "1 to 5"), ("room-1", "list")):
        with pytest.raises(DingTalkInvalidArgumentError, match=rule):
            hook.add_meeting_rooms("org", "ev", rooms)
    with pytest.raises(DingTalkInvalidArgumentError, match="90 days"):
        hook.get_meeting_rooms_schedule("org", ["room-1"], start=MONDAY, end=MONDAY.add(days=91))
    assert dtcal_emulator.requests() == []


def test_room_operators(dtcal_emulator):
    dtcal_emulator.seed_rooms(ROOMS[:2])
    event_id = event("org", MONDAY.set(hour=10))
    added = AddMeetingRoomsOperator(task_id="add", organizer_id="org", event_id=event_id, room_ids="room-1")
    assert added.execute(task_context("add")) == ["room-1"]
    removed = RemoveMeetingRoomsOperator(
        task_id="rm", organizer_id="org", event_id=event_id, room_ids=["room-1"]
    )
    assert removed.execute(task_context("rm")) == ["room-1"]
    assert dtcal_emulator.event(event_id).get("meetingRooms") is None
    with pytest.raises(DingTalkInvalidArgumentError, match="room_ids"):
        AddMeetingRoomsOperator(task_id="add", organizer_id="org", event_id=event_id, room_ids=[]).execute(
            task_context("add")
        )


def test_rooms_flow_finds_a_slot_with_a_free_room_and_books_it(airflow_db, dtcal_emulator):
    dtcal_emulator.seed_rooms([{"roomId": "lotus"}, {"roomId": "peony"}])
    # 09:00-10:00 lotus is taken, peony too until 09:30; alice and bob are free all day.
    taken = event("someone", MONDAY.set(hour=9))
    DingTalkCalendarHook().add_meeting_rooms("someone", taken, ["lotus"])
    half = event("someone", MONDAY.set(hour=9), minutes=30)
    DingTalkCalendarHook().add_meeting_rooms("someone", half, ["peony"])
    flow = load_module(ROOT / "tests" / "dags" / "dtcal_rooms_flow.py").rooms_flow
    result = run_dag(flow, logical_date=MONDAY.set(hour=9))
    assert result.state == "success", result.task_states
    slot = result.xcom("find_slot")
    assert (slot["start"], slot["room"]) == ("2026-03-09T09:30:00+08:00", "peony")
    booked = dtcal_emulator.event(result.xcom("book"))
    assert booked["start"]["dateTime"] == "2026-03-09T09:30:00+08:00"
    assert [r["roomId"] for r in booked["meetingRooms"]] == ["peony"]
    assert result.xcom("book_room") == ["peony"]
