"""A table of bad inputs: each operator raises a named, non-retried error before the emulator sees a request."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from airflow_dtcal.exceptions import DingTalkConfigurationError, DingTalkInvalidArgumentError
from airflow_dtcal.operators.attendees import (
    AddAttendeesOperator,
    ListAttendeesOperator,
    RemoveAttendeesOperator,
    RespondEventOperator,
)
from airflow_dtcal.operators.events import CreateEventOperator, DeleteEventOperator
from tests.airflow_compat import AirflowFailException

GOOD_CREATE = {
    "organizer_id": "org",
    "summary": "Review",
    "start": "2026-12-01T10:00:00+08:00",
    "end": "2026-12-01T11:00:00+08:00",
}


def context():
    ti = SimpleNamespace(dag_id="dag", task_id="task", run_id="manual__1", map_index=-1)
    return {"ti": ti, "dag": None}


def create(**changes):
    return CreateEventOperator(task_id="create", **{**GOOD_CREATE, **changes})


def made_or_run(factory):
    """The error a bad input raises, and when: as the operator is made (a value known when the DAG is
    parsed, checked on its own) or by execute() (a check that needs the run's context or other arguments)."""
    try:
        operator = factory()
    except DingTalkInvalidArgumentError as error:
        return error, "made"
    with pytest.raises(DingTalkInvalidArgumentError) as caught:
        operator.execute(context())
    return caught.value, "run"


BAD_INPUTS = [
    # (label, operator factory, the argument the error must name, words in the rule)
    ("empty summary", lambda: create(summary="   "), "summary", "empty"),
    ("over-long summary", lambda: create(summary="s" * 2049), "summary", "2,048"),
    ("over-long description", lambda: create(description="d" * 5001), "description", "5,000"),
    ("end before start", lambda: create(end="2026-12-01T09:00:00+08:00"), "end", "after start"),
    ("naive datetime", lambda: create(start="2026-12-01T10:00", end="2026-12-01T11:00"), "start", "naive"),
    ("unknown time zone", lambda: create(timezone="Asia/Atlantis"), "timezone", "IANA"),
    ("all-day with times", lambda: create(all_day=True, end=None), "start", "time of day"),
    (
        "bad recurrence",
        lambda: create(recurrence={"pattern": {"type": "weekly"}}),
        "recurrence.pattern.daysOfWeek",
        "required",
    ),
    ("bad reminders", lambda: create(reminders=[-10]), "reminders[0].minutes", "whole number"),
    ("missing organizer", lambda: create(organizer_id=None), "organizer_id", "required"),
    ("non-string attendee", lambda: create(attendees=["a", 42]), "attendees[1]", "string"),
    ("templated list as text", lambda: create(attendees="['a', 'b']"), "attendees", "XComArg"),
    (
        "event id from an XCom that returned None",
        lambda: AddAttendeesOperator(task_id="t", organizer_id="org", event_id=None, attendees=["a"]),
        "event_id",
        "upstream",
    ),
    (
        "event id rendered as the text None",
        lambda: ListAttendeesOperator(task_id="t", user_id="org", event_id="None"),
        "event_id",
        "non-empty",
    ),
    (
        "empty attendees",
        lambda: AddAttendeesOperator(task_id="t", organizer_id="org", event_id="e1", attendees=[]),
        "attendees",
        "at least one",
    ),
    (
        "duplicated attendees",
        lambda: AddAttendeesOperator(
            task_id="t", organizer_id="org", event_id="e1", attendees=["a", "b", "a"]
        ),
        "attendees[2]",
        "duplicates",
    ),
    (
        "more than 5,000 attendees",
        lambda: AddAttendeesOperator(
            task_id="t", organizer_id="org", event_id="e1", attendees=[f"u{i}" for i in range(5001)]
        ),
        "attendees",
        "5,000",
    ),
    (
        "notification flag not a bool",
        lambda: AddAttendeesOperator(
            task_id="t", organizer_id="org", event_id="e1", attendees=["a"], chat_notification="yes"
        ),
        "chat_notification",
        "true or false",
    ),
    (
        "unknown response status",
        lambda: RespondEventOperator(task_id="t", attendee_id="a", event_id="e1", response_status="maybe"),
        "response_status",
        "accepted",
    ),
    (
        "list filter with an unknown status",
        lambda: ListAttendeesOperator(task_id="t", user_id="org", event_id="e1", response_status="yes"),
        "response_status",
        "needsAction",
    ),
    (
        "removing the organizer",
        lambda: RemoveAttendeesOperator(
            task_id="t", organizer_id="org", event_id="e1", attendee_ids=["a", "org"]
        ),
        "attendee_ids",
        "organizer",
    ),
    (
        "empty client token",
        lambda: DeleteEventOperator(task_id="t", user_id="org", event_id="e1", client_token=" "),
        "client_token",
        "printable ASCII",
    ),
    (
        "client token with a line break",
        lambda: CreateEventOperator(
            task_id="t",
            organizer_id="org",
            summary="s",
            start="2026-12-01",
            client_token="abc\r\nx-injected: 1",
        ),
        "client_token",
        "without spaces or line breaks",
    ),
    (
        "event id that is a dot segment",
        lambda: DeleteEventOperator(task_id="t", user_id="org", event_id=".."),
        "event_id",
        "must not be '.' or '..'",
    ),
    (
        "empty calendar id",
        lambda: DeleteEventOperator(task_id="t", user_id="org", event_id="e1", calendar_id=""),
        "calendar_id",
        "non-empty",
    ),
]


@pytest.mark.parametrize("label, factory, field, words", BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_fails_before_any_request(dtcal_emulator, label, factory, field, words):
    error, _when = made_or_run(factory)
    assert isinstance(error, AirflowFailException)  # Airflow fails the task without retrying it
    assert isinstance(error, ValueError)
    assert error.field == field, str(error)
    assert str(error).startswith(f"{field}: ")
    assert words in str(error)
    assert sum(dtcal_emulator.stats()["calls"].values()) == 0
    assert dtcal_emulator.requests() == []


def test_mixed_zones_are_refused_with_a_clear_rule(dtcal_emulator):
    import pendulum

    operator = create(
        start=pendulum.datetime(2026, 12, 1, 10, tz="Asia/Shanghai"),
        end=pendulum.datetime(2026, 12, 1, 5, tz="Europe/Paris"),
    )
    with pytest.raises(
        DingTalkInvalidArgumentError, match="end: is in time zone Europe/Paris but start is in Asia/Shanghai"
    ):
        operator.execute(context())
    assert dtcal_emulator.requests() == []


@pytest.mark.parametrize(
    "conn, words",
    [
        (
            {"conn_type": "dingtalk_calendar", "password": "s", "host": "http://127.0.0.1:9"},
            r"login \(App Key\) must be set",
        ),
        (
            {"conn_type": "dingtalk_calendar", "login": "k", "password": "s", "host": "http://example.com"},
            "loopback",
        ),
        (
            {"conn_type": "dingtalk_calendar", "login": "k", "password": "s", "extra": {"max_attempts": 0}},
            "max_attempts",
        ),
    ],
)
def test_bad_connections_fail_fast_with_a_clear_message(monkeypatch, conn, words):
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT", json.dumps(conn))
    with pytest.raises(DingTalkConfigurationError, match=words):
        create().execute(context())


def test_unreachable_host_fails_with_a_clear_message(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT",
        json.dumps(
            {
                "conn_type": "dingtalk_calendar",
                "login": "k",
                "password": "s",
                "host": "http://127.0.0.1:1",
                "extra": {"max_attempts": 2, "backoff_initial": 0.01},
            }
        ),
    )
    from airflow_dtcal.exceptions import DingTalkTransportError

    with pytest.raises(DingTalkTransportError, match=r"connection to http://127.0.0.1:1 failed"):
        create().execute(context())
