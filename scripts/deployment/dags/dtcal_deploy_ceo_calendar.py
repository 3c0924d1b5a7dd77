"""A second watch of the CEO's calendar, on the same DingTalk app as the all-hands watch (deployment test only):
every change to any event. Its runs record what they were triggered by; the deployment checks its asset
events (scripts/deployment/watch.py)."""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_dtcal.triggers.watch import CalendarChangeTrigger

CEO = os.environ.get("DTCAL_ALL_HANDS_ORGANIZER", "union-ceo-001")

ceo_calendar = Asset(
    name="dingtalk_ceo_calendar",
    uri=f"dingtalk://calendar/{CEO}",
    watchers=[
        AssetWatcher(
            name="ceo_calendar_changed",
            trigger=CalendarChangeTrigger(
                source="stream",
                calendars=[CEO],
                poll_interval=float(os.environ.get("DTCAL_WATCH_POLL_INTERVAL", "3600")),
                state_key="dtcal_deploy_watch_ceo_calendar",
            ),
        )
    ],
)

with DAG(
    dag_id="dtcal_deploy_ceo_calendar",
    schedule=[ceo_calendar],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["deployment-test"],
):

    @task
    def changes(triggering_asset_events=None) -> list[str]:
        return [
            e.extra["payload"]["dedup_key"]
            for group in (triggering_asset_events or {}).values()
            for e in group
        ]

    changes()
