"""Events marked by the previous release (a plain hash of the key) are recognised once and upgraded: the
first run of this release adopts each, when it is the only one of the organizer for its key, and replaces its
marker by a verified one; from then on only the verified marker counts. Against the emulator.
"""

from __future__ import annotations

from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.planning.events import build_event
from tests.operators.test_borrowed_markers import (
    END,
    KEY,
    ORGANIZER,
    SCOPE,
    START,
    ensure,
    legacy,
    session,
    snapshot,
    sync,
)


def old_event(hook: DingTalkCalendarHook, description: str, **times) -> str:
    """An event the previous release made: created by the organizer, marked with the old hash."""
    times = times or {"start": START, "end": END}
    body = build_event(summary="Weekly review", description=description, **times)
    return hook.create_event(ORGANIZER, body)["id"]


def test_ensure_adopts_the_one_event_of_the_previous_release_and_upgrades_its_marker(dtcal_emulator):
    hook = DingTalkCalendarHook()
    old = old_event(hook, "Agenda\n\n" + legacy(KEY))
    assert ensure() == old
    marker = hook.markers().event(ORGANIZER, "primary", KEY, old)
    assert snapshot(dtcal_emulator, old)["description"] == "Agenda\n\n" + marker
    assert dtcal_emulator.stats()["applied"].get("CreateEvent", 0) == 1  # the old release's, none since
    patches = dtcal_emulator.stats()["applied"]["PatchEvent"]
    assert ensure("manual__2") == old
    assert dtcal_emulator.stats()["applied"]["PatchEvent"] == patches  # found by its verified marker


def test_ensure_adopts_none_of_several_events_of_the_previous_release(dtcal_emulator):
    hook = DingTalkCalendarHook()
    olds = [old_event(hook, "Agenda\n\n" + legacy(KEY)) for _ in range(2)]
    before = [snapshot(dtcal_emulator, event_id) for event_id in olds]
    ours = ensure()
    assert ours not in olds
    assert [snapshot(dtcal_emulator, event_id) for event_id in olds] == before  # left alone, not cancelled


def test_sync_adopts_the_set_of_the_previous_release_and_leaves_its_strays(dtcal_emulator):
    hook = DingTalkCalendarHook()
    line = lambda key: f"{legacy(f'{SCOPE}/{key}')} {legacy(SCOPE, '[airflow-dtcal-set:')}"  # noqa: E731
    olds = {
        key: old_event(hook, line(key), start=session(key, day)["start"], end=session(key, day)["end"])
        for key, day in (("a", 6), ("b", 7), ("gone", 8))
    }
    stray = snapshot(dtcal_emulator, olds["gone"])
    first = sync([session("a", 6), session("b", 7)])
    assert first["created"] == {} and first["cancelled"] == []
    assert first["updated"] == {"a": olds["a"], "b": olds["b"]}  # the update writes the verified markers
    assert snapshot(dtcal_emulator, olds["gone"]) == stray  # cannot be verified: left alone, logged
    second = sync([session("a", 6), session("b", 7)], run_id="manual__2")
    assert second["unchanged"] == {"a": olds["a"], "b": olds["b"]} and second["updated"] == {}
