"""A test DAG for rooms: find a slot when the people and one of the rooms are free, book the event, book the room."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_dtcal.operators.events import EnsureEventOperator
from airflow_dtcal.operators.rooms import AddMeetingRoomsOperator
from airflow_dtcal.operators.slots import FindSlotOperator

with DAG(
    "dtcal_test_rooms_flow",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
) as rooms_flow:
    find = FindSlotOperator(
        task_id="find_slot",
        organizer_id="org-1",
        attendees=["alice", "bob"],
        rooms=["lotus", "peony"],
        window_start="{{ logical_date }}",
        window_end="{{ logical_date.add(days=3) }}",
        duration_minutes=30,
        timezone="Asia/Shanghai",
    )
    book = EnsureEventOperator(
        task_id="book",
        organizer_id="org-1",
        dedup_key="rooms flow {{ ds }}",
        summary="Sync",
        start=find.output["start"],
        end=find.output["end"],
        attendees=["alice", "bob"],
    )
    room = AddMeetingRoomsOperator(
        task_id="book_room",
        organizer_id="org-1",
        event_id=book.output,
        room_ids="{{ ti.xcom_pull(task_ids='find_slot')['room'] }}",
    )
    find >> book >> room
