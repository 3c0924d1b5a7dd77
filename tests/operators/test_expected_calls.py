"""Operators declare the DingTalk calls they expect (``expected_calls``); with ``monthly_budget`` the base
refuses a task the month cannot pay for whole, before its first request, in a real Airflow (``dag.test()``)."""

from __future__ import annotations

import json

import pytest

from tests.airflow_runs import run_dag
from tests.helpers import ROOT, load_module


@pytest.fixture(scope="module")
def flows():
    return load_module(ROOT / "tests" / "dags" / "dtcal_budget_flow.py")


def _budget(emulator, monkeypatch, calls: int) -> None:
    conn = json.loads(emulator.connection_json())
    conn["extra"] = {"monthly_budget": calls}
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT", json.dumps(conn))


def test_a_task_whose_expected_calls_exceed_what_is_left_is_refused_before_any_request(
    airflow_db, dtcal_emulator, flows, monkeypatch, caplog, capfd
):
    _budget(dtcal_emulator, monkeypatch, 3)  # create spends 1; invite_all expects 3 of the 2 left
    result = run_dag(flows.budget)
    assert result.task_states == {"create": "success", "invite_all": "failed"}, result.task_states
    stats = dtcal_emulator.stats()
    assert stats["calls"]["AddAttendee"] == 0  # refused whole, not cut off after two of its three calls
    assert stats["counted_total"] == 1 and stats["calls"]["CreateEvent"] == 1
    # Airflow 3.0 prints the task's traceback with rich, wrapping the message's lines: read it as words.
    logs = " ".join((caplog.text + "".join(capfd.readouterr())).split())
    assert "DingTalkMonthlyBudgetError" in logs
    assert "this task expects 3 DingTalk calls but only 2 of this app's 3" in logs


def test_a_task_the_budget_pays_for_runs(airflow_db, dtcal_emulator, flows, monkeypatch):
    _budget(dtcal_emulator, monkeypatch, 4)  # 1 + 3: exactly enough
    result = run_dag(flows.budget)
    assert result.state == "success", result.task_states
    stats = dtcal_emulator.stats()
    assert stats["calls"]["AddAttendee"] == 3 and stats["counted_total"] == 4
    [event] = dtcal_emulator.events()
    assert len(dtcal_emulator.attendees(event["id"])) >= 1200
