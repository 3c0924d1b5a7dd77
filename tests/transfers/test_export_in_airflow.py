"""The daily export example DAG in a real Airflow (dag.test(), sqlite metadata DB) against the emulator:
incremental runs across days with changes between, a re-run of a day, a token reset, Parquet read back,
and no secret in XComs, logs or files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pendulum
import pyarrow.parquet as pq
import requests

from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from tests.airflow_compat import dag_bag_class
from tests.airflow_runs import run_dag
from tests.helpers import ROOT, load_module

ORGANIZER, ALICE, BOB = "union-organizer-001", "union-alice-002", "union-bob-003"
TEAM = [ORGANIZER, ALICE, BOB]
# Runs at 00:10 Shanghai; each run's data interval is the day before it.
MONDAY_RUN = pendulum.datetime(2026, 3, 10, 0, 10, tz="Asia/Shanghai")
TUESDAY_RUN = MONDAY_RUN.add(days=1)


def meeting(summary: str, hour: int, attendees=(ALICE, BOB), day: int = 9) -> dict:
    day = pendulum.datetime(2026, 3, day, hour, tz="Asia/Shanghai")  # the 9th: inside Monday's interval
    return {
        "summary": summary,
        "start": {"dateTime": day.isoformat(), "timeZone": "Asia/Shanghai"},
        "end": {"dateTime": day.add(hours=1).isoformat(), "timeZone": "Asia/Shanghai"},
        "attendees": [{"id": a} for a in attendees],
    }


def daily_export():
    return load_module(ROOT / "dags" / "dingtalk_daily_export.py").dag


def run_day(root: Path, when: pendulum.DateTime):
    result = run_dag(daily_export(), logical_date=when, conf={"destination": f"file://{root}", "team": TEAM})
    assert result.state == "success", result.task_states
    return result


def rows(root: Path, table: str, partition: str) -> list[dict]:
    text = (root / table / partition / "part-0.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_the_example_dag_imports_and_is_scheduled_off_the_hour():
    bag = dag_bag_class()(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["dingtalk_daily_export"]
    assert "dingtalk" in dag.tags and dag.timetable.summary.startswith("10 0 ")


def test_daily_incremental_export_across_days(airflow_db, dtcal_emulator, tmp_path, capfd):
    hook = DingTalkCalendarHook()
    planning = hook.create_event(ORGANIZER, meeting("Planning", 10))
    retro = hook.create_event(ORGANIZER, meeting("Retro", 14))
    standup = hook.create_event(ALICE, meeting("Standup", 9, attendees=(BOB,)))
    hook.respond_event(ALICE, planning["id"], "accepted")

    monday = run_day(tmp_path, MONDAY_RUN)
    export = monday.xcom("export_team_calendars")
    assert export["mode"] == "full"  # the first run: a full listing from the interval's start
    assert export["partition"] == "interval_start=2026-03-08T16-10-00+00-00"
    # Planning and Retro are in three calendars, the standup in two.
    assert export["rows"] == {"events": 8, "attendees": 22, "check_ins": None, "check_outs": None}
    assert monday.xcom("summarize").startswith("interval_start=2026-03-08T16-10-00+00-00: 8 event rows")
    answers = {
        (r["calendar_owner"], r["attendee_id"]): r["response_status"]
        for r in rows(tmp_path, "attendees", export["partition"])
        if r["event_id"] == planning["id"]
    }
    assert answers[(ORGANIZER, ALICE)] == "accepted" and answers[(BOB, BOB)] == "needsAction"

    # Between the runs: a new meeting, an RSVP, a reschedule, a cancellation.
    hook.create_event(BOB, meeting("Pairing", 16, attendees=(ALICE,)))
    hook.respond_event(BOB, planning["id"], "declined")
    hook.patch_event(ALICE, standup["id"], {"summary": "Standup (moved)"})
    hook.cancel_event(ORGANIZER, retro["id"])

    tuesday = run_day(tmp_path, TUESDAY_RUN)
    delta = tuesday.xcom("export_team_calendars")
    assert delta["mode"] == "incremental" and set(delta["calendars"].values()) == {"incremental"}
    changes = sorted(
        (r["summary"], r["calendar_owner"], r["change"]) for r in rows(tmp_path, "events", delta["partition"])
    )
    assert changes == [
        ("Pairing", ALICE, "upsert"),
        ("Pairing", BOB, "upsert"),
        ("Planning", ALICE, "upsert"),
        ("Planning", BOB, "upsert"),
        ("Planning", ORGANIZER, "upsert"),
        ("Retro", ALICE, "delete"),
        ("Retro", BOB, "delete"),
        ("Retro", ORGANIZER, "delete"),
        ("Standup (moved)", ALICE, "upsert"),
        ("Standup (moved)", BOB, "upsert"),
    ]
    declined = {
        r["calendar_owner"]
        for r in rows(tmp_path, "attendees", delta["partition"])
        if r["event_id"] == planning["id"] and r["attendee_id"] == BOB and r["response_status"] == "declined"
    }
    assert declined == set(TEAM)
    # Parquet holds the same rows.
    parquet = pq.read_table(tmp_path / "events" / delta["partition"] / "part-0.parquet")
    assert parquet.to_pylist() == rows(tmp_path, "events", delta["partition"])

    # Re-running Tuesday replays from where Tuesday started: its partition is replaced, same rows.
    before = rows(tmp_path, "events", delta["partition"])
    again = run_day(tmp_path, TUESDAY_RUN).xcom("export_team_calendars")
    assert again["rows"] == delta["rows"] and again["mode"] == "incremental"
    assert rows(tmp_path, "events", delta["partition"]) == before
    for table in ("events", "attendees"):
        assert sorted(p.name for p in (tmp_path / table / delta["partition"]).iterdir()) == [
            "_SUCCESS",
            "part-0.jsonl",
            "part-0.parquet",
        ]
    # Monday's partition is untouched.
    assert len(rows(tmp_path, "events", export["partition"])) == 8

    # The watermark is the calendars table beside the data: Tuesday continued each calendar from where
    # Monday ended it; no Airflow Variable holds export state.
    monday_marks = {m["calendar_owner"]: m for m in rows(tmp_path, "calendars", export["partition"])}
    tuesday_marks = {m["calendar_owner"]: m for m in rows(tmp_path, "calendars", delta["partition"])}
    assert set(monday_marks) == set(tuesday_marks) == set(TEAM)
    for owner in TEAM:
        assert monday_marks[owner]["mode"] == "full" and monday_marks[owner]["started_from"] is None
        assert tuesday_marks[owner]["started_from"] == monday_marks[owner]["ended_at"]
        assert (
            tuesday_marks[owner]["listed_from"]
            == monday_marks[owner]["listed_from"]
            == "2026-03-08T16:10:00Z"
        )
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        assert [v.key for v in session.query(Variable) if v.key.startswith("dtcal_export")] == []

    # Neither the app secret nor the access token is in the XComs, the files or the logs.
    token = requests.post(
        f"{dtcal_emulator.base_url}/v1.0/oauth2/accessToken",
        json={"appKey": dtcal_emulator.app_key, "appSecret": dtcal_emulator.app_secret},
        timeout=5,
    ).json()["accessToken"]
    output = capfd.readouterr()
    logs = (output.out + output.err).splitlines()
    assert any("DingTalk calls spent by this task" in line for line in logs)
    written = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.jsonl"))
    for place, text in {
        "xcom": repr([monday.xcoms, tuesday.xcoms]),
        "files": written,
    }.items():
        assert dtcal_emulator.app_secret not in text and token not in text, place
    assert not [line for line in logs if token in line]
    # Airflow itself logs the connection password's MaskSecret request at debug level (printed on 3.0).
    assert all("MaskSecret(value=" in line for line in logs if dtcal_emulator.app_secret in line)


def test_a_token_reset_between_days_resyncs_and_the_next_day_follows_the_new_token(
    airflow_db, dtcal_emulator, tmp_path
):
    hook = DingTalkCalendarHook()
    hook.create_event(ORGANIZER, meeting("Planning", 10, attendees=()))
    run_day(tmp_path, MONDAY_RUN)
    hook.create_event(ORGANIZER, meeting("Added", 15, attendees=(), day=10))
    dtcal_emulator.expire_sync_tokens()  # every token issued so far is refused from now on
    result = run_day(tmp_path, TUESDAY_RUN).xcom("export_team_calendars")
    assert result["mode"] == "resync"
    assert result["calendars"] == dict.fromkeys(TEAM, "resync")
    owned = [r for r in rows(tmp_path, "events", result["partition"]) if r["calendar_owner"] == ORGANIZER]
    # A resync lists the calendar again from its horizon, where its first listing started (Monday's
    # interval, from the 9th 00:10 Shanghai): Monday's planning and the meeting added on the 10th. The
    # calendars table says so for every calendar, so a warehouse replaces each calendar's state with them.
    assert [(r["summary"], r["change"]) for r in owned] == [("Planning", "snapshot"), ("Added", "snapshot")]
    marks = rows(tmp_path, "calendars", result["partition"])
    assert sorted((m["calendar_owner"], m["mode"], m["listed_from"], m["started_from"]) for m in marks) == [
        (owner, "resync", "2026-03-08T16:10:00Z", None) for owner in sorted(TEAM)
    ]
    # The day after follows the tokens the resync kept.
    hook.create_event(ALICE, meeting("Later", 11, attendees=(), day=11))
    later = run_day(tmp_path, TUESDAY_RUN.add(days=1)).xcom("export_team_calendars")
    assert later["calendars"] == dict.fromkeys(TEAM, "incremental")
    assert [
        (r["summary"], r["calendar_owner"], r["change"]) for r in rows(tmp_path, "events", later["partition"])
    ] == [("Later", ALICE, "upsert")]
