"""A team calendar provisioned from an HR roster: created once, shared with the team at ``reader`` and the
leads at ``writer``, and everyone on the roster subscribed; people who leave the roster lose access.

team_roster (@task) ──┬─▶ sharing_table (@task) ─┐
team_leads (@task) ───┘                          │
ensure_team_calendar ────────────────────────────┴─▶ share_team_calendar
          └──────────────────────────────────────────▶ subscribe_team

* ``team_roster`` and ``team_leads`` return the team's userIds (the org's own ids, as HR systems hold
  them). Replace them with your roster source: an HR export, a directory query, a table.
* ``ensure_team_calendar`` creates the subscribed calendar the first time (owned by a service account) and
  finds it again on every later run by its key, so the DAG never makes a second one; its name, description
  and who may subscribe (the roster) are kept in line.
* ``share_team_calendar`` makes the calendar's sharing equal the table (leads ``writer``, everyone else
  ``reader``): it lists the ACLs first and sends only the difference, so a run with an unchanged roster
  sends no write. ``revoke_unlisted=True`` makes the table the calendar's whole sharing: someone who left the
  roster loses access (only this DAG shares this calendar).
* ``subscribe_team`` subscribes everyone on the roster (subscribing again changes nothing).

People are given as userIds (``id_type``) and resolved to unionIds in bulk before anything is written;
someone the directory does not hold fails the task, naming them. Runs at 07:10, off the top of the hour.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_dtcal.operators.calendars import (
    EnsureSubscribedCalendarOperator,
    SubscribeCalendarOperator,
    SyncCalendarAclOperator,
)

with DAG(
    dag_id="dingtalk_team_calendar",
    description="Provision the data team's calendar from the roster and share it",
    schedule="10 7 * * *",
    start_date=pendulum.datetime(2026, 1, 5, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["dingtalk", "example", "scheduled"],
    params={
        "owner": Param("union-calendar-bot", type="string", description="unionId of the calendar's owner"),
        "team": Param(
            ["emp-lead-1", "emp-101", "emp-102", "emp-103"], type="array", description="the roster's userIds"
        ),
        "leads": Param(["emp-lead-1"], type="array", description="userIds who may edit the calendar"),
    },
) as dag:

    @task
    def team_roster(params=None) -> list[str]:
        """Everyone on the team, by userId (replace with your HR source)."""
        return list(dict.fromkeys(params["team"]))

    @task
    def team_leads(params=None) -> list[str]:
        """The team's leads, by userId."""
        return list(dict.fromkeys(params["leads"]))

    @task
    def sharing_table(team: Any, leads: Any) -> dict[str, str]:  # lists of userIds (XComArgs when called)
        """Who sees the calendar, and how: leads write, the rest of the team reads."""
        return {
            person: "writer" if person in leads else "reader" for person in dict.fromkeys([*team, *leads])
        }

    team = team_roster()
    leads = team_leads()

    ensure_team_calendar = EnsureSubscribedCalendarOperator(
        task_id="ensure_team_calendar",
        owner_id="{{ params.owner }}",
        key="data-team-calendar",
        name="Data team",
        description="On-call rota, releases and team events.",
        members=team,
        id_type={"members": "userId"},
    )

    SyncCalendarAclOperator(
        task_id="share_team_calendar",
        owner_id="{{ params.owner }}",
        calendar_id=ensure_team_calendar.output,
        sharing=sharing_table(team, leads),
        revoke_unlisted=True,
        id_type={"sharing": "userId"},
    )

    SubscribeCalendarOperator(
        task_id="subscribe_team",
        calendar_id=ensure_team_calendar.output,
        subscribers=team,
        id_type="userId",
    )
