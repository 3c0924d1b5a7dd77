"""What the declared operator base promises, through real parts: the emulator over real HTTP, and a real
Airflow (``dag.test()``) where XCom, retries or templating are the point.

* EnsureEventOperator with a userId organizer, run twice, leaves one event (it used to search the raw
  userId's calendar and create in the unionId's, so every run made another).
* Someone the directory does not hold fails the task without retries: no lookup is repeated.
* ``dingtalk_conn_id`` is a template field, rendered before the hook is made (operators and the sensor).
* An argument an operator cannot honour is refused before any request, never ignored.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from airflow_dtcal.exceptions import DingTalkInvalidArgumentError
from airflow_dtcal.operators.arguments import ONE
from airflow_dtcal.operators.base import DingTalkCalendarBaseOperator
from airflow_dtcal.planning import people as people_cache
from tests.airflow_runs import run_dag
from tests.helpers import ROOT, load_module, task_context
from tests.operators.test_id_types import PEOPLE, operators_naming_people

LEAD_USER, LEAD_UNION = PEOPLE["lead"][0], PEOPLE["lead"][1]


@pytest.fixture(scope="module")
def flows():
    return load_module(ROOT / "tests" / "dags" / "dtcal_id_types_flow.py")


@pytest.fixture
def directory(dtcal_emulator):
    people_cache.clear_directory_cache()
    dtcal_emulator.seed_users(
        [{"userId": u, "unionId": n, "mobile": m, "name": name} for name, (u, n, m) in PEOPLE.items()]
    )
    yield dtcal_emulator
    people_cache.clear_directory_cache()


def try_numbers(dag_id: str, run_id: str) -> dict[str, int]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id).all()
        return {ti.task_id: ti.try_number for ti in rows}


# ------------------------------------------------------------------------------------------ in Airflow


def test_ensure_with_a_user_id_organizer_run_twice_leaves_one_event(airflow_db, directory, flows):
    first = run_dag(flows.ensure)
    people_cache.clear_directory_cache()  # the second run looks the organizer up again, as a new worker would
    second = run_dag(flows.ensure)
    assert first.state == second.state == "success", (first.task_states, second.task_states)
    assert first.run_id != second.run_id
    assert first.xcom("ensure") == second.xcom("ensure")
    live = [e for e in directory.events() if e.get("status", "confirmed") != "cancelled"]
    assert [e["id"] for e in live] == [first.xcom("ensure")]
    assert directory.stats()["applied"]["CreateEvent"] == 1
    searches = [r for r in directory.requests() if r["operation"] == "ListEvents"]
    assert len(searches) == 2
    assert all(r["path"].startswith(f"/v1.0/calendar/users/{LEAD_UNION}/") for r in searches)


def test_an_unknown_person_fails_the_task_without_retries(airflow_db, directory, flows):
    result = run_dag(flows.unknown)
    assert result.task_states == {"create": "failed", "control": "failed"}
    tries = try_numbers("dtcal_ids_unknown", result.run_id)
    assert tries["control"] == 3  # this Airflow retries a task with retries=2 that fails retryably
    assert tries["create"] == 1  # the unknown person failed it once and for all
    looked_up = [r["body"]["userid"] for r in directory.requests() if r["operation"] == "GetUser"]
    assert sorted(looked_up) == ["emp-ada-02", "emp-ghost-99", "emp-lead-01"]  # once each: none repeated
    assert directory.stats()["calls"].get("CreateEvent", 0) == 0


def test_the_connection_id_is_rendered_before_the_hook_is_made(airflow_db, directory, flows, monkeypatch):
    conn = directory.connection_json(directory.app_key, directory.app_secret)
    monkeypatch.delenv("AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT")  # only the templated id can reach it
    monkeypatch.setenv("AIRFLOW_CONN_DTCAL_TEMPLATED", conn)
    monkeypatch.setenv("AIRFLOW_VAR_DTCAL_CONN_ID", "dtcal_templated")
    result = run_dag(flows.templated_conn)
    assert result.state == "success", result.task_states
    assert [a["id"] for a in result.xcom("list")] == [LEAD_UNION]
    assert result.xcom("wait") == {LEAD_UNION: "accepted"}
    assert result.xcom("resolve") == {PEOPLE["ada"][0]: PEOPLE["ada"][1]}
    operations = {r["operation"] for r in directory.requests()}
    assert {"CreateEvent", "ListAttendees", "GetUser"} <= operations


# ------------------------------------------------------------------------------------------ refusals


class _NamesNobody(DingTalkCalendarBaseOperator):
    """An operator of a user's own that names no people."""

    writes = ("CreateEvent",)
    template_fields = ("calendar_id", "client_token", "dingtalk_conn_id")

    def run(self, ex: Any) -> None:
        raise AssertionError("must not run")


def _cancel(**kw):
    from airflow_dtcal.operators.events import CancelEventOperator

    return CancelEventOperator(task_id="t", organizer_id="o", event_id="e", **kw)


def _find(**kw):
    from airflow_dtcal.operators.slots import FindSlotOperator

    return FindSlotOperator(
        task_id="t",
        organizer_id="o",
        attendees=["a"],
        window_start="2026-03-09T00:00:00Z",
        window_end="2026-03-10T00:00:00Z",
        duration_minutes=30,
        **kw,
    )


def _respond(**kw):
    from airflow_dtcal.operators.attendees import RespondEventOperator

    return RespondEventOperator(task_id="t", attendee_id="a", event_id="e", response_status="accepted", **kw)


def _list_events(**kw):
    from airflow_dtcal.operators.events import ListEventsOperator

    return ListEventsOperator(
        task_id="t", user_id="u", time_min="2026-03-09T00:00:00Z", time_max="2026-03-10T00:00:00Z", **kw
    )


def _sensor(**kw):
    from airflow_dtcal.sensors.attendees import AttendeeResponseSensor

    return AttendeeResponseSensor(task_id="t", organizer_id="o", event_id="e", timeout=5, **kw)


REFUSED = [
    (lambda: _cancel(id_type={"event_id": "userId"}), r"id_type: names 'event_id', which is not an argument"),
    (lambda: _cancel(id_type={"organizer_id": "email"}), r"id_type\['organizer_id'\]: must be one of"),
    (lambda: _find(id_type={"required_attendees": "userId"}), "takes the id type of 'attendees'"),
    (lambda: _respond(id_type="userId", on_unknown="skip"), "on_unknown: 'skip' leaves people out of lists"),
    (lambda: _list_events(client_token="my-key"), "client_token: does not apply"),
    (
        lambda: _list_events(expand_recurring=False, max_attendees=10),
        "max_attendees: is for expand_recurring",
    ),
    (lambda: _find(calendar_id="team"), "calendar_id: does not apply"),
    (lambda: _find(required_attendees=["a"], id_type="userId", on_unknown="drop"), "on_unknown: must be"),
    (lambda: _cancel(dingtalk_conn_id=" "), "dingtalk_conn_id: must be a non-empty id"),
    (lambda: _sensor(id_type={"event_id": "userId"}), r"id_type: names 'event_id'"),
    (lambda: _sensor(on_unknown="maybe"), "on_unknown: must be 'fail' or 'skip'"),
    (lambda: _sensor(dingtalk_conn_id=""), "dingtalk_conn_id: must be a non-empty id"),
    (lambda: _NamesNobody(task_id="t", id_type="userId"), "id_type: does not apply: _NamesNobody takes no"),
    (lambda: _NamesNobody(task_id="t", on_unknown="skip"), "on_unknown: 'skip' leaves people out of lists"),
]


@pytest.mark.parametrize(("make", "words"), REFUSED, ids=[w for _, w in REFUSED])
def test_what_an_operator_cannot_honour_is_refused_before_any_request(dtcal_emulator, make, words):
    with pytest.raises(DingTalkInvalidArgumentError, match=words):
        make().execute(task_context("t"))
    assert dtcal_emulator.requests() == []


def test_an_operator_whose_template_fields_miss_a_declared_argument_is_refused_when_defined():
    with pytest.raises(TypeError, match="must include attendee_id, event_id, dingtalk_conn_id"):

        class _Forgetful(DingTalkCalendarBaseOperator):  # noqa: F841 - defining it is the test
            people: ClassVar = {"attendee_id": ONE}
            event_ids = ("event_id",)
            template_fields = ("calendar_id",)


def test_every_operator_and_the_sensor_template_the_connection_id():
    from airflow_dtcal.operators.people import ResolveUsersOperator
    from airflow_dtcal.sensors.attendees import AttendeeResponseSensor
    from airflow_dtcal.transfers.export import ExportEventsOperator

    classes = [ResolveUsersOperator, AttendeeResponseSensor, ExportEventsOperator]
    for name in operators_naming_people():
        classes += [c for c in DingTalkCalendarBaseOperator.__subclasses__() if c.__name__ == name]
    assert all("dingtalk_conn_id" in c.template_fields for c in classes), [
        c.__name__ for c in classes if "dingtalk_conn_id" not in c.template_fields
    ]


# ------------------------------------------------------------------------------------------ keys


def test_a_given_client_token_keys_a_single_write_and_is_derived_per_write_of_a_sync(dtcal_emulator):
    from airflow_dtcal.operators.events import CreateEventOperator, SyncEventsOperator

    when = {"start": "2026-03-11T14:00:00+08:00", "end": "2026-03-11T15:00:00+08:00"}
    CreateEventOperator(
        task_id="t", organizer_id=LEAD_UNION, summary="One", client_token="my-key-1", **when
    ).execute(task_context("t"))
    SyncEventsOperator(
        task_id="s",
        organizer_id=LEAD_UNION,
        scope="trainings",
        client_token="my-key-2",
        events=[{"key": k, "summary": k, **when} for k in ("a", "b", "c")],
        time_min="2026-03-09T00:00:00+08:00",
        time_max="2026-03-16T00:00:00+08:00",
    ).execute(task_context("s"))
    creates = [r for r in dtcal_emulator.requests() if r["operation"] == "CreateEvent"]
    assert creates[0]["client_token"] == "my-key-1"
    tokens = [r["client_token"] for r in creates[1:]]
    assert len(set(tokens)) == 3 and "my-key-2" not in tokens
    assert dtcal_emulator.stats()["applied"]["CreateEvent"] == 4  # three events of the set, not one replayed
    assert json.dumps(sorted(e["summary"] for e in dtcal_emulator.events())) == '["One", "a", "b", "c"]'
