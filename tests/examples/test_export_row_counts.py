"""The daily export example declares the ``dingtalk_calendar_export`` asset as its export's outlet; a finished
export records an asset event naming the partition it wrote, and the row-count example DAG, scheduled on that
asset, counts that partition's rows from the files."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from tests.helpers import ROOT, load_module
from tests.transfers.test_export_in_airflow import MONDAY_RUN, TEAM, meeting, run_day

EXPORT = ROOT / "dags" / "dingtalk_daily_export.py"
COUNTS = ROOT / "dags" / "dingtalk_export_row_counts.py"


def test_the_row_counts_dag_is_scheduled_on_the_export_s_outlet(monkeypatch):
    monkeypatch.setenv("DTCAL_EXPORT_DESTINATION", "s3://aws_default@my-bucket/dingtalk")
    export, counts = load_module(EXPORT), load_module(COUNTS)
    [outlet] = export.dag.get_task("export_team_calendars").outlets
    [scheduled_on] = counts.dag.timetable.asset_condition.objects
    assert (outlet.name, outlet.uri) == (scheduled_on.name, scheduled_on.uri)
    assert outlet.uri == "s3://my-bucket/dingtalk"  # the destination without the connection's name
    assert export.dag.params["destination"] == "s3://aws_default@my-bucket/dingtalk"


@pytest.mark.airflow
def test_an_export_leaves_an_asset_event_and_the_counts_dag_reads_its_partition(
    airflow_db, dtcal_emulator, hook, tmp_path
):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    hook.create_event(TEAM[0], meeting("Planning", 10))
    run = run_day(tmp_path, MONDAY_RUN)
    export = run.xcom("export_team_calendars")

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(
                AssetModel.name == "dingtalk_calendar_export",
                AssetEvent.source_run_id == run.run_id,
            )
        ).all()
        extras = [dict(e.extra) for e in events]
    assert extras == [
        {"path": f"file://{tmp_path}", "partition": export["partition"], "rows": export["rows"]}
    ]

    # The downstream task, given the events as Airflow passes them (keyed by asset).
    count_rows = load_module(COUNTS).dag.get_task("count_rows").python_callable
    given = {"dingtalk_calendar_export": [SimpleNamespace(extra=extra) for extra in extras]}
    assert count_rows(triggering_asset_events=given) == [
        {
            "partition": export["partition"],
            "rows": {"events": 3, "attendees": 9, "calendars": len(TEAM)},
        }
    ]
    # Planning is in the three calendars, with its three people (organizer included) in each.
    assert {k: v for k, v in export["rows"].items() if v is not None} == {"events": 3, "attendees": 9}

    # A partition being replaced (no _SUCCESS) fails the count rather than reading half a table.
    (tmp_path / "events" / export["partition"] / "_SUCCESS").unlink()
    with pytest.raises(ValueError, match="incomplete"):
        count_rows(triggering_asset_events=given)
    # An event that does not name an export partition is refused: nothing outside the tables is read.
    bad = {
        "dingtalk_calendar_export": [
            SimpleNamespace(extra={"path": f"file://{tmp_path}", "partition": "../x"})
        ]
    }
    with pytest.raises(ValueError, match="does not name an export partition"):
        count_rows(triggering_asset_events=bad)


def test_parsing_the_export_examples_imports_neither_the_hook_nor_requests():
    """(httpx is imported by Airflow's own task SDK, so it is not checked here.)"""
    code = (
        f"import runpy, sys\nfor path in {[str(EXPORT), str(COUNTS)]!r}: runpy.run_path(path)\n"
        "print(sorted(m for m in ('airflow_dtcal.hooks.calendar', 'requests') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
