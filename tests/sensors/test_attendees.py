"""AttendeeResponseSensor (poke and deferrable) and AttendeeResponseTrigger, over real HTTP to the emulator.

Deferrable mode is exercised the way Airflow runs it: execute() raises TaskDeferred, the trigger is rebuilt
from its serialize() output and run in-process (asyncio) while the emulator serves, and the sensor resumes
with execute_complete() on the serde round-tripped event payload.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from datetime import timedelta

import pytest

from airflow_dtcal.exceptions import DingTalkError
from airflow_dtcal.sensors.attendees import AttendeeResponseSensor
from airflow_dtcal.triggers.attendees import AttendeeResponseTrigger
from tests.airflow_compat import (
    AirflowFailException,
    AirflowSkipException,
    TaskDeferred,
    deserialize,
    import_string,
    serialize,
)
from tests.helpers import ORGANIZER, first_event, seed_event, statuses, task_context

# condition, its arguments, the attendees at first (not met), who then responds how (met afterwards)
CONDITIONS = [
    ("all_responded", {}, {"a": "accepted", "b": "needsAction"}, ("b", "tentative")),
    ("min_accepted", {"min_accepted": 2}, {"a": "accepted", "b": "needsAction"}, ("b", "accepted")),
    ("accepted_by", {"attendee_ids": ["b"]}, {"a": "needsAction", "b": "needsAction"}, ("b", "accepted")),
]


def sensor(event_id: str, **kwargs) -> AttendeeResponseSensor:
    kwargs.setdefault("poke_interval", 0.05)
    kwargs.setdefault("timeout", 30)
    return AttendeeResponseSensor(task_id="wait", organizer_id=ORGANIZER, event_id=event_id, **kwargs)


def defer(operator: AttendeeResponseSensor) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(task_context("wait"))
    return deferred.value


def rebuilt(trigger: AttendeeResponseTrigger) -> AttendeeResponseTrigger:
    """What the triggerer does: import the class path and call it with the serialized kwargs."""
    classpath, kwargs = trigger.serialize()
    kwargs = deserialize(serialize(kwargs))
    return import_string(classpath)(**kwargs)


def resume(operator: AttendeeResponseSensor, event):
    """What the task runner does after the trigger fired: execute_complete(context, event=payload)."""
    return operator.execute_complete(task_context("wait"), event=deserialize(serialize(event.payload)))


# ------------------------------------------------------------------------------------------ poke mode


@pytest.mark.parametrize(("condition", "args", "before", "answer"), CONDITIONS)
def test_poke_mode_waits_then_returns_the_statuses(dtcal_emulator, hook, condition, args, before, answer):
    event_id = seed_event(dtcal_emulator, before)
    operator = sensor(event_id, condition=condition, **args)
    assert operator.poke(task_context("wait")) is False

    hook.respond_event(answer[0], event_id, answer[1])

    result = operator.execute(task_context("wait"))
    assert (
        result
        == statuses(dtcal_emulator, event_id)
        == {ORGANIZER: "accepted", **before, answer[0]: answer[1]}
    )


def test_poke_mode_keeps_poking_until_someone_answers(dtcal_emulator, hook):
    event_id = seed_event(dtcal_emulator, {"a": "needsAction"})
    operator = sensor(event_id, condition="all_responded", poke_interval=0.1)

    def answer_later():
        while sum(r["operation"] == "ListAttendees" for r in dtcal_emulator.requests()) < 2:
            time.sleep(0.02)
        hook.respond_event("a", event_id, "accepted")

    responder = threading.Thread(target=answer_later)
    responder.start()
    assert operator.execute(task_context("wait")) == {ORGANIZER: "accepted", "a": "accepted"}
    responder.join()
    assert sum(r["operation"] == "ListAttendees" for r in dtcal_emulator.requests()) >= 3


def test_poke_mode_decline_fails_or_skips(dtcal_emulator):
    event_id = seed_event(dtcal_emulator, {"a": "accepted", "b": "declined"})
    with pytest.raises(AirflowFailException, match="declined by b"):
        sensor(event_id, fail_on_decline=True).execute(task_context("wait"))
    with pytest.raises(AirflowSkipException, match="declined by b"):
        sensor(event_id, fail_on_decline=True, soft_fail=True).execute(task_context("wait"))
    # Without fail_on_decline a decline is an answer like any other.
    assert sensor(event_id).execute(task_context("wait"))["b"] == "declined"
    # A decline by someone accepted_by does not name is not relevant.
    assert sensor(event_id, condition="accepted_by", attendee_ids=["a"], fail_on_decline=True).execute(
        task_context("wait")
    ) == {ORGANIZER: "accepted", "a": "accepted", "b": "declined"}


def test_bad_arguments_fail_at_parse_or_before_any_request(dtcal_emulator):
    with pytest.raises(ValueError, match="condition must be one of"):
        sensor("e", condition="poke")
    event_id = seed_event(dtcal_emulator, ["a"])
    seen = len(dtcal_emulator.requests())
    with pytest.raises(AirflowFailException, match="min_accepted"):
        sensor(event_id, condition="min_accepted").execute(task_context("wait"))
    with pytest.raises(AirflowFailException, match="attendee_ids"):
        sensor(event_id, condition="accepted_by", attendee_ids="a,b").execute(task_context("wait"))
    assert len(dtcal_emulator.requests()) == seen


# ------------------------------------------------------------------------------------------ deferrable


def test_the_sensor_defers_to_a_trigger_that_round_trips(dtcal_emulator):
    event_id = seed_event(dtcal_emulator, ["a", "b"])
    operator = sensor(
        event_id,
        condition="accepted_by",
        attendee_ids=["a", "b"],
        fail_on_decline=True,
        deferrable=True,
        poke_interval=timedelta(minutes=5),
        timeout=timedelta(hours=6),
    )
    deferred = defer(operator)

    trigger = deferred.trigger
    assert isinstance(trigger, AttendeeResponseTrigger)
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout == timedelta(hours=6)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_dtcal.triggers.attendees.AttendeeResponseTrigger"
    assert kwargs == {
        "organizer_id": ORGANIZER,
        "event_id": event_id,
        "condition": "accepted_by",
        "min_accepted": None,
        "attendee_ids": ["a", "b"],
        "fail_on_decline": True,
        "dingtalk_conn_id": "dingtalk_calendar_default",
        "calendar_id": "primary",
        "poll_interval": 300.0,
        "max_transient_errors": 10,
        "call_budget": None,
        "budget_ceiling": None,
    }
    # serialize() mirrors __init__: every parameter, nothing else, and it round-trips.
    assert set(kwargs) == set(inspect.signature(AttendeeResponseTrigger.__init__).parameters) - {"self"}
    assert rebuilt(trigger).serialize() == (classpath, kwargs)
    json.dumps(kwargs)
    assert dtcal_emulator.app_secret not in json.dumps(kwargs)


def test_a_deferrable_sensor_whose_condition_holds_does_not_defer(dtcal_emulator):
    event_id = seed_event(dtcal_emulator, {"a": "accepted"})
    result = sensor(event_id, condition="min_accepted", min_accepted=1, deferrable=True).execute(
        task_context("wait")
    )
    assert result == {ORGANIZER: "accepted", "a": "accepted"}


@pytest.mark.parametrize(("condition", "args", "before", "answer"), CONDITIONS)
def test_deferrable_mode_for_each_condition(dtcal_emulator, hook, condition, args, before, answer):
    event_id = seed_event(dtcal_emulator, before)
    operator = sensor(event_id, condition=condition, deferrable=True, **args)
    trigger = rebuilt(defer(operator).trigger)

    hook.respond_event(answer[0], event_id, answer[1])
    seen = len(dtcal_emulator.requests())
    event = first_event(trigger)

    assert event.payload["status"] == "met"
    expected = {ORGANIZER: "accepted", **before, answer[0]: answer[1]}
    assert resume(operator, event) == expected == statuses(dtcal_emulator, event_id)
    # The trigger only reads.
    assert {r["operation"] for r in dtcal_emulator.requests()[seen:]} <= {"GetAccessToken", "ListAttendees"}


def test_the_trigger_polls_until_met_and_survives_a_revoked_token(dtcal_emulator, hook):
    event_id = seed_event(dtcal_emulator, {"a": "needsAction", "b": "needsAction"})
    operator = sensor(event_id, condition="min_accepted", min_accepted=2, deferrable=True, poke_interval=0.1)
    trigger = rebuilt(defer(operator).trigger)
    start = len(dtcal_emulator.requests())

    def answer_later():
        def polls():
            return sum(r["operation"] == "ListAttendees" for r in dtcal_emulator.requests()[start:])

        while polls() < 2:
            time.sleep(0.02)
        dtcal_emulator.revoke_tokens()  # the trigger's token dies between two polls
        # The trigger meets the dead token first (tokens are shared per app in the process), then answers.
        while not any(r["status"] == 400 for r in dtcal_emulator.requests()[start:]):
            time.sleep(0.02)
        hook.respond_event("a", event_id, "accepted")
        hook.respond_event("b", event_id, "accepted")

    responder = threading.Thread(target=answer_later)
    responder.start()
    event = first_event(trigger)
    responder.join()

    assert event.payload["status"] == "met"
    assert resume(operator, event) == {ORGANIZER: "accepted", "a": "accepted", "b": "accepted"}
    lists = [r for r in dtcal_emulator.requests()[start:] if r["operation"] == "ListAttendees"]
    assert len(lists) >= 3 and all(r["method"] == "GET" for r in lists)
    assert any(r["status"] == 400 for r in lists)  # the revoked token was rejected once, then replaced


def test_the_trigger_pages_and_waits_on_a_large_event(dtcal_emulator, hook):
    people = [f"p-{i:04d}" for i in range(1200)]
    event_id = seed_event(dtcal_emulator, people[:500])
    hook.add_attendees(ORGANIZER, event_id, people[500:])
    hook.respond_event("p-1199", event_id, "accepted")
    seen = len(dtcal_emulator.requests())

    trigger = AttendeeResponseTrigger(
        organizer_id=ORGANIZER, event_id=event_id, condition="accepted_by", attendee_ids=["p-1199"]
    )
    event = first_event(trigger)

    assert event.payload["status"] == "met"
    assert len(event.payload["statuses"]) == 1201 and event.payload["statuses"]["p-1199"] == "accepted"
    lists = [r for r in dtcal_emulator.requests()[seen:] if r["operation"] == "ListAttendees"]
    assert [r["query"].get("nextToken") is None for r in lists] == [True, False, False]


@pytest.mark.parametrize("soft_fail", [False, True])
def test_deferrable_decline_fails_or_skips(dtcal_emulator, hook, soft_fail):
    event_id = seed_event(dtcal_emulator, {"a": "needsAction", "b": "needsAction"})
    operator = sensor(event_id, fail_on_decline=True, soft_fail=soft_fail, deferrable=True)
    trigger = rebuilt(defer(operator).trigger)
    hook.respond_event("b", event_id, "declined")

    event = first_event(trigger)

    assert event.payload["status"] == "declined" and event.payload["declined"] == ["b"]
    with pytest.raises(AirflowSkipException if soft_fail else AirflowFailException, match="declined by b"):
        resume(operator, event)


def test_transient_errors_are_retried_by_the_trigger(dtcal_emulator):
    event_id = seed_event(dtcal_emulator, {"a": "accepted"})
    dtcal_emulator.fail_next(2, status=503, operation="ListAttendees")
    trigger = AttendeeResponseTrigger(
        organizer_id=ORGANIZER, event_id=event_id, condition="all_responded", poll_interval=0.05
    )
    assert first_event(trigger).payload["status"] == "met"
    assert dtcal_emulator.stats()["faulted"]["ListAttendees"] == 2


def test_errors_end_the_wait_with_the_mapped_exception(dtcal_emulator, monkeypatch):
    operator = sensor("no-such-event", deferrable=True)
    trigger = AttendeeResponseTrigger(organizer_id=ORGANIZER, event_id="no-such-event")
    event = first_event(trigger)
    assert event.payload["status"] == "error" and event.payload["error_type"] == "DingTalkNotFoundError"
    with pytest.raises(DingTalkError, match="DingTalkNotFoundError"):
        resume(operator, event)

    event_id = seed_event(dtcal_emulator, ["a"])
    # Each poll is one request through the hook's retry policy (one attempt on this connection); the
    # trigger gives up after max_transient_errors polls in a row failed.
    conn = json.loads(dtcal_emulator.connection_json())
    conn["extra"] = {"max_attempts": 1}
    monkeypatch.setenv("AIRFLOW_CONN_DTCAL_ONE_ATTEMPT", json.dumps(conn))
    dtcal_emulator.fail_next(3, status=503, operation="ListAttendees")
    trigger = AttendeeResponseTrigger(
        organizer_id=ORGANIZER,
        event_id=event_id,
        poll_interval=0.01,
        max_transient_errors=2,
        dingtalk_conn_id="dtcal_one_attempt",
    )
    event = first_event(trigger)
    assert event.payload["status"] == "error" and event.payload["error_type"] == "DingTalkServerError"
    assert dtcal_emulator.stats()["faulted"]["ListAttendees"] == 3

    trigger = AttendeeResponseTrigger(organizer_id=ORGANIZER, event_id=event_id, dingtalk_conn_id="missing")
    assert first_event(trigger).payload["status"] == "error"


def test_secrets_stay_out_of_serialize_logs_and_events(dtcal_emulator, capfd, caplog, monkeypatch):
    import requests

    from airflow_dtcal.testing import DingTalkEmulator

    with DingTalkEmulator(qps_limit=None, apps={"good-key": "good-secret-123"}) as emulator:
        monkeypatch.setenv(
            "AIRFLOW_CONN_DTCAL_SECRETS", emulator.connection_json("good-key", "good-secret-123")
        )
        monkeypatch.setenv(
            "AIRFLOW_CONN_DTCAL_WRONG", emulator.connection_json("good-key", "wrong-secret-456")
        )
        [event_id] = emulator.seed_events(
            [
                {
                    "organizer": ORGANIZER,
                    "summary": "s",
                    "start": {"date": "2026-12-01"},
                    "end": {"date": "2026-12-02"},
                }
            ]
        )
        good = AttendeeResponseTrigger(
            organizer_id=ORGANIZER, event_id=event_id, dingtalk_conn_id="dtcal_secrets"
        )
        met = first_event(good)
        bad = AttendeeResponseTrigger(
            organizer_id=ORGANIZER, event_id=event_id, dingtalk_conn_id="dtcal_wrong"
        )
        failed = first_event(bad)
        # A repeated fetch while the token is valid returns the same token: the one the trigger used.
        token = requests.post(
            emulator.base_url + "/v1.0/oauth2/accessToken",
            json={"appKey": "good-key", "appSecret": "good-secret-123"},
            timeout=5,
        ).json()["accessToken"]

    assert met.payload["status"] == "met"
    assert failed.payload["status"] == "error" and failed.payload["error_type"] == "DingTalkAuthError"
    out, err = capfd.readouterr()
    seen = "\n".join(
        [
            out,
            err,
            caplog.text,
            repr(good),
            json.dumps(good.serialize()),
            json.dumps(met.payload),
            json.dumps(failed.payload),
        ]
    )
    assert "Event" in out + err + caplog.text  # the trigger did log
    for secret in (token, "good-secret-123", "wrong-secret-456"):
        assert secret not in seen
