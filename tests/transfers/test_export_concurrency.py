"""Export runs at the same time, for real (threads, the emulator over HTTP, files on disk): each run is held
inside its listing by a gate on its own hook until the test lets it go.

* Two overlapping runs of adjacent intervals both start from the same earlier record; each keeps its own
  record, and the next interval continues from the latest interval's, whichever run finished last.
* Two runs of one interval: the one that started first loses its claim and fails with a clear
  DingTalkConcurrentRunError (it used to fail with a raw FileNotFoundError at commit); the partitions hold
  the other run's files, whole, and a retry of the loser succeeds.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pendulum
import pytest

from airflow_dtcal.exceptions import DingTalkConcurrentRunError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.transfers.export import ExportEventsOperator
from tests.transfers.replay import live, replay
from tests.transfers.test_export import ANN, BO, DAY1, Run, new_event

HORIZON = "2026-03-09T00:00:00Z"


class Held:
    """An export run in a thread, held before its first ListEvents page until :meth:`release`."""

    def __init__(self, root: Path, start: pendulum.DateTime, **kwargs) -> None:
        kwargs.setdefault("calendars", [ANN, BO])
        self.op = ExportEventsOperator(task_id="export", destination=f"file://{root}", **kwargs)
        self.listing = threading.Event()  # the run has loaded its start points, claimed and opened its files
        self.gate = threading.Event()
        hook = self.op.get_hook()
        for name in ("iter_event_changes", "iter_events"):
            self._hold(hook, name)
        self.result: Run | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(start,))
        self.thread.start()
        assert self.listing.wait(30), "the run never reached its listing"

    def _hold(self, hook: DingTalkCalendarHook, name: str) -> None:
        original = getattr(hook, name)

        def held(*args, **kwargs):
            self.listing.set()
            assert self.gate.wait(30)
            yield from original(*args, **kwargs)

        setattr(hook, name, held)

    def _run(self, start: pendulum.DateTime) -> None:
        try:
            self.result = Run(self.op, start, start.add(days=1))
        except BaseException as err:
            self.error = err

    def release(self) -> None:
        self.gate.set()
        self.thread.join(60)
        assert not self.thread.is_alive()


def _run(root: Path, start: pendulum.DateTime, **kwargs) -> Run:
    kwargs.setdefault("calendars", [ANN, BO])
    op = ExportEventsOperator(task_id="export", destination=f"file://{root}", **kwargs)
    return Run(op, start, start.add(days=1))


def _calendars(hook: DingTalkCalendarHook) -> dict:
    return {o: {e["id"]: e["summary"] for e in hook.list_events(o, time_min=HORIZON)} for o in (ANN, BO)}


def test_overlapping_runs_of_adjacent_intervals_keep_their_own_records(dtcal_emulator, tmp_path):
    hook = DingTalkCalendarHook()
    event = hook.create_event(ANN, new_event("Planning", attendees=(BO,)))
    _run(tmp_path, DAY1, mode="incremental")
    hook.patch_event(ANN, event["id"], {"summary": "Planning v2"})
    # Day 2's run starts (it read day 1's record) and is held; day 3's run starts from day 1's record too,
    # and finishes first.
    day2 = Held(tmp_path, DAY1.add(days=1), mode="incremental")
    day3 = _run(tmp_path, DAY1.add(days=2), mode="incremental")
    assert {r["summary"] for r in day3.rows(tmp_path, "events")} == {"Planning v2"}
    # A change after day 3 listed, then day 2 lists (it sees it) and finishes last.
    hook.patch_event(ANN, event["id"], {"summary": "Planning v3"})
    day2.release()
    assert day2.error is None
    assert {r["summary"] for r in day2.result.rows(tmp_path, "events")} == {"Planning v3"}
    # Day 4 continues from day 3's record (not from the last run to finish, day 2's): v3 came after day 3
    # listed, so day 4 carries it, and the replay (latest interval wins) shows v3.
    day4 = _run(tmp_path, DAY1.add(days=3), mode="incremental")
    assert sorted((r["calendar_owner"], r["summary"]) for r in day4.rows(tmp_path, "events")) == [
        (ANN, "Planning v3"),
        (BO, "Planning v3"),
    ]
    marks = {m["calendar_owner"]: m for m in day4.rows(tmp_path, "calendars")}
    day3_marks = {m["calendar_owner"]: m for m in day3.rows(tmp_path, "calendars")}
    assert all(marks[o]["started_from"] == day3_marks[o]["ended_at"] for o in (ANN, BO))
    assert live(replay(tmp_path), HORIZON) == _calendars(hook)


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_two_runs_of_one_interval_the_first_loses_with_a_clear_error(dtcal_emulator, tmp_path, mode):
    hook = DingTalkCalendarHook()
    hook.create_event(ANN, new_event("One", attendees=(BO,)))
    first = Held(tmp_path, DAY1, mode=mode, formats=["jsonl", "parquet"])
    hook.create_event(BO, new_event("Two", hour=4))
    second = _run(tmp_path, DAY1, mode=mode, formats=["jsonl", "parquet"])
    first.release()
    assert isinstance(first.error, DingTalkConcurrentRunError), repr(first.error)
    message = str(first.error)
    assert (
        "another run of this interval (interval_start=2026-03-09T00-00-00+00-00) started after this one"
        in message
    )
    assert "dtcal_export_unit.export scheduled__" in message and "Retrying it is safe" in message
    # The partitions hold the second run's files, whole, and nothing of the first.
    for table in ("events", "attendees", "calendars"):
        partition = tmp_path / table / second.result["partition"]
        assert sorted(p.name for p in partition.iterdir()) == ["_SUCCESS", "part-0.jsonl", "part-0.parquet"]
    assert sorted(r["summary"] for r in second.rows(tmp_path, "events")) == ["One", "One", "Two"]
    if mode == "incremental":
        assert live(replay(tmp_path), HORIZON) == _calendars(hook)
    # The loser's retry (a new run) exports the interval again.
    retry = _run(tmp_path, DAY1, mode=mode)
    assert retry.result["rows"] == second.result["rows"]


def test_a_run_whose_temporary_files_were_removed_fails_clearly(dtcal_emulator, tmp_path):
    DingTalkCalendarHook().create_event(ANN, new_event("One"))
    held = Held(tmp_path, DAY1, calendars=[ANN])
    for temp in tmp_path.rglob("_tmp-*"):
        temp.unlink()  # as another run's clean-up would
    held.release()
    assert isinstance(held.error, DingTalkConcurrentRunError)
    assert "its temporary files were removed while it wrote them" in str(held.error)
    assert not list(tmp_path.rglob("part-0.*")) and not list(tmp_path.rglob("_SUCCESS"))
