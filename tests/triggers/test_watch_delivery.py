"""CalendarChangeTrigger's delivery at the sizes that broke it, against the emulator over real HTTP and
WebSocket: watchers sharing an app (each Stream notice goes to ONE connection), one delta of 3,000 changes,
8 fields over 1,200 changes, and what happens to a change handed over right before the triggerer stops.

Positions are saved 0.2 s after a handover here (tests/triggers/conftest.py); in a triggerer 10 s.
"""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest

from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.hooks.stream import ChangeStream
from airflow_dtcal.state import cursor as cursor_module
from airflow_dtcal.state import variables
from airflow_dtcal.state.variables import MAX_STATE_BYTES, load_raw
from tests.triggers.conftest import (
    ORGANIZER,
    Triggerer,
    connected,
    in_thread,
    move,
    new_event,
    rename,
    saved_token,
    until,
    watch,
)

pytestmark = pytest.mark.usefixtures("airflow_db")

EIGHT_FIELDS = ["summary", "start", "end", "location", "description", "attendees", "reminders", "isAllDay"]


def seeded(count: int, prefix: str) -> list[dict]:
    return [
        {
            "organizer": ORGANIZER,
            "summary": f"{prefix} {i}",
            "start": {"dateTime": "2026-12-01T10:00:00+08:00", "timeZone": "Asia/Shanghai"},
            "end": {"dateTime": "2026-12-01T11:00:00+08:00", "timeZone": "Asia/Shanghai"},
        }
        for i in range(count)
    ]


def cursor_bytes(key: str) -> dict[str, int]:
    """Bytes of every Variable of a watch's cursor, as stored."""
    head = json.loads(load_raw(key))
    keys = [key, *(f"{key}.{n}" for n in range(1, head["parts"] + 1))]
    return {k: len(load_raw(k).encode()) for k in keys}


def seen_by(trigger, ids: list[str]) -> bool:
    head = variables.load_state(trigger.cursor_key) or {}
    return set(ids) <= set(head.get("events") or {})


def spread_seed(pushes: int, connections: int) -> int:
    """A seed under which the emulator's documented choice (docs/emulator.md) gives every one of
    ``connections`` (in the order they open) at least one of the first ``pushes`` messages."""
    for seed in range(1000):
        picks = [
            int.from_bytes(hashlib.sha256(f"{seed}:{serial}:push-0".encode()).digest()[:8], "big")
            % connections
            for serial in range(1, pushes + 1)
        ]
        if set(picks) == set(range(connections)):
            return seed
    raise AssertionError("no seed spreads the pushes")


def test_watchers_sharing_an_app_each_get_every_change_though_each_notice_goes_to_one_connection(
    admin, hook, dtcal_emulator
):
    """Two watch DAGs and a Stream bot of the same app: DingTalk (the emulator) pushes each notice to ONE of
    the three connections, and the bot acknowledges what it gets. Each watcher still fires every change it
    asked for, once: a notice only wakes a watcher, and the safety poll reads what the others got."""
    writes = 6
    dtcal_emulator.set_stream_delivery(spread_seed(writes, 3), 0.0)
    bot_got: list[str] = []

    async def bot() -> None:  # another client of the app: takes its share of the notices
        stream = ChangeStream(DingTalkCalendarHook(rate_limit=0))
        try:
            async for message in stream.messages():
                bot_got.append(message.message_id)
                await stream.ack(message)
        finally:
            await stream.close()

    async def main():
        bot_task = asyncio.create_task(bot())
        await until("the bot's connection", connected(admin, 1))  # it opened first: connection 1
        every = Triggerer(watch(source="stream", poll_interval=1.0))
        updates = Triggerer(watch(source="stream", poll_interval=1.0, change_types=["update"]))
        try:
            await until("three connections", connected(admin, 3))
            await until(
                "both first listings", lambda: saved_token(every.trigger) and saved_token(updates.trigger)
            )
            ids = [await in_thread(new_event, hook, f"Meeting {i}") for i in range(writes // 2)]
            got_every = [await every.next() for _ in range(writes // 2)]
            # Changes of one event between two reads make one event (its latest state): the moves come
            # once the update watcher has read the creations (they are in its cursor).
            await until("the creations read", lambda: seen_by(updates.trigger, ids))
            for hour, event_id in enumerate(ids, start=12):
                await in_thread(move, hook, event_id, hour)
            got_every += [await every.next() for _ in range(writes // 2)]
            got_updates = [await updates.next() for _ in range(writes // 2)]
            await in_thread(rename, hook, ids[0], "Renamed")  # the next change is the next event: no repeat
            return ids, got_every, got_updates, await every.next(), await updates.next()
        finally:
            await every.stop()
            await updates.stop()
            bot_task.cancel()
            await asyncio.gather(bot_task, return_exceptions=True)

    ids, got_every, got_updates, every_next, updates_next = asyncio.run(main())
    assert bot_got, "the bot took a share of the notices"
    assert sorted((e["event_id"], e["change_type"]) for e in got_every) == sorted(
        [(i, "create") for i in ids] + [(i, "update") for i in ids]
    )
    assert sorted(e["event_id"] for e in got_updates) == sorted(ids)
    assert all(e["change_type"] == "update" for e in got_updates)
    assert len({e["dedup_key"] for e in got_every}) == writes
    assert (every_next["event_id"], every_next["event"]["summary"]) == (ids[0], "Renamed")
    assert (updates_next["event_id"], updates_next["event"]["summary"]) == (ids[0], "Renamed")
    # The two watchers read the same changes: a change has the same key for both (their source is the same).
    assert {e["dedup_key"] for e in got_updates} <= {e["dedup_key"] for e in got_every}


@pytest.mark.scale
def test_poll_one_delta_of_3000_changes_fires_each_once(admin, hook, dtcal_emulator):
    """The delta that once stuck at change 1,771 (fired 707 times, the rest never): 30 pages, each
    change fired once, the cursor's Variables far from 256 KiB whatever the delta's size."""
    trigger = watch(source="poll", poll_interval=0.2)

    async def main():
        triggerer = Triggerer(trigger)
        try:
            listed = await until("the first listing", lambda: saved_token(trigger))
            await in_thread(dtcal_emulator.seed_events, seeded(3000, "Imported"))
            fired = [await triggerer.next() for _ in range(3000)]
            await until("the delta's end saved", lambda: saved_token(trigger) != listed)
            sizes = await in_thread(cursor_bytes, trigger.cursor_key)
            last = await in_thread(new_event, hook, "After the import")
            return fired, sizes, last, await triggerer.next()
        finally:
            await triggerer.stop()

    fired, sizes, last, following = asyncio.run(main())
    assert len({e["event_id"] for e in fired}) == 3000
    assert len({e["dedup_key"] for e in fired}) == 3000
    assert all(e["change_type"] == "create" for e in fired)
    assert (following["event_id"], following["change_type"]) == (last, "create")
    assert max(sizes.values()) < MAX_STATE_BYTES // 2, sizes


@pytest.mark.scale
def test_stream_with_8_fields_and_1200_changes_fires_each_change_once(admin, hook, dtcal_emulator):
    """The Stream watch that once fired one change 12 times and lost 262: 1,200 events, 8 fields compared,
    each moved once; every move fires once, with the fields that changed, and the cursor stays bounded."""
    ids = dtcal_emulator.seed_events(seeded(1200, "Planning"))
    trigger = watch(source="stream", fields=EIGHT_FIELDS, poll_interval=3600)

    async def main():
        triggerer = Triggerer(trigger)
        try:
            await until("the Stream connection", connected(admin))
            await until("the first listing", lambda: saved_token(trigger))
            writer = asyncio.ensure_future(in_thread(_move_all, ids))
            fired = [await triggerer.next() for _ in range(len(ids))]
            await writer
            await in_thread(rename, hook, ids[7], "Planning (moved and renamed)")
            return fired, await triggerer.next()
        finally:
            await triggerer.stop()

    fired, following = asyncio.run(main())
    assert sorted(e["event_id"] for e in fired) == sorted(ids)  # each once: none repeated, none lost
    assert all(e["change_type"] == "update" and e["changed_fields"] == ["start", "end"] for e in fired)
    assert (following["event_id"], following["changed_fields"]) == (ids[7], ["summary"])
    sizes = cursor_bytes(trigger.cursor_key)
    assert max(sizes.values()) < MAX_STATE_BYTES, sizes
    head = json.loads(load_raw(trigger.cursor_key))
    assert len(head["events"]) == 1200  # every fingerprint kept: 8 fields x 1,200 events fit the table


def _move_all(ids: list[str]) -> None:
    hook = DingTalkCalendarHook(rate_limit=0)
    for event_id in ids:
        move(hook, event_id, 15)


def test_a_change_handed_over_right_before_the_triggerer_stops_fires_again_with_the_same_key(
    admin, hook, monkeypatch
):
    """The stated guarantee (at least once): the triggerer stops after handing a change over but before
    the position past it was saved (SETTLE_SECONDS had not passed); the next trigger reads the change again
    and fires it again with the same dedup_key. Once the position was saved, a restart repeats nothing."""
    event_id = new_event(hook)
    trigger = watch(source="poll", poll_interval=0.2, event_ids=[event_id])

    async def run(change_hour: int | None, settle: float) -> tuple[dict, str | None]:
        monkeypatch.setattr(cursor_module, "SETTLE_SECONDS", settle)
        triggerer = Triggerer(trigger)
        try:
            await until("a saved position", lambda: saved_token(trigger))
            if change_hour is not None:
                await in_thread(move, hook, event_id, change_hour)
            fired = await triggerer.next()
            return fired, await in_thread(saved_token, trigger)
        finally:
            await triggerer.stop()

    first, position = asyncio.run(run(11, 3600.0))
    again, position_again = asyncio.run(run(None, 3600.0))
    assert position_again == position  # the stop came before the position moved past the change
    assert again["dedup_key"] == first["dedup_key"]
    assert again["event"] == first["event"]

    async def settled_then_restart() -> dict:
        monkeypatch.setattr(cursor_module, "SETTLE_SECONDS", 0.0)
        triggerer = Triggerer(trigger)
        try:
            await until("the position past the change saved", lambda: saved_token(trigger) != position)
        finally:
            await triggerer.stop()
        triggerer = Triggerer(trigger)
        try:
            await in_thread(move, hook, event_id, 13)
            return await triggerer.next()
        finally:
            await triggerer.stop()

    after = asyncio.run(settled_then_restart())
    assert after["event"]["start"]["dateTime"].startswith("2026-12-01T13:00")  # the new change, not a repeat
    assert after["dedup_key"] != first["dedup_key"]


def test_a_watch_with_fields_repeats_a_change_with_its_key_though_the_event_changed_in_other_fields_since(
    admin, hook, monkeypatch
):
    """Airflow cancels a watch within SETTLE_SECONDS of a handover (it moves watches between triggerers;
    Airflow 3.3.2 does so just after they start): the next copy reads the change from the saved position,
    but the event has meanwhile changed in a field the watch does not compare. The change of the watched
    field comes again with the same key; a real change of it afterwards gets another, and so does the
    cancellation."""
    event_id = new_event(hook)
    trigger = watch(source="poll", poll_interval=0.2, event_ids=[event_id], fields=["summary"])

    async def run(change, settle: float, before_start: bool = False) -> dict:
        monkeypatch.setattr(cursor_module, "SETTLE_SECONDS", settle)
        if before_start:  # the change is there before the copy's first read
            await change()
        triggerer = Triggerer(trigger)
        try:
            await until("a saved position", lambda: saved_token(trigger))
            if not before_start:
                await change()
            return await triggerer.next()
        finally:
            await triggerer.stop()

    async def renamed() -> None:
        await in_thread(rename, hook, event_id, "Renamed")

    async def moved() -> None:  # not a watched field: only a later read sees it, in the repeated change
        await in_thread(move, hook, event_id, 15)

    first = asyncio.run(run(renamed, 3600.0))
    again = asyncio.run(run(moved, 0.0, before_start=True))
    assert first["changed_fields"] == again["changed_fields"] == ["summary"]
    assert first["event"]["summary"] == again["event"]["summary"] == "Renamed"
    assert first["event"]["start"] != again["event"]["start"]  # read later, in its newer state
    assert again["dedup_key"] == first["dedup_key"]

    async def renamed_again() -> None:
        await in_thread(rename, hook, event_id, "Renamed twice")

    async def cancelled() -> None:
        await in_thread(hook.delete_event, ORGANIZER, event_id)

    later = asyncio.run(run(renamed_again, 0.0))
    assert later["event"]["summary"] == "Renamed twice"
    gone = asyncio.run(run(cancelled, 0.0))
    assert gone["change_type"] == "delete"
    assert len({first["dedup_key"], later["dedup_key"], gone["dedup_key"]}) == 3
