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
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.planning.events import build_event
from airflow_dtcal.state import variables
from airflow_dtcal.testing import EmulatorAdmin
from airflow_dtcal.testing.pytest_plugin import CONN_ENV_VAR
from airflow_dtcal.triggers.watch import CalendarChangeTrigger

ORGANIZER = "union-ceo-001"
OTHER = "union-someone-else"
WAIT = 60.0  # a guard against a hung test, not a measurement

pytestmark = pytest.mark.usefixtures("airflow_db")


class Triggerer:
    """Runs one trigger the way Airflow's triggerer does, collecting its events in a queue."""

    def __init__(self, trigger: CalendarChangeTrigger) -> None:
        classpath, kwargs = trigger.serialize()  # the triggerer re-creates a trigger from its kwargs
        self.trigger = CalendarChangeTrigger(**kwargs)
        self.events: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self.trigger.run():
            self.events.put_nowait(event.payload)

    async def next(self) -> dict:
        getter = asyncio.ensure_future(self.events.get())
        done, _ = await asyncio.wait({getter, self.task}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            return getter.result()
        getter.cancel()
        if self.task in done:
            raise AssertionError(f"the trigger ended: {self.task.exception()!r}")
        raise AssertionError("no TriggerEvent in time")

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def until(what: str, check: Callable[[], Any], interval: float = 0.05) -> Any:
    """Wait for ``check()`` (run in a thread: it may call the emulator's admin API) to be truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
    return asyncio.to_thread(fn, *args, **kwargs)


def new_event(hook: DingTalkCalendarHook, summary: str = "All-hands", hour: int = 10, attendees=()) -> str:
    body = build_event(
        summary=summary,
        start=f"2026-12-01T{hour:02d}:00:00+08:00",
        end=f"2026-12-01T{hour + 1:02d}:00:00+08:00",
        attendees=list(attendees),
    )
    return hook.create_event(ORGANIZER, body)["id"]


def move(hook: DingTalkCalendarHook, event_id: str, hour: int) -> None:
    hook.patch_event(
        ORGANIZER,
        event_id,
        {
            "start": {"dateTime": f"2026-12-01T{hour:02d}:00:00+08:00", "timeZone": "Asia/Shanghai"},
            "end": {"dateTime": f"2026-12-01T{hour + 1:02d}:00:00+08:00", "timeZone": "Asia/Shanghai"},
        },
    )


def rename(hook: DingTalkCalendarHook, event_id: str, summary: str) -> None:
    hook.patch_event(ORGANIZER, event_id, {"summary": summary})


def watch(**kwargs: Any) -> CalendarChangeTrigger:
    kwargs.setdefault("calendars", [ORGANIZER])
    kwargs.setdefault("state_key", f"dtcal_test_watch_{uuid.uuid4().hex[:12]}")
    return CalendarChangeTrigger(**kwargs)


@pytest.fixture
def admin(dtcal_emulator) -> EmulatorAdmin:
    admin = EmulatorAdmin(dtcal_emulator.base_url)
    admin.set_stream_redelivery_delay(0.5)
    return admin


@pytest.fixture
def hook(dtcal_emulator) -> DingTalkCalendarHook:
    return DingTalkCalendarHook(rate_limit=0)


def connected(admin: EmulatorAdmin, count: int = 1) -> Callable[[], bool]:
    return lambda: len(admin.stream_connections()) >= count


# ------------------------------------------------------------------------------------------ stream


def test_stream_fires_once_per_change_and_filters_calendars_and_types(admin, hook):
    async def main():
        triggerer = Triggerer(watch(source="stream", change_types=["create", "update"]))
        try:
            await until("the Stream connection", connected(admin))
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
            await until("the Stream connection", connected(admin))
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
            await until("the Stream connection", connected(admin))
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
    assert after_drop["event"] is None and after_drop["change_type"] == "update"
    assert after_drop["dedup_key"] != after_disconnect["dedup_key"]
    assert admin.stream_stats()["connections_opened"] >= 3


def test_stream_a_notice_fired_but_not_acknowledged_is_not_fired_again(admin, hook):
    """The connection drops between the TriggerEvent and the ack: DingTalk delivers the notice again on the
    next connection; the cursor (saved before the ack) recognises it and it is only acknowledged."""
    event_id = new_event(hook)

    async def main():
        trigger = watch(source="stream", event_ids=[event_id])
        gate = asyncio.Event()
        events: asyncio.Queue = asyncio.Queue()

        async def slow_triggerer():  # holds the trigger right after its first event, like a busy loop
            async for event in trigger.run():
                events.put_nowait(event.payload)
                await gate.wait()

        task = asyncio.create_task(slow_triggerer())
        try:
            await until("the Stream connection", connected(admin))
            await in_thread(move, hook, event_id, 11)
            first = await asyncio.wait_for(events.get(), WAIT)
            await in_thread(admin.drop_stream_connections)  # before the trigger could acknowledge
            [message] = await in_thread(admin.pending_stream_messages)
            gate.set()
            await until("the redelivered notice acknowledged", lambda: not admin.pending_stream_messages())
            await in_thread(move, hook, event_id, 12)
            second = await asyncio.wait_for(events.get(), WAIT)
            return first, second, message
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    first, second, message = asyncio.run(main())
    assert first["dedup_key"] == f"stream:{message['eventId']}"
    assert second["dedup_key"] != first["dedup_key"]  # the next event is the next change, not a repeat
    [acked] = [m for m in admin.acked_stream_messages() if m["messageId"] == message["messageId"]]
    assert acked["deliveries"] >= 2  # it was delivered again, and acknowledged without firing


def test_stream_survives_a_triggerer_restart_without_repeating_or_losing_changes(admin, hook):
    event_id = new_event(hook)
    trigger = watch(source="stream", event_ids=[event_id])

    async def first_run():
        triggerer = Triggerer(trigger)
        try:
            await until("the Stream connection", connected(admin))
            await in_thread(move, hook, event_id, 11)
            fired = await triggerer.next()
            await until("the notice acknowledged", lambda: not admin.pending_stream_messages())
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
    assert before["dedup_key"] != after["dedup_key"]
    assert variables.load_state(trigger.cursor_key)["seen"] == [before["dedup_key"], after["dedup_key"]]


def test_stream_a_failed_get_event_answers_later_and_the_notice_fires_once_redelivered(
    admin, hook, dtcal_emulator, monkeypatch
):
    """With ``fields`` a notice needs GetEvent; while DingTalk fails it, the trigger answers LATER (no
    firing, no loss); the notice comes again and fires once."""
    event_id = new_event(hook)
    connection = json.loads(dtcal_emulator.connection_json("dtcal-test-key", "dtcal-test-secret"))
    monkeypatch.setenv(CONN_ENV_VAR, json.dumps({**connection, "extra": {"max_attempts": 1}}))

    async def main():
        triggerer = Triggerer(watch(source="stream", event_ids=[event_id], fields=["start", "end"]))
        try:
            await until("the Stream connection", connected(admin))  # the baseline GetEvent is done
            await in_thread(admin.fail_next, 1, 503, operation="GetEvent")
            await in_thread(move, hook, event_id, 17)
            moved = await triggerer.next()
            await until("the notice acknowledged", lambda: not admin.pending_stream_messages())
            return moved
        finally:
            await triggerer.stop()

    moved = asyncio.run(main())
    assert (moved["event_id"], moved["changed_fields"]) == (event_id, ["start", "end"])
    [message] = [m for m in admin.stream_messages() if m["data"]["calendarEventId"] == event_id]
    assert message["status"] == "acked" and message["deliveries"] == 2
    assert [a["status"] for a in message["acks"]] == ["LATER", "SUCCESS"]
    calls = [r["status"] for r in admin.requests() if r["operation"] == "GetEvent"]
    assert calls == [200, 503, 200]  # the baseline, the failure, the redelivered notice's


def test_stream_a_get_event_refused_for_good_fires_unchecked_rather_than_losing_the_change(admin, hook):
    event_id = new_event(hook)

    async def main():
        triggerer = Triggerer(watch(source="stream", event_ids=[event_id], fields=["start", "end"]))
        try:
            await until("the Stream connection", connected(admin))
            await in_thread(
                admin.fail_next,
                1,
                403,
                "Forbidden.AccessDenied.AccessTokenPermissionDenied",
                "no scope",
                "GetEvent",
            )
            await in_thread(rename, hook, event_id, "All-hands (renamed)")  # unchecked: it fires
            unchecked = await triggerer.next()
            await in_thread(move, hook, event_id, 9)  # checked again: it fires, with what changed
            checked = await triggerer.next()
            return unchecked, checked
        finally:
            await triggerer.stop()

    unchecked, checked = asyncio.run(main())
    assert (unchecked["event_id"], unchecked["changed_fields"], unchecked["event"]) == (event_id, None, None)
    assert checked["changed_fields"] == ["start", "end"]


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
                return variables.load_state(key)["month"]["calls"] == len(listed) >= 4

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


def test_poll_restart_does_not_repeat_a_change_of_the_delta_it_was_reading(admin, hook):
    """A triggerer stopped in the middle of a delta (one change fired, the next not yet): the new
    trigger reads the delta again from the saved token and fires only the change not fired."""
    first, second = new_event(hook, "One"), new_event(hook, "Two")
    trigger = watch(source="poll", poll_interval=0.2)

    def token() -> str | None:
        return (variables.load_state(trigger.cursor_key) or {}).get("tokens", {}).get(ORGANIZER)

    async def run_until(count: int) -> list[dict]:
        """Run until ``count`` events came and the delta was finished (its new token saved)."""
        start = await in_thread(token)
        triggerer = Triggerer(trigger)
        try:
            events = [await triggerer.next() for _ in range(count)]
            await until("the delta's new token", lambda: token() != start)
            return events
        finally:
            await triggerer.stop()

    async def baseline():
        triggerer = Triggerer(trigger)
        try:
            await until("the first listing", lambda: variables.load_state(trigger.cursor_key))
        finally:
            await triggerer.stop()

    asyncio.run(baseline())
    before = variables.load_state(trigger.cursor_key)
    move(hook, first, 12)
    move(hook, second, 13)
    both = asyncio.run(run_until(2))
    assert [e["event_id"] for e in both] == [first, second]
    # What the cursor held had the triggerer stopped right after the first event: the old token, one fired.
    variables.save_state(trigger.cursor_key, {**before, "fired": [both[0]["dedup_key"]]})
    [again] = asyncio.run(run_until(1))
    assert again == both[1]  # the same change, the same key: the first one was not fired again
    state = variables.load_state(trigger.cursor_key)
    assert state["tokens"][ORGANIZER] != before["tokens"][ORGANIZER] and state["fired"] == []


def test_poll_restart_with_the_saved_cursor_fires_only_new_changes(admin, hook):
    event_id = new_event(hook)
    trigger = watch(source="poll", poll_interval=0.2, event_ids=[event_id], fields=["start", "end"])

    async def run_once(change_hour: int) -> dict:
        triggerer = Triggerer(trigger)
        try:
            await until("the cursor", lambda: (variables.load_state(trigger.cursor_key) or {}).get("tokens"))
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
    assert moved["dedup_key"].startswith(f"poll:{ORGANIZER}:resync:")
