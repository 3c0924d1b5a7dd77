"""Helpers shared by the tests: seeded events, a task context for direct execute() calls, loading a DAG file."""

from __future__ import annotations

import asyncio
import importlib.util
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ORGANIZER = "org-1"
START = {"dateTime": "2026-12-01T10:00:00+08:00", "timeZone": "Asia/Shanghai"}
END = {"dateTime": "2026-12-01T11:00:00+08:00", "timeZone": "Asia/Shanghai"}


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def task_context(
    task_id: str = "task", *, try_number: int = 1, run_id: str = "scheduled__2026-03-09"
) -> dict:
    """The part of an Airflow context the operators read when execute() is called directly."""
    ti = types.SimpleNamespace(
        dag_id="dtcal_sched_unit", task_id=task_id, run_id=run_id, map_index=-1, try_number=try_number
    )
    return {"ti": ti, "run_id": run_id}


def seed_event(emulator, attendees: dict[str, str] | list[str], *, organizer: str = ORGANIZER) -> str:
    """Create an event in the emulator with the given attendees (id -> responseStatus, or ids)."""
    if not isinstance(attendees, dict):
        attendees = dict.fromkeys(attendees, "needsAction")
    [event_id] = emulator.seed_events(
        [
            {
                "organizer": organizer,
                "summary": "Seeded",
                "start": START,
                "end": END,
                "attendees": [{"id": i, "responseStatus": s} for i, s in attendees.items()],
            }
        ]
    )
    return event_id


def statuses(emulator, event_id: str) -> dict[str, str]:
    return {a["id"]: a["responseStatus"] for a in emulator.attendees(event_id)}


def first_event(trigger, timeout: float = 20.0) -> Any:
    """Run a trigger in-process (as the triggerer would) until its first event."""

    async def run():
        async for event in trigger.run():
            return event
        return None

    return asyncio.run(asyncio.wait_for(run(), timeout))
