"""Incremental listing (``syncToken``) through the hook, sync and async, against the emulator over real HTTP."""

from __future__ import annotations

import asyncio

import pendulum
import pytest

from airflow_dtcal.exceptions import DingTalkInvalidArgumentError, DingTalkSyncTokenExpiredError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.planning.events import build_event

ORG = "org-1"
MONDAY = pendulum.datetime(2026, 3, 9, 10, tz="Asia/Shanghai")


def _create(hook: DingTalkCalendarHook, summary: str, hours: int = 0) -> str:
    start = MONDAY.add(hours=hours)
    return hook.create_event(ORG, build_event(summary=summary, start=start, end=start.add(hours=1)))["id"]


async def _apages(hook: DingTalkCalendarHook, **kwargs) -> list:
    return [page async for page in hook.aiter_event_changes(ORG, **kwargs)]


def test_full_listing_then_delta(dtcal_emulator):
    hook = DingTalkCalendarHook()
    ids = [_create(hook, f"Meeting {n}", n) for n in range(3)]

    pages = list(hook.iter_event_changes(ORG, page_size=2))
    assert [len(page.events) for page in pages] == [2, 1]
    assert [page.last for page in pages] == [False, True]
    assert all(page.full for page in pages)
    assert pages[0].sync_token is None and pages[1].sync_token
    assert sorted(e["id"] for page in pages for e in page.events) == sorted(ids)
    token = pages[-1].sync_token

    # An empty delta still gives a token to keep.
    empty = list(hook.iter_event_changes(ORG, sync_token=token))
    assert [page.events for page in empty] == [[]] and empty[0].sync_token and not empty[0].full

    hook.patch_event(ORG, ids[0], {"summary": "Meeting 0 (moved)"})
    hook.delete_event(ORG, ids[1])
    new = _create(hook, "Meeting 3", 5)
    delta = list(hook.iter_event_changes(ORG, sync_token=token))
    changed = {e["id"]: e for page in delta for e in page.events}
    assert set(changed) == {ids[0], ids[1], new}
    assert changed[ids[0]]["summary"] == "Meeting 0 (moved)"
    assert changed[ids[1]]["status"] == "cancelled"  # deletions come back (showDeleted is always sent)
    assert delta[-1].sync_token

    asynced = asyncio.run(_apages(hook, sync_token=token))
    assert [[e["id"] for e in page.events] for page in asynced] == [
        [e["id"] for e in page.events] for page in delta
    ]

    listed = [r for r in dtcal_emulator.requests() if r["operation"] == "ListEvents"]
    assert all(r["query"].get("showDeleted") == "true" and "timeMax" not in r["query"] for r in listed)


def test_a_refused_token_is_typed_so_callers_resync(dtcal_emulator):
    hook = DingTalkCalendarHook()
    with pytest.raises(DingTalkSyncTokenExpiredError) as caught:
        list(hook.iter_event_changes(ORG, sync_token="not-a-token-this-server-issued"))
    assert caught.value.status in (400, 410) and not caught.value.retryable
    with pytest.raises(DingTalkSyncTokenExpiredError):
        asyncio.run(_apages(hook, sync_token="not-a-token-this-server-issued"))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sync_token": "has spaces"}, "sync_token"),
        ({"sync_token": ""}, "sync_token"),
        ({"sync_token": "x" * 5000}, "sync_token"),
        ({"sync_token": "abc", "time_min": "2026-03-01T00:00:00Z"}, "time_min"),
        ({"page_size": 101}, "page_size"),
        ({"max_attendees": 0}, "max_attendees"),
        ({"calendar_id": ".."}, "calendar_id"),
    ],
)
def test_bad_arguments_fail_before_any_request(dtcal_emulator, kwargs, field):
    hook = DingTalkCalendarHook()
    with pytest.raises(DingTalkInvalidArgumentError, match=f"^{field}"):
        list(hook.iter_event_changes(ORG, **kwargs))
    assert not [r for r in dtcal_emulator.requests() if r["operation"] == "ListEvents"]
