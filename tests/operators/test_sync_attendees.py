"""SyncAttendeesOperator against the emulator over real HTTP (execute() called with a task context)."""

from __future__ import annotations

import pytest

from airflow_dtcal.exceptions import DingTalkInvalidArgumentError
from airflow_dtcal.operators.attendees import SyncAttendeesOperator
from tests.helpers import ORGANIZER, seed_event, statuses, task_context


def sync(event_id: str, attendees, **kwargs) -> SyncAttendeesOperator:
    return SyncAttendeesOperator(
        task_id="sync", organizer_id=ORGANIZER, event_id=event_id, attendees=attendees, **kwargs
    )


def writes(emulator, operation: str, since: int = 0) -> list[dict]:
    return [r for r in emulator.requests()[since:] if r["operation"] == operation]


def test_add_only(dtcal_emulator):
    event_id = seed_event(dtcal_emulator, {"a": "accepted"})
    result = sync(event_id, ["a", "b", {"id": "c", "isOptional": True}]).execute(task_context())

    assert result == {"added": ["b", "c"], "removed": [], "unchanged": 1}
    attendees = {a["id"]: a for a in dtcal_emulator.attendees(event_id)}
    assert set(attendees) == {ORGANIZER, "a", "b", "c"}
    assert attendees["a"]["responseStatus"] == "accepted"  # an existing attendee keeps their response
    assert attendees["c"]["isOptional"] is True
    assert writes(dtcal_emulator, "RemoveAttendee") == []
    [add] = writes(dtcal_emulator, "AddAttendee")
    assert add["body"]["attendeesToAdd"] == [
        {"id": "b", "isOptional": False},
        {"id": "c", "isOptional": True},
    ]


def test_remove_only(dtcal_emulator):
    event_id = seed_event(dtcal_emulator, {"a": "accepted", "b": "declined", "c": "needsAction"})
    result = sync(event_id, ["a"]).execute(task_context())

    assert result == {"added": [], "removed": ["b", "c"], "unchanged": 1}
    assert statuses(dtcal_emulator, event_id) == {ORGANIZER: "accepted", "a": "accepted"}
    assert writes(dtcal_emulator, "AddAttendee") == []
    [remove] = writes(dtcal_emulator, "RemoveAttendee")
    assert remove["body"] == {"attendeesToRemove": [{"id": "b"}, {"id": "c"}]}


def test_mixed_removes_first_then_adds_with_separate_tokens(dtcal_emulator):
    event_id = seed_event(dtcal_emulator, ["keep-1", "keep-2", "gone-1"])
    result = sync(event_id, ["keep-1", "new-1", "keep-2", "new-2"]).execute(task_context())

    assert result == {"added": ["new-1", "new-2"], "removed": ["gone-1"], "unchanged": 2}
    assert set(statuses(dtcal_emulator, event_id)) == {ORGANIZER, "keep-1", "keep-2", "new-1", "new-2"}
    calls = [r for r in dtcal_emulator.requests() if r["operation"] in ("AddAttendee", "RemoveAttendee")]
    assert [r["operation"] for r in calls] == ["RemoveAttendee", "AddAttendee"]
    tokens = [r["client_token"] for r in calls]
    assert all(t and len(t) == 32 for t in tokens) and tokens[0] != tokens[1]


def test_second_run_changes_nothing(dtcal_emulator):
    event_id = seed_event(dtcal_emulator, ["a", "b"])
    operator = sync(event_id, ["b", "c"])
    assert operator.execute(task_context()) == {"added": ["c"], "removed": ["a"], "unchanged": 1}
    applied = dtcal_emulator.stats()["applied"]
    seen = len(dtcal_emulator.requests())

    again = sync(event_id, ["b", "c"]).execute(task_context(try_number=2))

    assert again == {"added": [], "removed": [], "unchanged": 2}
    assert dtcal_emulator.stats()["applied"] == applied
    assert {r["operation"] for r in dtcal_emulator.requests()[seen:]} == {"ListAttendees"}


def test_over_500_in_each_direction_goes_in_chunks_of_500(dtcal_emulator, hook):
    old = [f"old-{i:04d}" for i in range(1200)]
    new = [f"new-{i:04d}" for i in range(1200)]
    event_id = seed_event(dtcal_emulator, old[:500])  # the emulator seeds at most 500 per event
    hook.add_attendees(ORGANIZER, event_id, old[500:])
    seen = len(dtcal_emulator.requests())

    result = sync(event_id, new).execute(task_context())

    # (the setup added its chunks in flight, so the event lists them in arrival order)
    assert result["added"] == new and sorted(result["removed"]) == old and result["unchanged"] == 0
    assert set(statuses(dtcal_emulator, event_id)) == {ORGANIZER, *new}
    removes = writes(dtcal_emulator, "RemoveAttendee", seen)
    adds = writes(dtcal_emulator, "AddAttendee", seen)
    assert sorted(len(r["body"]["attendeesToRemove"]) for r in removes) == [200, 500, 500]  # in flight
    assert sorted(len(r["body"]["attendeesToAdd"]) for r in adds) == [200, 500, 500]
    tokens = [r["client_token"] for r in removes + adds]
    assert len(set(tokens)) == 6  # one idempotency key per chunk
    # The current attendees were read in pages of at most 500.
    pages = writes(dtcal_emulator, "ListAttendees", seen)
    assert len(pages) == 3 and all(r["query"]["maxResults"] == "500" for r in pages)

    applied = dtcal_emulator.stats()["applied"]
    assert sync(event_id, new).execute(task_context(try_number=2)) == {
        "added": [],
        "removed": [],
        "unchanged": 1200,
    }
    assert dtcal_emulator.stats()["applied"] == applied


@pytest.mark.parametrize("desired", [[], ["a"], [ORGANIZER, "a"], [{"id": ORGANIZER, "isOptional": True}]])
def test_organizer_is_never_removed_nor_sent(dtcal_emulator, desired):
    event_id = seed_event(dtcal_emulator, {"a": "accepted", "b": "tentative"})
    result = sync(event_id, desired).execute(task_context())

    assert ORGANIZER not in result["removed"] and ORGANIZER not in result["added"]
    assert statuses(dtcal_emulator, event_id)[ORGANIZER] == "accepted"
    for request in writes(dtcal_emulator, "RemoveAttendee") + writes(dtcal_emulator, "AddAttendee"):
        sent = request["body"].get("attendeesToRemove") or request["body"].get("attendeesToAdd")
        assert ORGANIZER not in {a["id"] for a in sent}


def test_a_cleared_task_does_not_replay_a_stale_answer(dtcal_emulator, hook):
    """Keys include the try number: after someone removes an attendee by hand, a re-run re-adds them."""
    event_id = seed_event(dtcal_emulator, ["a"])
    assert sync(event_id, ["a", "b"]).execute(task_context())["added"] == ["b"]
    hook.remove_attendees(ORGANIZER, event_id, ["b"])

    assert sync(event_id, ["a", "b"]).execute(task_context(try_number=2))["added"] == ["b"]
    assert "b" in statuses(dtcal_emulator, event_id)
    first, second = (r["client_token"] for r in writes(dtcal_emulator, "AddAttendee"))
    assert first != second


def test_bad_attendees_fail_before_any_request(dtcal_emulator):
    event_id = seed_event(dtcal_emulator, ["a"])
    seen = len(dtcal_emulator.requests())
    with pytest.raises(DingTalkInvalidArgumentError, match="attendees"):
        sync(event_id, "a,b").execute(task_context())
    with pytest.raises(DingTalkInvalidArgumentError, match=r"attendees\[1\]"):
        sync(event_id, ["a", "a"]).execute(task_context())
    with pytest.raises(DingTalkInvalidArgumentError, match="event_id"):
        sync(None, ["a"]).execute(task_context())
    assert len(dtcal_emulator.requests()) == seen


def test_module_import_is_cheap():
    import subprocess
    import sys

    code = (
        "import sys; import airflow_dtcal.operators.sync, airflow_dtcal.sensors.attendees, "
        "airflow_dtcal.triggers.attendees; "
        "print(sorted(m for m in ('airflow_dtcal.hooks.calendar', 'requests') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
