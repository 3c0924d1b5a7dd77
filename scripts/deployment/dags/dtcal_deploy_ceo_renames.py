"""A third watch of the CEO's calendar, on the same DingTalk app (deployment test only): renames, i.e. an
``update`` whose ``summary`` changed."""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_dtcal.triggers.watch import CalendarChangeTrigger

CEO = os.environ.get("DTCAL_ALL_HANDS_ORGANIZER", "union-ceo-001")

ceo_renames = Asset(
    name="dingtalk_ceo_renames",
    uri=f"dingtalk://calendar/{CEO}/renames",
    watchers=[
        AssetWatcher(
            name="ceo_event_renamed",
            trigger=CalendarChangeTrigger(
                source="stream",
                calendars=[CEO],
                change_types=["update"],
                fields=["summary"],
                poll_interval=float(os.environ.get("DTCAL_WATCH_POLL_INTERVAL", "3600")),
                state_key="dtcal_deploy_watch_ceo_renames",
            ),
        )
    ],
)

with DAG(
    dag_id="dtcal_deploy_ceo_renames",
    schedule=[ceo_renames],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["deployment-test"],
):

    @task
    def renames(triggering_asset_events=None) -> list[str]:
        return [
            e.extra["payload"]["dedup_key"]
            for group in (triggering_asset_events or {}).values()
            for e in group
        ]

    renames()
