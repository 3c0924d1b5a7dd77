"""Test DAGs (tests/test_people_operators.py): people named by userId, mobile and unionId, resolved by the
operators in execute(), against the emulator's user directory (seeded by the test)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_dtcal.operators.attendees import (
    AddAttendeesOperator,
    ListAttendeesOperator,
    RemoveAttendeesOperator,
    RespondEventOperator,
    SyncAttendeesOperator,
)
from airflow_dtcal.operators.events import CreateEventOperator, DeleteEventOperator
from airflow_dtcal.operators.people import ResolveUsersOperator

START = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")
WHEN = {"start": "2026-12-02T14:00:00+08:00", "end": "2026-12-02T15:00:00+08:00"}

# Every operator, each argument naming people in the id type a team has at hand.
with DAG("dtcal_people_mixed", schedule=None, start_date=START, catchup=False) as mixed:
    create = CreateEventOperator(
        task_id="create",
        id_type={"organizer_id": "unionId", "attendees": "mobile"},
        organizer_id="union-lead",
        attendees=["+86 138-0000-0001", {"id": "138 0000 0002", "isOptional": True}],
        summary="Mixed ids",
        **WHEN,
    )
    add = AddAttendeesOperator(
        task_id="add",
        id_type="userId",
        organizer_id="u-lead",
        event_id=create.output,
        attendees=["u-dee", "u-eve"],
    )
    respond = RespondEventOperator(
        task_id="respond",
        id_type="mobile",
        attendee_id="13800000001",
        event_id=create.output,
        response_status="accepted",
    )
    remove = RemoveAttendeesOperator(
        task_id="remove",
        id_type="userId",
        organizer_id="u-lead",
        event_id=create.output,
        attendee_ids=["u-bo"],
    )
    sync = SyncAttendeesOperator(
        task_id="sync",
        id_type={"attendees": "userId"},
        organizer_id="union-lead",
        event_id=create.output,
        attendees=["u-ada", "u-eve"],
    )
    listed = ListAttendeesOperator(
        task_id="list", id_type="mobile", user_id="13800000001", event_id=create.output
    )
    delete = DeleteEventOperator(task_id="delete", id_type="userId", user_id="u-lead", event_id=create.output)
    add >> respond >> remove >> sync >> listed >> delete


@task
def hires() -> list[str]:
    return ["u-ada", "u-ghost", "u-cy", "u-gone", "u-bo"]


# An unknown id and a person who left (u-gone; u-cy has not activated DingTalk yet, and is invitable): the
# create fails naming the two, and nothing is written.
with DAG("dtcal_people_unknown", schedule=None, start_date=START, catchup=False) as unknown:
    CreateEventOperator(
        task_id="create",
        id_type="userId",
        organizer_id="u-lead",
        attendees=hires(),
        summary="Onboarding",
        **WHEN,
    )

# The same, asking to skip them: the others are invited, the skipped ones reported.
with DAG("dtcal_people_skip", schedule=None, start_date=START, catchup=False) as skip:
    CreateEventOperator(
        task_id="create",
        id_type="userId",
        on_unknown="skip",
        organizer_id="u-lead",
        attendees=hires(),
        summary="Onboarding",
        **WHEN,
    )

# An unknown organizer fails even with on_unknown="skip": there is nobody to skip to.
with DAG("dtcal_people_unknown_organizer", schedule=None, start_date=START, catchup=False) as ghost_host:
    CreateEventOperator(
        task_id="create",
        id_type="userId",
        on_unknown="skip",
        organizer_id="u-ghost",
        attendees=["u-ada"],
        summary="Onboarding",
        **WHEN,
    )

# ResolveUsersOperator: the mapping for downstream tasks, and a list straight into attendees.
with DAG("dtcal_people_resolve", schedule=None, start_date=START, catchup=False) as resolve:
    mapping = ResolveUsersOperator(task_id="mapping", ids=hires(), on_unknown="skip")
    by_mobile = ResolveUsersOperator(
        task_id="by_mobile", ids=["13800000002", "13800000001"], id_type="mobile", to="userId"
    )
    as_list = ResolveUsersOperator(task_id="as_list", ids=["u-eve", "u-dee"], returns="list")
    back = ResolveUsersOperator(
        task_id="back",
        ids=["union-cy", "union-ada", "union-x"],
        id_type="unionId",
        to="userId",
        on_unknown="skip",
    )
    CreateEventOperator(
        task_id="create",
        organizer_id="union-lead",
        attendees=as_list.output,
        summary="From a resolved list",
        **WHEN,
    )
