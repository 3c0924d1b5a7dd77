"""Markers cannot be borrowed: another member of the org who copies an event's marker (every attendee sees
it) into an event of her own, invites the organizer, or hands the event to the organizer with
TransferEvent, changes nothing EnsureEventOperator or SyncEventsOperator do, and her event is never
returned, patched or cancelled. Against the emulator, over real HTTP.

Before, EnsureEvent returned her event instead of creating ours, and a planted copy made SyncEvents report
"unchanged" (so the real event was never created) or fail every run on PATCH/CANCEL 403.
"""

from __future__ import annotations

import hashlib

import pytest

from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.operators.events import EnsureEventOperator, SyncEventsOperator
from airflow_dtcal.planning.events import build_event
from tests.helpers import task_context

ORGANIZER = "org-union-1"
MALLORY = "mallory-union-9"  # another member of the org
KEY = "data-platform-weekly-review 2026-W11"
START, END = "2026-03-09T16:00:00+08:00", "2026-03-09T17:00:00+08:00"


def legacy(text: str, prefix: str = "[airflow-dtcal:") -> str:
    """A marker of the previous release: a plain hash anyone who knows (or guesses) the key can compute."""
    return f"{prefix}{hashlib.sha256(text.encode()).hexdigest()[:24]}]"


def ensure(run_id: str = "manual__1") -> str:
    operator = EnsureEventOperator(
        task_id="ensure",
        organizer_id=ORGANIZER,
        dedup_key=KEY,
        summary="Weekly review",
        description="Agenda",
        start=START,
        end=END,
    )
    return operator.execute(task_context("ensure", run_id=run_id))


def her_event(
    hook: DingTalkCalendarHook, description: str, *, transfer: bool = False, start=START, end=END
) -> str:
    """Mallory's event with ``description``, inviting the organizer (or handed to the organizer)."""
    body = build_event(
        summary="Weekly review", start=start, end=end, description=description, attendees=[ORGANIZER]
    )
    event_id = hook.create_event(MALLORY, body)["id"]
    if transfer:
        hook.transfer_event(MALLORY, event_id, ORGANIZER)
    return event_id


def snapshot(emulator, event_id: str) -> dict:
    event = next(e for e in emulator.events() if e["id"] == event_id)
    return {k: event.get(k) for k in ("status", "description", "summary", "organizer")}


def writes_to(emulator, event_id: str) -> list[str]:
    return [r["path"] for r in emulator.requests() if event_id in r["path"] and r["method"] != "GET"]


# ----------------------------------------------------------------------------------------- EnsureEvent


@pytest.mark.parametrize("transfer", [False, True], ids=["invites-the-organizer", "hands-it-over"])
def test_ensure_ignores_her_copy_of_our_marker_and_creates_ours(dtcal_emulator, capsys, transfer):
    hook = DingTalkCalendarHook()
    real = ensure()
    copied = next(e for e in dtcal_emulator.events() if e["id"] == real)["description"]
    hook.delete_event(ORGANIZER, real)  # gone: the next run must make the event again
    hers = her_event(hook, copied, transfer=transfer)
    before = snapshot(dtcal_emulator, hers)
    ours = ensure("manual__2")
    assert ours not in (real, hers)
    assert snapshot(dtcal_emulator, hers) == before
    assert writes_to(dtcal_emulator, hers) == (
        [f"/v1.0/calendar/users/{MALLORY}/calendars/primary/events/{hers}/transfer"] if transfer else []
    )
    assert ensure("manual__3") == ours  # and ours is found from then on
    if (
        not transfer
    ):  # organized by her: named in the log (handed over, it is one of ours that does not verify)
        assert f"Ignored event {hers}" in capsys.readouterr().out


def test_ensure_ignores_a_planted_marker_of_the_previous_release(dtcal_emulator):
    # The old marker was a plain hash of the (guessable) key: anyone could plant it before the first run.
    hook = DingTalkCalendarHook()
    hers = her_event(hook, "Agenda\n\n" + legacy(KEY))
    before = snapshot(dtcal_emulator, hers)
    ours = ensure()
    assert ours != hers and snapshot(dtcal_emulator, hers) == before
    assert writes_to(dtcal_emulator, hers) == []


# ----------------------------------------------------------------------------------------- SyncEvents

SCOPE = "training"


def session(key: str, day: int) -> dict:
    return {
        "key": key,
        "summary": f"Session {key}",
        "start": f"2026-04-{day:02d}T10:00:00+08:00",
        "end": f"2026-04-{day:02d}T11:00:00+08:00",
    }


def sync(items: list[dict], run_id: str = "manual__1") -> dict:
    operator = SyncEventsOperator(
        task_id="sync",
        organizer_id=ORGANIZER,
        events=items,
        scope=SCOPE,
        time_min="2026-04-01T00:00:00+08:00",
        time_max="2026-05-01T00:00:00+08:00",
    )
    return operator.execute(task_context("sync", run_id=run_id))


@pytest.mark.parametrize("transfer", [False, True], ids=["invites-the-organizer", "hands-it-over"])
def test_sync_ignores_copies_of_its_markers(dtcal_emulator, capsys, transfer):
    hook = DingTalkCalendarHook()
    first = sync([session("a", 6), session("b", 7)])
    real_a = first["created"]["a"]
    copied = next(e for e in dtcal_emulator.events() if e["id"] == real_a)["description"]
    hers = her_event(
        hook, copied, transfer=transfer, start=session("a", 6)["start"], end=session("a", 6)["end"]
    )
    before = snapshot(dtcal_emulator, hers)
    # Unchanged: the copy is neither a duplicate to cancel (403 for hers) nor the event of key "a".
    second = sync([session("a", 6), session("b", 7)], run_id="manual__2")
    assert second["unchanged"] == first["created"] and second["cancelled"] == [] and second["updated"] == {}
    # The real event deleted: the sync makes it again instead of counting her copy as "unchanged".
    hook.delete_event(ORGANIZER, real_a)
    third = sync([session("a", 6), session("b", 7)], run_id="manual__3")
    assert list(third["created"]) == ["a"] and third["created"]["a"] not in (real_a, hers)
    # Key "a" dropped from the set: ours is cancelled, hers is not touched.
    fourth = sync([session("b", 7)], run_id="manual__4")
    assert fourth["cancelled"] == [third["created"]["a"]]
    assert snapshot(dtcal_emulator, hers) == before
    transfer_path = f"/v1.0/calendar/users/{MALLORY}/calendars/primary/events/{hers}/transfer"
    assert writes_to(dtcal_emulator, hers) == ([transfer_path] if transfer else [])
    assert f"Ignored event {hers}" in capsys.readouterr().out


def test_a_planted_copy_before_the_first_sync_does_not_stand_in_for_the_real_event(dtcal_emulator):
    # With the previous release's markers (a plain hash of the scope and key), Mallory could plant the
    # whole set ahead of the first run: it then reported "unchanged" and never created the real events.
    hook = DingTalkCalendarHook()
    line = f"{legacy(f'{SCOPE}/a')} {legacy(SCOPE, '[airflow-dtcal-set:')}"
    hers = her_event(hook, "Agenda\n\n" + line, start=session("a", 6)["start"], end=session("a", 6)["end"])
    result = sync([session("a", 6)])
    assert list(result["created"]) == ["a"] and result["unchanged"] == {} and result["cancelled"] == []
    assert writes_to(dtcal_emulator, hers) == []
