"""The scheduled example DAGs run end to end under dag.test() against the emulator, and import cleanly."""

from __future__ import annotations

import threading
import time

import pendulum

from tests.airflow_compat import dag_bag_class
from tests.airflow_runs import run_dag
from tests.helpers import ORGANIZER, ROOT, load_module, seed_event, statuses

EXAMPLES = ("dingtalk_weekly_review", "dingtalk_team_events", "dingtalk_response_followup")
MONDAY = pendulum.datetime(2026, 3, 9, 9, 10, tz="Asia/Shanghai")  # ISO week 11


def example(name: str):
    return load_module(ROOT / "dags" / f"{name}.py").dag


def test_dags_folder_imports_without_errors():
    bag = dag_bag_class()(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    assert set(EXAMPLES) <= set(bag.dag_ids)
    for name in EXAMPLES:
        dag = bag.dags[name]
        assert str(dag.schedule).startswith("10 "), f"{name}: scheduled off the top of the hour"
        assert "dingtalk" in dag.tags


def test_weekly_review_creates_the_event_and_syncs_the_rota(airflow_db, dtcal_emulator):
    result = run_dag(example("dingtalk_weekly_review"), logical_date=MONDAY)
    assert result.state == "success", result.task_states

    [event] = dtcal_emulator.events()
    assert event["id"] == result.xcom("create_review_event")
    assert event["summary"] == "Data platform weekly review (2026-03-09)"
    assert event["start"] == {"dateTime": "2026-03-09T16:00:00+08:00", "timeZone": "Asia/Shanghai"}
    assert event["end"] == {"dateTime": "2026-03-09T17:00:00+08:00", "timeZone": "Asia/Shanghai"}
    # Week 11, two on call from five engineers: positions (11 * 2) % 5 = 2 and 3.
    rota = ["union-lead-010", "union-eng-103", "union-eng-104"]
    assert result.xcom("on_call_rota") == rota
    assert set(statuses(dtcal_emulator, event["id"])) == {"union-organizer-001", *rota}
    assert result.xcom("sync_attendees") == {"added": rota, "removed": [], "unchanged": 0}


def test_team_events_maps_one_event_per_team_in_the_pool(airflow_db, dtcal_emulator):
    from airflow.models.pool import Pool

    Pool.create_or_update_pool(
        "dingtalk_calendar", slots=4, description="DingTalk Calendar API", include_deferred=False
    )
    dag = example("dingtalk_team_events")
    result = run_dag(dag, logical_date=pendulum.datetime(2026, 4, 1, 10, 10, tz="Asia/Shanghai"))
    assert result.state == "success", result.task_states
    assert {k: v for k, v in result.task_states.items() if k.startswith("create_team_event")} == {
        "create_team_event[0]": "success",
        "create_team_event[1]": "success",
        "create_team_event[2]": "success",
    }
    assert dag.get_task("create_team_event").partial_kwargs["pool"] == "dingtalk_calendar"

    events = {e["summary"]: e for e in dtcal_emulator.events()}
    assert set(events) == {
        "Ingestion monthly planning",
        "Modelling monthly planning",
        "Reporting monthly planning",
    }
    ids = [result.xcom("create_team_event", i) for i in range(3)]
    assert ids == [events[s]["id"] for s in sorted(events)]
    assert set(statuses(dtcal_emulator, events["Modelling monthly planning"]["id"])) == {
        "union-organizer-001",
        "union-chen-301",
        "union-dee-302",
        "union-eli-303",
    }
    for event in events.values():
        assert event["start"] == {"dateTime": "2026-04-03T14:00:00+08:00", "timeZone": "Asia/Shanghai"}
    # Every mapped task had its own idempotency key.
    tokens = {r["client_token"] for r in dtcal_emulator.requests() if r["operation"] == "CreateEvent"}
    assert len(tokens) == 3


def test_response_followup_defers_until_enough_accept_then_reports(
    airflow_db, dtcal_emulator, hook, capfd, caplog
):
    dag = example("dingtalk_response_followup")
    dag.get_task("wait_for_acceptances").poke_interval = 0.2  # the DAG polls every 15 minutes

    def attendees_answer():
        """Answer once the sensor has checked on the worker and the trigger has polled at least once."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            polls = [r for r in dtcal_emulator.requests() if r["operation"] == "ListAttendees"]
            if len(polls) >= 2:
                break
            time.sleep(0.05)
        event_id = polls[0]["path"].split("/")[-2]
        hook.respond_event("union-eng-101", event_id, "accepted")
        hook.respond_event("union-eng-102", event_id, "declined")
        hook.respond_event("union-eng-103", event_id, "accepted")
        hook.respond_event("union-eng-104", event_id, "accepted")

    responder = threading.Thread(target=attendees_answer, daemon=True)
    responder.start()
    result = run_dag(dag, logical_date=MONDAY)
    responder.join(timeout=5)

    assert result.state == "success", result.task_states
    event_id = result.xcom("create_retro")
    event = dtcal_emulator.event(event_id)
    assert event["start"]["dateTime"] == "2026-03-13T16:00:00+08:00"
    final = statuses(dtcal_emulator, event_id)
    assert result.xcom("wait_for_acceptances") == final
    assert result.xcom("report") == {
        "accepted": ["union-eng-101", "union-eng-103", "union-eng-104"],
        "declined": ["union-eng-102"],
        "tentative": [],
        "needsAction": [],
    }
    # One check on the worker, then the deferral: the trigger polled (with its own token) until 3 accepted.
    out, err = capfd.readouterr()
    logs = out + err + caplog.text  # Airflow logs to stdout until its logging is configured, then to logging
    assert "running trigger in line" in logs
    assert "polling again in 0.2s" in logs
    assert sum(r["operation"] == "ListAttendees" for r in dtcal_emulator.requests()) >= 3
    # One token per app per process: the trigger (run in line here) reuses the one the tasks fetched.
    assert dtcal_emulator.stats()["calls"]["GetAccessToken"] == 1


def test_a_decline_fails_one_sensor_and_skips_the_soft_one(airflow_db, dtcal_emulator):
    event_id = seed_event(dtcal_emulator, {"a": "accepted", "b": "declined"}, organizer=ORGANIZER)
    dag = load_module(ROOT / "tests" / "dags" / "dtcal_sched_decline.py").decline
    result = run_dag(dag, conf={"event_id": event_id, "must_accept": ["a", "b"]})
    assert result.task_states == {"strict": "failed", "lenient": "skipped"}
    assert result.state == "failed"


def test_example_modules_import_cheaply():
    """Parsing the example DAGs imports neither the hook nor requests (the scheduler parses them often)."""
    import subprocess
    import sys

    paths = [str(ROOT / "dags" / f"{name}.py") for name in EXAMPLES]
    code = (
        f"import runpy, sys\nfor path in {paths!r}: runpy.run_path(path)\n"
        "print(sorted(m for m in ('airflow_dtcal.hooks.calendar', 'requests') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
