"""The DingTalk Calendar event-attendee flow, one task per step.

create event -> add attendees -> list attendees -> an attendee responds -> remove an attendee -> list again

The event id travels through XCom: ``create_event.output`` (an XComArg) is passed to the tasks that need it,
which also wires the dependencies. The ids are DingTalk unionIds; change the params (or trigger the DAG with
``--conf``) to use your own. Run it offline against the emulator with ``make demo``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_dtcal.operators.attendees import (
    AddAttendeesOperator,
    ListAttendeesOperator,
    RemoveAttendeesOperator,
    RespondEventOperator,
)
from airflow_dtcal.operators.events import CreateEventOperator

with DAG(
    dag_id="dingtalk_event_attendees",
    description="Create a DingTalk event, invite people, record a response, remove someone",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    tags=["dingtalk", "example"],
    params={
        "organizer": Param("union-organizer-001", type="string", description="unionId of the organizer"),
        "attendees": Param(
            ["union-alice-002", "union-bob-003", "union-carol-004"],
            type="array",
            description="unionIds to invite",
        ),
        "responder": Param("union-alice-002", type="string", description="who accepts"),
        "leaver": Param("union-carol-004", type="string", description="who is removed"),
    },
    render_template_as_native_obj=True,  # params.attendees stays a list when templated
) as dag:
    create_event = CreateEventOperator(
        task_id="create_event",
        organizer_id="{{ params.organizer }}",
        summary="Quarterly data platform review",
        description="Agenda: pipeline SLAs, cost, on-call handover.",
        start=pendulum.datetime(2026, 12, 1, 10, 0, tz="Asia/Shanghai"),
        end=pendulum.datetime(2026, 12, 1, 11, 0, tz="Asia/Shanghai"),
        location="Room 3F-Lotus",
        reminders=[15],
    )

    add_attendees = AddAttendeesOperator(
        task_id="add_attendees",
        organizer_id="{{ params.organizer }}",
        event_id=create_event.output,
        attendees="{{ params.attendees }}",
    )

    list_attendees = ListAttendeesOperator(
        task_id="list_attendees",
        user_id="{{ params.organizer }}",
        event_id=create_event.output,
    )

    accept = RespondEventOperator(
        task_id="respond_accept",
        attendee_id="{{ params.responder }}",
        event_id=create_event.output,
        response_status="accepted",
    )

    remove_attendee = RemoveAttendeesOperator(
        task_id="remove_attendee",
        organizer_id="{{ params.organizer }}",
        event_id=create_event.output,
        attendee_ids=["{{ params.leaver }}"],
    )

    final_attendees = ListAttendeesOperator(
        task_id="final_attendees",
        user_id="{{ params.organizer }}",
        event_id=create_event.output,
    )

    add_attendees >> list_attendees >> accept >> remove_attendee >> final_attendees
