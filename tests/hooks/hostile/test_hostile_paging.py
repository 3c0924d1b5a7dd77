"""Page tokens from a misbehaving server, through both transports: a 1 MiB ``nextToken`` (the report's size)
is refused as an answer error before it is sent back; a ``syncToken`` too."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_dtcal.exceptions import DingTalkAnswerError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from tests.hooks.hostile.server import HostileServer, json_answer

MIB = 1024 * 1024


@pytest.fixture
def server(monkeypatch):
    hostile = HostileServer()
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT", hostile.connection_json())
    yield hostile
    hostile.close()


def _hook() -> DingTalkCalendarHook:
    return DingTalkCalendarHook(max_attempts=1, rate_limit=0, timeout=10)


def _changes(mode: str) -> list:
    hook = _hook()
    if mode == "sync":
        return list(hook.iter_event_changes("org", sync_token=None, time_min="2026-03-09T00:00:00Z"))

    async def run() -> list:
        try:
            return [
                page
                async for page in hook.aiter_event_changes(
                    "org", sync_token=None, time_min="2026-03-09T00:00:00Z"
                )
            ]
        finally:
            await hook.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_one_mib_next_token_is_refused_and_never_sent_back(server, mode):
    server.behaviour = json_answer(json.dumps({"events": [], "nextToken": "t" * MIB}))
    with pytest.raises(DingTalkAnswerError, match="nextToken is 1,048,576 characters; at most 4,096"):
        _changes(mode)
    assert len([p for p in server.paths if "/events" in p]) == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_oversized_sync_token_is_refused(server, mode):
    server.behaviour = json_answer(json.dumps({"events": [], "syncToken": "s" * 5000}))
    with pytest.raises(DingTalkAnswerError, match="syncToken"):
        _changes(mode)
