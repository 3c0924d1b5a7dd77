"""All-hands watch: when the all-hands is rescheduled, book the prep meeting for its new date.

No schedule: the DAG runs on the asset ``dingtalk_all_hands``, which a :class:`CalendarChangeTrigger` in the
triggerer updates each time the all-hands' start or end changes (``fields=["start", "end"]``: a new
attendee, a response or an edited description does not count). A change is never lost, and is delivered
at least once: a triggerer that stops right after handing a change over fires it again when the watch
starts anew, with the same ``dedup_key`` (docs/event-driven.md). This DAG is idempotent by design, the
recipe for every watch DAG: what it does is keyed by the change (here the new date), so a repeat finds
its own work done.

read_change ─▶ book_prep

* ``read_change`` reads the asset event that triggered the run (the trigger's payload: event id, change
  type, new start/end, a dedup key) and logs it; when several changes queued up before the run, the
  latest wins.
* ``book_prep`` books a one-hour prep meeting for the organizer the working day before the new date, at
  the all-hands' hour, once per date (its dedup key names the date: a re-run, or a run for a repeated
  change, finds the meeting it booked).

Configure it for your deployment (read when the DAG is parsed):

* ``DTCAL_ALL_HANDS_ORGANIZER``: unionId of the all-hands' organizer (whose calendar is watched);
* ``DTCAL_ALL_HANDS_EVENT_ID``: the all-hands' event id (a recurring all-hands keeps its id);
* ``DTCAL_WATCH_SOURCE``: ``stream`` (default) when the DingTalk app has Stream mode enabled and subscribes
  to the ``calendar_event_change`` event: a notice wakes the watch within seconds and it reads the
  all-hands' calendar (one call per burst of changes); a safety poll, at most every 15 minutes and spaced
  to fit half of the budget (about every 29 minutes here), finds changes whose notice DingTalk pushed to
  another connection of the app. ``poll`` where Stream mode is not available: ListEvents with a sync
  token every 15 minutes, so a change arrives within 15 minutes.
* ``DTCAL_WATCH_POLL_INTERVAL`` (seconds, default 900) and ``DTCAL_WATCH_CALL_BUDGET`` (calls a month,
  default 3,000 of a standard organisation's 5,000).
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_dtcal.operators.events import EnsureEventOperator
from airflow_dtcal.triggers.watch import CalendarChangeTrigger

ORGANIZER = os.environ.get("DTCAL_ALL_HANDS_ORGANIZER", "union-ceo-001")
ALL_HANDS_EVENT_ID = os.environ.get("DTCAL_ALL_HANDS_EVENT_ID", "all-hands-event-id")
SOURCE = os.environ.get("DTCAL_WATCH_SOURCE", "stream")
POLL_INTERVAL = float(os.environ.get("DTCAL_WATCH_POLL_INTERVAL", "900"))
CALL_BUDGET = int(os.environ.get("DTCAL_WATCH_CALL_BUDGET", "3000"))

all_hands = Asset(
    name="dingtalk_all_hands",
    uri=f"dingtalk://calendar/{ORGANIZER}/events/{ALL_HANDS_EVENT_ID}",
    watchers=[
        AssetWatcher(
            name="all_hands_rescheduled",
            trigger=CalendarChangeTrigger(
                source=SOURCE,
                calendars=[ORGANIZER],
                event_ids=[ALL_HANDS_EVENT_ID],
                change_types=["update"],
                fields=["start", "end"],
                poll_interval=POLL_INTERVAL,  # reads (poll) or safety polls (stream) at most this often,
                call_budget=CALL_BUDGET,  # and at most this many calls a month
            ),
        )
    ],
)

with DAG(
    dag_id="dingtalk_all_hands_watch",
    description="When the all-hands is rescheduled, book the prep meeting for its new date",
    schedule=[all_hands],
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["dingtalk", "example"],
) as dag:

    @task
    def read_change(triggering_asset_events=None) -> dict:
        """The latest change the trigger reported, with the prep meeting's slot."""
        events = [e for group in (triggering_asset_events or {}).values() for e in group]
        payloads = [e.extra["payload"] for e in events if isinstance(e.extra, dict) and "payload" in e.extra]
        if not payloads:
            raise ValueError("this DAG runs on the all-hands asset; no change from the trigger was found")
        change = max(payloads, key=lambda p: p.get("update_time") or "")
        print(
            f"All-hands {change['event_id']} {change['change_type']} ({change['dedup_key']}): "
            f"changed {change['changed_fields']}; now {change['event']['start']} - {change['event']['end']}"
        )
        start = pendulum.parse(change["event"]["start"]["dateTime"])
        if not isinstance(start, pendulum.DateTime):
            raise ValueError(f"the all-hands' start is not a date-time: {start!r}")
        zone = change["event"]["start"].get("timeZone") or "Asia/Shanghai"
        prep = start.in_timezone(zone).subtract(days=1)
        while prep.day_of_week in (pendulum.SATURDAY, pendulum.SUNDAY):
            prep = prep.subtract(days=1)
        return {
            "event_id": change["event_id"],
            "date": start.in_timezone(zone).to_date_string(),
            "prep_start": prep.isoformat(),
            "prep_end": prep.add(hours=1).isoformat(),
            "timezone": zone,
        }

    change = read_change()

    book_prep = EnsureEventOperator(
        task_id="book_prep",
        organizer_id=ORGANIZER,
        dedup_key="all-hands prep {{ ti.xcom_pull(task_ids='read_change')['date'] }}",
        summary="All-hands prep ({{ ti.xcom_pull(task_ids='read_change')['date'] }})",
        start="{{ ti.xcom_pull(task_ids='read_change')['prep_start'] }}",
        end="{{ ti.xcom_pull(task_ids='read_change')['prep_end'] }}",
        timezone="{{ ti.xcom_pull(task_ids='read_change')['timezone'] }}",
    )
    change >> book_prep
