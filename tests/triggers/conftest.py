"""What the CalendarChangeTrigger tests share: a Triggerer that runs one trigger as Airflow's does, waits
bounded by a guard (never a measurement), writes made through the hook, and the saved cursor's positions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import structlog

from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.planning.events import build_event
from airflow_dtcal.state import cursor as cursor_module
from airflow_dtcal.state import variables
from airflow_dtcal.testing import EmulatorAdmin
from airflow_dtcal.triggers.watch import CalendarChangeTrigger

ORGANIZER = "union-ceo-001"
OTHER = "union-someone-else"
WAIT = 60.0  # a guard against a hung test, not a measurement


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

    async def watching(self, admin: EmulatorAdmin) -> None:
        """Wait until the Stream watch is connected and its first listing is saved: a change made before
        that listing is part of it (nothing fires for what is there when a watch starts)."""
        await until("the Stream connection", connected(admin))
        await until("the first listing", lambda: saved_token(self.trigger))

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def until(what: str, check: Callable[[], Any], interval: float = 0.05, guard: float = WAIT) -> Any:
    """Wait for ``check()`` (run in a thread: it may call the emulator's admin API) to be truthy; fail
    after ``guard`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + guard
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


@pytest.fixture(autouse=True)
def quick_settle(monkeypatch):
    """Positions are saved 0.2 s after a TriggerEvent was handed over (10 s in a triggerer): this loop
    stores each event as it is yielded."""
    monkeypatch.setattr(cursor_module, "SETTLE_SECONDS", 0.2)


@pytest.fixture
def admin(dtcal_emulator) -> EmulatorAdmin:
    admin = EmulatorAdmin(dtcal_emulator.base_url)
    admin.set_stream_redelivery_delay(0.5)
    return admin


@pytest.fixture
def hook(dtcal_emulator) -> DingTalkCalendarHook:
    return DingTalkCalendarHook(rate_limit=0)


def saved_position(trigger: CalendarChangeTrigger, calendar: str = ORGANIZER) -> list:
    """The saved ``[sync token, next page]`` of a watched calendar ([None, None] before any). A save writes
    the parts before the head: until the head of the same generation is written too (the first save), a
    new trigger would not find the part, so neither does this."""
    part = variables.load_state(f"{trigger.cursor_key}.1") or {}
    head = variables.load_state(trigger.cursor_key) or {}
    if not part or head.get("generation") != part.get("generation"):
        return [None, None]
    return (part.get("calendars") or {}).get(calendar, [None, None])


def saved_token(trigger: CalendarChangeTrigger) -> str | None:
    return saved_position(trigger)[0]


def saved_page(trigger: CalendarChangeTrigger) -> str | None:
    return saved_position(trigger)[1]


def duplicates_at_least(admin: EmulatorAdmin, count: int) -> Callable[[], bool]:
    return lambda: admin.stream_stats()["duplicates"] >= count


def connected(admin: EmulatorAdmin, count: int = 1) -> Callable[[], bool]:
    return lambda: len(admin.stream_connections()) >= count


class _Lines(logging.Handler):
    def __init__(self, into: list[dict]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append({"event": record.getMessage(), "log_level": record.levelname.lower()})


@contextlib.contextmanager
def trigger_logs() -> Iterator[list[dict]]:
    """The watch's log lines as structlog's ``capture_logs`` gives them (``{"event": ...}``), on every Airflow
    line: from 3.1 a trigger logs through structlog, on 3.0 through the standard library."""
    with structlog.testing.capture_logs() as logs:
        if not isinstance(CalendarChangeTrigger(calendars=["u"], source="poll").log, logging.Logger):
            yield logs
            return
        logger = logging.getLogger("airflow_dtcal.triggers.watch")
        handler, level = _Lines(logs), logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        try:
            yield logs
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
