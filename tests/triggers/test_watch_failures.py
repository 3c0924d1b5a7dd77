"""CalendarChangeTrigger when things go wrong, against the emulator: a thousand failures in a row (waits
replaced by a recorder, not waited), giving up after ``max_failures``, people the directory does not know,
a damaged cursor, an answer too large, and cancellation (also the one asgiref swallows on Airflow 3.0/3.1).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from airflow_dtcal.exceptions import DingTalkAnswerError, DingTalkAuthError, DingTalkServerError
from airflow_dtcal.state import variables
from airflow_dtcal.testing.pytest_plugin import CONN_ENV_VAR
from airflow_dtcal.triggers import watch as watch_module
from airflow_dtcal.triggers.watch import MAX_ERROR_WAIT, error_wait
from tests.triggers.conftest import (
    ORGANIZER,
    WAIT,
    Triggerer,
    connected,
    in_thread,
    new_event,
    saved_token,
    trigger_logs,
    until,
    watch,
)

pytestmark = pytest.mark.usefixtures("airflow_db")


def use_connection(monkeypatch, dtcal_emulator, **extra) -> None:
    connection = json.loads(dtcal_emulator.connection_json("dtcal-test-key", "dtcal-test-secret"))
    monkeypatch.setenv(CONN_ENV_VAR, json.dumps({**connection, "extra": extra}))


def record_waits(monkeypatch) -> list[float]:
    """Replace the trigger's waits by a recorder (an injected clock: no test waits 3.5 days)."""
    waits: list[float] = []

    async def pause(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    monkeypatch.setattr(watch_module, "_pause", pause)
    return waits


def logged(logs: list[dict], words: str) -> list[str]:
    return [str(e["event"]) for e in list(logs) if words in str(e.get("event"))]


@pytest.mark.parametrize("failures", [1, 2, 8, 9, 1023, 1024, 1025, 10**6, 10**18])
def test_the_wait_after_any_number_of_failures_is_capped_before_exponentiation(failures):
    err = DingTalkServerError("ListEvents", 503, "busy", "busy")
    assert error_wait(failures, err) == min(
        MAX_ERROR_WAIT, 2.0**failures if failures < 64 else MAX_ERROR_WAIT
    )
    assert error_wait(failures, RuntimeError("the database went away")) == error_wait(failures, err)
    # What only a person can fix waits the ceiling at once; an unusable answer backs off like an outage.
    assert error_wait(failures, DingTalkAuthError("ListEvents", 401, "bad", "bad")) == MAX_ERROR_WAIT
    assert error_wait(failures, DingTalkAnswerError("ListEvents", 200, None, "too big")) == error_wait(
        failures, err
    )


@pytest.mark.scale
def test_a_thousand_failures_in_a_row_neither_overflow_nor_end_the_watch(
    admin, hook, dtcal_emulator, monkeypatch
):
    """1,100 failed polls in a row (the 1,024th raised OverflowError before): each is logged, the wait stays
    at 5 minutes, from the 10th on loudly; when DingTalk answers again the watch goes on."""
    use_connection(monkeypatch, dtcal_emulator, max_attempts=1, rate_limit=0)
    waits = record_waits(monkeypatch)
    admin.fail_next(1100, 503, operation="ListEvents")

    async def main():
        with trigger_logs() as logs:
            triggerer = Triggerer(watch(source="poll", poll_interval=0.2))
            try:
                # 1,100 round trips to the emulator: a guard of 5 minutes for a loaded machine.
                await until("1,100 failures", lambda: len(waits) >= 1100, guard=300)
                await until("the first listing", lambda: saved_token(triggerer.trigger))
                created = await in_thread(new_event, hook, "After the outage")
                return created, await triggerer.next(), logs
            finally:
                await triggerer.stop()

    created, fired, logs = asyncio.run(main())
    assert (fired["event_id"], fired["change_type"]) == (created, "create")
    failure_waits = waits[:1100]
    assert failure_waits[:8] == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]
    assert set(failure_waits[8:]) == {MAX_ERROR_WAIT}
    loud = logged(logs, "IS NOT WORKING")
    assert len(loud) == 1100 - 9  # from the 10th failure on
    assert any("1024 failures in a row" in line for line in loud)
    assert any("1100 failures in a row" in line and "DingTalkServerError" in line for line in loud)


def test_max_failures_stops_the_watch_for_good(admin, dtcal_emulator, monkeypatch):
    use_connection(monkeypatch, dtcal_emulator, max_attempts=1)
    waits = record_waits(monkeypatch)
    admin.fail_next(50, 503, operation="ListEvents")

    async def main():
        with trigger_logs() as logs:
            triggerer = Triggerer(watch(source="poll", poll_interval=0.2, max_failures=3))
            try:
                stopped = await until("the watch to stop", lambda: logged(logs, "HAS STOPPED"))
                calls = [r for r in await in_thread(admin.requests) if r["operation"] == "ListEvents"]
                return stopped, calls, triggerer.task.done()
            finally:
                await triggerer.stop()

    stopped, calls, ended = asyncio.run(main())
    assert "it failed 3 times in a row (max_failures)" in stopped[0]
    assert len(calls) == 3 and waits == [2.0, 4.0]  # no wait, and no request, after the third failure
    assert not ended  # it waits for Airflow to cancel it (an ended trigger would be started again at once)


def test_an_unknown_person_stops_the_watch_for_good_after_one_lookup(admin, hook, dtcal_emulator):
    admin.seed_users([{"userId": "ceo", "unionId": ORGANIZER, "name": "The CEO"}])

    async def main():
        with trigger_logs() as logs:
            unknown = Triggerer(
                watch(source="poll", poll_interval=0.2, id_type="userId", calendars=["nobody-42"])
            )
            known = Triggerer(watch(source="poll", poll_interval=0.2, id_type="userId", calendars=["ceo"]))
            try:
                stopped = await until("the watch to stop", lambda: logged(logs, "HAS STOPPED"))
                await until("the first listing", lambda: saved_token(known.trigger))
                created = await in_thread(new_event, hook, "By userId")
                fired = await known.next()
                return stopped, created, fired, unknown.task.done()
            finally:
                await unknown.stop()
                await known.stop()

    stopped, created, fired, ended = asyncio.run(main())
    assert "nobody-42" in stopped[0] and "it cannot work as configured" in stopped[0]
    assert not ended
    lookups = [r for r in admin.requests() if r["operation"] == "GetUser"]
    assert len(lookups) == 2  # one each: the unknown person is not looked up again
    assert (fired["event_id"], fired["calendar"]) == (created, ORGANIZER)


@pytest.mark.parametrize(
    "damage",
    [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"version": 2, "generation": "g1", "parts": 1, "events": ["e1"], "month": "", "calls": 0}),
        json.dumps({"version": 2, "generation": "g1", "parts": "one", "events": {}}),
        json.dumps({"version": 2, "generation": "g1", "parts": 1, "events": {}, "month": "", "calls": -1}),
        json.dumps({"version": 1, "tokens": ["t"], "fingerprints": {}, "known": []}),
        json.dumps({"version": 7}),
    ],
)
def test_a_damaged_cursor_names_its_variable_and_the_reset_command_then_resumes_once_deleted(
    admin, hook, monkeypatch, damage
):
    monkeypatch.setattr(watch_module, "RESET_CHECK", 0.1)
    trigger = watch(source="poll", poll_interval=0.2)
    key = trigger.cursor_key
    variables._variable_class().set(key, damage)

    async def main():
        with trigger_logs() as logs:
            triggerer = Triggerer(trigger)
            try:
                waiting = await until("the report", lambda: logged(logs, "IS WAITING"))
                await in_thread(variables._variable_class().delete, key)
                await until(
                    "a fresh first listing", lambda: (variables.load_state(key) or {}).get("version") == 2
                )
                created = await in_thread(new_event, hook, "After the reset")
                return waiting, created, await triggerer.next()
            finally:
                await triggerer.stop()

    waiting, created, fired = asyncio.run(main())
    assert f"Airflow Variable '{key}' is damaged" in waiting[0]
    assert f"airflow variables delete {key}" in waiting[0]
    assert (fired["event_id"], fired["change_type"]) == (created, "create")


def test_a_damaged_part_names_the_part_and_the_head_to_delete(admin, monkeypatch):
    trigger = watch(source="poll", poll_interval=0.2)
    key = trigger.cursor_key
    head = {
        "version": 2,
        "generation": "g1",
        "source": "poll",
        "parts": 1,
        "events": {},
        "month": "",
        "calls": 0,
    }
    variables.save_state(key, head)
    variables.save_state(f"{key}.1", {"version": 2, "generation": "g1", "calendars": {ORGANIZER: "token"}})

    async def main():
        with trigger_logs() as logs:
            triggerer = Triggerer(trigger)
            try:
                return await until("the report", lambda: logged(logs, "IS WAITING"))
            finally:
                await triggerer.stop()

    waiting = asyncio.run(main())[0]
    assert (
        f"Airflow Variable '{key}.1' is damaged" in waiting and f"airflow variables delete {key}" in waiting
    )


def test_an_answer_larger_than_the_cap_is_an_answer_error_backed_off_like_an_outage(
    admin, hook, dtcal_emulator, monkeypatch
):
    use_connection(monkeypatch, dtcal_emulator, max_answer_bytes=2048)
    for i in range(5):
        new_event(hook, f"Meeting {i} " + "x" * 500)
    waits = record_waits(monkeypatch)

    async def main():
        with trigger_logs() as logs:
            triggerer = Triggerer(watch(source="poll", poll_interval=0.2))
            try:
                await until("three failures", lambda: len(waits) >= 3)
                return logged(logs, "failed (")
            finally:
                await triggerer.stop()

    failures = asyncio.run(main())
    assert waits[:3] == [2.0, 4.0, 8.0]  # not the 5 minutes of a ban or of bad credentials
    assert all("DingTalkAnswerError" in line and "max_answer_bytes=2,048" in line for line in failures[:3])


# ------------------------------------------------------------------------------------------ cancellation


def test_cancelling_a_polling_trigger_in_the_middle_of_a_request_stops_everything_at_once(admin, hook):
    """The poll is cut while its ListEvents waits on a slow DingTalk: when the cancellation returns, no task
    of the trigger is left (nothing can poll again) and the slow request was abandoned, not awaited."""
    new_event(hook)

    async def main():
        triggerer = Triggerer(watch(source="poll", poll_interval=0.2))
        await until("the first listing", lambda: saved_token(triggerer.trigger))
        admin.delay_next(1, 8.0, operation="ListEvents")
        await until("the slow poll to start", lambda: admin.stats()["faulted"]["ListEvents"] >= 1)
        began = time.monotonic()
        await triggerer.stop()
        stopped_in = time.monotonic() - began
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return stopped_in, others, triggerer.task

    stopped_in, others, task = asyncio.run(main())
    assert task.cancelled()
    assert others == []
    assert stopped_in < 8.0  # it did not wait for the slow answer (a guard, not a measurement)


def test_cancelling_a_stream_trigger_closes_its_connection_and_leaves_no_task(admin):
    async def main():
        triggerer = Triggerer(watch(source="stream"))
        await until("the Stream connection", connected(admin))
        await triggerer.stop()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        await until("the connection closed", lambda: not admin.stream_connections())
        return others, triggerer.task

    others, task = asyncio.run(main())
    assert task.cancelled() and others == []


def test_a_cancellation_asgiref_swallows_still_stops_the_trigger(admin, monkeypatch):
    """On Airflow 3.0 and 3.1 a trigger's Variable read runs ``async_to_sync`` inside ``sync_to_async``'s
    thread (the triggerer's comms). A cancellation that lands once that inner call has finished, while the
    thread is still busy, is swallowed by asgiref: the trigger would go on polling. Reproduced here with the
    same call pattern; the trigger must end, before any poll."""
    from asgiref.sync import async_to_sync

    real = variables._variable_class()
    inside, release = threading.Event(), threading.Event()

    class CommsVariable:  # the Variable a trigger sees in a 3.0/3.1 triggerer, as far as asgiref is concerned
        @staticmethod
        def get(key, default=None):
            async_to_sync(asyncio.sleep)(0)  # the comms round trip, on the trigger's event loop
            inside.set()
            release.wait(WAIT)  # still in the thread when the cancellation comes
            return real.get(key, default)

        set = staticmethod(real.set)

    monkeypatch.setattr(variables, "_variable_class", lambda: CommsVariable)

    async def main():
        triggerer = Triggerer(watch(source="poll", poll_interval=0.2))
        await asyncio.to_thread(inside.wait, WAIT)
        triggerer.task.cancel()
        await asyncio.sleep(0.05)
        release.set()
        done, _ = await asyncio.wait({triggerer.task}, timeout=WAIT)
        return triggerer.task in done and triggerer.task.cancelled()

    assert asyncio.run(main())
    assert [r for r in admin.requests() if r["operation"] == "ListEvents"] == []
