"""One event per intended occurrence: event keys (pure), finding an event by key (hook, real HTTP) and
EnsureEventOperator across runs, clears, backfills and days (operators called directly and in real DAG runs).
"""

from __future__ import annotations

import asyncio

import pendulum
import pytest

from airflow_dtcal import payloads
from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.exceptions import DingTalkInvalidArgumentError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.operators.events import EnsureEventOperator
from airflow_dtcal.planning.markers import Markers, check_event_key
from tests.airflow_runs import run_dag
from tests.helpers import ROOT, load_module, task_context

ORGANIZER = "org"
KEY = "review 2026-W11"


def live(emulator) -> list[dict]:
    return [e for e in emulator.events() if e["status"] != "cancelled"]


# --------------------------------------------------------------------------------------------- pure


MARKERS = Markers("a-test-app-secret")


def test_a_marker_is_short_and_keyed_by_the_app_secret_organizer_calendar_key_and_event():
    marker = MARKERS.event(ORGANIZER, "primary", KEY, "ev-1")
    assert marker == MARKERS.event(ORGANIZER, "primary", f"  {KEY} ", "ev-1")
    assert marker.startswith("[airflow-dtcal:2:") and marker.endswith("]") and len(marker) == 40
    assert "2026" not in marker
    others = [
        Markers("another-app-secret").event(ORGANIZER, "primary", KEY, "ev-1"),
        MARKERS.event("someone-else", "primary", KEY, "ev-1"),
        MARKERS.event(ORGANIZER, "other-calendar", KEY, "ev-1"),
        MARKERS.event(ORGANIZER, "primary", "review 2026-W12", "ev-1"),
        MARKERS.event(ORGANIZER, "primary", KEY, "ev-2"),
    ]
    assert marker not in others and len(set(others)) == len(others)
    assert marker != payloads_legacy(KEY)  # the previous release's plain hash of the key


def payloads_legacy(key: str) -> str:
    from airflow_dtcal.planning.markers import legacy_event_marker

    return legacy_event_marker(key)


def test_markers_never_show_their_key():
    import json
    import pickle

    assert "a-test-app-secret" not in repr(MARKERS) and "key hidden" in repr(MARKERS)
    with pytest.raises(TypeError):
        pickle.dumps(MARKERS)
    with pytest.raises(TypeError):
        json.dumps(MARKERS)
    with pytest.raises(ValueError):
        Markers("")


def test_with_marker_appends_one_marker_line_and_keeps_within_the_limit():
    marker = MARKERS.event(ORGANIZER, "primary", KEY, "ev-1")
    assert payloads.with_marker(None, marker) == marker
    marked = payloads.with_marker("Agenda\n", marker)
    assert marked == "Agenda\n\n" + marker
    assert payloads.with_marker(marked, marker) == marked
    again = MARKERS.event(ORGANIZER, "primary", KEY, "ev-2")
    assert payloads.with_marker(marked, again) == "Agenda\n\n" + again  # the marker line is replaced
    legacy = "Agenda\n\n" + payloads_legacy(KEY)
    assert payloads.with_marker(legacy, marker) == marked  # so is the previous release's
    with pytest.raises(InvalidArgumentError, match="description: leaves no room .* 4,958 characters"):
        payloads.with_marker("x" * 4990, marker)


@pytest.mark.parametrize("key", [None, "", "   ", 42, "k" * 1025])
def test_bad_keys_name_the_argument(key):
    with pytest.raises(InvalidArgumentError, match="^dedup_key: "):
        check_event_key(key)


def test_search_window_widens_the_event_span():
    timed = payloads.build_event(
        summary="s", start="2026-03-09T16:00:00+08:00", end="2026-03-09T17:00:00+08:00"
    )
    assert payloads.key_search_window(timed, 7) == ("2026-03-02T08:00:00Z", "2026-03-16T09:00:00Z")
    assert payloads.key_search_window(timed, 0) == ("2026-03-08T08:00:00Z", "2026-03-10T09:00:00Z")
    all_day = payloads.build_event(summary="s", start=pendulum.date(2026, 3, 9))
    assert payloads.key_search_window(all_day, 1) == ("2026-03-08T00:00:00Z", "2026-03-11T00:00:00Z")
    for days in (-1, 181, 1.5, True):
        with pytest.raises(InvalidArgumentError, match="^dedup_window_days: "):
            payloads.key_search_window(timed, days)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-03-09T16:00:00+08:00", "2026-03-09T17:00:00+08:00"),
        ("2026-03-09T16:00:00", "2026-03-09T17:00:00"),  # offset-less: read in its timeZone, not as UTC
        ("2026-03-09T08:00:00Z", "2026-03-09T09:00:00Z"),
    ],
)
def test_key_search_window_reads_both_stored_forms_by_instant(start, end):
    event = {"start": {"dateTime": start, "timeZone": "Asia/Shanghai"}}
    event["end"] = {"dateTime": end, "timeZone": "Asia/Shanghai"}
    assert payloads.key_search_window(event, 0) == ("2026-03-08T08:00:00Z", "2026-03-10T09:00:00Z")
    with pytest.raises(InvalidArgumentError, match=r"^start\.dateTime: has no UTC offset"):
        payloads.key_search_window({"start": {"dateTime": "2026-03-09T16:00:00"}}, 0)


# --------------------------------------------------------------------------------------------- hook


def _event(hook: DingTalkCalendarHook, summary: str, day: int, key: str | None, organizer=ORGANIZER) -> str:
    """An event made the way EnsureEventOperator makes one: created, then marked with ``key`` for its id."""
    body = payloads.build_event(
        summary=summary, start=f"2026-03-{day:02d}T16:00:00+08:00", end=f"2026-03-{day:02d}T17:00:00+08:00"
    )
    event_id = hook.create_event(organizer, body)["id"]
    if key is not None:
        hook.mark_event(organizer, event_id, key, description="Agenda")
    return event_id


def test_find_event_by_key_sees_only_live_events_with_the_key_in_the_window(dtcal_emulator):
    hook = DingTalkCalendarHook()
    window = {"time_min": "2026-03-02T00:00:00Z", "time_max": "2026-03-16T00:00:00Z"}
    _event(hook, "unkeyed", 9, None)
    _event(hook, "other key", 9, "review 2026-W12")
    _event(hook, "outside", 20, KEY)
    gone = _event(hook, "deleted", 9, KEY)
    hook.delete_event(ORGANIZER, gone)
    assert hook.find_event_by_key(ORGANIZER, KEY, **window) is None
    wanted = _event(hook, "wanted", 10, KEY)
    found = hook.find_event_by_key(ORGANIZER, KEY, **window)
    assert found["id"] == wanted and found["description"].startswith("Agenda\n\n[airflow-dtcal:2:")
    assert hook.find_event_by_key("someone-else", KEY, **window) is None
    found = asyncio.run(hook.afind_event_by_key(ORGANIZER, KEY, **window))
    assert found["id"] == wanted
    with pytest.raises(DingTalkInvalidArgumentError, match="dedup_key"):
        hook.find_event_by_key(ORGANIZER, "", **window)


def test_a_marker_made_with_another_app_secret_does_not_verify(dtcal_emulator, monkeypatch):
    import json

    hook = DingTalkCalendarHook()
    _event(hook, "wanted", 10, KEY)
    conn = json.loads(__import__("os").environ["AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT", json.dumps({**conn, "password": "rotated"}))
    window = {"time_min": "2026-03-02T00:00:00Z", "time_max": "2026-03-16T00:00:00Z"}
    assert DingTalkCalendarHook().find_event_by_key(ORGANIZER, KEY, **window) is None


# --------------------------------------------------------------------------------------------- operator


def ensure(**overrides) -> EnsureEventOperator:
    kwargs = {
        "task_id": "ensure",
        "organizer_id": ORGANIZER,
        "dedup_key": KEY,
        "summary": "Weekly review",
        "description": "Agenda",
        "start": "2026-03-09T16:00:00+08:00",
        "end": "2026-03-09T17:00:00+08:00",
        **overrides,
    }
    return EnsureEventOperator(**kwargs)


def test_ensure_creates_once_across_runs_and_days(dtcal_emulator):
    first = ensure().execute(task_context("ensure", run_id="manual__2026-03-09T03:00"))
    [event] = live(dtcal_emulator)
    marker = DingTalkCalendarHook().markers().event(ORGANIZER, "primary", KEY, first)
    assert event["id"] == first and event["description"] == "Agenda\n\n" + marker
    dtcal_emulator.expire_client_tokens()  # days later: DingTalk no longer knows the create's client token
    for run_id in ("manual__2026-03-10T08:00", "backfill__2026-03-09T01:10", "scheduled__2026-03-09T01:10"):
        assert ensure().execute(task_context("ensure", run_id=run_id)) == first
    # Moved by a person two days later: still the same event (the search looks a week around).
    DingTalkCalendarHook().patch_event(
        ORGANIZER,
        first,
        {
            "start": {"dateTime": "2026-03-11T16:00:00+08:00", "timeZone": "Asia/Shanghai"},
            "end": {"dateTime": "2026-03-11T17:00:00+08:00", "timeZone": "Asia/Shanghai"},
        },
    )
    assert ensure().execute(task_context("ensure", run_id="manual__2026-03-12")) == first
    assert [e["id"] for e in live(dtcal_emulator)] == [first]
    assert dtcal_emulator.stats()["applied"]["CreateEvent"] == 1


def test_ensure_creates_again_when_the_event_was_deleted(dtcal_emulator):
    first = ensure().execute(task_context("ensure", run_id="manual__1"))
    DingTalkCalendarHook().delete_event(ORGANIZER, first)
    second = ensure().execute(task_context("ensure", run_id="manual__2"))
    assert second != first and [e["id"] for e in live(dtcal_emulator)] == [second]


def test_ensure_refuses_bad_arguments_before_any_request(dtcal_emulator):
    with pytest.raises(DingTalkInvalidArgumentError, match="dedup_key"):
        ensure(dedup_key=" ").execute(task_context("ensure"))
    with pytest.raises(DingTalkInvalidArgumentError, match="dedup_window_days"):
        ensure(dedup_window_days=400).execute(task_context("ensure"))
    assert dtcal_emulator.requests() == []


# --------------------------------------------------------------------------------------------- DAG runs

MONDAY = pendulum.datetime(2026, 3, 9, 9, 10, tz="Asia/Shanghai")  # ISO week 11


def weekly_review():
    return load_module(ROOT / "dags" / "dingtalk_weekly_review.py").dag


def test_weekly_example_run_three_ways_for_one_week_leaves_one_event(airflow_db, dtcal_emulator):
    dag = weekly_review()
    # A manual run for Monday, triggered on Monday.
    first = run_dag(dag, logical_date=MONDAY, run_after=MONDAY.add(hours=2))
    assert first.state == "success", first.task_states
    event_id = first.xcom("create_review_event")
    # Another manual run on Tuesday, for "now" (a logical date in the same week).
    tuesday = run_dag(dag, logical_date=MONDAY.add(days=1, hours=5), run_after=MONDAY.add(days=1, hours=5))
    # A clear of Monday's run the next day: DingTalk has forgotten the first create's client token.
    dtcal_emulator.expire_client_tokens()
    cleared = run_dag(dag, logical_date=MONDAY, run_after=MONDAY.add(days=1, hours=6))
    # A backfill of Monday two days later.
    dtcal_emulator.expire_client_tokens()
    backfill = run_dag(dag, logical_date=MONDAY, run_after=MONDAY.add(days=2))
    for result in (tuesday, cleared, backfill):
        assert result.state == "success", result.task_states
        assert result.xcom("create_review_event") == event_id
    assert len({first.run_id, tuesday.run_id, cleared.run_id, backfill.run_id}) == 4
    [event] = live(dtcal_emulator)
    assert event["id"] == event_id
    assert event["start"] == {"dateTime": "2026-03-09T16:00:00+08:00", "timeZone": "Asia/Shanghai"}
    assert dtcal_emulator.stats()["applied"]["CreateEvent"] == 1
    # The next week is a new event.
    next_week = run_dag(dag, logical_date=MONDAY.add(weeks=1), run_after=MONDAY.add(weeks=1))
    assert next_week.state == "success" and next_week.xcom("create_review_event") != event_id
    assert len(live(dtcal_emulator)) == 2


def test_weekly_example_reads_the_logical_date_not_the_data_interval(airflow_db):
    """On Airflow 3.3 a triggered manual run's data interval is the trigger time; the example ignores it."""
    import types

    dag = weekly_review()
    task = dag.get_task("create_review_event")
    thursday = MONDAY.add(days=3, hours=5)  # when the run was triggered
    context = {
        "logical_date": MONDAY,
        "data_interval_start": thursday,
        "data_interval_end": thursday,
        "dag_run": types.SimpleNamespace(run_after=thursday),
        "params": {"organizer": "union-organizer-001"},
        "dag": dag,
    }
    task.render_template_fields(context)
    assert (task.start, task.end) == ("2026-03-09 16:00:00+08:00", "2026-03-09 17:00:00+08:00")
    assert task.dedup_key == "data-platform-weekly-review 2026-W11"
    assert task.summary == "Data platform weekly review (2026-03-09)"
    # A run without a logical date uses the time it was triggered for.
    task = weekly_review().get_task("create_review_event")
    task.render_template_fields({**context, "logical_date": None, "dag": dag})
    assert task.start == "2026-03-09 16:00:00+08:00"
    assert task.dedup_key == "data-platform-weekly-review 2026-W11"


def test_expiring_client_tokens_makes_a_repeated_create_a_new_one(dtcal_emulator):
    from airflow_dtcal.testing import EmulatorAdmin

    hook = DingTalkCalendarHook()
    body = payloads.build_event(
        summary="s", start="2026-03-09T16:00:00+08:00", end="2026-03-09T17:00:00+08:00"
    )
    first = hook.create_event(ORGANIZER, body, client_token="same-token")["id"]
    assert hook.create_event(ORGANIZER, body, client_token="same-token")["id"] == first
    EmulatorAdmin(dtcal_emulator.base_url).expire_client_tokens()  # over the admin HTTP endpoint
    assert hook.create_event(ORGANIZER, body, client_token="same-token")["id"] != first
    assert len(live(dtcal_emulator)) == 2
