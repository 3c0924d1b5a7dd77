"""Each hook operation is written once, as a flow, and driven both ways.

The flows are checked on their own (no HTTP: a flow is a plan of requests), then the two executors are
checked against the emulator over real HTTP: the same flow gives the same requests sync and async, an early
``break`` stops a listing's requests, and every public method has its async twin with the same signature.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest

from airflow_dtcal.core.calls import Call
from airflow_dtcal.core.errors import DingTalkNotFoundError, InvalidArgumentError
from airflow_dtcal.core.settings import resolve_settings
from airflow_dtcal.exceptions import DingTalkInvalidArgumentError
from airflow_dtcal.hooks import attendees, events, operation
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook, clear_token_cache
from airflow_dtcal.hooks.operation import Context, Emit, Many
from airflow_dtcal.planning.events import build_event

ORGANIZER = "union-org"


def _context(**extras) -> Context:
    import logging

    settings = resolve_settings(
        conn_id="t",
        host=None,
        schema=None,
        port=None,
        login="key",
        password="secret",
        extras=extras,
        overrides={},
    )
    return Context(settings, logging.getLogger("test"))


def _event(attendees: list[str] | None = None) -> dict:
    return build_event(
        summary="Review",
        start="2026-12-01T10:00:00+08:00",
        end="2026-12-01T11:00:00+08:00",
        attendees=attendees,
    )


# ------------------------------------------------------------------------------------------ flows, no I/O


def test_a_flow_is_a_plan_of_requests_with_no_io():
    """create_event with 1,200 attendees: CreateEvent with the first 500, then two chunks in flight, each
    with its own idempotency key derived from the one given; the flow returns what DingTalk created."""
    people = [f"u{i}" for i in range(1200)]
    flow = events.create_event(_context(), ORGANIZER, _event(people), client_token="base-token")
    create = next(flow)
    assert isinstance(create, Call) and create.operation == "CreateEvent"
    assert len(create.body["attendees"]) == 500 and create.client_token == "base-token"
    many = flow.send({"id": "ev-1"})
    assert isinstance(many, Many) and len(many.flows) == 2
    chunks = [next(chunk) for chunk in many.flows]
    assert [c.operation for c in chunks] == ["AddAttendee", "AddAttendee"]
    assert [len(c.body["attendeesToAdd"]) for c in chunks] == [500, 200]
    assert len({c.client_token for c in chunks} | {"base-token"}) == 3
    with pytest.raises(StopIteration) as done:
        flow.send([None, None])
    assert done.value.value == {"id": "ev-1"}


def test_a_bad_argument_fails_at_the_first_step_before_any_request():
    flow = attendees.add_attendees(_context(), ORGANIZER, "ev-1", ["u1", "u1"])
    with pytest.raises(InvalidArgumentError, match=r"attendees\[1\]: duplicates"):
        next(flow)


def test_a_failure_thrown_into_a_flow_can_be_expected():
    """found_or_none turns DingTalk's "not found" into None; anything else goes through."""
    flow = operation.found_or_none(Call("GetUser", "POST", "/x"))
    next(flow)
    with pytest.raises(StopIteration) as done:
        flow.throw(DingTalkNotFoundError("GetUser", 200, "60121", "no such user"))
    assert done.value.value is None


def test_collected_gathers_every_page_and_forwards_failures():
    whole = operation.collected(events.iter_events)(_context(), ORGANIZER)
    first = next(whole)
    second = whole.send({"events": [{"id": "a"}], "nextToken": "n1"})
    assert second.params["nextToken"] == "n1"
    with pytest.raises(StopIteration) as done:
        whole.send({"events": [{"id": "b"}]})
    assert [e["id"] for e in done.value.value] == ["a", "b"]
    assert first.operation == "ListEvents"

    failing = operation.collected(events.iter_events)(_context(), ORGANIZER)
    next(failing)
    with pytest.raises(DingTalkNotFoundError):
        failing.throw(DingTalkNotFoundError("ListEvents", 404, "notFound", "gone"))


def test_listings_emit_one_page_at_a_time():
    flow = events.iter_events(_context(), ORGANIZER, page_size=2)
    assert isinstance(next(flow), Call)
    page = flow.send({"events": [{"id": "a"}, {"id": "b"}], "nextToken": "n1"})
    assert isinstance(page, Emit) and [e["id"] for e in page.items] == ["a", "b"]
    assert isinstance(flow.send(None), Call)


# ------------------------------------------------------------------------------------------ the hook's methods


def _public_operations() -> list[str]:
    names = []
    for name, value in vars(DingTalkCalendarHook).items():
        if isinstance(value, operation.SyncOperation | operation.SyncListing):
            names.append(name)
    return sorted(names)


def test_every_operation_has_an_async_twin_with_the_same_signature():
    names = _public_operations()
    assert len(names) >= 28, names
    for name in names:
        sync, asynchronous = getattr(DingTalkCalendarHook, name), getattr(DingTalkCalendarHook, f"a{name}")
        assert inspect.signature(sync).parameters == inspect.signature(asynchronous).parameters, name
        assert sync.__doc__ and sync.__doc__ in asynchronous.__doc__, name
        is_listing = isinstance(vars(DingTalkCalendarHook)[name], operation.SyncListing)
        check = inspect.isasyncgenfunction if is_listing else inspect.iscoroutinefunction
        assert check(asynchronous), name


def test_every_flow_of_the_domain_modules_is_on_the_hook():
    from airflow_dtcal.hooks import checkins, people, rooms, stream

    exposed = {getattr(value, "flow", None) for value in vars(DingTalkCalendarHook).values()}
    exposed |= {getattr(f, "__wrapped__", None) for f in exposed}
    for module in (events, attendees, rooms, people, checkins):
        for name, flow in vars(module).items():
            if (
                inspect.isgeneratorfunction(flow)
                and flow.__module__ == module.__name__
                and not name.startswith("_")
            ):
                assert flow in exposed, f"{module.__name__}.{name} is not a hook method"
    assert stream.open_stream_connection in exposed


def test_sync_and_async_send_the_same_requests(dtcal_emulator):
    """One flow, two executors: the same calls, in the same order, with the same bodies."""
    hook = DingTalkCalendarHook(rate_limit=0)
    people = [f"u{i}" for i in range(520)]
    hook.create_event(ORGANIZER, _event(people), client_token="same-1")
    sync_requests = [(r["operation"], r["method"], len(r["body"] or {})) for r in dtcal_emulator.requests()]
    dtcal_emulator.reset()
    clear_token_cache()  # the reset emulator forgot the token

    async def run() -> None:
        hook = DingTalkCalendarHook(rate_limit=0)
        await hook.acreate_event(ORGANIZER, _event(people), client_token="same-1")
        await hook.aclose()

    asyncio.run(run())
    async_requests = [(r["operation"], r["method"], len(r["body"] or {})) for r in dtcal_emulator.requests()]
    calendar = [r for r in sync_requests if r[0] != "GetAccessToken"]
    assert calendar == [r for r in async_requests if r[0] != "GetAccessToken"]
    assert [op for op, _m, _b in calendar] == ["CreateEvent", "AddAttendee"]


def test_leaving_a_listing_early_sends_no_more_requests(dtcal_emulator):
    hook = DingTalkCalendarHook(rate_limit=0)
    for i in range(5):
        hook.create_event(
            ORGANIZER, build_event(summary=f"e{i}", start="2026-12-01T10:00:00Z", end="2026-12-01T11:00:00Z")
        )
    before = len([r for r in dtcal_emulator.requests() if r["operation"] == "ListEvents"])
    for _event_seen in hook.iter_events(ORGANIZER, page_size=1):
        break
    listed = len([r for r in dtcal_emulator.requests() if r["operation"] == "ListEvents"]) - before
    assert listed == 1


def test_a_bad_argument_is_typed_and_sends_nothing_on_both_paths(dtcal_emulator):
    hook = DingTalkCalendarHook(rate_limit=0)
    with pytest.raises(DingTalkInvalidArgumentError, match="page_size"):
        list(hook.iter_events(ORGANIZER, page_size=0))

    async def run() -> None:
        with pytest.raises(DingTalkInvalidArgumentError, match="page_size"):
            async for _ in hook.aiter_events(ORGANIZER, page_size=0):
                pass
        await hook.aclose()

    asyncio.run(run())
    assert [r for r in dtcal_emulator.requests() if r["operation"] != "GetAccessToken"] == []
