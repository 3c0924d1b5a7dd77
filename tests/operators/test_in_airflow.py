"""Operators in a real Airflow (dag.test(), sqlite metadata DB) against the emulator over real HTTP."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.airflow_runs import run_dag

ROOT = Path(__file__).resolve().parents[2]


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def test_dags():
    return load_module(ROOT / "tests" / "dags" / "dtcal_test_flow.py")


def test_example_dag_runs_end_to_end(airflow_db, dtcal_emulator):
    example = load_module(ROOT / "dags" / "dingtalk_event_attendees.py")
    result = run_dag(example.dag)
    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}

    event_id = result.xcom("create_event")
    event = dtcal_emulator.event(event_id)
    assert event["summary"] == "Quarterly data platform review"
    final = {a["id"]: a["responseStatus"] for a in dtcal_emulator.attendees(event_id)}
    assert final == {
        "union-organizer-001": "accepted",
        "union-alice-002": "accepted",
        "union-bob-003": "needsAction",
    }
    # The listing tasks returned what the emulator held at their time.
    assert {a["id"] for a in result.xcom("list_attendees")} == {
        "union-organizer-001",
        "union-alice-002",
        "union-bob-003",
        "union-carol-004",
    }
    assert {a["id"]: a["responseStatus"] for a in result.xcom("final_attendees")} == final
    assert result.xcom("add_attendees") == ["union-alice-002", "union-bob-003", "union-carol-004"]
    assert result.xcom("respond_accept") == {"id": "union-alice-002", "responseStatus": "accepted"}
    assert dtcal_emulator.stats()["applied"]["CreateEvent"] == 1


def test_event_id_travels_through_xcom_every_way(airflow_db, dtcal_emulator, test_dags):
    result = run_dag(test_dags.xcom_flow)
    assert result.state == "success", result.task_states
    event_id = result.xcom("create_event")
    event = dtcal_emulator.event(event_id)
    # The UTC templated start is shown in the DAG's time zone.
    assert event["start"] == {"dateTime": "2026-12-01T10:00:00+08:00", "timeZone": "Asia/Shanghai"}
    assert event["summary"].startswith("Review for ")
    assert event["reminders"] == [{"method": "dingtalk", "minutes": "30"}]
    statuses = {a["id"]: a["responseStatus"] for a in result.xcom("list_attendees")}
    assert statuses == {
        "org-1": "accepted",
        "rota-1": "needsAction",
        "rota-2": "declined",
        "rota-3": "needsAction",
    }
    # Each write carried a client token derived from the task instance.
    writes = [
        r
        for r in dtcal_emulator.requests()
        if r["operation"] in ("CreateEvent", "AddAttendee", "RemoveAttendee")
    ]
    assert all(r["client_token"] and len(r["client_token"]) == 32 for r in writes)


def test_airflow_task_retry_after_a_lost_reply_creates_one_event(
    airflow_db, dtcal_emulator, test_dags, monkeypatch
):
    conn = json.loads(dtcal_emulator.connection_json(dtcal_emulator.app_key, dtcal_emulator.app_secret))
    conn["extra"] = {"max_attempts": 1}
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_CALENDAR_NO_RETRY", json.dumps(conn))
    dtcal_emulator.reset_after(count=1, operation="CreateEvent")  # created, but the reply is lost
    result = run_dag(test_dags.task_retry)
    assert result.state == "success", result.task_states
    creates = [r for r in dtcal_emulator.requests() if r["operation"] == "CreateEvent"]
    assert len(creates) == 2  # the first try, then the Airflow retry
    assert creates[0]["client_token"] == creates[1]["client_token"]
    stats = dtcal_emulator.stats()
    assert stats["applied"]["CreateEvent"] == 1 and stats["replayed"]["CreateEvent"] == 1
    assert [e["id"] for e in dtcal_emulator.events()] == [result.xcom("create_event")]


def test_delete_operator_and_ignore_missing(airflow_db, dtcal_emulator, test_dags):
    result = run_dag(test_dags.delete_flow)
    assert result.state == "success", result.task_states
    event = dtcal_emulator.event(result.xcom("create_event"))
    assert event["status"] == "cancelled"
    assert event["start"] == {"date": "2026-12-24"} and event["end"] == {"date": "2026-12-25"}
