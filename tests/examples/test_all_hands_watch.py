"""The all-hands watch example DAG: it parses cheaply, its asset is watched by the trigger, and its first task
reads a trigger payload. (It runs end to end through a real triggerer in `make test-deployment`.)"""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

from airflow.triggers.base import BaseEventTrigger

from tests.helpers import ROOT, load_module

PATH = ROOT / "dags" / "dingtalk_all_hands_watch.py"


def test_the_dag_runs_on_an_asset_watched_by_the_change_trigger(monkeypatch):
    monkeypatch.setenv("DTCAL_ALL_HANDS_EVENT_ID", "evt-all-hands")
    monkeypatch.setenv("DTCAL_WATCH_SOURCE", "poll")
    module = load_module(PATH)
    [asset] = module.dag.timetable.asset_condition.objects  # schedule=[all_hands]
    assert asset.name == "dingtalk_all_hands"
    [watcher] = asset.watchers
    trigger = watcher.trigger
    assert (trigger.source, trigger.event_ids, trigger.fields) == (
        "poll",
        ["evt-all-hands"],
        ["start", "end"],
    )
    # Parsed twice (every dag-processor pass), the trigger keeps its identity, so its cursor too.
    again = load_module(PATH).all_hands.watchers[0].trigger
    assert BaseEventTrigger.hash(*trigger.serialize()) == BaseEventTrigger.hash(*again.serialize())
    assert again.cursor_key == trigger.cursor_key


def test_parsing_the_dag_imports_neither_the_hook_nor_websockets():
    code = (
        f"import runpy, sys\nrunpy.run_path({str(PATH)!r})\n"
        "print(sorted(m for m in ('airflow_dtcal.hooks.calendar', 'requests', 'websockets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_read_change_takes_the_latest_change_and_books_the_prep_on_the_working_day_before():
    module = load_module(PATH)
    read_change = module.dag.get_task("read_change").python_callable

    def event(update_time: str, start: str) -> SimpleNamespace:
        payload = {
            "event_id": "evt-all-hands",
            "change_type": "update",
            "dedup_key": f"stream:{update_time}",
            "update_time": update_time,
            "changed_fields": ["start", "end"],
            "event": {
                "summary": "All-hands",
                "start": {"dateTime": start, "timeZone": "Asia/Shanghai"},
                "end": {"dateTime": start.replace("T10", "T11"), "timeZone": "Asia/Shanghai"},
                "status": "confirmed",
            },
        }
        return SimpleNamespace(extra={"from_trigger": True, "payload": payload})

    events = {
        "dingtalk_all_hands": [  # Airflow keys these by the asset (a type that varies by line)
            event("2026-11-23T09:00:00+00:00", "2026-12-08T10:00:00+08:00"),
            event("2026-11-23T09:05:00+00:00", "2026-12-14T10:00:00+08:00"),  # a Monday: prep on Friday
        ]
    }
    assert read_change(triggering_asset_events=events) == {
        "event_id": "evt-all-hands",
        "date": "2026-12-14",
        "prep_start": "2026-12-11T10:00:00+08:00",
        "prep_end": "2026-12-11T11:00:00+08:00",
        "timezone": "Asia/Shanghai",
    }
