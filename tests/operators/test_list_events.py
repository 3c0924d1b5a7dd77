"""Listing events in a window: ListEventsView (recurring series expanded) and ListEvents (as stored), through
the hook (sync and async, real HTTP) and ListEventsOperator (directly and in a real Airflow run)."""

from __future__ import annotations

import asyncio

import pendulum
import pytest

from airflow_dtcal.exceptions import DingTalkInvalidArgumentError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.operators.events import ListEventsOperator, ListInstancesOperator
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
    result = run_dag(flow, logical_date=MONDAY, conf={"series": series})
    assert result.state == "success", result.task_states
    instances = result.xcom("instances")
    assert [(e["seriesMasterId"], e["originStart"]["dateTime"]) for e in instances] == [
        (series, "2026-03-09T10:00:00+08:00"),
        (series, "2026-03-12T10:00:00+08:00"),
        (series, "2026-03-16T10:00:00+08:00"),
        (series, "2026-03-19T10:00:00+08:00"),
    ]
    assert [e["start"]["dateTime"][:10] for e in result.xcom("occurrences")] == [
        "2026-03-09",
        "2026-03-09",
        "2026-03-12",
        "2026-03-16",
        "2026-03-19",
    ]
    assert len(result.xcom("as_stored")) == 2


def test_hook_lists_the_instances_of_one_series(dtcal_emulator, series):
    hook = DingTalkCalendarHook()
    window = {"time_min": MONDAY.add(days=1), "time_max": MONDAY.add(weeks=3)}
    instances = hook.list_instances(ORG, series, page_size=2, **window)
    assert [(e["start"]["dateTime"], e["originStart"]["dateTime"]) for e in instances] == [
        ("2026-03-12T10:00:00+08:00", "2026-03-12T10:00:00+08:00"),
        ("2026-03-16T10:00:00+08:00", "2026-03-16T10:00:00+08:00"),
        ("2026-03-19T10:00:00+08:00", "2026-03-19T10:00:00+08:00"),
        ("2026-03-23T10:00:00+08:00", "2026-03-23T10:00:00+08:00"),
        ("2026-03-26T10:00:00+08:00", "2026-03-26T10:00:00+08:00"),
    ]  # the sixth and last is out of the window's start (2026-03-09)
    assert {e["seriesMasterId"] for e in instances} == {series} and len({e["id"] for e in instances}) == 5
    sent = [r for r in dtcal_emulator.requests() if r["operation"] == "ListInstances"]
    assert len(sent) == 3 and sent[0]["path"].endswith(f"/events/{series}/instances")
    assert sent[0]["query"]["timeMin"] == "2026-03-09T16:00:00Z"
    assert asyncio.run(hook.alist_instances(ORG, series, **window)) == instances
    calls = len(dtcal_emulator.requests())
    assert list(hook.iter_instances(ORG, series, page_size=4, **window)) == instances  # one at a time
    assert len(dtcal_emulator.requests()) == calls + 2  # two pages
    with pytest.raises(DingTalkInvalidArgumentError, match="time_min"):
        hook.list_instances(ORG, series, time_min=None, time_max=MONDAY)
    with pytest.raises(DingTalkInvalidArgumentError, match="page_size"):
        hook.list_instances(ORG, series, page_size=0, **window)
    before = len(dtcal_emulator.requests())
    with pytest.raises(DingTalkInvalidArgumentError, match="event_id"):
        hook.list_instances(ORG, " ", **window)
    assert len(dtcal_emulator.requests()) == before  # refused before any request


def test_a_one_off_event_is_its_own_only_instance_and_unknown_ids_are_not_found(dtcal_emulator, series):
    from airflow_dtcal.exceptions import DingTalkNotFoundError

    hook = DingTalkCalendarHook()
    once = hook.create_event(
        ORG, build_event(summary="One-off", start=MONDAY.set(hour=18), end=MONDAY.set(hour=19))
    )
    window = {"time_min": MONDAY, "time_max": MONDAY.add(days=1)}
    [only] = hook.list_instances(ORG, once["id"], **window)
    assert only["id"] == once["id"] and "seriesMasterId" not in only
    with pytest.raises(DingTalkNotFoundError):
        hook.list_instances(ORG, "no-such-event", **window)
    with pytest.raises(DingTalkNotFoundError):
        hook.list_instances("someone-else", series, **window)  # not the organizer nor an attendee


def test_list_instances_operator_checks_its_arguments_before_any_request(dtcal_emulator, series):
    def run(**kwargs):
        arguments = {"time_min": "2026-03-09T00:00:00+08:00", "time_max": "2026-03-16T00:00:00+08:00"}
        arguments.update(kwargs)
        return ListInstancesOperator(task_id="i", user_id=ORG, event_id=series, **arguments).execute(
            task_context("i")
        )

    assert [e["originStart"]["dateTime"][:10] for e in run()] == ["2026-03-09", "2026-03-12"]
    before = len(dtcal_emulator.requests())
    with pytest.raises(DingTalkInvalidArgumentError, match="time_max: must be after time_min"):
        run(time_max="2026-03-01T00:00:00+08:00")
    with pytest.raises(DingTalkInvalidArgumentError, match="time_max: must be at most a year"):
        run(time_max="2027-06-01T00:00:00+08:00")
    with pytest.raises(DingTalkInvalidArgumentError, match="max_attendees"):
        run(max_attendees=101)
    assert len(dtcal_emulator.requests()) == before


def test_one_occurrence_takes_no_write_and_splitting_the_series_is_the_documented_way(dtcal_emulator, series):
    """DingTalk documents no write on an occurrence id (docs/lifecycle.md): the emulator answers
    instanceNotExist, as DingTalk did; ending the series with PatchEvent's recurrence is documented."""
    from airflow_dtcal.exceptions import DingTalkNotFoundError
    from airflow_dtcal.planning.events import Recurrence

    hook = DingTalkCalendarHook()
    window = {"time_min": MONDAY, "time_max": MONDAY.add(weeks=3)}
    third = hook.list_instances(ORG, series, **window)[2]
    for write in (
        lambda: hook.patch_event(ORG, third["id"], {"summary": "Moved"}),
        lambda: hook.cancel_event(ORG, third["id"]),
        lambda: hook.delete_event(ORG, third["id"]),
    ):
        with pytest.raises(DingTalkNotFoundError, match="instanceNotExist"):
            write()
    # Split: the series ends before the third occurrence; the rest would be a new series.
    until = Recurrence.weekly("monday", "thursday", until="2026-03-15")
    hook.patch_event(ORG, series, {"recurrence": until})
    left = hook.list_instances(ORG, series, **window)
    assert [e["originStart"]["dateTime"][:10] for e in left] == ["2026-03-09", "2026-03-12"]
