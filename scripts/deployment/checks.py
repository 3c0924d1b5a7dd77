"""What the finished deployment must show, read through Airflow's REST API and the emulator's admin API.

Each check returns the lines it verified (printed as "ok") and raises AssertionError with the evidence
when something is off.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

from deployment import APP_SECRET, Deployment
from scenarios import (
    EXPECTED_EVENTS,
    FOLLOWUP,
    ORGANIZER,
    RETRO_ANSWERS,
    ROW_COUNTS,
    RUNS,
    TEAM_SHARING,
    WEEK_11_ROTA,
)

from airflow_dtcal.testing import EmulatorAdmin

SENSOR = "wait_for_acceptances"


def _key(ti: dict) -> str:
    return ti["task_id"] if ti["map_index"] == -1 else f"{ti['task_id']}[{ti['map_index']}]"


def _statuses(admin: EmulatorAdmin, event_id: str) -> dict[str, str]:
    return {a["id"]: a["responseStatus"] for a in admin.attendees(event_id)}


def _lines(path: Path) -> list[tuple[datetime, str]]:
    """(time, message) of each JSON line of an Airflow task or trigger log file (UTC; 3.3 ends the time
    with "Z", 3.0 does not); other lines are left out."""
    lines = []
    for line in path.read_text(errors="replace").splitlines() if path.is_file() else []:
        try:
            record = json.loads(line)
            when = datetime.fromisoformat(str(record["timestamp"]).removesuffix("Z"))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        lines.append((when, str(record.get("event", ""))))
    return lines


def _event_ids(admin: EmulatorAdmin) -> dict[str, str]:
    return {e["summary"]: e["id"] for e in admin.events()}


def check_runs(deployment: Deployment, run_ids: dict[str, str]) -> list[str]:
    """Every task instance succeeded, each in a process of its own; the XComs carried the right values."""
    api, admin = deployment.api, EmulatorAdmin(deployment.emulator_url)
    done, pids = [], {}
    for run in RUNS:
        tis = {_key(ti): ti for ti in api.task_instances(run.dag_id, run_ids[run.dag_id])}
        assert set(tis) == run.tasks, (
            f"{run.dag_id}: task instances {sorted(tis)}, expected {sorted(run.tasks)}"
        )
        states = {key: ti["state"] for key, ti in tis.items()}
        assert set(states.values()) == {"success"}, f"{run.dag_id}: task states {states}"
        pids.update({(run.dag_id, key): ti["pid"] for key, ti in tis.items()})
        done.append(f"{run.dag_id}: all {len(tis)} task instances succeeded ({', '.join(sorted(tis))})")
    assert None not in pids.values() and len(set(pids.values())) == len(pids), f"task process ids: {pids}"
    done.append(f"each of the {len(pids)} task instances ran in its own process (distinct pids)")

    ids = _event_ids(admin)
    requests = admin.requests()

    def used_by(event_id: str) -> Counter:
        return Counter(r["operation"] for r in requests if f"/events/{event_id}" in r["path"])

    run_id = run_ids["dingtalk_event_attendees"]
    event_id = api.xcom("dingtalk_event_attendees", run_id, "create_event")
    assert event_id == ids["Quarterly data platform review"], (event_id, ids)
    calls = used_by(event_id)
    for operation in ("AddAttendee", "ListAttendees", "RespondEvent", "RemoveAttendee"):
        assert calls[operation] >= 1, f"no {operation} call on event {event_id}: {calls}"
    listed = api.xcom("dingtalk_event_attendees", run_id, "final_attendees")
    assert {a["id"]: a["responseStatus"] for a in listed} == _statuses(admin, event_id), listed
    done.append(
        f"dingtalk_event_attendees: event id {event_id} pushed by create_event, used by the 5 downstream "
        f"task processes ({dict(calls)}); final_attendees' XCom matches the emulator"
    )

    run_id = run_ids["dingtalk_weekly_review"]
    event_id = api.xcom("dingtalk_weekly_review", run_id, "create_review_event")
    assert event_id == ids["Data platform weekly review (2026-03-09)"], (event_id, ids)
    assert api.xcom("dingtalk_weekly_review", run_id, "on_call_rota") == WEEK_11_ROTA
    sync = api.xcom("dingtalk_weekly_review", run_id, "sync_attendees")
    assert sync == {"added": WEEK_11_ROTA, "removed": [], "unchanged": 0}, sync
    assert used_by(event_id)["AddAttendee"] == 1, used_by(event_id)
    done.append(
        f"dingtalk_weekly_review: event id {event_id} and the rota {WEEK_11_ROTA} crossed from two task "
        f"processes to sync_attendees, which added exactly the rota ({sync})"
    )

    run_id = run_ids["dingtalk_team_events"]
    mapped = [api.xcom("dingtalk_team_events", run_id, "create_team_event", i) for i in range(3)]
    teams = ["Ingestion monthly planning", "Modelling monthly planning", "Reporting monthly planning"]
    assert mapped == [ids[s] for s in teams], (mapped, ids)
    invitations = api.xcom("dingtalk_team_events", run_id, "team_invitations")
    assert [i["summary"] for i in invitations] == teams, invitations
    done.append(
        f"dingtalk_team_events: team_invitations' XCom expanded into 3 mapped tasks; their ids {mapped}"
    )

    run_id = run_ids["dingtalk_daily_export"]
    export = api.xcom("dingtalk_daily_export", run_id, "export_team_calendars")
    root = deployment.workdir / "export"
    markers = sorted(p.parent.parent.name for p in root.glob("*/interval_start=*/_SUCCESS"))
    tables = ["attendees", "calendars", "events"]
    assert export["path"].rstrip("/").endswith(str(root)) and markers == tables, (
        export,
        markers,
    )
    assert api.xcom("dingtalk_daily_export", run_id, "summarize").startswith(export["partition"]), export
    done.append(
        f"dingtalk_daily_export: partition {export['partition']} written under the deployment's directory "
        f"({export['rows']}, mode {export['mode']}), each table with its _SUCCESS marker"
    )
    counted = api.xcom(ROW_COUNTS, run_ids[ROW_COUNTS], "count_rows")
    reported = {table: n for table, n in export["rows"].items() if n is not None}  # None: not exported
    assert len(counted) == 1 and counted[0]["partition"] == export["partition"], (counted, export)
    assert reported and {t: counted[0]["rows"].get(t) for t in reported} == reported, (counted, export)
    done.append(
        f"{ROW_COUNTS}: run by the scheduler on the export's asset event; counted the rows the export "
        f"reported in its partition ({counted[0]['rows']})"
    )

    run_id = run_ids["dingtalk_team_calendar"]
    calendar_id = api.xcom("dingtalk_team_calendar", run_id, "ensure_team_calendar")
    shared = api.xcom("dingtalk_team_calendar", run_id, "share_team_calendar")
    # (the order of "added" follows the table's, which XCom may hand over with its keys sorted)
    assert sorted(shared.pop("added")) == sorted(TEAM_SHARING), shared
    assert shared == {"changed": [], "removed": [], "unchanged": 0}, shared
    subscribed = api.xcom("dingtalk_team_calendar", run_id, "subscribe_team")
    assert sorted(subscribed) == sorted(TEAM_SHARING), subscribed
    on_calendar = Counter(r["operation"] for r in requests if f"/calendars/{calendar_id}" in r["path"])
    created = [r for r in requests if r["operation"] == "CreateSubscribedCalendar"]
    assert len(created) == 1 and on_calendar["CreateAcls"] == len(TEAM_SHARING), (created, on_calendar)
    done.append(
        f"dingtalk_team_calendar: calendar {calendar_id} created once by ensure_team_calendar, reached "
        f"share_team_calendar and subscribe_team through XCom; shared as {TEAM_SHARING} ({dict(on_calendar)})"
    )

    run_id = run_ids[FOLLOWUP]
    event_id = api.xcom(FOLLOWUP, run_id, "create_retro")
    assert event_id == ids["Sprint retro (2026-03-13)"], (event_id, ids)
    final = _statuses(admin, event_id)
    assert api.xcom(FOLLOWUP, run_id, SENSOR) == final, (api.xcom(FOLLOWUP, run_id, SENSOR), final)
    report = api.xcom(FOLLOWUP, run_id, "report")
    expected = {
        "accepted": [a for a, s in RETRO_ANSWERS.items() if s == "accepted"],
        "declined": [a for a, s in RETRO_ANSWERS.items() if s == "declined"],
        "tentative": [],
        "needsAction": [],
    }
    assert report == expected, report
    done.append(
        f"{FOLLOWUP}: event id {event_id} from create_retro reached the sensor and the trigger; the sensor's XCom equals the emulator's statuses; report: {report}"
    )
    return done


def check_deferral(deployment: Deployment, run_ids: dict[str, str]) -> list[str]:
    """The sensor checked once on a worker, deferred, and the triggerer's poll saw the answers."""
    api, admin = deployment.api, EmulatorAdmin(deployment.emulator_url)
    run_id = run_ids[FOLLOWUP]
    event_id = api.xcom(FOLLOWUP, run_id, "create_retro")
    log = [
        r
        for r in admin.requests()
        if r["operation"] in ("ListAttendees", "RespondEvent") and f"/events/{event_id}/" in r["path"]
    ]
    operations = [r["operation"] for r in log]
    # In arrival order: the worker's check, the trigger's first poll (held by the emulator), the answers.
    expected = ["ListAttendees", "ListAttendees"] + ["RespondEvent"] * len(RETRO_ANSWERS)
    assert operations == expected, f"calls on the retro: {operations}, expected {expected}"
    assert all(r["status"] == 200 for r in log), log
    [ti] = [ti for ti in api.task_instances(FOLLOWUP, run_id) if ti["task_id"] == SENSOR]
    assert ti["try_number"] == 1, f"the sensor needed {ti['try_number']} tries"
    # Read from the files as written (the same names on 3.0 and 3.3): the try's log, and the trigger's
    # output next to it, in a file named after the triggerer's job id (attempt=1.log.trigger.<id>.log).
    folder = f"airflow-home/logs/dag_id={FOLLOWUP}/run_id={run_id}/task_id={SENSOR}"
    task_log = _lines(deployment.workdir / folder / "attempt=1.log")
    trigger_logs = list(deployment.workdir.glob(f"{folder}/attempt=1.log.trigger.*.log"))
    triggerers = deployment.note_triggerer_jobs()
    trigger_log = _lines(trigger_logs[0]) if len(trigger_logs) == 1 else []
    trigger_lines = [m.split(" (", 1)[0] for _, m in trigger_log if m.startswith(f"Event {event_id}:")]
    fired = [when for when, m in trigger_log if m == "Trigger fired event"]
    # Each start of the task on a worker parses its DAG file first (3.0 and 3.3 word it alike).
    starts = [when for when, m in task_log if m.startswith("Filling up the DagBag from ")]
    evidence = {
        "the worker deferred the task": [m.strip() for _, m in task_log].count("Pausing task as DEFERRED.")
        == 1,
        "the trigger fired once": len(fired) == 1,
        "the trigger's one poll saw the answers": trigger_lines == [f"Event {event_id}: met"],
        "the task started on a worker again after the trigger fired": len(starts) == 2
        and len(fired) == 1
        and starts[0] < fired[0] < starts[1],
        "the trigger's log was written by the triggerer job": len(trigger_logs) == 1
        and int(trigger_logs[0].name.rsplit(".", 2)[-2]) in triggerers,
    }
    assert all(evidence.values()), (
        f"missing evidence of the deferral: {evidence}; trigger logs {trigger_logs}, triggerer jobs {triggerers}"
        f"\n--- task log ---\n{task_log[-40:]}\n--- trigger log ---\n{trigger_log[-20:]}"
    )
    return [
        f"{FOLLOWUP}.{SENSOR}: ListAttendees once on the worker, then once from the trigger, whose poll "
        "read the answers; in one try: " + "; ".join(evidence)
    ]


def check_emulator_state(deployment: Deployment, skip_organizer: str | None = None) -> list[str]:
    """Exactly the intended events, each once, with exactly the intended attendees and responses (the
    events of ``skip_organizer`` are another check's)."""
    admin = EmulatorAdmin(deployment.emulator_url)
    events = [e for e in admin.events() if e["organizer"]["id"] != skip_organizer]
    summaries = Counter(e["summary"] for e in events)
    assert summaries == Counter(list(EXPECTED_EVENTS)), f"events in the emulator: {dict(summaries)}"
    for event in events:
        start, end, attendees, *organizer = EXPECTED_EVENTS[event["summary"]]
        got = (
            event["status"],
            event["organizer"]["id"],
            event["start"],
            event["end"],
            _statuses(admin, event["id"]),
        )
        expected = ("confirmed", organizer[0] if organizer else ORGANIZER, start, end, attendees)
        assert got == expected, f"{event['summary']}: {got}"
    return [f"the emulator holds exactly the {len(events)} intended events, attendees and responses"]


def check_secret_absent(deployment: Deployment) -> list[str]:
    """The app secret appears in no log of the deployment (task logs, trigger logs, service logs)."""
    files = [
        p
        for root in (deployment.log_dir, deployment.workdir / "airflow-home")
        for p in root.rglob("*")
        if p.is_file()
    ]
    leaks = [str(p) for p in files if APP_SECRET in p.read_text(errors="replace")]
    assert not leaks, f"the app secret appears in {leaks}"
    return [f"the app secret appears in none of the {len(files)} log and state files"]
