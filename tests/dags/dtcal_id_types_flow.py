"""Test DAGs (tests/test_operator_base.py): what the declared operator base promises, in a real Airflow.

People are the directory of tests/test_operators_id_types.py (userIds ``emp-*``, unionIds ``uid-*``), seeded
by the test.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_dtcal.exceptions import DingTalkNotFoundError
from airflow_dtcal.operators.attendees import ListAttendeesOperator
from airflow_dtcal.operators.events import CreateEventOperator, EnsureEventOperator
from airflow_dtcal.operators.people import ResolveUsersOperator
from airflow_dtcal.sensors.attendees import AttendeeResponseSensor

START = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")
WHEN = {"start": "2026-03-11T14:00:00+08:00", "end": "2026-03-11T15:00:00+08:00"}
NO_WAIT = pendulum.duration(seconds=0)

# The organizer by userId: every run must find the event the first one made (in the unionId's calendar).
with DAG("dtcal_ids_ensure", schedule=None, start_date=START, catchup=False) as ensure:
    EnsureEventOperator(
        task_id="ensure",
        id_type="userId",
        organizer_id="emp-lead-01",
        attendees=["emp-ada-02"],
        summary="Weekly review",
        dedup_key="weekly-review-2026-W11",
        **WHEN,
    )

# Someone the directory does not hold: the task fails at once, whatever its retries. The control task
# raises a retryable DingTalk error, to show this Airflow does retry a task with retries=2.
with DAG("dtcal_ids_unknown", schedule=None, start_date=START, catchup=False) as unknown:
    CreateEventOperator(
        task_id="create",
        id_type="userId",
        organizer_id="emp-lead-01",
        attendees=["emp-ada-02", "emp-ghost-99"],
        summary="Never created",
        retries=2,
        retry_delay=NO_WAIT,
        **WHEN,
    )

    @task(retries=2, retry_delay=NO_WAIT)
    def control():
        raise DingTalkNotFoundError("GetEvent", 404, "instanceNotExist", "a retryable failure")

    control()

# The connection id from a Variable, rendered before any hook is made, on operators and the sensor.
CONN = "{{ var.value.dtcal_conn_id }}"
with DAG("dtcal_ids_templated_conn", schedule=None, start_date=START, catchup=False) as templated_conn:
    made = CreateEventOperator(
        task_id="create", dingtalk_conn_id=CONN, organizer_id="uid-lead-7f3a", summary="Templated", **WHEN
    )
    listed = ListAttendeesOperator(
        task_id="list", dingtalk_conn_id=CONN, id_type="userId", user_id="emp-lead-01", event_id=made.output
    )
    waited = AttendeeResponseSensor(
        task_id="wait",
        dingtalk_conn_id=CONN,
        organizer_id="emp-lead-01",
        id_type="userId",
        event_id=made.output,
        poke_interval=0.1,
        timeout=30,
    )
    resolved = ResolveUsersOperator(task_id="resolve", dingtalk_conn_id=CONN, ids=["emp-ada-02"])
    made >> listed >> waited >> resolved
