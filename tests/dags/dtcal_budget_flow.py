"""Test DAG (tests/operators/test_expected_calls.py): each operator declares the calls it expects, and the
base holds them against the connection's ``monthly_budget`` before the task's first request.

``create`` expects 1 call; ``invite_all`` adds 1,200 attendees, 500 a call: it expects 3.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_dtcal.operators.attendees import AddAttendeesOperator
from airflow_dtcal.operators.events import CreateEventOperator

START = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")
ORGANIZER = "union-budget-org"
EVERYONE = [f"union-staff-{i:04d}" for i in range(1200)]

with DAG("dtcal_budget", schedule=None, start_date=START, catchup=False) as budget:
    create = CreateEventOperator(
        task_id="create",
        organizer_id=ORGANIZER,
        summary="All-staff meeting",
        start="2026-03-11T14:00:00+08:00",
        end="2026-03-11T15:00:00+08:00",
    )
    AddAttendeesOperator(
        task_id="invite_all", organizer_id=ORGANIZER, event_id=create.output, attendees=EVERYONE
    )
