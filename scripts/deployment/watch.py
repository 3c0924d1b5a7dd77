"""The event-driven example end to end: ``dingtalk_all_hands_watch`` runs once per reschedule of the all-hands,
through the real triggerer and DingTalk Stream mode (the emulator's gateway), also across a triggerer restart.

1. Before Airflow starts, the CEO's assistant creates the all-hands (:func:`all_hands_env`); its id reaches the
   DAG through the environment (the DAG reads ``DTCAL_ALL_HANDS_EVENT_ID`` when parsed).
2. After the other examples ran: they are paused and the scheduler is restarted with its job schedule on
   (asset-triggered runs are created by the scheduler's scheduling loop, which the first phase keeps off so
   the other DAGs run only when triggered). The watch DAG is unpaused and parsed again, so the triggerer
   starts its CalendarChangeTrigger, which opens a Stream connection.
3. The assistant renames the all-hands (not a reschedule: no run) and moves it: exactly one run.
4. The triggerer is stopped; while it is down the assistant renames and moves the all-hands again (DingTalk
   queues the notices); a new triggerer process starts: exactly one more run, nothing repeated.
"""

from __future__ import annotations

import json
import time
from typing import Any

import requests
from deployment import Deployment
from scenarios import ALL_HANDS, CEO, PREP_DATES, RUNS, WATCH, WATCH_ASSET, WATCH_CHANGES
from services import DeploymentError, tail, wait_until

from airflow_dtcal.testing import EmulatorAdmin

ASSISTANT_APP = {"appKey": "ceo-assistant-app", "appSecret": "ceo-assistant-secret"}
SETTLE = 5.0  # seconds to wait, once everything is acknowledged, for a run that should not come


class Assistant:
    """The CEO's assistant, changing the all-hands in DingTalk (through another app than Airflow's)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        self.http.trust_env = False
        answer = self.http.post(f"{base_url}/v1.0/oauth2/accessToken", json=ASSISTANT_APP, timeout=10)
        answer.raise_for_status()
        self.http.headers["x-acs-dingtalk-access-token"] = answer.json()["accessToken"]

    def _call(self, method: str, path: str, body: dict) -> Any:
        url = f"{self.base_url}/v1.0/calendar/users/{CEO}/calendars/primary/events{path}"
        answer = self.http.request(method, url, json=body, timeout=10)
        if answer.status_code != 200:
            raise DeploymentError(
                f"the assistant's {method} {path} failed: {answer.status_code} {answer.text}"
            )
        return answer.json()

    def create_all_hands(self) -> str:
        start, end = _slot("2026-12-04", 10)
        return self._call("POST", "", {"summary": ALL_HANDS, "start": start, "end": end})["id"]

    def change(self, event_id: str, summary: str | None, day: str | None, hour: int | None) -> None:
        body: dict[str, Any] = {"id": event_id}
        if summary:
            body["summary"] = summary
        if day:
            body["start"], body["end"] = _slot(day, hour or 10)
        self._call("PUT", f"/{event_id}", body)


def _slot(day: str, hour: int) -> tuple[dict, dict]:
    start = {"dateTime": f"{day}T{hour:02d}:00:00+08:00", "timeZone": "Asia/Shanghai"}
    end = {"dateTime": f"{day}T{hour + 1:02d}:00:00+08:00", "timeZone": "Asia/Shanghai"}
    return start, end


def all_hands_env(emulator_url: str) -> dict[str, str]:
    """Create the all-hands; the environment that points the watch DAG at it (Stream mode)."""
    event_id = Assistant(emulator_url).create_all_hands()
    print(f"  the assistant created the all-hands: {event_id}")
    return {
        "DTCAL_ALL_HANDS_ORGANIZER": CEO,
        "DTCAL_ALL_HANDS_EVENT_ID": event_id,
        "DTCAL_WATCH_SOURCE": "stream",
    }


def run_watch(deployment: Deployment) -> None:
    api, admin = deployment.api, EmulatorAdmin(deployment.emulator_url)
    assistant = Assistant(deployment.emulator_url)
    event_id = deployment.env["DTCAL_ALL_HANDS_EVENT_ID"]
    print("The event-driven example (the all-hands watch):")
    for run in RUNS:
        api.pause(run.dag_id)
    deployment.stop_service("scheduler")
    deployment.start_service("scheduler", {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True"})
    airflow = [deployment.service(n) for n in ("api-server", "scheduler", "dag-processor", "triggerer")]
    api.unpause(WATCH)
    api.reparse(WATCH)
    wait_until(
        "the watch's trigger to open a Stream connection",
        lambda: admin.stream_connections(),
        timeout=180,
        interval=0.5,
        services=airflow,
        logs=[deployment.service(n).log_path for n in ("dag-processor", "triggerer")],
    )
    print("  the triggerer's CalendarChangeTrigger is connected to DingTalk Stream")

    def runs_done(count: int) -> bool:
        runs = api.dag_runs(WATCH)
        if len(runs) > count:
            raise DeploymentError(f"{len(runs)} runs of {WATCH}, expected {count}: {runs}")
        failed = [r["dag_run_id"] for r in runs if r["state"] == "failed"]
        if failed:
            raise DeploymentError(f"{WATCH} runs failed: {failed}")
        return len(runs) == count and all(r["state"] == "success" for r in runs)

    for round_number, changes in enumerate(WATCH_CHANGES, start=1):
        if round_number == 2:
            deployment.stop_service("triggerer")
        for summary, day, hour in changes:
            assistant.change(event_id, summary, day, hour)
        print(f"  the assistant changed the all-hands: {changes}")
        if round_number == 2:
            deployment.start_service("triggerer")
            airflow[3] = deployment.service("triggerer")
        wait_until(
            f"run {round_number} of {WATCH}",
            lambda n=round_number: runs_done(n),
            timeout=180,
            interval=0.5,
            services=airflow,
            logs=[deployment.service(n).log_path for n in ("triggerer", "scheduler")],
        )
        wait_until(
            "every Stream notice acknowledged",
            lambda: not admin.pending_stream_messages(),
            timeout=60,
            services=airflow,
        )
        print(f"  {WATCH}: {round_number} run(s), every notice acknowledged")
    time.sleep(SETTLE)  # a duplicate would show up as a third run or asset event in check_watch


def check_watch(deployment: Deployment) -> list[str]:
    """Exactly one run and one asset event per reschedule; renames made none; each notice acknowledged."""
    api, admin = deployment.api, EmulatorAdmin(deployment.emulator_url)
    event_id = deployment.env["DTCAL_ALL_HANDS_EVENT_ID"]
    runs = sorted(api.dag_runs(WATCH), key=lambda r: r["run_after"])
    assert [(r["state"], r["run_type"]) for r in runs] == [("success", "asset_triggered")] * 2, runs
    events = api.asset_events(WATCH_ASSET)
    payloads = [e["extra"]["payload"] for e in events]
    assert all(e["extra"].get("from_trigger") for e in events), events
    assert len(payloads) == 2, f"asset events: {payloads}"
    moved_to = [p["event"]["start"]["dateTime"] for p in payloads]
    assert moved_to == ["2026-12-08T10:00:00+08:00", "2026-12-15T14:00:00+08:00"], payloads
    assert {(p["event_id"], p["change_type"], tuple(p["changed_fields"])) for p in payloads} == {
        (event_id, "update", ("start", "end"))
    }, payloads
    keys = [p["dedup_key"] for p in payloads]
    assert len(set(keys)) == 2, keys
    dates = [api.xcom(WATCH, r["dag_run_id"], "read_change")["date"] for r in runs]
    assert dates == list(PREP_DATES), dates

    messages = [m for m in admin.stream_messages() if m["data"]["calendarEventId"] == event_id]
    assert len(messages) == 4 and all(m["status"] == "acked" for m in messages), messages
    stats = admin.stream_stats()
    assert stats["connections_opened"] >= 2, stats
    log = deployment.service("triggerer").log_text()
    fired = log.count(f"Event {event_id}: update")
    assert fired == 2, f"the trigger fired {fired} times:\n{tail(deployment.service('triggerer').log_path)}"
    # The cursor is an Airflow Variable, written from the triggerer: the two notices fired are in it.
    cursors = {k: json.loads(v) for k, v in api.variables().items() if k.startswith("dtcal_watch_stream_")}
    assert len(cursors) == 1, sorted(cursors)
    [(cursor_key, cursor)] = cursors.items()
    assert cursor["seen"] == keys, cursor
    # The Stream ticket (single use, in the WebSocket URL) is never logged.
    files = [p for p in deployment.log_dir.rglob("*") if p.is_file()]
    files += [p for p in (deployment.workdir / "airflow-home" / "logs").rglob("*") if p.is_file()]
    leaks = [str(p) for p in files if "ticket=" in p.read_text(errors="replace")]
    assert not leaks, f"a Stream ticket URL appears in {leaks}"
    return [
        f"{WATCH}: 4 changes to the all-hands (2 renames, 2 reschedules, the second pair while the triggerer "
        f"was down) made exactly 2 asset events and 2 asset-triggered runs ({', '.join(dates)}), each "
        f"booking its prep meeting; dedup keys {keys}",
        f"DingTalk Stream: all 4 notices about the all-hands acknowledged; {stats['connections_opened']} "
        f"connections opened (one per triggerer process at least); {stats['redeliveries']} redeliveries; "
        f"the cursor (Variable {cursor_key}) holds both dedup keys; no log holds a ticket URL",
    ]
