"""Test DAGs (run by tests/test_operators_airflow.py with dag.test() against the emulator)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_dtcal.operators.attendees import (
    AddAttendeesOperator,
    ListAttendeesOperator,
    RemoveAttendeesOperator,
    RespondEventOperator,
)
from airflow_dtcal.operators.events import CreateEventOperator, DeleteEventOperator

START = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")

# Every way of passing the event id: the XComArg, a Jinja xcom_pull string, and an upstream @task's list.
with DAG("dtcal_test_xcom_flow", schedule=None, start_date=START, catchup=False) as xcom_flow:

    @task
    def rota() -> list[str]:
        return ["rota-1", "rota-2", "rota-3"]

    people = rota()
    create = CreateEventOperator(
        task_id="create_event",
        organizer_id="org-1",
        summary="Review for {{ ds }}",
        start="{{ dag_run.conf.get('start', '2026-12-01T02:00:00+00:00') }}",
        end="{{ dag_run.conf.get('end', '2026-12-01T03:00:00+00:00') }}",
        attendees=["first-guest"],
        reminders=[30],
    )
    add = AddAttendeesOperator(
        task_id="add_attendees",
        organizer_id="org-1",
        event_id="{{ ti.xcom_pull(task_ids='create_event') }}",
        attendees=people,
    )
    respond = RespondEventOperator(
        task_id="respond",
        attendee_id="rota-2",
        event_id=create.output,
        response_status="declined",
    )
    remove = RemoveAttendeesOperator(
        task_id="remove", organizer_id="org-1", event_id=create.output, attendee_ids=["first-guest"]
    )
    listed = ListAttendeesOperator(task_id="list_attendees", user_id="org-1", event_id=create.output)
    create >> add >> respond >> remove >> listed

# A create whose task is retried by Airflow after the reply was lost (max_attempts=1: no in-hook retry).
with DAG("dtcal_test_task_retry", schedule=None, start_date=START, catchup=False) as task_retry:
    CreateEventOperator(
        task_id="create_event",
        dingtalk_conn_id="dingtalk_calendar_no_retry",
        organizer_id="org-1",
        summary="Created once",
        start="2026-12-01T10:00:00+08:00",
        end="2026-12-01T11:00:00+08:00",
        retries=2,
        retry_delay=pendulum.duration(seconds=0),
    )

# Delete with ignore_missing, after a create.
with DAG("dtcal_test_delete", schedule=None, start_date=START, catchup=False) as delete_flow:
    made = CreateEventOperator(
        task_id="create_event",
        organizer_id="org-1",
        summary="Short-lived",
        start=pendulum.date(2026, 12, 24),
    )
    first = DeleteEventOperator(task_id="delete", user_id="org-1", event_id=made.output)
    again = DeleteEventOperator(
        task_id="delete_again", user_id="org-1", event_id=made.output, ignore_missing=True
    )
    first >> again
