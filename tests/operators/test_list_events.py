"""Listing events in a window: ListEventsView (recurring series expanded) and ListEvents (as stored), through
the hook (sync and async, real HTTP) and ListEventsOperator (directly and in a real Airflow run)."""

from __future__ import annotations

import asyncio

import pendulum
import pytest

from airflow_dtcal.exceptions import DingTalkInvalidArgumentError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.operators.events import ListEventsOperator
from airflow_dtcal.planning.events import Recurrence, build_event
from tests.airflow_runs import run_dag
from tests.helpers import ROOT, load_module, task_context

ORG = "org-1"
MONDAY = pendulum.datetime(2026, 3, 9, tz="Asia/Shanghai")


@pytest.fixture
def series(dtcal_emulator) -> str:
    hook = DingTalkCalendarHook()
    weekly = build_event(
        summary="Weekly",
        start=MONDAY.set(hour=10),
        end=MONDAY.set(hour=11),
        recurrence=Recurrence.weekly("monday", "thursday", count=6),
    )
    hook.create_event(ORG, build_event(summary="Once", start=MONDAY.set(hour=15), end=MONDAY.set(hour=16)))
    return hook.create_event(ORG, weekly)["id"]


def test_hook_lists_occurrences_and_series(dtcal_emulator, series):
    hook = DingTalkCalendarHook()
    window = {"time_min": MONDAY, "time_max": MONDAY.add(weeks=2)}  # pendulum values work
    view = hook.list_events_view(ORG, page_size=2, **window)
    assert [(e["summary"], e["start"]["dateTime"]) for e in view] == [
        ("Weekly", "2026-03-09T10:00:00+08:00"),
        ("Once", "2026-03-09T15:00:00+08:00"),
        ("Weekly", "2026-03-12T10:00:00+08:00"),
        ("Weekly", "2026-03-16T10:00:00+08:00"),
        ("Weekly", "2026-03-19T10:00:00+08:00"),
    ]
    assert [
        r["query"]["timeMin"] for r in dtcal_emulator.requests() if r["operation"] == "ListEventsView"
    ] == ["2026-03-08T16:00:00Z"] * 3  # three pages of two
    assert asyncio.run(hook.alist_events_view(ORG, **window)) == view
    with pytest.raises(DingTalkInvalidArgumentError, match="time_max"):
        hook.list_events_view(ORG, time_min=MONDAY, time_max=None)
    with pytest.raises(DingTalkInvalidArgumentError, match="page_size"):
        hook.list_events_view(ORG, page_size=101, **window)


def test_operator_returns_occurrences_or_series(dtcal_emulator, series):
    def listing(**kwargs):
        return ListEventsOperator(
            task_id="list",
            user_id=ORG,
            time_min="2026-03-09T00:00:00+08:00",
            time_max="2026-03-16T00:00:00+08:00",
            **kwargs,
        ).execute(task_context("list"))

    assert [e.get("seriesMasterId") for e in listing()] == [series, None, series]
    assert sorted(e["summary"] for e in listing(expand_recurring=False)) == ["Once", "Weekly"]
    with pytest.raises(DingTalkInvalidArgumentError, match="time_max: must be after time_min"):
        ListEventsOperator(
            task_id="l", user_id=ORG, time_min="2026-03-09T00:00", time_max="2026-03-01T00:00"
        ).execute(task_context("l"))
    with pytest.raises(DingTalkInvalidArgumentError, match="show_deleted"):
        listing(show_deleted=True)


def test_list_flow_runs_in_airflow(airflow_db, dtcal_emulator, series):
    flow = load_module(ROOT / "tests" / "dags" / "dtcal_lifecycle_flow.py").list_flow
    result = run_dag(flow, logical_date=MONDAY)
    assert result.state == "success", result.task_states
    assert [e["start"]["dateTime"][:10] for e in result.xcom("occurrences")] == [
        "2026-03-09",
        "2026-03-09",
        "2026-03-12",
        "2026-03-16",
        "2026-03-19",
    ]
    assert len(result.xcom("as_stored")) == 2
