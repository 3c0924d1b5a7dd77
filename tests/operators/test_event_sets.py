"""SyncEventsOperator: plan (pure), then over real HTTP (emulator) directly and in a real Airflow run."""

from __future__ import annotations

import pytest

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.exceptions import DingTalkInvalidArgumentError, DingTalkServerError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.operators.events import SyncEventsOperator
from airflow_dtcal.planning.event_sets import desired_events, marked_description, plan_sync
from airflow_dtcal.planning.events import build_event
from airflow_dtcal.planning.markers import Markers
from tests.airflow_runs import run_dag
from tests.helpers import ROOT, load_module, task_context

TZ = "Asia/Shanghai"
SCOPE = "training"
ORG = "trainer-1"


def session(key: str, day: int, hour: int = 10, **extra) -> dict:
    return {
        "key": key,
        "summary": f"Session {key}",
        "start": f"2026-04-{day:02d}T{hour:02d}:00:00",
        "end": f"2026-04-{day:02d}T{hour + 1:02d}:00:00",
        "timezone": TZ,
        **extra,
    }


MARKERS = Markers("a-test-app-secret")


def listed(item, event_id: str, *, scope: str = SCOPE, organizer: str = ORG) -> dict:
    """``item``'s event as ListEvents would list it once a sync made it: marked for its id."""
    description = marked_description(
        item, event_id, scope=scope, organizer=ORG, calendar="primary", markers=MARKERS
    )
    return dict(
        item.body, id=event_id, status="confirmed", organizer={"id": organizer}, description=description
    )


def plan(desired, existing, *, scope: str = SCOPE):
    return plan_sync(desired, existing, scope=scope, organizer=ORG, calendar="primary", markers=MARKERS)


def live(emulator) -> dict[str, dict]:
    return {e["summary"]: e for e in emulator.events() if e["status"] != "cancelled"}


# --------------------------------------------------------------------------------------------- pure


def test_plan_creates_updates_cancels_and_ignores_other_events():
    desired = desired_events([session("a", 6), session("b", 7), session("c", 8)], scope=SCOPE)
    existing = [listed(d, f"ev-{d.key}") for d in desired[:2]]
    existing[1]["summary"] = "Renamed by hand"
    gone = desired_events([session("old", 9)], scope=SCOPE)[0]
    existing.append(listed(gone, "ev-old"))
    other_set = desired_events([session("a", 6)], scope="another")[0]
    existing.append(listed(other_set, "ev-other", scope="another"))
    existing.append({"id": "ev-plain", "summary": "Not ours", "description": "hello"})
    result = plan(desired, existing)
    assert [d.key for d in result.create] == ["c"]
    assert [(d.key, event_id, changes) for d, event_id, changes in result.update] == [
        ("b", "ev-b", {"summary": "Session b"})
    ]
    assert [(d.key, event_id) for d, event_id in result.unchanged] == [("a", "ev-a")]
    assert result.cancel == [("ev-old", None)]
    assert result.ignored == [] and result.left == []
    assert "description" not in desired[0].body  # marked once the event has an id


def test_plan_reads_listed_times_by_instant_in_both_stored_forms():
    """ListEvents may hold a dateTime with an offset or without one (read in its timeZone): the same
    instants are no update, a moved event is one, and a time with neither offset nor zone names ListEvents."""
    [wanted] = desired_events([session("a", 6)], scope=SCOPE)
    offset = listed(wanted, "ev-a")
    no_offset = dict(
        offset,
        start={"dateTime": "2026-04-06T10:00:00", "timeZone": TZ},
        end={"dateTime": "2026-04-06T11:00:00", "timeZone": TZ},
    )
    utc = dict(
        offset,
        start={"dateTime": "2026-04-06T02:00:00Z", "timeZone": TZ},
        end={"dateTime": "2026-04-06T03:00:00Z", "timeZone": TZ},
    )
    for existing in (offset, no_offset, utc):
        result = plan([wanted], [existing])
        assert (result.update, [(d.key, i) for d, i in result.unchanged]) == ([], [("a", "ev-a")])
    moved = dict(no_offset, start={"dateTime": "2026-04-06T10:00:00", "timeZone": "Europe/Berlin"})
    [(_, _, changes)] = plan([wanted], [moved]).update
    assert changes["start"] == {"dateTime": "2026-04-06T10:00:00+08:00", "timeZone": TZ}
    unreadable = dict(no_offset, start={"dateTime": "2026-04-06T10:00:00"})
    [(_, _, changes)] = plan([wanted], [unreadable]).update  # whole new times: sent
    assert changes["start"] == {"dateTime": "2026-04-06T10:00:00+08:00", "timeZone": TZ}


def test_plan_leaves_alone_a_listed_event_without_an_id():
    """An answer without an id cannot be updated or cancelled: it is neither, and its key is created."""
    desired = desired_events([session("a", 6)], scope=SCOPE)
    marked = listed(desired[0], "ev-a")
    existing = [{k: v for k, v in marked.items() if k != "id"}, dict(marked, id="")]
    result = plan(desired, existing)
    assert result.cancel == [] and result.update == [] and result.unchanged == []
    assert [d.key for d in result.create] == ["a"]


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ("not a list", "events"),
        (
            [{"summary": "no key", "start": "2026-04-06T10:00:00+08:00", "end": "2026-04-06T11:00:00+08:00"}],
            "events[0].key",
        ),
        ([session("a", 6), session("a", 7)], "events[1].key"),
        ([session("a", 6, colour="red")], "events[0]"),
        ([session("a", 6, reminders=[-5])], "events[0].reminders[0].minutes"),
    ],
)
def test_bad_desired_events_name_the_item_and_field(items, field):
    with pytest.raises(InvalidArgumentError) as err:
        desired_events(items, scope=SCOPE)
    assert err.value.field == field


# --------------------------------------------------------------------------------------------- operator


def sync(items: list[dict], try_number: int = 1, **kwargs) -> dict:
    return SyncEventsOperator(
        task_id="sync",
        organizer_id=ORG,
        events=items,
        scope=SCOPE,
        time_min="2026-04-01T00:00:00+08:00",
        time_max="2026-05-01T00:00:00+08:00",
        **kwargs,
    ).execute(task_context("sync", try_number=try_number))


def test_sync_creates_updates_cancels_and_then_does_nothing(dtcal_emulator):
    hook = DingTalkCalendarHook()
    unrelated = hook.create_event(
        ORG,
        build_event(summary="Unrelated", start="2026-04-06T15:00:00+08:00", end="2026-04-06T16:00:00+08:00"),
    )["id"]
    first = sync([session(k, day) for k, day in (("a", 6), ("b", 7), ("c", 8), ("d", 9), ("e", 10))])
    assert sorted(first["created"]) == ["a", "b", "c", "d", "e"] and first["cancelled"] == []
    assert len(live(dtcal_emulator)) == 6
    # The table changes: b moves, c is renamed, e is dropped, f is new.
    second = sync(
        [
            session("a", 6),
            session("b", 14),
            session("c", 8, summary="Session c (advanced)"),
            session("d", 9),
            session("f", 20),
        ],
        try_number=1,
    )
    assert second["unchanged"] == {"a": first["created"]["a"], "d": first["created"]["d"]}
    assert second["updated"] == {"b": first["created"]["b"], "c": first["created"]["c"]}
    assert list(second["created"]) == ["f"] and second["cancelled"] == [first["created"]["e"]]
    events = live(dtcal_emulator)
    assert events["Session b"]["start"]["dateTime"] == "2026-04-14T10:00:00+08:00"
    assert "Session c (advanced)" in events and "Session e" not in events and "Unrelated" in events
    assert dtcal_emulator.event(unrelated)["status"] == "confirmed"
    # Nothing changed since: nothing is written.
    writes = sum(dtcal_emulator.stats()["applied"].values())
    third = sync(
        [
            session("a", 6),
            session("b", 14),
            session("c", 8, summary="Session c (advanced)"),
            session("d", 9),
            session("f", 20),
        ]
    )
    assert third["created"] == {} and third["updated"] == {} and third["cancelled"] == []
    assert sum(dtcal_emulator.stats()["applied"].values()) == writes


def test_writes_go_several_at_once_and_no_more(dtcal_emulator):
    dtcal_emulator.set_latency(1.0)  # each answer takes a second: writes sent together overlap
    result = sync([session(f"s{i}", 1 + i) for i in range(8)], max_in_flight=4)
    assert len(result["created"]) == 8
    peak = dtcal_emulator.stats()["peak_in_flight"]
    assert 2 <= peak <= 4, peak  # several at once, never more than max_in_flight


def test_a_failed_write_fails_the_task_and_a_rerun_finishes_the_job(dtcal_emulator):
    dtcal_emulator.fail_next(1, status=500, code="ServiceUnavailable", operation="CreateEvent")
    items = [session("a", 6), session("b", 7)]
    with pytest.raises(DingTalkServerError):
        _sync_no_retry(items)  # one write at a time: the first fails, the second is never started
    assert live(dtcal_emulator) == {}
    again = sync(items, try_number=2)
    assert sorted(again["created"]) == ["a", "b"]
    assert sorted(live(dtcal_emulator)) == ["Session a", "Session b"]
    assert sync(items, try_number=3)["created"] == {}


def _sync_no_retry(items):
    operator = SyncEventsOperator(
        task_id="sync",
        organizer_id=ORG,
        events=items,
        scope=SCOPE,
        time_min="2026-04-01T00:00:00+08:00",
        time_max="2026-05-01T00:00:00+08:00",
        max_in_flight=1,
    )
    operator.get_hook = lambda: DingTalkCalendarHook(max_attempts=1)
    return operator.execute(task_context("sync"))


def test_events_outside_the_window_are_refused_before_any_request(dtcal_emulator):
    with pytest.raises(DingTalkInvalidArgumentError, match="outside the sync window"):
        sync(
            [
                session("a", 6),
                {**session("late", 6), "start": "2026-06-01T10:00:00", "end": "2026-06-01T11:00:00"},
            ]
        )
    assert dtcal_emulator.requests() == []


def test_sync_events_flow_runs_in_airflow_twice(airflow_db, dtcal_emulator):
    flow = load_module(ROOT / "tests" / "dags" / "dtcal_sync_events_flow.py").sync_events_flow
    first = run_dag(flow)
    assert first.state == "success", first.task_states
    created = first.xcom("sync_sessions")["created"]
    assert sorted(created) == ["dags", "intro", "ops"]
    events = live(dtcal_emulator)
    assert events["Writing DAGs"]["start"] == {"dateTime": "2026-04-08T14:00:00+08:00", "timeZone": TZ}
    assert events["Writing DAGs"]["location"] == {"displayName": "Lotus"}
    # A second run with the "ops" session dropped and "dags" moved to another room.
    sessions = [
        {"key": "intro", "summary": "Airflow intro", "day": "2026-04-06", "hour": 10, "room": "Lotus"},
        {"key": "dags", "summary": "Writing DAGs", "day": "2026-04-08", "hour": 14, "room": "Peony"},
    ]
    second = run_dag(flow, conf={"sessions": sessions})
    assert second.state == "success", second.task_states
    result = second.xcom("sync_sessions")
    assert result["updated"] == {"dags": created["dags"]} and result["cancelled"] == [created["ops"]]
    assert result["unchanged"] == {"intro": created["intro"]}
    assert sorted(live(dtcal_emulator)) == ["Airflow intro", "Writing DAGs"]


def test_sync_attendees_of_existing_events_when_asked(dtcal_emulator):
    items = [session("a", 6, attendees=["ann", "ben"]), session("b", 7, attendees=["cat"])]
    first = sync(items)
    a_id = first["created"]["a"]
    # Unasked, changed attendees of an existing event are left as they are.
    changed = [
        session("a", 6, attendees=["ben", {"id": "dan", "isOptional": True}]),
        session("b", 7, attendees=["cat"]),
    ]
    assert sync(changed)["attendees"] == {}
    assert {a["id"] for a in dtcal_emulator.attendees(a_id)} == {ORG, "ann", "ben"}
    second = sync(changed, try_number=2, sync_attendees=True)
    assert second["attendees"] == {"a": {"added": ["dan"], "removed": ["ann"]}}
    by_id = {a["id"]: a for a in dtcal_emulator.attendees(a_id)}
    assert set(by_id) == {ORG, "ben", "dan"} and by_id["dan"]["isOptional"] is True
    assert sync(changed, try_number=3, sync_attendees=True)["attendees"] == {}  # nothing left to change
