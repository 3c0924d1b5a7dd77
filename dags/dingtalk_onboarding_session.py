"""Onboarding: this week's new hires, invited to an onboarding session by the userIds HR holds.

new_hires (@task) ──▶ create_onboarding_session ──▶ invited

* ``new_hires`` returns the org userIds of the people who joined this week. Replace it with your own
  source: an HR roster export, a DingTalk org-sync table, the "new contact" events you store. Those hold
  userIds; the Calendar API names people by unionId.
* ``create_onboarding_session`` creates the session in the HR partner's calendar with ``id_type="userId"``:
  the organizer and the hires are resolved to unionIds in ``execute()``, in bulk, before the event is
  written. That is one contacts lookup per person (fewer if this process resolved some in the last hour),
  free of the monthly API quota. A hire who has not logged in to DingTalk yet is invited like anyone else
  (DingTalk's ``active`` flag means "has activated DingTalk", not "still employed"). A userId DingTalk does
  not know (never a member, or someone who left) fails the task naming it, and nothing is created; with
  ``on_unknown="skip"`` the others are invited and the ones left out are pushed as the
  ``dingtalk_unresolved`` XCom. The userId -> unionId mapping is pushed as the ``dingtalk_people`` XCom.
* ``invited`` lists who is invited (unionIds, names and responses), again naming the organizer by userId.

The session is on Wednesday 14:00 (Asia/Shanghai) of the week the run starts; the schedule runs on Mondays
at 10:10, off the top of the hour as DingTalk advises. A manual run without a logical date uses its start
time instead. The connection needs the Contact "read member details" permission besides the Calendar ones
(the ``legacy_host`` extra points elsewhere than ``oapi.dingtalk.com`` if you must; an emulator connection
serves both hosts).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_dtcal.operators.attendees import ListAttendeesOperator
from airflow_dtcal.operators.events import CreateEventOperator

WEDNESDAY_14H = (
    "(data_interval_end or dag_run.run_after).in_timezone('Asia/Shanghai')"
    ".start_of('week').add(days=2).set(hour={hour})"
)

with DAG(
    dag_id="dingtalk_onboarding_session",
    description="Invite this week's new hires, by userId, to an onboarding session",
    schedule="10 10 * * 1",  # Mondays 10:10 in the DAG's time zone
    start_date=pendulum.datetime(2026, 1, 5, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["dingtalk", "example", "scheduled"],
    params={
        "hr_partner": Param("hr-partner-01", type="string", description="userId of the session's host"),
        "new_hires": Param(
            ["emp-2041", "emp-2042", "emp-2043"],
            type="array",
            description="userIds of this week's hires (stands in for your HR source)",
        ),
    },
) as dag:

    @task
    def new_hires(params=None) -> list[str]:
        """userIds of the people who joined this week: replace with a query of your HR data."""
        return list(params["new_hires"])

    create_onboarding_session = CreateEventOperator(
        task_id="create_onboarding_session",
        id_type="userId",  # organizer and attendees are org userIds, resolved to unionIds before the write
        organizer_id="{{ params.hr_partner }}",
        attendees=new_hires(),
        summary="Welcome to the team: onboarding session",
        description="Accounts and access, the data platform tour, who to ask for what.",
        start="{{ " + WEDNESDAY_14H.format(hour=14) + " }}",
        end="{{ " + WEDNESDAY_14H.format(hour=16) + " }}",
        timezone="Asia/Shanghai",
        location="Room 2F-Bamboo",
        reminders=[30, 1440],
        online_meeting=True,
    )

    invited = ListAttendeesOperator(
        task_id="invited",
        id_type="userId",
        user_id="{{ params.hr_partner }}",
        event_id=create_onboarding_session.output,
    )
