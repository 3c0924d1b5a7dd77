"""Monthly planning: one DingTalk event per team, created by dynamic task mapping under an Airflow pool.

team_invitations (@task) ─▶ create_team_event[0..n] (mapped, pool "dingtalk_calendar")

* ``team_invitations`` turns the ``teams`` param (team name -> member unionIds) into one dict of
  CreateEventOperator arguments per team. Feed it from your own source instead: a table of teams, an HR
  export.
* ``create_team_event`` is mapped over those dicts with ``expand_kwargs``; each mapped task creates one
  event and returns its id (XCom per map index). Each has its own idempotency key (the map index is part of
  it), so a retried task never creates a second event for the same team (DingTalk keeps keys for a day).

**Respecting DingTalk's rate limit across workers.** DingTalk allows an app 20 calls per second per API.
The hook paces its own calls (``rate_limit`` in the connection extras, default 20/s), but only within one
process: a hundred mapped tasks on ten workers would each pace alone. An Airflow *pool* is what bounds the
whole deployment: every mapped task takes a slot of ``dingtalk_calendar``, so at most that many run at
once, wherever they run. The scheduler does not start tasks in a pool that does not exist, so create it
once per deployment (four slots keep several workers well under 20 calls/s)::

    airflow pools set dingtalk_calendar 4 "DingTalk Calendar API: 20 calls/s per app"

Use the same pool for every DingTalk task of the deployment (``pool="dingtalk_calendar"``). Throttling
that still happens is retried by the hook after DingTalk's one-second window.

The schedule runs on the 1st of each month at 10:10 (off the top of the hour, as DingTalk advises); the
events are on the 3rd at 14:00 Asia/Shanghai, two days after the run's **logical date** (on Airflow 3.3 a
manual run's data interval is its trigger time, not the logical date you gave; a run triggered without a
logical date uses the time it was triggered for).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_dtcal.operators.events import CreateEventOperator

POOL = "dingtalk_calendar"
# Two days after the run's logical date (or, without one, the time it was triggered for), in Shanghai.
EVENT_DAY = "(logical_date or dag_run.run_after).in_timezone('Asia/Shanghai').add(days=2)"

with DAG(
    dag_id="dingtalk_team_events",
    description="Create one monthly planning event per team (mapped tasks in the dingtalk_calendar pool)",
    schedule="10 10 1 * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["dingtalk", "example", "scheduled"],
    params={
        "organizer": Param("union-organizer-001", type="string", description="unionId of the organizer"),
        "teams": Param(
            {
                "ingestion": ["union-ana-201", "union-bo-202"],
                "modelling": ["union-chen-301", "union-dee-302", "union-eli-303"],
                "reporting": ["union-fay-401"],
            },
            type="object",
            description="team name -> member unionIds",
        ),
    },
) as dag:

    @task
    def team_invitations(params=None) -> list[dict]:
        """One set of CreateEventOperator arguments per team, in a stable order."""
        return [
            {"summary": f"{team.capitalize()} monthly planning", "attendees": members}
            for team, members in sorted(params["teams"].items())
        ]

    create_team_event = CreateEventOperator.partial(
        task_id="create_team_event",
        pool=POOL,
        organizer_id="{{ params.organizer }}",
        description="Priorities, capacity and risks for the coming month.",
        start="{{ " + EVENT_DAY + ".set(hour=14, minute=0, second=0, microsecond=0) }}",
        end="{{ " + EVENT_DAY + ".set(hour=15, minute=0, second=0, microsecond=0) }}",
        timezone="Asia/Shanghai",
        reminders=[30],
    ).expand_kwargs(team_invitations())
