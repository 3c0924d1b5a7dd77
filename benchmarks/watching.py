"""Measure 9: what watching a calendar with ``CalendarChangeTrigger`` costs.

* spacing: the month of polling the trigger plans, read from the trigger itself. Its ``run()`` is started
  with ``source="poll"`` at a given ``poll_interval`` / ``call_budget``; the line it logs before its first
  poll ("polling every Ns: about C calls a month") carries the interval its spacing rule chose and the
  calls ``airflow_dtcal.planning.budget.calls_for`` gives for 30 days; the trigger is stopped as soon as it is logged.
* poll: the trigger polls N calendars every ``interval`` seconds against the emulator, nothing changing, for
  K polls after its first listing. Polls are counted independently of the calls: the emulator's counter of
  quota calls is sampled every 20 ms and calls less than ``interval / 2`` apart belong to one poll.
* stream: the trigger listens on a Stream connection while M events are created (through another hook of
  the same app); it must fire M TriggerEvents. Each notice only wakes it: it reads the calendar's delta
  (one ListEvents per wake-up; a burst of notices makes one), so its calls are its first listing plus at
  most one per write: the emulator's quota counter, less the writer's calls.
* state: the bytes of a watch's cursor (airflow_dtcal.state.cursor) in Airflow Variables for 1,000 and
  5,000 calendars: with DingTalk-sized sync tokens (125 characters) and 1,200 events compared on 8 fields,
  and in the worst case (every sync token and next page at the 1,024 characters kept); written to and read
  back from the run's sqlite metadata database.

Every trigger runs its ``run()`` in an asyncio task, as Airflow's triggerer does, with its cursor in an
Airflow Variable of a sqlite metadata database in the run's throwaway ``AIRFLOW_HOME`` (migrated here).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from harness import HarnessError

WAIT = 60.0  # a guard against a hung run, not a measurement
SAMPLE = 0.02


def migrate_metadata_db() -> float:
    """``airflow db migrate`` into the run's ``AIRFLOW_HOME`` (sqlite); seconds it took."""
    airflow = Path(sys.executable).with_name("airflow")
    t = time.perf_counter()
    done = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, env=os.environ.copy(), timeout=300
    )
    if done.returncode != 0:
        raise HarnessError(f"airflow db migrate failed: {done.stderr[-2000:]}")
    return time.perf_counter() - t


def _trigger(conn_id: str, **kwargs: Any):
    from airflow_dtcal.triggers.watch import CalendarChangeTrigger

    kwargs.setdefault("state_key", f"dtcal_bench_watch_{uuid.uuid4().hex[:12]}")
    trigger = CalendarChangeTrigger(dingtalk_conn_id=conn_id, **kwargs)
    _, serialized = trigger.serialize()  # the triggerer re-creates a trigger from its kwargs
    return CalendarChangeTrigger(**serialized)


class _Running:
    """One trigger's ``run()`` in a task, its TriggerEvents collected as they are yielded."""

    def __init__(self, trigger: Any) -> None:
        self.trigger = trigger
        self.events: list[dict] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self.trigger.run():
            self.events.append(event.payload)

    def check(self) -> None:
        if self.task.done():
            raise HarnessError(f"the trigger ended: {self.task.exception()!r}")

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def _until(what: str, check: Any, running: _Running | None = None) -> Any:
    deadline = time.monotonic() + WAIT
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if running is not None:
            running.check()
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out waiting for {what}")
        await asyncio.sleep(SAMPLE)


# --------------------------------------------------------------------------------------------- spacing


PLAN = re.compile(r"by polling every ([0-9.e+]+)s: about (\d+) calls a month")


async def _planned(conn_id: str, owner: str, poll_interval: float, call_budget: int | None) -> dict:
    import structlog

    trigger = _trigger(
        conn_id, source="poll", calendars=[owner], poll_interval=poll_interval, call_budget=call_budget
    )
    with structlog.testing.capture_logs() as logs:
        running = _Running(trigger)
        try:

            def planned() -> re.Match | None:
                return next((m for e in list(logs) if (m := PLAN.search(str(e.get("event"))))), None)

            found = await _until("the trigger's polling plan", planned, running)
        finally:
            await running.stop()
    return {
        "poll_interval": poll_interval,
        "call_budget": call_budget,
        "interval_s": float(found.group(1)),
        "calls": int(found.group(2)),
    }


# --------------------------------------------------------------------------------------------- poll


async def _poll(admin: Any, conn_id: str, owners: list[str], interval: float, polls: int) -> dict:
    running = _Running(_trigger(conn_id, source="poll", calendars=owners, poll_interval=interval))
    changes: list[tuple[float, int]] = []  # (when, quota calls counted so far) each time it moved
    try:
        start = (await asyncio.to_thread(admin.stats))["counted_total"]
        last = start
        bursts = 0
        last_change = None
        deadline = time.monotonic() + WAIT + interval * (polls + 2)
        while True:
            running.check()
            now = time.monotonic()
            counted = (await asyncio.to_thread(admin.stats))["counted_total"]
            if counted != last:
                if last_change is None or now - last_change > interval / 2:
                    bursts += 1
                changes.append((now, counted - start))
                last, last_change = counted, now
            if bursts > polls and now - last_change > interval / 2:
                break  # the first listing and K polls, the last one finished
            if now > deadline:
                raise HarnessError(f"saw {bursts - 1} polls of {polls} in time")
            await asyncio.sleep(SAMPLE)
    finally:
        await running.stop()
    # the first burst is the first listing (a full ListEvents per calendar, to get a sync token)
    first_gap = next(i for i in range(1, len(changes)) if changes[i][0] - changes[i - 1][0] > interval / 2)
    first_listing = changes[first_gap - 1][1]
    polled = last - start - first_listing
    if running.events:
        raise HarnessError(f"the poll trigger fired {len(running.events)} events with nothing changed")
    return {
        "calendars": len(owners),
        "poll_interval_s": interval,
        "polls": polls,
        "first_listing_calls": first_listing,
        "poll_calls": polled,
        "calls_per_poll": polled / polls,
        "calls_per_calendar_per_poll": polled / polls / len(owners),
        "events_fired": len(running.events),
    }


# --------------------------------------------------------------------------------------------- stream


async def _stream(admin: Any, conn_id: str, owner: str, writes: int) -> dict:
    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
    from airflow_dtcal.planning.events import build_event

    writer = DingTalkCalendarHook(dingtalk_conn_id=conn_id)
    running = _Running(_trigger(conn_id, source="stream", calendars=[owner]))
    try:
        await _until("the Stream connection", lambda: admin.stream_connections(), running)
        before = await asyncio.to_thread(admin.stats)
        stream_before = await asyncio.to_thread(admin.stream_stats)
        for i in range(writes):
            body = build_event(
                summary=f"bench watch {i}", start="2026-12-01T10:00:00+08:00", end="2026-12-01T11:00:00+08:00"
            )
            await asyncio.to_thread(writer.create_event, owner, body)
        await _until(f"{writes} TriggerEvents", lambda: len(running.events) >= writes, running)
        await _until("every notice acknowledged", lambda: not admin.pending_stream_messages(), running)
        after = await asyncio.to_thread(admin.stats)
        stream_after = await asyncio.to_thread(admin.stream_stats)
    finally:
        await running.stop()
    counted = after["counted_total"] - before["counted_total"]
    written = writer.quota_calls_spent
    return {
        "writes": writes,
        "events_fired": len(running.events),
        "distinct_events_fired": len({e["dedup_key"] for e in running.events}),
        "calls_counted": counted,
        "writer_calls": written,
        "trigger_calls": counted - written,
        "stream_counts_before": stream_before,
        "stream_counts_after": stream_after,
    }


# --------------------------------------------------------------------------------------------- state

EIGHT_FIELDS = ["summary", "start", "end", "location", "description", "attendees", "reminders", "isAllDay"]


def state_size(calendars: int, token_chars: int, page_chars: int, events: int) -> dict:
    """A cursor of ``calendars`` calendars (each read to a ``token_chars`` sync token, inside a delta with a
    ``page_chars`` next page when above 0) and ``events`` events compared on 8 fields: the bytes of each of
    its Variables, written to and read back from the metadata database."""
    from airflow_dtcal.planning.watch import fingerprint
    from airflow_dtcal.state import variables
    from airflow_dtcal.state.cursor import Cursor

    key = f"dtcal_bench_cursor_{uuid.uuid4().hex[:10]}"
    owners = [f"union-{uuid.uuid4().hex[:24]}" for _ in range(calendars)]  # unionIds are about 28 characters
    cursor = Cursor(key, "stream", owners)
    for n, owner in enumerate(owners):
        token = f"{n:08d}" + "t" * (token_chars - 8)
        cursor.move(owner, token, ("p" * page_chars) if page_chars else None)
    for n in range(events):
        event = {
            "id": f"{uuid.uuid4().hex}{n:08d}",
            "summary": f"Meeting {n}",
            "start": {"date": "2026-12-01"},
        }
        cursor.remember(event["id"], fingerprint(event, EIGHT_FIELDS))
    t = time.perf_counter()
    asyncio.run(cursor.save_settled())
    save_s = time.perf_counter() - t
    t = time.perf_counter()
    again = Cursor(key, "stream", owners)
    asyncio.run(again.load())
    load_s = time.perf_counter() - t
    if again.positions != cursor.positions or again.events != cursor.events:
        raise HarnessError("the cursor read back differs from the one written")
    sizes = {k: len(variables.load_raw(k).encode()) for k in cursor.variable_keys()}
    return {
        "calendars": calendars,
        "token_chars": token_chars,
        "page_chars": page_chars,
        "events": events,
        "variables": len(sizes),
        "total_bytes": sum(sizes.values()),
        "largest_bytes": max(sizes.values()),
        "head_bytes": sizes[key],
        "evicted": cursor.evicted,
        "save_s": save_s,
        "load_s": load_s,
    }


# --------------------------------------------------------------------------------------------- all


def watching(
    admin: Any, conn_id: str, polls: int, poll_interval: float, calendars: int, writes: int, budgets: list
) -> dict:
    """Measure 9 (see the module doc)."""
    from airflow_dtcal.planning import budget

    migrate_s = migrate_metadata_db()
    owners = [f"union-bench-watch-{i}" for i in range(calendars)]
    for owner in owners:  # something to list: a few events in each watched calendar
        admin.seed_events(
            [
                {
                    "organizer": owner,
                    "summary": f"bench watched {k}",
                    "start": {"dateTime": f"2026-12-0{k + 1}T10:00:00+08:00", "timeZone": "Asia/Shanghai"},
                    "end": {"dateTime": f"2026-12-0{k + 1}T11:00:00+08:00", "timeZone": "Asia/Shanghai"},
                }
                for k in range(3)
            ]
        )

    async def main() -> dict:
        plans = [await _planned(conn_id, owners[0], 300.0, b) for b in budgets]
        await asyncio.sleep(0.5)  # a first listing cut short by the stop is answered before counting
        poll = await _poll(admin, conn_id, owners, poll_interval, polls)
        stream = await _stream(admin, conn_id, f"union-bench-stream-{uuid.uuid4().hex[:6]}", writes)
        return {"plans": plans, "poll": poll, "stream": stream}

    result = asyncio.run(main())
    result["state"] = [
        state_size(count, token, page, 1200)
        for count in (1000, 5000)
        for token, page in ((125, 0), (1024, 1024))
    ]
    result["metadata_db_migrate_s"] = migrate_s
    result["standard_month_calls"] = budget.EDITIONS["standard"]
    result["standard_month_stream_messages"] = 3000
    return result
