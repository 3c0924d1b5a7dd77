"""Free/busy through the hook (GetSchedule, 20 people per call, real HTTP) and FindSlotOperator, directly
and in the example DAG (dag.test()), which also reschedules the event it created."""

from __future__ import annotations

import asyncio

import pendulum
import pytest

from airflow_dtcal.compat import AirflowSkipException
from airflow_dtcal.exceptions import DingTalkInvalidArgumentError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.operators.slots import FindSlotOperator, NoFreeSlotError
from airflow_dtcal.planning.events import build_event
from tests.airflow_runs import run_dag
from tests.helpers import ROOT, load_module

TZ = "Asia/Shanghai"
MONDAY = pendulum.datetime(2026, 3, 9, tz=TZ)


def busy(organizer: str, start: pendulum.DateTime, hours: float, attendees=()) -> str:
    body = build_event(
        summary="Busy", start=start, end=start.add(minutes=int(hours * 60)), attendees=list(attendees)
    )
    return DingTalkCalendarHook().create_event(organizer, body)["id"]


class FakeTI:
    """The part of a task instance FindSlotOperator writes to when execute() is called directly."""

    def __init__(self):
        self.pushed = {}
        self.dag_id, self.task_id, self.run_id, self.map_index, self.try_number = "d", "find", "r", -1, 1

    def xcom_push(self, key, value):
        self.pushed[key] = value


def test_get_schedule_chunks_beyond_twenty_people(dtcal_emulator):
    people = [f"user-{i:02d}" for i in range(45)]
    busy("user-44", MONDAY.set(hour=9), 1)
    hook = DingTalkCalendarHook()
    info = hook.get_schedule("user-00", people, start=MONDAY, end=MONDAY.add(days=1))
    assert [i["userId"] for i in info] == people
    assert [len(i["scheduleItems"]) for i in info] == [0] * 44 + [1]
    calls = [r for r in dtcal_emulator.requests() if r["operation"] == "GetSchedule"]
    assert [len(r["body"]["userIds"]) for r in calls] == [20, 20, 5]
    assert (
        calls[0]["body"]["startTime"] == "2026-03-08T16:00Z"
        and calls[0]["body"]["endTime"] == "2026-03-09T16:00Z"
    )
    assert asyncio.run(hook.aget_schedule("user-00", people, start=MONDAY, end=MONDAY.add(days=1))) == info
    with pytest.raises(DingTalkInvalidArgumentError, match="user_ids"):
        hook.get_schedule("user-00", ["a", "a"], start=MONDAY, end=MONDAY.add(days=1))
    with pytest.raises(DingTalkInvalidArgumentError, match="end: must be after start"):
        hook.get_schedule("user-00", ["a"], start=MONDAY, end=MONDAY)


def find(**kwargs) -> tuple[dict, dict]:
    ti = FakeTI()
    operator = FindSlotOperator(
        task_id="find",
        organizer_id="org",
        attendees=["alice", "bob"],
        window_start=MONDAY,
        window_end=MONDAY.add(days=5),
        duration_minutes="60",  # as a template renders it
        timezone=TZ,
        **kwargs,
    )
    return operator.execute({"ti": ti, "run_id": "r"}), ti.pushed


def test_find_slot_operator_reads_free_busy_and_pushes_the_times(dtcal_emulator):
    busy("org", MONDAY.set(hour=9), 1.5, attendees=["alice"])  # org and alice invited: busy/tentative
    busy("bob", MONDAY.set(hour=10, minute=30), 1)
    slot, pushed = find()
    assert (slot["start"], slot["end"]) == ("2026-03-09T11:30:00+08:00", "2026-03-09T12:30:00+08:00")
    assert {k: pushed[k] for k in ("start", "end", "timezone")} == {
        "start": slot["start"],
        "end": slot["end"],
        "timezone": TZ,
    }
    assert pushed["dingtalk_calls"]["by_operation"] == {"GetSchedule": 1}  # the task's calls, reported
    assert slot["free"] == ["org", "alice", "bob"]
    # Unanswered invitations need not count as busy; a quorum needs only some people.
    alone = {"include_organizer": False}
    assert find(**alone)[0]["start"] == "2026-03-09T11:30:00+08:00"  # alice's invitation counts as busy
    assert find(tentative_is_busy=False, **alone)[0]["start"] == "2026-03-09T09:00:00+08:00"
    assert find(quorum=2, required_attendees=["org"])[0]["start"] == "2026-03-09T10:30:00+08:00"


def test_no_slot_fails_or_skips(dtcal_emulator):
    busy("org", MONDAY, 24 * 5)
    with pytest.raises(NoFreeSlotError, match="No 60-minute slot"):
        find()
    with pytest.raises(AirflowSkipException):
        find(on_no_slot="skip")
    with pytest.raises(DingTalkInvalidArgumentError, match="on_no_slot"):
        find(on_no_slot="maybe")
    requests_before = len(dtcal_emulator.requests())
    with pytest.raises(DingTalkInvalidArgumentError, match="working_days"):
        find(working_days=["someday"])
    assert len(dtcal_emulator.requests()) == requests_before  # refused before any request


def test_design_review_example_books_once_and_moves_on_demand(airflow_db, dtcal_emulator):
    dag = load_module(ROOT / "dags" / "dingtalk_design_review.py").dag
    next_monday = pendulum.datetime(2026, 3, 16, tz=TZ)
    # Monday: the author is busy all morning, reviewers 101 and 102 from 14:00 to 16:00.
    busy("union-author-001", next_monday.set(hour=9), 4)
    busy("union-rev-101", next_monday.set(hour=14), 2)
    busy("union-rev-102", next_monday.set(hour=14), 2)
    first = run_dag(dag, logical_date=MONDAY.set(hour=10))
    assert first.state == "success", first.task_states
    # 13:00 is free for the author and all four reviewers (quorum 3 + the author).
    assert first.xcom("find_slot")["start"] == "2026-03-16T13:00:00+08:00"
    event_id = first.xcom("book_review")
    event = dtcal_emulator.event(event_id)
    assert event["start"] == {"dateTime": "2026-03-16T13:00:00+08:00", "timeZone": TZ}
    assert event["organizer"]["id"] == "union-author-001"
    assert first.xcom("reschedule_review") == {"id": event_id, "changed": []}

    # Run again: 13:00 is now taken by the review itself, but the review is found by its key, not re-booked.
    again = run_dag(dag, logical_date=MONDAY.set(hour=11))
    assert again.state == "success", again.task_states
    assert again.xcom("find_slot")["start"] != "2026-03-16T13:00:00+08:00"
    assert again.xcom("book_review") == event_id

    # A manual run that moves the review to Wednesday 15:00; it stays an hour long.
    moved = run_dag(dag, logical_date=MONDAY.set(hour=12), conf={"move_to": "2026-03-18T15:00:00"})
    assert moved.state == "success", moved.task_states
    assert moved.xcom("reschedule_review")["changed"] == ["end", "isAllDay", "start"]
    event = dtcal_emulator.event(event_id)
    assert event["start"] == {"dateTime": "2026-03-18T15:00:00+08:00", "timeZone": TZ}
    assert event["end"] == {"dateTime": "2026-03-18T16:00:00+08:00", "timeZone": TZ}
    assert [e["id"] for e in dtcal_emulator.events() if e["summary"].startswith("Design review")] == [
        event_id
    ]
