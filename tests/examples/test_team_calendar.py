"""The team-calendar example DAG runs end to end under dag.test() against the emulator: the calendar is
made once, shared from the roster, and a second run sends no write."""

from __future__ import annotations

import pendulum

from tests.airflow_runs import run_dag
from tests.helpers import ROOT, load_module

OWNER = "union-calendar-bot"
PEOPLE = {
    "emp-lead-1": "union-lead-1",
    "emp-101": "union-101",
    "emp-102": "union-102",
    "emp-103": "union-103",
}
WRITES = {
    "CreateSubscribedCalendar",
    "UpdateSubscribedCalendars",
    "CreateAcls",
    "DeleteAcl",
    "SubscribeCalendar",
}


def test_team_calendar_is_provisioned_shared_and_left_alone_on_a_second_run(airflow_db, dtcal_emulator, hook):
    dtcal_emulator.seed_users(
        [{"userId": user, "unionId": union, "name": user} for user, union in PEOPLE.items()]
    )
    dag = load_module(ROOT / "dags" / "dingtalk_team_calendar.py").dag
    first = run_dag(dag, logical_date=pendulum.datetime(2026, 3, 9, 7, 10, tz="Asia/Shanghai"))
    assert first.state == "success", first.task_states

    calendar_id = first.xcom("ensure_team_calendar")
    assert first.xcom("share_team_calendar") == {
        "added": ["union-lead-1", "union-101", "union-102", "union-103"],
        "changed": [],
        "removed": [],
        "unchanged": 0,
    }
    acls = {a["scope"]["userId"]: a["privilege"] for a in hook.list_acls(OWNER, calendar_id=calendar_id)}
    assert acls == {
        "union-lead-1": "writer",
        "union-101": "reader",
        "union-102": "reader",
        "union-103": "reader",
    }
    assert sorted(first.xcom("subscribe_team")) == sorted(PEOPLE.values())
    assert calendar_id in {c["id"] for c in hook.list_calendars("union-102")}
    scope = hook.get_subscribed_calendar(OWNER, calendar_id)["subscribeScope"]
    assert scope == {"unionIds": list(PEOPLE.values())}

    seen = len(dtcal_emulator.requests())
    second = run_dag(dag, logical_date=pendulum.datetime(2026, 3, 10, 7, 10, tz="Asia/Shanghai"))
    assert second.state == "success", second.task_states
    assert second.xcom("ensure_team_calendar") == calendar_id
    assert second.xcom("share_team_calendar")["unchanged"] == 4
    again = [r["operation"] for r in dtcal_emulator.requests()[seen:]]
    assert not (WRITES - {"SubscribeCalendar"}) & set(again), again  # subscribing again changes nothing
    assert len([c for c in hook.list_calendars(OWNER) if c["id"] != "primary"]) == 1
