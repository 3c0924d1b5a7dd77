"""Daily export of a team's meetings and RSVPs into a storage path, for the warehouse.

export_team_calendars (ExportEventsOperator) ─▶ summarize (@task)

* ``export_team_calendars`` writes what changed in each team member's calendar since the previous run
  (DingTalk's ``syncToken``; the first run lists every event from the interval's start) into two tables
  (and the ``calendars`` table) under ``destination``, one partition per day::

      <destination>/events/interval_start=2026-11-22T16-10-00+00-00/part-0.jsonl, part-0.parquet, _SUCCESS
      <destination>/attendees/interval_start=.../...                 (each attendee's response)
      <destination>/calendars/interval_start=.../...                 (how each calendar was listed)

  Each row carries the calendar owner, the event id, the change (``snapshot`` / ``upsert`` / ``delete``)
  and the data interval. A third table, ``calendars``, says how each calendar was listed that day (``full``
  or ``resync``: a full listing that replaces the calendar's state; ``incremental``: a delta to apply) and
  holds the sync token each calendar reached: it is the watermark, beside the data, so re-running a day
  replaces that day's partitions with the same changes, and nothing is duplicated. The merge rule (and its
  SQL) is in docs/export.md.
* ``export_team_calendars`` declares the ``dingtalk_calendar_export`` Asset (the destination) as its outlet:
  each finished export records an asset event whose extra holds ``path``, ``partition`` and ``rows``, and
  ``dingtalk_export_row_counts`` (dags/dingtalk_export_row_counts.py) is scheduled on it.
* ``summarize`` reads the export's XCom (path, partition, row counts, mode) — put your warehouse load here.

The destination defaults to ``DTCAL_EXPORT_DESTINATION`` (``file:///tmp/dingtalk-export`` when unset; the
asset's URI is that destination without the connection part). Point it at any storage Airflow supports:
``s3://aws_default@my-bucket/dingtalk`` (the user part names an Airflow connection), ``gs://...``, or a
local ``file:///...`` path. Parquet needs pyarrow
(``pip install 'airflow-dtcal[parquet]'``); drop ``"parquet"`` from ``formats`` to write JSON Lines only.

**Budget.** DingTalk's standard edition allows 5,000 calendar calls a month. A run costs one ListEvents
call per member per 100 changed events, plus one ListAttendees call per event with more than 100
attendees; ``check_ins=True`` would add one call per meeting the member organizes. The task logs what it
spent and pushes it as the ``dingtalk_calls`` XCom.

The schedule runs daily at 00:10 Asia/Shanghai (off the top of the hour, as DingTalk advises); each run's
data interval is the day before it.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any
from urllib.parse import urlsplit

import pendulum
from airflow.sdk import DAG, Asset, Param, task
from airflow.timetables.trigger import CronTriggerTimetable

from airflow_dtcal.transfers.export import ExportEventsOperator

DESTINATION = os.environ.get("DTCAL_EXPORT_DESTINATION", "file:///tmp/dingtalk-export")
# The asset names the destination; the user part of s3://conn_id@bucket/... names a connection, not the data.
_where = urlsplit(DESTINATION)
calendar_export = Asset(
    name="dingtalk_calendar_export", uri=_where._replace(netloc=_where.netloc.rpartition("@")[2]).geturl()
)

with DAG(
    dag_id="dingtalk_daily_export",
    description="Export a team's DingTalk meetings and RSVPs daily (incremental, JSON Lines + Parquet)",
    schedule=CronTriggerTimetable("10 0 * * *", timezone="Asia/Shanghai", interval=dt.timedelta(days=1)),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,  # the team param renders as a list, not as its text
    tags=["dingtalk", "example", "scheduled", "export"],
    params={
        "team": Param(
            ["union-organizer-001", "union-alice-002", "union-bob-003"],
            type="array",
            description="unionIds of the team members whose calendars are exported",
        ),
        "destination": Param(
            DESTINATION,
            type="string",
            description="where the tables go: s3://conn_id@bucket/path, gs://..., file:///...",
        ),
    },
) as dag:
    export_team_calendars = ExportEventsOperator(
        task_id="export_team_calendars",
        calendars="{{ params.team }}",
        destination="{{ params.destination }}",
        mode="incremental",
        attendees=True,
        formats=["jsonl", "parquet"],
        retries=2,
        outlets=[calendar_export],  # each finished export: an asset event with path, partition and rows
    )

    @task
    def summarize(export: Any) -> str:  # the export's return value (an XComArg when called)
        """One line about the export; load ``export["files"]`` into your warehouse here."""
        rows = export["rows"]
        return (
            f"{export['partition']}: {rows['events']} event rows and {rows['attendees']} attendee rows "
            f"({export['mode']}) in {export['path']}"
        )

    summarize(export_team_calendars.output)
