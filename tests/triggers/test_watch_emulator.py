"""CalendarChangeTrigger against the emulator over real HTTP and WebSocket, its run() in an asyncio loop.

The trigger runs as the triggerer runs it: a task iterates ``run()`` and collects each TriggerEvent as soon
as it is yielded (so the trigger goes on at once: saves its cursor, acknowledges the notice); "stopping the
triggerer" cancels that task, and "starting it again" creates the trigger afresh from ``serialize()``.
The cursor lives in an Airflow Variable of the test session's sqlite database.

No test waits for something *not* to happen: a change that must not fire is followed by one that must, and
the first event that arrives has to be the second.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_dtcal.planning.events import build_event
from airflow_dtcal.state import cursor as cursor_module
from airflow_dtcal.state import variables
from airflow_dtcal.testing.pytest_plugin import CONN_ENV_VAR
from tests.triggers.conftest import (
    ORGANIZER,
    OTHER,
    WAIT,
    Triggerer,
    duplicates_at_least,
    in_thread,
    move,
    new_event,
    rename,
    saved_page,
    saved_token,
    until,
    watch,
)

pytestmark = pytest.mark.usefixtures("airflow_db")


# ------------------------------------------------------------------------------------------ stream


def test_stream_fires_once_per_change_and_filters_calendars_and_types(admin, hook):
    async def main():
        triggerer = Triggerer(watch(source="stream", change_types=["create", "update"]))
        try:
            await triggerer.watching(admin)
            event_id = await in_thread(new_event, hook)
            created = await triggerer.next()
            await in_thread(
                hook.create_event,
                OTHER,
                build_event(summary="Not watched", start="2026-12-02", end="2026-12-03"),
            )
            await in_thread(move, hook, event_id, 14)
            updated = await triggerer.next()
            await in_thread(hook.delete_event, ORGANIZER, event_id)  # "delete" is not watched
            second = await in_thread(new_event, hook, "Second")
            created_again = await triggerer.next()
            await until("every notice acknowledged", lambda: not admin.pending_stream_messages())
            return event_id, second, created, updated, created_again
        finally:
            await triggerer.stop()

    event_id, second, created, updated, created_again = asyncio.run(main())
    assert (created["event_id"], created["change_type"], created["source"]) == (event_id, "create", "stream")
    assert created["calendar"] == ORGANIZER and created["calendar_id"] == "primary"
    assert (updated["event_id"], updated["change_type"]) == (event_id, "update")
    assert (created_again["event_id"], created_again["change_type"]) == (second, "create")
    keys = [created["dedup_key"], updated["dedup_key"], created_again["dedup_key"]]
    assert len(set(keys)) == 3 and all(k.startswith("stream:") for k in keys)
    assert created["update_time"] is not None and "T" in created["update_time"]


def test_stream_with_fields_fires_only_when_they_change(admin, hook):
    event_id = new_event(hook)

    async def main():
        triggerer = Triggerer(watch(source="stream", event_ids=[event_id], fields=["start", "end"]))
        try:
            await triggerer.watching(admin)
            # the baseline GetEvent happened before connecting: a rename now is not a reschedule
            await in_thread(rename, hook, event_id, "All-hands (agenda attached)")
            await in_thread(hook.add_attendees, ORGANIZER, event_id, ["union-new-1"])
            await in_thread(move, hook, event_id, 15)
            return await triggerer.next()
        finally:
            await triggerer.stop()

    moved = asyncio.run(main())
    assert (moved["event_id"], moved["change_type"]) == (event_id, "update")
    assert moved["changed_fields"] == ["start", "end"]
    assert moved["event"]["summary"] == "All-hands (agenda attached)"
    assert moved["event"]["start"]["dateTime"].startswith("2026-12-01T15:00")


def test_stream_reconnects_after_a_drop_a_disconnect_and_answers_pings(admin, hook):
    event_id = new_event(hook)

    async def main():
        triggerer = Triggerer(watch(source="stream", event_ids=[event_id]))
        try:
            await triggerer.watching(admin)
            await in_thread(admin.ping_stream_connections)
            await until("the ping's answer", lambda: admin.stream_stats()["pongs"] >= 1)
            assert await in_thread(admin.drop_stream_connections) == 1
            await in_thread(move, hook, event_id, 11)  # queued while no connection is open
            after_drop = await triggerer.next()
            assert await in_thread(admin.disconnect_stream_connections) == 1
            await until("a new connection", lambda: admin.stream_stats()["connections_opened"] >= 3)
            await in_thread(move, hook, event_id, 12)
            after_disconnect = await triggerer.next()
            return after_drop, after_disconnect, triggerer.trigger
        finally:
            await triggerer.stop()

    after_drop, after_disconnect, _ = asyncio.run(main())
    # The change is read from the calendar's change log (the notice only wakes the watch): the event is there.
    assert after_drop["change_type"] == "update"
    assert after_drop["event"]["start"]["dateTime"].startswith("2026-12-01T11:00")
    assert after_disconnect["event"]["start"]["dateTime"].startswith("2026-12-01T12:00")
    assert after_drop["dedup_key"] != after_disconnect["dedup_key"]
    assert admin.stream_stats()["connections_opened"] >= 3


@pytest.mark.dtcal_emulator(stream_duplicate_rate=1.0)
def test_stream_notices_pushed_again_fire_nothing_again(admin, hook):
    """Every acked notice comes once more (as DingTalk warns it may): a notice only wakes the watch, and
    reading a calendar whose changes were all read fires nothing."""
    event_id = new_event(hook)

    async def main():
        triggerer = Triggerer(watch(source="stream", event_ids=[event_id]))
        try:
            await triggerer.watching(admin)
            fired: list[dict] = []
            for hour in (11, 12, 13):
                await in_thread(move, hook, event_id, hour)
                fired.append(await triggerer.next())
                await until("the notice pushed again", duplicates_at_least(admin, len(fired)))
            return fired
        finally:
            await triggerer.stop()

    fired = asyncio.run(main())
    assert [e["event"]["start"]["dateTime"][11:13] for e in fired] == ["11", "12", "13"]
    assert len({e["dedup_key"] for e in fired}) == 3
    messages = [m for m in admin.stream_messages() if m["data"]["calendarEventId"] == event_id]
    assert len(messages) == 3 and all(m["deliveries"] == 2 for m in messages)


def test_stream_survives_a_triggerer_restart_without_repeating_or_losing_changes(admin, hook):
    event_id = new_event(hook)
    trigger = watch(source="stream", event_ids=[event_id])

    async def first_run():
        triggerer = Triggerer(trigger)
        try:
            await triggerer.watching(admin)
            listed = await until("the first listing saved", lambda: saved_token(trigger))
            await in_thread(move, hook, event_id, 11)
            fired = await triggerer.next()
            await until("the notice acknowledged", lambda: not admin.pending_stream_messages())
            await until("the position past the change saved", lambda: saved_token(trigger) != listed)
            return fired
        finally:
            await triggerer.stop()

    async def second_run():
        triggerer = Triggerer(trigger)  # the same kwargs, so the same cursor
        try:
            await until("the new Stream connection", lambda: admin.stream_stats()["connections_opened"] >= 2)
            return await triggerer.next()
        finally:
            await triggerer.stop()

    before = asyncio.run(first_run())
    move(hook, event_id, 12)  # while no triggerer runs: queued by DingTalk
    after = asyncio.run(second_run())
    assert before["dedup_key"] != after["dedup_key"]  # the first event after the restart is the new change
    assert before["event"]["start"]["dateTime"].startswith("2026-12-01T11:00")
    assert after["event"]["start"]["dateTime"].startswith("2026-12-01T12:00")


def test_stream_a_failed_read_after_a_notice_is_read_again_and_fires_once(
    admin, hook, dtcal_emulator, monkeypatch
):
    """The notice was acknowledged; the read it woke fails (DingTalk 503, no retries in the hook): the watch
    starts again from its saved position after a backoff, reads the calendar and fires the change once."""
    event_id = new_event(hook)
    connection = json.loads(dtcal_emulator.connection_json("dtcal-test-key", "dtcal-test-secret"))
    monkeypatch.setenv(CONN_ENV_VAR, json.dumps({**connection, "extra": {"max_attempts": 1}}))

    async def main():
        triggerer = Triggerer(watch(source="stream", event_ids=[event_id], fields=["start", "end"]))
        try:
            await triggerer.watching(admin)
            await until("the first listing", lambda: variables.load_state(triggerer.trigger.cursor_key))
            await in_thread(admin.fail_next, 1, 503, operation="ListEvents")
            await in_thread(move, hook, event_id, 17)
            moved = await triggerer.next()
            await in_thread(move, hook, event_id, 18)
            following = await triggerer.next()
            return moved, following
        finally:
            await triggerer.stop()

    moved, following = asyncio.run(main())
    assert (moved["event_id"], moved["changed_fields"]) == (event_id, ["start", "end"])
    assert moved["event"]["start"]["dateTime"].startswith("2026-12-01T17:00")
    assert following["event"]["start"]["dateTime"].startswith("2026-12-01T18:00")  # not a repeat
    assert 503 in [r["status"] for r in admin.requests() if r["operation"] == "ListEvents"]
    assert [m["status"] for m in admin.stream_messages()] == ["acked", "acked"]


# ------------------------------------------------------------------------------------------ poll


def test_poll_fires_once_per_change_and_counts_its_calls(admin, hook):
    existing = new_event(hook, "Before the watch")

    async def main():
        triggerer = Triggerer(watch(source="poll", poll_interval=0.2, call_budget=1_000_000))
        try:
            await until("the first listing", lambda: variables.load_state(triggerer.trigger.cursor_key))
            created_id = await in_thread(new_event, hook, "New")
            created = await triggerer.next()
            await in_thread(move, hook, existing, 16)
            updated = await triggerer.next()
            await in_thread(hook.delete_event, ORGANIZER, created_id)
            deleted = await triggerer.next()
            key = triggerer.trigger.cursor_key

            def counted_every_call() -> bool:  # between two polls, the saved count equals the calls made
                listed = [r for r in admin.requests() if r["operation"] == "ListEvents"]
                return variables.load_state(key)["calls"] == len(listed) >= 4

            await until("the cursor's call count to match the emulator's", counted_every_call)
            return created_id, created, updated, deleted
        finally:
            await triggerer.stop()

    created_id, created, updated, deleted = asyncio.run(main())
    assert [(e["event_id"], e["change_type"]) for e in (created, updated, deleted)] == [
        (created_id, "create"),
        (existing, "update"),
        (created_id, "delete"),
    ]
    assert all(e["source"] == "poll" and e["calendar"] == ORGANIZER for e in (created, updated, deleted))
    assert updated["event"]["start"]["dateTime"].startswith("2026-12-01T16:00")


def test_poll_outlives_a_failed_poll(admin, hook, dtcal_emulator, monkeypatch):
    """A poll that fails (after the hook's own retries) does not end the watch: it starts again from the
    saved cursor after a backoff, and the change is reported once."""
    event_id = new_event(hook)
    connection = json.loads(dtcal_emulator.connection_json("dtcal-test-key", "dtcal-test-secret"))
    monkeypatch.setenv(CONN_ENV_VAR, json.dumps({**connection, "extra": {"max_attempts": 1}}))

    async def main():
        triggerer = Triggerer(watch(source="poll", poll_interval=0.2))
        try:
            await until("the first listing", lambda: variables.load_state(triggerer.trigger.cursor_key))
            await in_thread(admin.fail_next, 1, 503, operation="ListEvents")
            await in_thread(move, hook, event_id, 18)
            return await triggerer.next()
        finally:
            await triggerer.stop()

    moved = asyncio.run(main())
    assert (moved["event_id"], moved["change_type"]) == (event_id, "update")
    assert 503 in [r["status"] for r in admin.requests() if r["operation"] == "ListEvents"]


def test_poll_restart_in_the_middle_of_a_delta_resumes_at_the_saved_page(
    admin, hook, dtcal_emulator, monkeypatch
):
    """A delta of 250 changes (three pages): the triggerer stops after 150 TriggerEvents, the first page's
    position saved. The new trigger goes on from the second page: its 50 changes already handed over fire
    again, with the same dedup keys (at least once), the first page's do not, and nothing is lost."""
    monkeypatch.setattr(cursor_module, "SETTLE_SECONDS", 0.0)  # a page's position is saved as it ends
    trigger = watch(source="poll", poll_interval=0.2)

    async def baseline():
        triggerer = Triggerer(trigger)
        try:
            await until("the first listing", lambda: saved_token(trigger))
        finally:
            await triggerer.stop()

    async def run_until(count: int, hold: bool) -> list[dict]:
        """Run until ``count`` events came (and, with ``hold``, keep the trigger at its last yield)."""
        gate = asyncio.Event()
        events: list[dict] = []
        done = asyncio.Event()

        async def triggerer():  # holds the trigger right after its count-th event, like a stopped process
            async for event in trigger.run():
                events.append(event.payload)
                if len(events) == count:
                    done.set()
                    if hold:
                        await gate.wait()

        task = asyncio.create_task(triggerer())
        try:
            try:
                await asyncio.wait_for(done.wait(), WAIT)
            except TimeoutError:  # say how far it came (the trigger's own errors are in the captured log)
                raise AssertionError(
                    f"{len(events)} of {count} events in {WAIT:.0f}s; saved page: {saved_page(trigger)!r}"
                ) from None
            if not hold:
                await until("the delta's new token", lambda: saved_page(trigger) is None)
            return events
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(baseline())
    dtcal_emulator.seed_events(
        [
            {
                "organizer": ORGANIZER,
                "summary": f"Imported {i}",
                "start": {"date": "2026-12-01"},
                "end": {"date": "2026-12-02"},
            }
            for i in range(250)
        ]
    )
    first = asyncio.run(run_until(150, hold=True))
    assert saved_page(trigger) is not None  # stopped inside the delta, after its first page
    second = asyncio.run(run_until(150, hold=False))
    keys_first, keys_second = [e["dedup_key"] for e in first], [e["dedup_key"] for e in second]
    assert keys_second[:50] == keys_first[100:150]  # handed over, position not yet saved: fired again
    assert not set(keys_second) & set(keys_first[:100])  # the saved page's changes are not repeated
    assert len(set(keys_first) | set(keys_second)) == 250  # every change fired
    assert all(e["change_type"] == "create" for e in first + second)


def test_poll_restart_with_the_saved_cursor_fires_only_new_changes(admin, hook):
    event_id = new_event(hook)
    trigger = watch(source="poll", poll_interval=0.2, event_ids=[event_id], fields=["start", "end"])

    async def run_once(change_hour: int) -> dict:
        triggerer = Triggerer(trigger)
        try:
            await until("the cursor", lambda: saved_token(trigger))
            await in_thread(rename, hook, event_id, f"All-hands v{change_hour}")  # not start/end
            await in_thread(move, hook, event_id, change_hour)
            return await triggerer.next()
        finally:
            await triggerer.stop()

    first = asyncio.run(run_once(11))
    second = asyncio.run(run_once(12))
    assert first["changed_fields"] == ["start", "end"] and second["changed_fields"] == ["start", "end"]
    assert first["event"]["start"]["dateTime"].startswith("2026-12-01T11:00")
    assert second["event"]["start"]["dateTime"].startswith("2026-12-01T12:00")
    assert second["event"]["summary"] == "All-hands v12"


def test_poll_an_expired_sync_token_is_one_resync_event_not_one_per_event(admin, hook):
    for i in range(5):
        new_event(hook, f"Meeting {i}")

    async def main():
        triggerer = Triggerer(watch(source="poll", poll_interval=0.2))
        try:
            await until("the first listing", lambda: variables.load_state(triggerer.trigger.cursor_key))
            await in_thread(admin.expire_sync_tokens)
            resync = await triggerer.next()
            created = await in_thread(new_event, hook, "After the resync")
            after = await triggerer.next()
            return resync, created, after
        finally:
            await triggerer.stop()

    resync, created, after = asyncio.run(main())
    assert (resync["change_type"], resync["event_id"], resync["calendar"]) == ("resync", None, ORGANIZER)
    assert (after["change_type"], after["event_id"]) == ("create", created)


def test_poll_with_fields_after_an_expired_token_reports_the_real_change(admin, hook):
    watched, other = new_event(hook, "All-hands"), new_event(hook, "Other", hour=15)

    async def main():
        trigger = watch(source="poll", poll_interval=0.2, event_ids=[watched, other], fields=["start", "end"])
        triggerer = Triggerer(trigger)
        try:
            await until("the first listing", lambda: variables.load_state(trigger.cursor_key))
            await triggerer.stop()  # down for a while: the token expires and the all-hands moves
            await in_thread(admin.expire_sync_tokens)
            await in_thread(rename, hook, other, "Other (renamed)")
            await in_thread(move, hook, watched, 9)
            triggerer = Triggerer(trigger)
            return await triggerer.next()
        finally:
            await triggerer.stop()

    moved = asyncio.run(main())
    assert (moved["event_id"], moved["change_type"], moved["changed_fields"]) == (
        watched,
        "update",
        ["start", "end"],
    )
    # The key of a change found by a resync listing is the key its delta would have given it.
    assert moved["dedup_key"].startswith(f"poll:{ORGANIZER}:{watched}:")
