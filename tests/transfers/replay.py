"""The documented merge rule (docs/export.md, "Rebuilding the current state"), as a warehouse would apply it to
an incremental export's partitions, written once for the tests that check it against the calendar."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from tests.helpers import ROOT


def _rows(partition: Path) -> list[dict]:
    return [json.loads(line) for line in (partition / "part-0.jsonl").read_text().splitlines()]


def replay(root: Path) -> dict[str, dict[str, dict]]:
    """``{calendar_owner: {event_id: events row}}``: the current state of every calendar.

    Complete partitions only (with ``_SUCCESS``), in interval order. For each calendar and interval, its
    ``calendars`` row says how it was listed: a full listing (``full`` or ``resync``) replaces the calendar's
    state with that interval's rows of it (zero rows: an empty calendar); a delta (``incremental``) applies
    its rows: ``upsert`` sets the event, ``delete`` removes it.
    """
    state: dict[str, dict[str, dict]] = {}
    calendars = root / "calendars"
    if not calendars.exists():
        return state
    for partition in sorted(p for p in calendars.iterdir() if (p / "_SUCCESS").exists()):
        events_partition = root / "events" / partition.name
        assert (events_partition / "_SUCCESS").exists(), f"{partition.name}: events incomplete, calendars not"
        by_owner: dict[str, list[dict]] = {}
        for row in _rows(events_partition):
            by_owner.setdefault(row["calendar_owner"], []).append(row)
        for mark in _rows(partition):
            owner = mark["calendar_owner"]
            rows = by_owner.get(owner, [])
            assert len(rows) == mark["events"], f"{partition.name}: {owner} has {len(rows)} rows"
            if mark["mode"] in ("full", "resync"):
                assert {r["change"] for r in rows} <= {"snapshot"}
                state[owner] = {r["event_id"]: r for r in rows}
            else:
                current = state.setdefault(owner, {})
                for row in rows:
                    assert row["change"] in ("upsert", "delete")
                    if row["change"] == "delete":
                        current.pop(row["event_id"], None)
                    else:
                        current[row["event_id"]] = row
    return state


def live(state: dict[str, dict[str, dict]], horizon: str) -> dict[str, dict[str, str]]:
    """``{owner: {event_id: summary}}`` of the events that are not cancelled and end after the horizon (the
    export's scope: what a full listing from the horizon holds)."""
    iso = horizon.replace("Z", "+00:00")
    return {
        owner: {
            event_id: row["summary"]
            for event_id, row in events.items()
            if row["status"] != "cancelled" and row["end_utc"] is not None and row["end_utc"] > iso
        }
        for owner, events in state.items()
    }


def documented_sql() -> str:
    """The SQL of the merge rule, as docs/export.md gives it (so the doc and the test cannot drift)."""
    text = (ROOT / "docs" / "export.md").read_text()
    [sql] = re.findall(r"```sql\n(.*?)```", text, flags=re.S)
    return sql


def replay_sql(root: Path) -> dict[str, dict[str, dict]]:
    """:func:`replay` done by the documented SQL, in SQLite, over the complete partitions."""
    db = sqlite3.connect(":memory:")
    for table in ("events", "calendars"):
        partitions = sorted(p for p in (root / table).iterdir() if (p / "_SUCCESS").exists())
        rows = [row for partition in partitions for row in _rows(partition)]
        columns = list(rows[0])
        db.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
        db.executemany(
            f"INSERT INTO {table} VALUES ({', '.join('?' for _ in columns)})",
            [[row[c] for c in columns] for row in rows],
        )
    cursor = db.execute(documented_sql())
    names = [d[0] for d in cursor.description]
    state: dict[str, dict[str, dict]] = {}
    for values in cursor:
        row = dict(zip(names, values, strict=True))
        state.setdefault(row["calendar_owner"], {})[row["event_id"]] = row
    return state
