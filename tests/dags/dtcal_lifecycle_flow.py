"""A test DAG for the lifecycle operators: ensure an event, reschedule it, hand it over, cancel it."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_dtcal.operators.events import (
    CancelEventOperator,
    EnsureEventOperator,
    TransferEventOperator,
    UpdateEventOperator,
)

with DAG(
    "dtcal_test_lifecycle_flow",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    params={"cancel": True},
) as lifecycle_flow:
    ensure = EnsureEventOperator(
        task_id="ensure_event",
        organizer_id="org-1",
        dedup_key="lifecycle {{ ds }}",
        summary="Planning",
        start="{{ logical_date.in_timezone('Asia/Shanghai').set(hour=10) }}",
        end="{{ logical_date.in_timezone('Asia/Shanghai').set(hour=11) }}",
        attendees=["lead-1", "eng-2"],
        reminders=[15],
    )
    reschedule = UpdateEventOperator(
        task_id="reschedule",
        organizer_id="org-1",
        event_id=ensure.output,
        start="{{ logical_date.in_timezone('Asia/Shanghai').add(days=1).set(hour=14) }}",  # keeps its hour
        reminders=[15],  # unchanged: not sent
        location="Room 2",
    )
    hand_over = TransferEventOperator(
        task_id="hand_over",
        organizer_id="org-1",
        event_id=ensure.output,
        new_organizer_id="lead-1",
        exit_calendar=True,
    )
    cancel = CancelEventOperator(task_id="cancel", organizer_id="lead-1", event_id=ensure.output)
    ensure >> reschedule >> hand_over >> cancel


from airflow_dtcal.operators.events import ListEventsOperator, ListInstancesOperator  # noqa: E402

with DAG(
    "dtcal_test_list_flow",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
) as list_flow:
    window = {"time_min": "{{ logical_date }}", "time_max": "{{ logical_date.add(weeks=2) }}"}
    ListEventsOperator(task_id="occurrences", user_id="org-1", **window)
    ListEventsOperator(task_id="as_stored", user_id="org-1", expand_recurring=False, **window)
    ListInstancesOperator(
        task_id="instances",
        user_id="org-1",
        event_id="{{ dag_run.conf['series'] }}",
        max_attendees=5,
        **window,
    )
