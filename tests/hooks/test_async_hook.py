"""The hook's async methods against the emulator over real HTTP: the same settings, rules and errors."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_dtcal.exceptions import (
    DingTalkConfigurationError,
    DingTalkInvalidArgumentError,
    DingTalkNotFoundError,
    DingTalkServerError,
    DingTalkTransportError,
)
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.planning.events import build_event

ORGANIZER = "union-org"


def event(**kwargs) -> dict:
    return build_event(
        summary="Async review",
        start="2026-12-01T10:00:00+08:00",
        end="2026-12-01T11:00:00+08:00",
        **kwargs,
    )


def run(hook: DingTalkCalendarHook, coro_fn):
    async def main():
        try:
            return await coro_fn(hook)
        finally:
            await hook.aclose()

    return asyncio.run(main())


def test_every_async_method_follows_the_contract(dtcal_emulator):
    hook = DingTalkCalendarHook(rate_limit=0)
    people = [f"p-{i:04d}" for i in range(1100)]

    async def flow(h: DingTalkCalendarHook):
        created = await h.acreate_event(ORGANIZER, event(attendees=people[:600]))  # 500 + a chunk of 100
        event_id = created["id"]
        assert (await h.aget_event(ORGANIZER, event_id))["summary"] == "Async review"
        await h.aadd_attendees(ORGANIZER, event_id, people[600:], chunk_size=250)
        listed = [a async for a in h.aiter_attendees(ORGANIZER, event_id, page_size=400)]
        await h.arespond_event("p-0001", event_id, "accepted")
        await h.aremove_attendees(ORGANIZER, event_id, people[1000:])
        patched = await h.apatch_event(ORGANIZER, event_id, {"summary": "Moved"})
        events = await h.alist_events(ORGANIZER)
        final = await h.alist_attendees(ORGANIZER, event_id)
        await h.adelete_event(ORGANIZER, event_id)
        with pytest.raises(DingTalkNotFoundError):
            await h.aget_event(ORGANIZER, event_id)
        return event_id, listed, patched, events, final

    event_id, listed, patched, events, final = run(hook, flow)
    assert len(listed) == 1101  # the organizer too
    assert patched["summary"] == "Moved" and [e["id"] for e in events] == [event_id]
    statuses = {a["id"]: a["responseStatus"] for a in final}
    assert len(statuses) == 1001 and statuses["p-0001"] == "accepted"
    ops = [r["operation"] for r in dtcal_emulator.requests()]
    assert ops.count("GetAccessToken") == 1
    assert ops.count("AddAttendee") == 1 + 2  # the rest of the create, then 500 in chunks of 250
    assert ops.count("RemoveAttendee") == 1
    adds = [r for r in dtcal_emulator.requests() if r["operation"] == "AddAttendee"]
    assert len({r["client_token"] for r in adds}) == 3  # each chunk its own idempotency key
    assert all(r["headers"]["user-agent"].startswith("airflow-dtcal/") for r in dtcal_emulator.requests())


def test_gathered_calls_share_one_token_fetch(dtcal_emulator):
    hook = DingTalkCalendarHook(rate_limit=0)

    async def many(h):
        return await asyncio.gather(*(h.acreate_event(ORGANIZER, event()) for _ in range(12)))

    created = run(hook, many)
    assert len({c["id"] for c in created}) == 12
    assert dtcal_emulator.stats()["token_fetches"] == 1


def test_async_and_sync_share_settings_from_prefixed_extras(dtcal_emulator, monkeypatch):
    conn = json.loads(dtcal_emulator.connection_json())
    conn["extra"] = {
        "extra__dingtalk_calendar__max_attempts": "2",
        "backoff_initial": 0.01,
        "extra__dingtalk_calendar__rate_limit": "0",
    }
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT", json.dumps(conn))
    dtcal_emulator.fail_next(5, status=503, operation="GetEvent")

    async def read(h):
        settings = await h.asettings()
        with pytest.raises(DingTalkServerError):
            await h.aget_event(ORGANIZER, "e1")
        return settings

    settings = run(DingTalkCalendarHook(), read)
    assert (settings.max_attempts, settings.backoff_initial, settings.rate_limit) == (2, 0.01, 0.0)
    assert settings == DingTalkCalendarHook().settings
    assert dtcal_emulator.stats()["faulted"]["GetEvent"] == 2  # max_attempts from the prefixed extra


def test_async_argument_and_connection_errors_come_before_any_request(dtcal_emulator, monkeypatch):
    with pytest.raises(DingTalkInvalidArgumentError, match="event_id: must not be"):
        run(DingTalkCalendarHook(), lambda h: h.aget_event(ORGANIZER, ".."))
    with pytest.raises(DingTalkInvalidArgumentError, match="response_status"):
        run(DingTalkCalendarHook(), lambda h: h.arespond_event("a", "e", "maybe"))
    assert dtcal_emulator.requests() == []
    monkeypatch.setenv(
        "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT",
        json.dumps(
            {"conn_type": "dingtalk_calendar", "login": "k", "password": "s", "host": "http://example.com"}
        ),
    )
    with pytest.raises(DingTalkConfigurationError, match="loopback"):
        run(DingTalkCalendarHook(), lambda h: h.aget_access_token())


def test_async_dns_and_refused_connections_are_typed(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT",
        json.dumps(
            {
                "conn_type": "dingtalk_calendar",
                "login": "k",
                "password": "s",
                "host": "http://127.0.0.1:1",
                "extra": {"max_attempts": 2, "backoff_initial": 0.01},
            }
        ),
    )
    with pytest.raises(DingTalkTransportError, match=r"connection to http://127.0.0.1:1 failed") as caught:
        run(DingTalkCalendarHook(), lambda h: h.aget_access_token())
    assert caught.value.retryable
    monkeypatch.setenv(
        "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT",
        json.dumps(
            {
                "conn_type": "dingtalk_calendar",
                "login": "k",
                "password": "s",
                "host": "https://no-such-host.invalid",
            }
        ),
    )
    for call in (lambda h: h.aget_access_token(), None):
        hook = DingTalkCalendarHook(max_attempts=5)
        with pytest.raises(DingTalkTransportError, match="cannot resolve the host") as caught:
            if call is None:
                hook.get_access_token()
            else:
                run(hook, call)
        assert not caught.value.retryable  # DNS failures are not retried for minutes
