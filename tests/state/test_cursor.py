"""The watch's cursor (airflow_dtcal.state.cursor) at ten times the sizes it serves, through the real
Variable store (the test session's sqlite metadata database): bounded in bytes whatever it holds, defined
at its bounds, and saved only once the changes it passes have settled (an injected clock)."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_dtcal.planning.watch import fingerprint
from airflow_dtcal.state import cursor as cursor_module
from airflow_dtcal.state import variables
from airflow_dtcal.state.cursor import (
    CALENDARS_PER_PART,
    MAX_CALENDARS,
    MAX_EVENTS_BYTES,
    MAX_TOKEN_CHARS,
    Cursor,
    DamagedCursorError,
)
from airflow_dtcal.state.variables import MAX_STATE_BYTES

pytestmark = pytest.mark.usefixtures("airflow_db")

EIGHT_FIELDS = ["summary", "start", "end", "location", "description", "attendees", "reminders", "isAllDay"]


class Clock:
    """Stands in for ``time`` in the cursor module: ``monotonic()`` moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(cursor_module, "time", clock)
    return clock


def stored_sizes(key: str) -> dict[str, int]:
    head = json.loads(variables.load_raw(key))
    keys = [key, *(f"{key}.{n}" for n in range(1, head["parts"] + 1))]
    return {k: len(variables.load_raw(k).encode()) for k in keys}


def calendars(count: int) -> list[str]:
    return [f"union-{i:06d}-{'x' * 20}" for i in range(count)]


@pytest.mark.scale
def test_ten_times_the_calendars_with_every_token_at_its_longest_stay_under_the_variable_cap(clock):
    """10,000 calendars (a watch serves up to 1,000), every sync token and next page 1,024 characters:
    100 parts, each under 256 KiB; read back, every position is there."""
    key = "dtcal_test_cursor_10x_calendars"
    watched = calendars(10 * 1000)
    cursor = Cursor(key, "stream", watched)
    for n, calendar in enumerate(watched):
        cursor.move(calendar, f"{n:08d}" + "t" * (MAX_TOKEN_CHARS - 8), "p" * MAX_TOKEN_CHARS)
    asyncio.run(cursor.save_settled())
    sizes = stored_sizes(key)
    assert len(sizes) == 1 + 10_000 // CALENDARS_PER_PART
    assert max(sizes.values()) < MAX_STATE_BYTES, max(sizes.values())
    again = Cursor(key, "stream", watched)
    asyncio.run(again.load())
    assert again.position(watched[7777]).token == cursor.position(watched[7777]).token
    assert again.position(watched[9999]).page == "p" * MAX_TOKEN_CHARS


def test_the_events_table_keeps_the_most_recently_changed_within_its_bytes(clock):
    """12,000 events with 8 fields compared (ten times the 1,200 a watch serves): the head stays under
    256 KiB; the least recently changed are forgotten first, and said to be (``evicted``)."""
    key = "dtcal_test_cursor_10x_events"
    cursor = Cursor(key, "stream", ["union-ceo-001"])
    ids = [f"event-{i:05d}-{'e' * 30}" for i in range(12_000)]
    for n, event_id in enumerate(ids):
        event = {"id": event_id, "summary": f"Meeting {n}", "start": {"date": "2026-12-01"}}
        cursor.remember(event_id, fingerprint(event, EIGHT_FIELDS))
    assert cursor.evicted > 0 and cursor.known(ids[-1]) and not cursor.known(ids[0])
    kept = [i for i in ids if cursor.known(i)]
    assert kept == ids[-len(kept) :]  # exactly the most recent ones
    assert len(kept) >= 1200  # the sizes served fit without eviction
    cursor.remember(kept[0], "0" * 64)  # changed again: now the most recent, the next oldest goes first
    evicted = cursor.evicted
    while cursor.evicted == evicted:
        cursor.remember(f"one-more-{cursor.evicted}-{len(cursor.events)}", "1" * 64)
    assert cursor.known(kept[0]) and not cursor.known(kept[1])
    asyncio.run(cursor.save_settled())
    sizes = stored_sizes(key)
    assert sizes[key] <= MAX_EVENTS_BYTES + 1024 < MAX_STATE_BYTES
    again = Cursor(key, "stream", ["union-ceo-001"])
    asyncio.run(again.load())
    assert again.fingerprint(kept[0]) == "0" * 64 and again.events == cursor.events and again.evicted == 0


def test_tokens_and_ids_beyond_their_bounds():
    cursor = Cursor("dtcal_test_cursor_bounds", "poll", ["union-ceo-001"])
    with pytest.raises(ValueError, match="longer than 1,024"):
        cursor.move("union-ceo-001", "t" * (MAX_TOKEN_CHARS + 1))
    cursor.move("union-ceo-001", "token", "p" * (MAX_TOKEN_CHARS + 1))
    assert (cursor.position("union-ceo-001").token, cursor.position("union-ceo-001").page) == ("token", None)
    cursor.remember("x" * 129, "abc")  # an id this long is never remembered (its updates fire unchecked)
    assert not cursor.known("x" * 129)
    with pytest.raises(ValueError, match="at most 10,000 calendars"):
        Cursor("k", "poll", calendars(MAX_CALENDARS + 1))


def test_a_position_past_a_handed_over_change_is_written_only_once_it_settled(clock):
    """The delivery guarantee's mechanism: a checkpoint taken after a handover waits SETTLE_SECONDS; one
    taken when nothing was handed over is written at once."""
    key = "dtcal_test_cursor_settle"
    cursor = Cursor(key, "poll", ["union-ceo-001"])
    cursor.move("union-ceo-001", "t1")
    asyncio.run(cursor.save_settled())  # nothing handed over yet: at once
    assert json.loads(variables.load_raw(f"{key}.1"))["calendars"]["union-ceo-001"][0] == "t1"
    cursor.handed_over()
    cursor.move("union-ceo-001", "t2")
    clock.now += cursor_module.SETTLE_SECONDS - 0.5
    asyncio.run(cursor.save_settled())
    assert json.loads(variables.load_raw(f"{key}.1"))["calendars"]["union-ceo-001"][0] == "t1"
    assert cursor.next_due() == 1000.0 + cursor_module.SETTLE_SECONDS
    clock.now += 1.0
    asyncio.run(cursor.save_settled())
    assert json.loads(variables.load_raw(f"{key}.1"))["calendars"]["union-ceo-001"][0] == "t2"
    assert cursor.pending() == 0


def test_pending_checkpoints_are_merged_so_their_number_stays_bounded(clock):
    cursor = Cursor("dtcal_test_cursor_merge", "poll", ["union-ceo-001"])
    for n in range(1000):  # a change every 50 ms for 50 s, each followed by a checkpoint
        cursor.handed_over()
        cursor.move("union-ceo-001", f"t{n}")
        cursor.checkpoint()
        clock.now += 0.05
    assert cursor.pending() <= 60


def test_a_cursor_of_the_first_format_carries_its_tokens_and_fingerprints_over():
    """A Variable written by the previous version: its sync tokens and what it knew of events carry over,
    and its fingerprints match this format's (an unchanged event is no change after the upgrade)."""
    key = "dtcal_test_cursor_v1"
    event = {"id": "evt-1", "start": {"dateTime": "2026-12-01T10:00:00+08:00"}, "end": {"date": "2026-12-02"}}
    old_prints = {
        name: _first_format_hash(event.get(name)) for name in ("start", "end")
    }  # 16 hex digits each
    variables.save_state(
        key,
        {
            "version": 1,
            "source": "poll",
            "seen": [],
            "tokens": {"union-ceo-001": "old-token"},
            "fired": ["poll:x"],
            "fingerprints": {"evt-1": old_prints},
            "known": ["evt-2"],
            "month": {"month": "2026-12", "calls": 42},
        },
    )
    cursor = Cursor(key, "poll", ["union-ceo-001"])
    asyncio.run(cursor.load())
    assert cursor.position("union-ceo-001").token == "old-token"
    assert cursor.fingerprint("evt-1") == fingerprint(event, ["start", "end"])
    assert cursor.known("evt-2") and (cursor.month, cursor.month_calls) == ("2026-12", 42)


def _first_format_hash(value) -> str:
    from airflow_dtcal.planning.watch import _canonical, _hash

    return _hash(_canonical(value))


def test_a_part_of_another_generation_is_damage_not_a_silent_first_listing():
    key = "dtcal_test_cursor_generation"
    head = {
        "version": 2,
        "generation": "new",
        "source": "poll",
        "parts": 1,
        "events": {},
        "month": "",
        "calls": 0,
    }
    variables.save_state(key, head)
    variables.save_state(f"{key}.1", {"version": 2, "generation": "old", "calendars": {}})
    with pytest.raises(
        DamagedCursorError, match=rf"'{key}\.1' is damaged .* airflow variables delete {key}$"
    ):
        asyncio.run(Cursor(key, "poll", ["union-ceo-001"]).load())
