"""The dtcal_dag_test fixture: a DAG from a folder no bundle holds runs in one line, by object or by path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

DAG_FILE = """
import pendulum
from airflow.sdk import DAG
from airflow_dtcal.operators.events import CreateEventOperator

with DAG("fixture_probe", schedule=None, start_date=pendulum.datetime(2026, 1, 5, tz="Asia/Shanghai")) as dag:
    CreateEventOperator(
        task_id="create_event",
        organizer_id="union-organizer-001",
        attendees=["union-alice-002"],
        summary="Probe {{ run_id }}",
        start=pendulum.datetime(2026, 12, 1, 10, tz="Asia/Shanghai"),
        end=pendulum.datetime(2026, 12, 1, 11, tz="Asia/Shanghai"),
    )
"""


@pytest.fixture
def dag_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "user_project" / "dags"
    folder.mkdir(parents=True)
    (folder / "probe.py").write_text(DAG_FILE)
    return folder


def test_a_dag_by_path_runs_against_the_emulator(airflow_db, dtcal_dag_test, dtcal_emulator, dag_folder):
    run = dtcal_dag_test(dag_folder / "probe.py")
    assert run.succeeded, run.task_states
    assert run.task_states == {"create_event": "success"}
    (event,) = dtcal_emulator.events()
    assert run.xcom("create_event") == event["id"]
    assert event["summary"] == f"Probe {run.run_id}"
    # the DAG's folder became a bundle of its own, for this test only
    bundles = json.loads(os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"])
    assert {"name": "dtcal-dag-test", "path": str(dag_folder.resolve())} in [
        {"name": b["name"], "path": b["kwargs"].get("path")} for b in bundles
    ]


def test_a_dag_object_in_a_configured_bundle_adds_no_bundle(airflow_db, dtcal_dag_test, dtcal_emulator):
    from tests.helpers import ROOT, load_module

    before = os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"]
    dag = load_module(ROOT / "dags" / "dingtalk_event_attendees.py").dag
    run = dtcal_dag_test(dag)
    assert run.succeeded, run.task_states
    assert os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] == before
    assert len(dtcal_emulator.events()) == 1


def test_a_file_with_two_dags_needs_a_dag_id(airflow_db, dtcal_dag_test, dag_folder):
    second = DAG_FILE.replace('"fixture_probe"', '"second"').replace("as dag:", "as dag2:")
    (dag_folder / "two.py").write_text(DAG_FILE + second)
    with pytest.raises(ValueError, match="defines 2 DAGs"):
        dtcal_dag_test(dag_folder / "two.py")
