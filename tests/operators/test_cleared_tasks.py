"""A cleared or retried task re-establishes the state it describes (operators over real HTTP).

Airflow gives every new try of a task instance (a retry or a clear) a higher try number in the context.
DingTalk remembers an ``x-client-token`` for a day and replays its first answer, so an operator must not
mistake a replay for success when the world has changed since.
"""

from __future__ import annotations

import pytest

from airflow_dtcal.compat import AirflowSkipException
from airflow_dtcal.exceptions import DingTalkNotFoundError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.operators.attendees import (
    AddAttendeesOperator,
    RemoveAttendeesOperator,
    RespondEventOperator,
)
from airflow_dtcal.operators.events import CreateEventOperator
from airflow_dtcal.sensors.attendees import AttendeeResponseSensor
from tests.helpers import task_context

ORGANIZER = "org"


def create_operator() -> CreateEventOperator:
    return CreateEventOperator(
        task_id="create",
        organizer_id=ORGANIZER,
        summary="Weekly review",
        start="2026-12-07T10:00:00+08:00",
        end="2026-12-07T11:00:00+08:00",
        attendees={"alice", "bob", "carol"},  # a set: its key must not depend on PYTHONHASHSEED
    )


def confirmed(emulator) -> list[str]:
    return [e["id"] for e in emulator.events() if e.get("status", "confirmed") != "cancelled"]


def test_a_cleared_create_whose_event_was_deleted_creates_a_new_one(dtcal_emulator):
    first = create_operator().execute(task_context("create", try_number=1))
    DingTalkCalendarHook().delete_event(ORGANIZER, first)
    second = create_operator().execute(task_context("create", try_number=2))  # the clear
    assert second != first and confirmed(dtcal_emulator) == [second]
    third = create_operator().execute(task_context("create", try_number=3))  # cleared again, nothing changed
    assert third == second and confirmed(dtcal_emulator) == [second]
    assert dtcal_emulator.stats()["applied"]["CreateEvent"] == 2


def test_a_retry_after_a_lost_reply_creates_nothing_more(dtcal_emulator):
    dtcal_emulator.reset_after(1, operation="CreateEvent")  # the event is created, the reply is lost
    hook_once = {"max_attempts": 1}
    operator = create_operator()
    operator.get_hook = lambda: DingTalkCalendarHook(
        **hook_once
    )  # no in-hook retry: Airflow retries the task
    with pytest.raises(Exception, match="CreateEvent"):
        operator.execute(task_context("create", try_number=1))
    event_id = create_operator().execute(task_context("create", try_number=2))
    assert confirmed(dtcal_emulator) == [event_id]
    assert dtcal_emulator.stats()["applied"]["CreateEvent"] == 1


def test_set_attendees_give_the_same_key_in_every_process(dtcal_emulator):
    create_operator().execute(task_context("create"))
    (request,) = [r for r in dtcal_emulator.requests() if r["operation"] == "CreateEvent"]
    assert [a["id"] for a in request["body"]["attendees"]] == ["alice", "bob", "carol"]
    create_operator().execute(task_context("create"))
    tokens = {r["client_token"] for r in dtcal_emulator.requests() if r["operation"] == "CreateEvent"}
    assert len(tokens) == 1 and len(confirmed(dtcal_emulator)) == 1


def test_cleared_attendee_writes_are_sent_again(dtcal_emulator):
    hook = DingTalkCalendarHook()
    event_id = hook.create_event(
        ORGANIZER,
        {"summary": "s", "start": {"date": "2026-12-07"}, "end": {"date": "2026-12-08"}, "isAllDay": True},
    )["id"]

    def add(try_number):
        AddAttendeesOperator(
            task_id="add", organizer_id=ORGANIZER, event_id=event_id, attendees=["dave"]
        ).execute(task_context("add", try_number=try_number))

    def respond(try_number):
        RespondEventOperator(
            task_id="respond", attendee_id="dave", event_id=event_id, response_status="accepted"
        ).execute(task_context("respond", try_number=try_number))

    add(1)
    respond(1)
    hook.respond_event("dave", event_id, "declined")
    respond(2)  # cleared: the response the task describes is set again
    assert {a["id"]: a["responseStatus"] for a in dtcal_emulator.attendees(event_id)}["dave"] == "accepted"
    RemoveAttendeesOperator(
        task_id="remove", organizer_id=ORGANIZER, event_id=event_id, attendee_ids=["dave"]
    ).execute(task_context("remove"))
    add(2)  # cleared: dave is invited again
    assert "dave" in {a["id"] for a in dtcal_emulator.attendees(event_id)}


@pytest.mark.parametrize("soft_fail", [False, True])
def test_soft_fail_means_the_same_in_poke_mode_as_in_deferrable_mode(dtcal_emulator, soft_fail):
    sensor = AttendeeResponseSensor(
        task_id="wait", organizer_id=ORGANIZER, event_id="no-such-event", soft_fail=soft_fail, timeout=5
    )
    with pytest.raises(AirflowSkipException if soft_fail else DingTalkNotFoundError):
        sensor.execute(task_context("wait"))
