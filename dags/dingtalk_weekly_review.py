"""Weekly data-platform review: one DingTalk event per week, its attendees kept in sync with the on-call rota.

on_call_rota (@task)  ─┐
create_review_event ───┴─▶ sync_attendees

* ``on_call_rota`` computes who is on call this week (team leads plus a rotating pair of engineers). Replace
  it with your own source: a rota table, an HR export, a PagerDuty schedule.
* ``create_review_event`` makes sure the week has its review, on the Monday of the run's week, 16:00
  Asia/Shanghai. The event carries a key naming the ISO week (``dedup_key``): before creating, the operator
  looks for the organizer's event with that key around that Monday and returns it if there is one. So a
  manual run, a clear or a backfill of the same week, the same day or days later, leaves exactly one event
  (DingTalk's own idempotency key lasts a day only, and differs between runs).
* ``sync_attendees`` makes the event's attendees equal the rota: it lists who is invited, then adds and
  removes only the difference (500 per call). Re-running it when nothing changed sends no write at all,
  and the organizer is never removed.

The week is the run's **logical date** (on Airflow 3.3 a manual run's data interval is its trigger time, not
the logical date you gave), or, for a run triggered without a logical date, the time it was triggered for
(``run_after``). The schedule runs at 09:10, not on the hour: DingTalk asks clients to avoid the top of the
hour. The ids are DingTalk unionIds; change the params to use your own.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_dtcal.operators.attendees import SyncAttendeesOperator
from airflow_dtcal.operators.events import EnsureEventOperator

# The run's logical date in the team's time zone; a run without one uses the time it was triggered for.
RUN_DAY = "(logical_date or dag_run.run_after).in_timezone('Asia/Shanghai')"
REVIEW_DAY = RUN_DAY + ".start_of('week')"  # the Monday of the run's week

with DAG(
    dag_id="dingtalk_weekly_review",
    description="Create this week's data-platform review and invite whoever is on call",
    schedule="10 9 * * 1",  # Mondays 09:10 in the DAG's time zone
    start_date=pendulum.datetime(2026, 1, 5, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["dingtalk", "example", "scheduled"],
    params={
        "organizer": Param("union-organizer-001", type="string", description="unionId of the organizer"),
        "leads": Param(["union-lead-010"], type="array", description="invited every week"),
        "engineers": Param(
            ["union-eng-101", "union-eng-102", "union-eng-103", "union-eng-104", "union-eng-105"],
            type="array",
            description="the on-call pool, in rota order",
        ),
        "on_call_per_week": Param(2, type="integer", minimum=1, description="engineers on call per week"),
    },
) as dag:

    @task
    def on_call_rota(params=None, logical_date=None, dag_run=None) -> list[str]:
        """This week's attendees: the leads, then ``on_call_per_week`` engineers chosen by ISO week number."""
        engineers = list(params["engineers"])
        size = min(params["on_call_per_week"], len(engineers))
        moment = pendulum.instance(logical_date or dag_run.run_after)  # a manual run may have no logical date
        week = moment.in_timezone("Asia/Shanghai").isocalendar()[1]
        first = (week * size) % len(engineers)
        on_call = [engineers[(first + i) % len(engineers)] for i in range(size)]
        return list(dict.fromkeys([*params["leads"], *on_call]))

    rota = on_call_rota()

    create_review_event = EnsureEventOperator(
        task_id="create_review_event",
        organizer_id="{{ params.organizer }}",
        dedup_key="data-platform-weekly-review {{ " + REVIEW_DAY + ".strftime('%G-W%V') }}",  # ISO week
        summary="Data platform weekly review ({{ " + REVIEW_DAY + ".to_date_string() }})",
        description="SLA misses, incidents, cost; on-call handover.",
        start="{{ " + REVIEW_DAY + ".set(hour=16) }}",
        end="{{ " + REVIEW_DAY + ".set(hour=17) }}",
        timezone="Asia/Shanghai",
        location="Room 3F-Lotus",
        reminders=[15],
        online_meeting=True,
    )

    sync_attendees = SyncAttendeesOperator(
        task_id="sync_attendees",
        organizer_id="{{ params.organizer }}",
        event_id=create_review_event.output,
        attendees=rota,  # the XComArg resolves to the list the @task returned
    )
