"""Design review: find the first hour next week when the reviewers are free, book it once, move it on demand.

find_slot ─▶ book_review ─▶ reschedule_review

* ``find_slot`` reads the reviewers' free/busy times (GetSchedule, 20 people per call) and returns the
  first hour next week, 10:00-17:00 Asia/Shanghai on working days, when the author and at least
  ``quorum`` reviewers are free. Its ``start`` and ``end`` feed the next task.
* ``book_review`` creates the review there, once: the event carries the key ``design review <doc>``, so a
  second run (which would find another slot, since the review now fills the first one) returns the event
  it booked instead of booking another.
* ``reschedule_review`` moves the review when a manual run gives ``move_to`` (an ISO date-time) in its
  conf; it keeps the hour-long length and sends only what changed. Without ``move_to`` it sends nothing.

"Next week" is the week after the run's logical date (or, for a run without one, after the time it was
triggered for). The ids are DingTalk unionIds; change the params to use your own.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, XComArg

from airflow_dtcal.operators.events import EnsureEventOperator, UpdateEventOperator
from airflow_dtcal.operators.slots import FindSlotOperator

# Monday of the week after the run's logical date (or of the time it was triggered for), in Shanghai.
NEXT_MONDAY = "(logical_date or dag_run.run_after).in_timezone('Asia/Shanghai').start_of('week').add(weeks=1)"

with DAG(
    dag_id="dingtalk_design_review",
    description="Book a design review in the reviewers' first free hour next week; move it on demand",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 5, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["dingtalk", "example"],
    params={
        "doc": Param("storage-tiering-rfc", type="string", description="the design under review"),
        "author": Param("union-author-001", type="string", description="unionId of the author (organizer)"),
        "reviewers": Param(
            ["union-rev-101", "union-rev-102", "union-rev-103", "union-rev-104"],
            type="array",
            description="unionIds of the reviewers",
        ),
        "quorum": Param(3, type="integer", minimum=1, description="reviewers who must be free"),
        "move_to": Param(None, type=["null", "string"], description="ISO date-time to move the review to"),
    },
    render_template_as_native_obj=True,  # lists stay lists, quorum an int, a null move_to None
) as dag:
    find_slot = FindSlotOperator(
        task_id="find_slot",
        organizer_id="{{ params.author }}",
        attendees="{{ params.reviewers }}",  # the author (organizer) is counted too
        required_attendees="{{ [params.author] }}",
        quorum="{{ params.quorum + 1 }}",  # the author and `quorum` reviewers
        window_start="{{ " + NEXT_MONDAY + " }}",
        window_end="{{ " + NEXT_MONDAY + ".add(days=5) }}",
        duration_minutes=60,
        timezone="Asia/Shanghai",
        working_hours=("10:00", "17:00"),
    )

    book_review = EnsureEventOperator(
        task_id="book_review",
        organizer_id="{{ params.author }}",
        dedup_key="design review {{ params.doc }}",
        summary="Design review: {{ params.doc }}",
        start=XComArg(find_slot, key="start"),  # the slot's start, pushed under its own key
        end=XComArg(find_slot, key="end"),
        timezone="Asia/Shanghai",
        attendees="{{ params.reviewers }}",
        online_meeting=True,
    )

    reschedule_review = UpdateEventOperator(
        task_id="reschedule_review",
        organizer_id="{{ params.author }}",
        event_id=book_review.output,
        start="{{ params.move_to }}",  # None: nothing changes; a naive time is read in the event's zone
    )

    find_slot >> book_review >> reschedule_review
