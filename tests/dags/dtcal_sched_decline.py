"""Test DAG (tests/scheduled/test_example_dags.py): a relevant decline fails one sensor and skips the other.

The event id comes from ``dag_run.conf`` (the test seeds the event in the emulator first).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_dtcal.sensors.attendees import AttendeeResponseSensor

with DAG(
    "dtcal_sched_decline",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    render_template_as_native_obj=True,
) as decline:
    AttendeeResponseSensor(
        task_id="strict",
        organizer_id="org-1",
        event_id="{{ dag_run.conf['event_id'] }}",
        condition="accepted_by",
        attendee_ids="{{ dag_run.conf['must_accept'] }}",
        fail_on_decline=True,
        poke_interval=0.1,
        timeout=30,
    )
    AttendeeResponseSensor(
        task_id="lenient",
        organizer_id="org-1",
        event_id="{{ dag_run.conf['event_id'] }}",
        condition="all_responded",
        fail_on_decline=True,
        soft_fail=True,
        deferrable=True,
        poke_interval=0.1,
        timeout=30,
    )
