"""CalendarChangeTrigger without a server: arguments, serialization, the cursor key and the pure helpers."""

from __future__ import annotations

import pytest
from airflow.sdk import Asset, AssetWatcher
from airflow.triggers.base import BaseEventTrigger

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.planning import watch as calendar_changes
from airflow_dtcal.triggers.watch import CalendarChangeTrigger

KWARGS = {
    "calendars": ["union-ceo-001"],
    "source": "poll",
    "event_ids": ["evt-1"],
    "change_types": ["update"],
    "fields": ["start", "end"],
    "poll_interval": 900,
    "call_budget": 3000,
}


def test_serialize_mirrors_init_and_the_hash_is_stable():
    trigger = CalendarChangeTrigger(**KWARGS)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_dtcal.triggers.watch.CalendarChangeTrigger"
    again = CalendarChangeTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    # The triggerer identifies an event trigger by this hash: re-creating it from its kwargs keeps it.
    assert BaseEventTrigger.hash(classpath, kwargs) == BaseEventTrigger.hash(*again.serialize())
    assert again.cursor_key == trigger.cursor_key
    assert trigger.cursor_key.startswith("dtcal_watch_poll_")


def test_the_cursor_key_depends_on_what_is_watched_not_on_timing():
    base = CalendarChangeTrigger(**KWARGS).cursor_key
    assert CalendarChangeTrigger(**{**KWARGS, "poll_interval": 60}).cursor_key == base
    assert CalendarChangeTrigger(**{**KWARGS, "event_ids": ["evt-2"]}).cursor_key != base
    assert CalendarChangeTrigger(**{**KWARGS, "source": "stream"}).cursor_key != base
    assert CalendarChangeTrigger(**KWARGS, state_key="my_watch").cursor_key == "my_watch"


def test_it_is_usable_in_an_asset_watcher():
    watcher = AssetWatcher(name="w", trigger=CalendarChangeTrigger(**KWARGS))
    asset = Asset(name="all_hands", uri="dingtalk://calendar/union-ceo-001/events/evt-1", watchers=[watcher])
    assert asset.watchers[0].trigger.source == "poll"


@pytest.mark.parametrize(
    ("changes_to_kwargs", "field"),
    [
        ({"source": "webhook"}, "source"),
        ({"id_type": "mobile"}, "id_type"),
        ({"calendars": None}, "calendars"),
        ({"calendars": "union-ceo-001"}, "calendars"),
        ({"calendars": []}, "calendars"),
        ({"calendars": ["ok", " "]}, "calendars[1]"),
        ({"event_ids": [5]}, "event_ids[0]"),
        ({"fields": ["start", "end time"]}, "fields[1]"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": "often"}, "poll_interval"),
        ({"call_budget": 0}, "call_budget"),
        ({"call_budget": True}, "call_budget"),
        ({"state_key": "has spaces"}, "state_key"),  # was refused only on the triggerer
        ({"state_key": "ceo_watch_token"}, "state_key"),  # Airflow would mask its value
    ],
)
def test_bad_arguments_are_refused_naming_the_field(changes_to_kwargs, field):
    with pytest.raises(InvalidArgumentError) as caught:
        CalendarChangeTrigger(**{**KWARGS, **changes_to_kwargs})
    assert caught.value.field == field


def test_a_stream_notice_wakes_the_watched_calendars_it_names_only():
    """A notice is a wake-up (the watch reads the calendar's own change log): it names the watched
    calendars among its unionIdList, none for an event the watch does not follow."""
    data = {
        "calendarEventId": "evt-1",
        "calendarId": "primary",
        "unionIdList": ["union-other", "union-ceo-001", "union-cfo-002"],
        "changeType": "update",
        "operator": {"type": "user"},
        "calendarEventUpdateTime": 1763900000000,
        "legacyCalendarEventId": "legacy-1",
    }
    watched = ["union-ceo-001", "union-cfo-002", "union-nobody"]
    assert calendar_changes.notice_calendars(data, watched) == ["union-ceo-001", "union-cfo-002"]
    assert calendar_changes.notice_calendars(data, ["union-nobody"]) == []
    assert calendar_changes.notice_calendars(data, watched, ["evt-1"]) == ["union-ceo-001", "union-cfo-002"]
    assert calendar_changes.notice_calendars(data, watched, ["legacy-1"]) == [
        "union-ceo-001",
        "union-cfo-002",
    ]
    assert calendar_changes.notice_calendars(data, watched, ["evt-2"]) == []
    assert calendar_changes.notice_calendars({**data, "calendarEventId": None}, watched) == []
    assert calendar_changes.notice_calendars({**data, "unionIdList": "union-ceo-001"}, watched) == []


def test_listed_events_are_classified_by_status_and_times():
    assert calendar_changes.classify({"status": "cancelled"}) == "delete"
    assert (
        calendar_changes.classify({"createTime": "2026-11-23T10:00Z", "updateTime": "2026-11-23T10:00Z"})
        == "create"
    )
    assert (
        calendar_changes.classify({"createTime": "2026-11-23T10:00Z", "updateTime": "2026-11-23T10:05Z"})
        == "update"
    )


def test_fingerprints_compare_times_by_instant():
    shanghai = {"start": {"dateTime": "2026-12-01T10:00:00+08:00", "timeZone": "Asia/Shanghai"}}
    utc = {"start": {"dateTime": "2026-12-01T02:00:00Z", "timeZone": "UTC"}}
    later = {"start": {"dateTime": "2026-12-01T11:00:00+08:00", "timeZone": "Asia/Shanghai"}}
    assert calendar_changes.fingerprint(shanghai, ["start"]) == calendar_changes.fingerprint(utc, ["start"])
    assert calendar_changes.fingerprint(shanghai, ["start"]) != calendar_changes.fingerprint(later, ["start"])


def test_fingerprints_read_both_stored_forms_by_the_one_rule():
    """An offset-less dateTime is read in its timeZone (not as UTC): the same instant written either way,
    or shown in another zone, is no change; a moved one is."""
    forms = [
        {"dateTime": "2026-12-01T10:00:00", "timeZone": "Asia/Shanghai"},
        {"dateTime": "2026-12-01T10:00:00+08:00", "timeZone": "Asia/Shanghai"},
        {"dateTime": "2026-12-01T03:00:00", "timeZone": "Europe/Berlin"},
        {"dateTime": "2026-12-01T02:00:00Z"},
    ]
    prints = {calendar_changes.fingerprint({"start": f}, ["start"]) for f in forms}
    assert len(prints) == 1
    moved = {"start": {"dateTime": "2026-12-01T10:00:00", "timeZone": "Europe/Berlin"}}
    assert calendar_changes.fingerprint(moved, ["start"]) not in prints
    # Fingerprints kept in a cursor before the rule (offset-bearing times) still match: no spurious update.
    before = {"dateTime": "2026-12-01T02:00:00+00:00", "timeZone": None}
    assert prints == {calendar_changes._hash(before)[: calendar_changes.FIELD_HASH]}


def test_fingerprints_of_times_the_rule_cannot_read_compare_their_text():
    unreadable = {"start": {"dateTime": "2026-12-01T10:00:00"}}  # neither offset nor zone
    other = {"start": {"dateTime": "2026-12-01T11:00:00"}}
    same = calendar_changes.fingerprint(unreadable, ["start"])
    assert same == calendar_changes.fingerprint({"start": {"dateTime": "2026-12-01T10:00:00"}}, ["start"])
    assert same != calendar_changes.fingerprint(other, ["start"])
    day = {"start": {"date": "2026-12-01"}}
    assert calendar_changes.fingerprint(day, ["start"]) != calendar_changes.fingerprint(
        {"start": {"date": "2026-12-02"}}, ["start"]
    )


def test_the_pure_parts_import_no_airflow():
    """What a change is (calendar_changes) and the export's rows/writers/plan are pure: no Airflow import."""
    import subprocess
    import sys

    code = (
        "import sys, airflow_dtcal.planning.watch, airflow_dtcal.export.rows, airflow_dtcal.export.writers, "
        "airflow_dtcal.export.plan, airflow_dtcal.export.partition, airflow_dtcal.state.watermarks; "
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.parametrize(
    ("poll_interval", "call_budget", "calendars"),
    [(300, None, 1), (300, 3000, 1), (300, 1000, 1), (300, 3000, 2), (60, 5, 1), (60, 1, 1), (3600, 5000, 3)],
)
def test_the_poll_plan_fits_the_budget_first_poll_included(poll_interval, call_budget, calendars):
    from airflow_dtcal.planning import budget

    interval, calls = budget.poll_plan(poll_interval, call_budget, calendars)
    assert interval >= poll_interval
    assert calls == budget.calls_for(budget.MONTH_SECONDS, interval, calendars)
    if call_budget is None:
        assert interval == poll_interval
    else:
        assert calls <= call_budget
        # and not needlessly sparse: one poll more a month would not fit
        tighter = budget.MONTH_SECONDS / (budget.MONTH_SECONDS / interval + 1)
        assert (
            interval == poll_interval
            or budget.calls_for(budget.MONTH_SECONDS, tighter, calendars) > call_budget
        )
