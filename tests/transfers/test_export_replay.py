"""Random sequences of calendar writes, with sync-token expiries between runs, exported incrementally day by
day against the emulator over real HTTP: after every run of a new interval, the partitions replayed by the
documented rule (tests/transfers/replay.py) equal each calendar as DingTalk lists it from the horizon.

The writes cover what a delta must carry: new events, edits, events moved (also to before the horizon),
cancelled, deleted by the organizer, an attendee removed, an attendee leaving on their own, attendees added.
Deletions during an expiry gap are what a resync used to lose (it carried only what still existed).
Re-runs of earlier intervals are mixed in: they replace their partitions and the next run still agrees.
"""

from __future__ import annotations

import random
from pathlib import Path

import pendulum
import pytest

from airflow_dtcal.exceptions import DingTalkAPIError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from tests.transfers.replay import live, replay, replay_sql
from tests.transfers.test_export import export

PEOPLE = ["union-ann-001", "union-bo-002", "union-cy-003"]
FIRST = pendulum.datetime(2026, 3, 9, tz="UTC")
HORIZON = "2026-03-09T00:00:00Z"  # the first run's interval start: every calendar's horizon
DAYS = 7


def _when(offset_hours: int) -> dict:
    at = FIRST.add(hours=offset_hours)
    return {"dateTime": at.in_timezone("Asia/Shanghai").isoformat(), "timeZone": "Asia/Shanghai"}


class Writer:
    """Random writes through the hook, as people would make them."""

    def __init__(self, hook: DingTalkCalendarHook, rng: random.Random) -> None:
        self.hook, self.rng = hook, rng
        self.events: dict[str, dict] = {}  # id -> {"organizer", "attendees"} of events not deleted
        self.count = 0

    def _pick(self) -> tuple[str, dict] | None:
        return self.rng.choice(sorted(self.events.items())) if self.events else None

    def write(self) -> None:
        kind = self.rng.choice(
            ["create", "create", "create", "rename", "move", "cancel", "delete", "remove", "leave", "add"]
        )
        picked = self._pick()
        if kind == "create" or picked is None:
            organizer = self.rng.choice(PEOPLE)
            others = [p for p in PEOPLE if p != organizer and self.rng.random() < 0.5]
            start = self.rng.randrange(-48, 24 * (DAYS + 2))
            self.count += 1
            created = self.hook.create_event(
                organizer,
                {
                    "summary": f"Meeting {self.count}",
                    "start": _when(start),
                    "end": _when(start + 1),
                    "attendees": [{"id": p} for p in others],
                },
            )
            self.events[created["id"]] = {"organizer": organizer, "attendees": set(others)}
            return
        event_id, event = picked
        organizer, attendees = event["organizer"], event["attendees"]
        try:
            if kind == "rename":
                self.count += 1
                self.hook.patch_event(organizer, event_id, {"summary": f"Renamed {self.count}"})
            elif kind == "move":
                start = self.rng.randrange(-72, 24 * (DAYS + 2))  # sometimes to before the horizon
                self.hook.patch_event(organizer, event_id, {"start": _when(start), "end": _when(start + 1)})
            elif kind == "cancel":
                self.hook.cancel_event(organizer, event_id)
                del self.events[event_id]
            elif kind == "delete":
                self.hook.delete_event(organizer, event_id)
                del self.events[event_id]
            elif kind == "remove" and attendees:
                person = self.rng.choice(sorted(attendees))
                self.hook.remove_attendees(organizer, event_id, [person])
                attendees.discard(person)
            elif kind == "leave" and attendees:
                person = self.rng.choice(sorted(attendees))
                self.hook.delete_event(
                    person, event_id
                )  # an attendee's DeleteEvent: gone from their calendar
                attendees.discard(person)
            elif kind == "add":
                missing = [p for p in PEOPLE if p != organizer and p not in attendees]
                if missing:
                    person = self.rng.choice(missing)
                    self.hook.add_attendees(organizer, event_id, [person])
                    attendees.add(person)
        except DingTalkAPIError:
            self.events.pop(event_id, None)  # e.g. a cancelled event can no longer be changed


def _calendars(hook: DingTalkCalendarHook) -> dict[str, dict[str, str]]:
    """Each calendar as DingTalk lists it now: its live events ending after the horizon."""
    return {
        owner: {e["id"]: e["summary"] for e in hook.list_events(owner, time_min=HORIZON)} for owner in PEOPLE
    }


def _run(root: Path, day: int) -> dict:
    return export(root, start=FIRST.add(days=day), mode="incremental", calendars=PEOPLE).result


@pytest.mark.parametrize("seed", range(12))
def test_replayed_partitions_equal_the_calendars(dtcal_emulator, tmp_path, seed):
    rng = random.Random(seed)
    hook = DingTalkCalendarHook()
    writer = Writer(hook, rng)
    modes = []
    for day in range(DAYS):
        for _ in range(rng.randrange(4, 14)):
            writer.write()
        if day and rng.random() < 0.35:
            dtcal_emulator.expire_sync_tokens()  # the tokens of every calendar are refused from now on
            for _ in range(rng.randrange(0, 6)):
                writer.write()  # changes during the gap, deletions included
        result = _run(tmp_path, day)
        modes.append(result["mode"])
        assert live(replay(tmp_path), HORIZON) == _calendars(hook), f"seed {seed}, day {day}"
        if day >= 2 and rng.random() < 0.3:
            _run(tmp_path, rng.randrange(day))  # a re-run of an earlier interval replaces its partition
            for _ in range(rng.randrange(0, 4)):
                writer.write()
    assert modes[0] == "full" and set(modes[1:]) <= {"incremental", "resync"}
    final = _run(tmp_path, DAYS)
    assert final["mode"] in ("incremental", "resync")
    calendars = _calendars(hook)
    assert live(replay(tmp_path), HORIZON) == calendars, f"seed {seed}, after the re-runs"
    # The SQL docs/export.md gives, run in SQLite over the same files, agrees.
    by_sql = live(replay_sql(tmp_path), HORIZON)
    assert {o: e for o, e in by_sql.items() if e} == {o: e for o, e in calendars.items() if e}


def test_a_deletion_during_a_token_gap_is_replayed(dtcal_emulator, tmp_path):
    """The case of the report: an event deleted, and one a person left, while the tokens had expired; the
    resync partition says it is a full listing, so the replay drops both."""
    hook = DingTalkCalendarHook()
    ann, bo = PEOPLE[0], PEOPLE[1]
    gone = hook.create_event(ann, {"summary": "Gone", "start": _when(30), "end": _when(31)})
    left = hook.create_event(
        ann, {"summary": "Left", "start": _when(32), "end": _when(33), "attendees": [{"id": bo}]}
    )
    _run(tmp_path, 0)
    dtcal_emulator.expire_sync_tokens()
    hook.delete_event(ann, gone["id"])
    hook.delete_event(bo, left["id"])  # Bo leaves the event
    result = _run(tmp_path, 1)
    assert result["calendars"] == {ann: "resync", bo: "resync", PEOPLE[2]: "resync"}
    state = live(replay(tmp_path), HORIZON)
    assert state == {ann: {left["id"]: "Left"}, bo: {}, PEOPLE[2]: {}} == _calendars(hook)
