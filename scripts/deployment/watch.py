"""The event-driven example end to end: three watches of one DingTalk app, run by two triggerers, each get
every change they asked for, through DingTalk Stream mode, across a triggerer restart and a SIGKILL.

1. Before Airflow starts, the CEO's assistant creates the all-hands (:func:`all_hands_env`); its id reaches the
   DAG through the environment (the DAG reads ``DTCAL_ALL_HANDS_EVENT_ID`` when parsed), with a safety poll
   every 10 s (``DTCAL_WATCH_POLL_INTERVAL``) so a notice that went to another connection is read soon.
2. After the other examples ran: they are paused and the scheduler is restarted with its job schedule on
   (asset-triggered runs are created by the scheduler's scheduling loop). The three watch DAGs (the all-hands
   watch of dags/, and a watch of every change and one of renames of the CEO's calendar, from
   scripts/deployment/dags/) are unpaused and parsed again; the two triggerers (two triggers at most each;
   on Airflow 3.0 and 3.1 one triggerer, see deployment.TRIGGERERS)
   start their CalendarChangeTriggers, each with a Stream connection of the same app. The emulator pushes
   each notice to ONE of the app's connections (seeded), and 30% of acknowledged notices once more.
3. The assistant changes the CEO's calendar in three rounds (scenarios.WATCH_ROUNDS): round 1 with both
   triggerers up; round 2 while one triggerer is stopped (SIGTERM, once the watches' positions settled);
   round 3 reschedules the all-hands and, as soon as Airflow stored the all-hands watch's asset event for it
   (before the watch saved its position past it), both triggerers are killed (SIGKILL) and started again.
4. Checked (:func:`check_watch`): each watch's asset events carry exactly the changes it asked for, each under
   one dedup key, at least once (a watch Airflow cancels right after a handover, as it moves watches between
   triggerers, repeats it under the same key); the change handed over right before the kill: the all-hands
   watch fires it again after the restart, with the same dedup key (the stated guarantee: at least once),
   and its DAG, idempotent by design, books one prep meeting per date.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import requests
from deployment import TRIGGERERS, Deployment
from scenarios import (
    ALL_HANDS,
    CALENDAR_ASSET,
    CALENDAR_WATCH,
    CEO,
    PREP_DATES,
    RENAMES_ASSET,
    RENAMES_WATCH,
    RUNS,
    WATCH,
    WATCH_ASSET,
    WATCH_ROUNDS,
    WATCHES,
)
from services import DeploymentError, tail, wait_until

from airflow_dtcal.state.cursor import SETTLE_SECONDS
from airflow_dtcal.testing import EmulatorAdmin

ASSISTANT_APP = {"appKey": "ceo-assistant-app", "appSecret": "ceo-assistant-secret"}
SAFETY_POLL = 10  # seconds between a watch's safety polls here (an hour by default)
STREAM_SEED, DUPLICATE_RATE = 11, 0.3
ASSETS = {WATCH: WATCH_ASSET, CALENDAR_WATCH: CALENDAR_ASSET, RENAMES_WATCH: RENAMES_ASSET}
WAIT = 180.0


class Assistant:
    """The CEO's assistant, changing the CEO's calendar in DingTalk (through another app than Airflow's)."""

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

    def create(self, summary: str, day: str, hour: int) -> str:
        start, end = _slot(day, hour)
        return self._call("POST", "", {"summary": summary, "start": start, "end": end})["id"]

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


def all_hands_env(emulator_url: str) -> tuple[dict[str, str], dict[str, str]]:
    """Create the all-hands; what points the watch DAGs at it: docs/deploy.md's placeholders for the
    all-hands, and the watches' settings beyond the document (a safety poll every few seconds, no budget)."""
    event_id = Assistant(emulator_url).create(ALL_HANDS, "2026-12-04", 10)
    print(f"  the assistant created the all-hands: {event_id}")
    placeholders = {"<organizer unionId>": CEO, "<all-hands event id>": event_id}
    settings = {"DTCAL_WATCH_POLL_INTERVAL": str(SAFETY_POLL), "DTCAL_WATCH_CALL_BUDGET": "1000000"}
    return placeholders, settings


# What the watches with `fields` compare (of the summary and the start these tuples hold).
COMPARED = {WATCH: ("start",), RENAMES_WATCH: ("summary",)}


def describe(payload: dict, dag_id: str) -> tuple:
    """What a change said: (event id, change type, the event's summary and start) as the watch read it,
    as :func:`compared` by the watch."""
    event = payload.get("event") or {}
    change = (
        payload["event_id"],
        payload["change_type"],
        event.get("summary"),
        (event.get("start") or {}).get("dateTime"),
    )
    return compared(dag_id, change)


def compared(dag_id: str, change: tuple) -> tuple:
    """A change as the watch compares it: the fields a watch with `fields` does not compare are None (a copy
    of the watch that reads the change later may find the event changed in those too, under the same key)."""
    fields = COMPARED.get(dag_id)
    if fields is None:
        return change
    event_id, change_type, summary, start = change
    return (
        event_id,
        change_type,
        summary if "summary" in fields else None,
        start if "start" in fields else None,
    )


def _payloads(deployment: Deployment, dag_id: str) -> list[dict]:
    return [e["extra"]["payload"] for e in deployment.api.asset_events(ASSETS[dag_id])]


def _steps(upto_round: int) -> list[tuple]:
    return [change for changes in WATCH_ROUNDS[:upto_round] for change in changes]


def expected_changes(ids: dict[str, str], steps: list[tuple]) -> dict[str, set[tuple]]:
    """The changes each watch asked for, after the assistant's ``steps`` (the prep meetings the all-hands
    watch books are checked on their own)."""
    state = {ALL_HANDS: (ALL_HANDS, "2026-12-04T10:00:00+08:00")}
    expected: dict[str, set[tuple]] = {dag_id: set() for dag_id in WATCHES}
    for what, name, summary, day, hour in steps:
        old_summary, old_start = state.get(name, (summary, None))
        new = (summary or old_summary, f"{day}T{hour:02d}:00:00+08:00" if day else old_start)
        state[name] = new
        change = (ids[name], "create" if what == "create" else "update", *new)
        expected[CALENDAR_WATCH].add(change)
        if what == "rename":
            expected[RENAMES_WATCH].add(compared(RENAMES_WATCH, change))
        if what == "move" and name == ALL_HANDS:
            expected[WATCH].add(compared(WATCH, change))
    return expected


def run_watch(deployment: Deployment) -> dict:
    """Run the scenario; returns what :func:`check_watch` needs (event ids, the key handed over at the kill)."""
    api, admin = deployment.api, EmulatorAdmin(deployment.emulator_url)
    assistant = Assistant(deployment.emulator_url)
    ids = {ALL_HANDS: deployment.env["DTCAL_ALL_HANDS_EVENT_ID"]}
    began = time.monotonic()
    print(f"The event-driven example (three watches of one app, {len(TRIGGERERS)} triggerer(s)):")
    admin.set_stream_delivery(STREAM_SEED, DUPLICATE_RATE)
    for run in RUNS:
        api.pause(run.dag_id)
    deployment.stop_service("scheduler")
    deployment.start_service("scheduler", {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True"})
    for dag_id in WATCHES:
        api.unpause(dag_id)
        api.reparse(dag_id)

    def services() -> list:
        return [deployment.service(n) for n in ("api-server", "scheduler", "dag-processor", *TRIGGERERS)]

    logs = [deployment.service(n).log_path for n in (*TRIGGERERS, "dag-processor")]
    wait_until(
        "three Stream connections of the app (one per watch)",
        lambda: len(admin.stream_connections()) >= 3,
        timeout=WAIT,
        services=services(),
        logs=logs,
    )
    wait_until(
        "every watch's first listing saved",
        lambda: len(_positions(api)) == 3 and all(_positions(api).values()),
        timeout=WAIT,
        services=services(),
        logs=logs,
    )
    print("  three CalendarChangeTriggers connected to DingTalk Stream and listed the CEO's calendar")

    def fired(dag_id: str, change: tuple) -> bool:
        return change in {describe(p, dag_id) for p in _payloads(deployment, dag_id)}

    killed_key = None
    done: list[tuple] = []
    for number, changes in enumerate(WATCH_ROUNDS, start=1):
        if number > 1:  # the previous round's changes were handed over long enough ago to be saved past
            # The last of them: the calendar watch seeing the prep meetings that the all-hands watch's runs
            # booked for the reschedules so far (a run can finish after the round's own changes fired).
            booked = {
                f"All-hands prep ({step[3]})" for step in done if step[0] == "move" and step[1] == ALL_HANDS
            }
            wait_until(
                "the calendar watch to fire the prep meetings booked so far",
                lambda b=booked: (
                    b <= {describe(p, CALENDAR_WATCH)[2] for p in _payloads(deployment, CALENDAR_WATCH)}
                ),
                timeout=WAIT,
                services=services(),
                logs=logs,
            )
            time.sleep(SETTLE_SECONDS + 2)
        if number == 2:
            deployment.stop_service("triggerer")  # a planned stop: it repeats nothing
        for step in changes:
            what, name, summary, day, hour = step
            if what == "create":
                ids[name] = assistant.create(summary, day, hour)
            else:
                assistant.change(ids[name], summary, day, hour)
            print(f"  the assistant: {what} {name} {summary or ''} {day or ''}".rstrip())
            before, done = expected_changes(ids, done), [*done, step]
            if number == 2:
                continue  # one triggerer is down: its watches read the round when it is back
            after = expected_changes(ids, done)
            for dag_id in WATCHES:  # each change read on its own (changes between two reads make one)
                for change in after[dag_id] - before[dag_id]:
                    wait_until(
                        f"{dag_id} to fire {change}",
                        lambda d=dag_id, c=change: fired(d, c),
                        timeout=WAIT,
                        services=services(),
                        logs=logs,
                    )
            if number == 3:
                killed_key = _kill_after_handover(deployment)
        if number == 2:
            deployment.start_service("triggerer")
        wanted = expected_changes(ids, done)
        for dag_id in WATCHES:
            wait_until(
                f"{dag_id} to fire the changes of round {number}",
                lambda d=dag_id, w=wanted: w[d] <= {describe(p, d) for p in _payloads(deployment, d)},
                timeout=WAIT,
                services=services(),
                logs=logs,
            )
        print(f"  round {number}: every watch fired every change it asked for")
    assert killed_key is not None
    wait_until(
        "the all-hands watch to fire the killed change again, after the restart",
        lambda: [p["dedup_key"] for p in _payloads(deployment, WATCH)].count(killed_key) >= 2,
        timeout=WAIT,
        services=services(),
        logs=logs,
    )

    def runs_done() -> bool:
        runs = api.dag_runs(WATCH)
        failed = [r["dag_run_id"] for r in runs if r["state"] == "failed"]
        if failed:
            raise DeploymentError(f"{WATCH} runs failed: {failed}")
        preps = {e["summary"] for e in admin.events() if e["summary"].startswith("All-hands prep")}
        return len(preps) == len(PREP_DATES) and all(r["state"] == "success" for r in runs)

    wait_until("the all-hands watch's runs", runs_done, timeout=WAIT, services=services(), logs=logs)
    wait_until(
        "the calendar watch to see the prep meetings",
        lambda: sum(1 for p in _payloads(deployment, CALENDAR_WATCH) if _is_prep(p)) >= len(PREP_DATES),
        timeout=WAIT,
        services=services(),
        logs=logs,
    )
    wait_until(
        "every Stream notice acknowledged",
        lambda: not admin.pending_stream_messages(),
        timeout=60,
        services=services(),
    )
    time.sleep(SETTLE_SECONDS)  # a repeat that should not come would show in check_watch
    seconds = time.monotonic() - began
    print(f"  the event-driven example took {seconds:.0f}s")
    return {"ids": ids, "killed_key": killed_key, "seconds": seconds}


def _is_prep(payload: dict) -> bool:
    return payload["change_type"] == "create" and str((payload["event"] or {}).get("summary")).startswith(
        "All-hands prep"
    )


def _positions(api: Any) -> dict[str, bool]:
    """Each watch's cursor head -> whether its part 1 holds a sync token (its first listing was saved)."""
    found = api.variables()
    heads = {k: v for k, v in found.items() if k.startswith(("dtcal_watch_stream_", "dtcal_deploy_watch_"))}
    heads = {k: v for k, v in heads.items() if "." not in k}
    return {
        k: bool(any(pos[0] for pos in json.loads(found.get(f"{k}.1", "{}")).get("calendars", {}).values()))
        for k in heads
    }


def _kill_after_handover(deployment: Deployment) -> str:
    """As soon as Airflow stored the all-hands watch's asset event for the last reschedule, SIGKILL both
    triggerers (the watch saves its position past a change only SETTLE_SECONDS after handing it over), then
    start them again. Returns the change's dedup key."""
    day, hour = WATCH_ROUNDS[-1][-1][3:5]
    start = f"{day}T{hour:02d}:00:00+08:00"

    def stored() -> str | None:
        for payload in _payloads(deployment, WATCH):
            if (payload["event"] or {}).get("start", {}).get("dateTime") == start:
                return payload["dedup_key"]
        return None

    key = wait_until(
        "the all-hands watch's asset event for the reschedule", stored, timeout=WAIT, interval=0.2
    )
    for name in TRIGGERERS:
        deployment.kill_service(name)
    print(f"  {' and '.join(TRIGGERERS)} killed right after Airflow stored {key}")
    for name in TRIGGERERS:
        deployment.start_service(name)
    return key


def check_watch(deployment: Deployment, outcome: dict) -> list[str]:
    """Each watch fired exactly the changes it asked for, each under one key, at least once; the change handed
    over right before the kill fired again with the same key; one prep meeting per date."""
    api, admin = deployment.api, EmulatorAdmin(deployment.emulator_url)
    ids, killed_key = outcome["ids"], outcome["killed_key"]
    expected = expected_changes(ids, _steps(len(WATCH_ROUNDS)))
    lines = []
    for dag_id in WATCHES:
        payloads = _payloads(deployment, dag_id)
        changes = {describe(p, dag_id) for p in payloads if not _is_prep(p)}
        assert changes == expected[dag_id], (
            f"{dag_id}: fired {sorted(changes)}, expected {sorted(expected[dag_id])}"
        )
        counts = Counter(p["dedup_key"] for p in payloads)
        by_key = {p["dedup_key"]: describe(p, dag_id) for p in payloads}
        assert len(by_key) == len({describe(p, dag_id) for p in payloads}), (
            f"{dag_id}: one change, two keys: {by_key}"
        )
        # At least once: a repeat carries the change's key. Besides the restart's repeat, Airflow repeats what a
        # watch handed over within SETTLE_SECONDS before it cancelled the watch: it moves watches between the
        # triggerers as the stopped one comes back, Airflow 3.3.2 also just after two triggerers start, and
        # it may run one watch in both triggerers for a moment while it moves the killed triggerer's triggers
        # (all seen here). Which changes that hits depends on timing: any change may repeat, under its key.
        repeated = {k: n for k, n in counts.items() if n > 1}
        if dag_id == WATCH:
            assert counts[killed_key] >= 2, f"the killed change fired {counts[killed_key]} times"
            assert killed_key in repeated, repeated
        preps = sorted(describe(p, dag_id)[2] for p in payloads if _is_prep(p))
        if dag_id == CALENDAR_WATCH:
            assert sorted(set(preps)) == [f"All-hands prep ({d})" for d in PREP_DATES], preps
        assert all(e["extra"].get("from_trigger") for e in api.asset_events(ASSETS[dag_id]))
        lines.append(
            f"{dag_id}: {len(counts)} distinct changes fired, exactly those it asked for"
            + (f"; repeated with the same key: {repeated}" if repeated else "")
        )
    runs = api.dag_runs(WATCH)
    assert runs and all(r["state"] == "success" and r["run_type"] == "asset_triggered" for r in runs), runs
    dates = sorted({api.xcom(WATCH, r["dag_run_id"], "read_change")["date"] for r in runs})
    assert dates == sorted(PREP_DATES), dates

    messages = [m for m in admin.stream_messages() if m["data"]["calendarEventId"] in set(ids.values())]
    assert messages and all(m["status"] == "acked" for m in messages), messages
    connections = {a["connectionId"] for m in messages for a in m["acks"]}
    stats = admin.stream_stats()
    assert len(connections) >= 3 and stats["duplicates"] >= 1, (connections, stats)
    log = "".join(deployment.service(n).log_text() for n in TRIGGERERS)
    assert "Stream notices for" in log and "HAS STOPPED" not in log and "IS WAITING" not in log
    sizes = {
        k: len(v.encode())
        for k, v in api.variables().items()
        if k.startswith(("dtcal_watch_", "dtcal_deploy_"))
    }
    assert sizes and max(sizes.values()) < 256 * 1024, sizes
    # The Stream ticket (single use, in the WebSocket URL) is never logged.
    files = [p for p in deployment.log_dir.rglob("*") if p.is_file()]
    files += [p for p in (deployment.workdir / "airflow-home" / "logs").rglob("*") if p.is_file()]
    leaks = [str(p) for p in files if "ticket=" in p.read_text(errors="replace")]
    assert not leaks, f"a Stream ticket URL appears in {leaks}"
    lines += [
        f"{WATCH}: {len(runs)} asset-triggered runs, one prep meeting per new date ({', '.join(dates)}), the "
        "repeated change included",
        f"DingTalk Stream: {len(messages)} notices about the CEO's events, spread over {len(connections)} "
        f"connections ({stats['connections_opened']} opened), {stats['duplicates']} pushed again after their "
        f"ack; all acknowledged; cursors {sizes} bytes; no log holds a ticket URL; "
        f"the example took {outcome['seconds']:.0f}s",
    ]
    return lines


__all__ = ["all_hands_env", "check_watch", "run_watch", "tail"]
