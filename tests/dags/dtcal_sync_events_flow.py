"""A test DAG for SyncEventsOperator: an upstream task's table of training sessions becomes calendar events."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_dtcal.operators.events import SyncEventsOperator

SESSIONS = [
    {"key": "intro", "summary": "Airflow intro", "day": "2026-04-06", "hour": 10, "room": "Lotus"},
    {"key": "dags", "summary": "Writing DAGs", "day": "2026-04-08", "hour": 14, "room": "Lotus"},
    {"key": "ops", "summary": "Running Airflow", "day": "2026-04-10", "hour": 10, "room": "Peony"},
]

with DAG(
    "dtcal_test_sync_events_flow",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
) as sync_events_flow:

    @task
    def training_sessions(dag_run=None) -> list[dict]:
        """The desired events, from the run's conf (a table upstream would do the same)."""
        rows = (dag_run.conf or {}).get("sessions", SESSIONS)
        return [
            {
                "key": row["key"],
                "summary": row["summary"],
                "start": f"{row['day']}T{row['hour']:02d}:00:00",
                "end": f"{row['day']}T{row['hour'] + 2:02d}:00:00",
                "timezone": "Asia/Shanghai",
                "location": row["room"],
                "attendees": ["trainee-1", "trainee-2"],
            }
            for row in rows
        ]

    SyncEventsOperator(
        task_id="sync_sessions",
        organizer_id="trainer-1",
        events=training_sessions(),
        scope="airflow-training-2026-q2",
        time_min="2026-04-01T00:00:00+08:00",
        time_max="2026-07-01T00:00:00+08:00",
    )
