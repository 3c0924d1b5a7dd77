"""Invite, wait for enough acceptances without holding a worker slot, then report who answered what.

create_retro ─▶ wait_for_acceptances (deferrable sensor) ─▶ report

* ``create_retro`` creates Friday's sprint retro (16:00 Asia/Shanghai) and invites the team.
* ``wait_for_acceptances`` is an :class:`AttendeeResponseSensor` with ``deferrable=True``: it checks once,
  then hands the waiting to the triggerer, which polls the attendee list every ``poke_interval`` seconds
  with an async client (no worker slot, no pool slot held while waiting). It succeeds when
  ``params.min_accepted`` attendees (the organizer not counted) have accepted and returns
  ``{attendee id: responseStatus}``. After ``timeout`` it fails (``soft_fail=True`` would skip instead).
  Other conditions: ``condition="all_responded"`` (nobody left in needsAction) or
  ``condition="accepted_by", attendee_ids=[...]`` (these people accepted); add ``fail_on_decline=True`` to
  stop as soon as someone relevant declines.
* ``report`` summarises the statuses the sensor returned (replace it with a Slack message, a table row...).

To wait on an existing event instead, drop ``create_retro`` and pass its id as ``event_id`` (a param, or
an upstream task's XCom). The deployment needs a triggerer (``airflow triggerer``) for the deferred wait.

The DAG renders templates as native objects so ``params.team`` stays a list and ``params.min_accepted`` a
number. The flip side: an id made only of digits would become an int (and be rejected), so keep ids that
could look like numbers out of native templates. The ids are DingTalk unionIds; change the params to use
your own. The retro is on the Friday after the run's **logical date** (on Airflow 3.3 a manual run's data
interval is its trigger time, not the logical date you gave; a run without a logical date uses the time it
was triggered for).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_dtcal.operators.events import CreateEventOperator
from airflow_dtcal.sensors.attendees import AttendeeResponseSensor

# Four days after the run's logical date (or, without one, the time it was triggered for), in Shanghai.
RETRO_DAY = "(logical_date or dag_run.run_after).in_timezone('Asia/Shanghai').add(days=4)"

with DAG(
    dag_id="dingtalk_response_followup",
    description="Create the sprint retro, wait (deferred) until enough people accept, report the answers",
    schedule="10 9 * * 1",  # Mondays 09:10: invite early in the week, the retro is on Friday
    start_date=pendulum.datetime(2026, 1, 5, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["dingtalk", "example", "scheduled"],
    params={
        "organizer": Param("union-organizer-001", type="string", description="unionId of the organizer"),
        "team": Param(
            ["union-eng-101", "union-eng-102", "union-eng-103", "union-eng-104"],
            type="array",
            description="who is invited",
        ),
        "min_accepted": Param(3, type="integer", minimum=1, description="acceptances needed to go ahead"),
    },
    render_template_as_native_obj=True,  # params.team stays a list and params.min_accepted an int
) as dag:
    create_retro = CreateEventOperator(
        task_id="create_retro",
        organizer_id="{{ params.organizer }}",
        summary="Sprint retro ({{ " + RETRO_DAY + ".to_date_string() }})",
        start="{{ " + RETRO_DAY + ".set(hour=16, minute=0, second=0, microsecond=0) }}",
        end="{{ " + RETRO_DAY + ".set(hour=17, minute=0, second=0, microsecond=0) }}",
        timezone="Asia/Shanghai",
        attendees="{{ params.team }}",
        reminders=[30],
    )

    wait_for_acceptances = AttendeeResponseSensor(
        task_id="wait_for_acceptances",
        organizer_id="{{ params.organizer }}",
        event_id=create_retro.output,
        condition="min_accepted",
        min_accepted="{{ params.min_accepted }}",
        deferrable=True,
        poke_interval=timedelta(minutes=15),  # 289 calls at most over 3 days; or call_budget= to bound it
        timeout=timedelta(days=3),
        retries=1,  # a retry only checks again (see docs/scheduled.md, "A known Airflow issue")
    )

    @task
    def report(statuses: Any, params=None) -> dict:  # {attendee id: responseStatus} (an XComArg when called)
        """Who accepted, declined, is unsure, or has not answered yet (the organizer left out)."""
        answers: dict[str, list[str]] = {"accepted": [], "declined": [], "tentative": [], "needsAction": []}
        for attendee, status in statuses.items():
            if attendee != params["organizer"]:
                answers.setdefault(status, []).append(attendee)
        print(
            "Retro answers: "
            + ", ".join(f"{len(ids)} {status}" for status, ids in answers.items())
            + f"; still waiting for: {', '.join(answers['needsAction']) or 'nobody'}"
        )
        return answers

    report(wait_for_acceptances.output)
