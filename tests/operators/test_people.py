"""Operators naming people by userId and mobile, in a real Airflow (dag.test()) against the emulator over real
HTTP; and the example onboarding DAG end to end, also under ``airflow dags test`` with debug logging."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import pytest
import requests

from airflow_dtcal.planning import people
from tests.airflow_runs import run_dag

ROOT = Path(__file__).resolve().parents[2]

DIRECTORY = [
    {"userId": "u-lead", "unionId": "union-lead", "mobile": "13900000000", "name": "Lead"},
    {"userId": "u-ada", "unionId": "union-ada", "mobile": "13800000001", "name": "Ada"},
    {"userId": "u-bo", "unionId": "union-bo", "mobile": "13800000002", "name": "Bo"},
    {"userId": "u-cy", "unionId": "union-cy", "mobile": "13800000003", "name": "Cy", "active": False},
    {"userId": "u-dee", "unionId": "union-dee", "name": "Dee"},
    {"userId": "u-eve", "unionId": "union-eve", "name": "Eve"},
    {"userId": "u-gone", "unionId": "union-gone", "name": "Gone"},
]
HIRES = [
    {"userId": "hr-partner-01", "unionId": "union-hr-01", "name": "Hana (HR)"},
    {"userId": "emp-2041", "unionId": "union-2041", "name": "Li Wei"},
    {"userId": "emp-2042", "unionId": "union-2042", "name": "Zhang Min"},
    # A new hire added to the directory who has not logged in to DingTalk yet (active false): invited.
    {"userId": "emp-2043", "unionId": "union-2043", "name": "Chen Jie", "active": False},
]


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def flows():
    return load_module(ROOT / "tests" / "dags" / "dtcal_people_flow.py")


@pytest.fixture(autouse=True)
def _fresh_directory_cache():
    people.clear_directory_cache()
    yield
    people.clear_directory_cache()


@pytest.fixture
def directory(dtcal_emulator):
    dtcal_emulator.seed_users(DIRECTORY)
    dtcal_emulator.remove_users(["u-gone"])  # left the organisation: DingTalk removes them from contacts
    return dtcal_emulator


def xcom(result, dag_id: str, task_id: str, key: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = list(
            session.scalars(
                XComModel.get_many(run_id=result.run_id, dag_ids=dag_id, task_ids=task_id, key=key)
            )
        )
        return [XComModel.deserialize_value(row) for row in rows]


def statuses(emulator, event_id: str) -> dict[str, str]:
    return {a["id"]: a["responseStatus"] for a in emulator.attendees(event_id)}


def test_every_operator_takes_user_ids_and_mobiles_mixed(airflow_db, directory, flows):
    result = run_dag(flows.mixed)
    assert result.state == "success", result.task_states
    event_id = result.xcom("create")
    # create: attendees by mobile (one optional), organizer by unionId; add by userId; Ada accepted by
    # mobile; Bo removed by userId; sync to Ada and Eve by userId (Dee removed); list as Ada by mobile.
    assert result.xcom("add") == ["union-dee", "union-eve"]
    assert result.xcom("respond") == {"id": "union-ada", "responseStatus": "accepted"}
    assert result.xcom("remove") == ["union-bo"]
    assert result.xcom("sync") == {"added": [], "removed": ["union-dee"], "unchanged": 2}
    listed = {a["id"]: (a["displayName"], a["responseStatus"]) for a in result.xcom("list")}
    assert listed == {
        "union-lead": ("Lead", "accepted"),
        "union-ada": ("Ada", "accepted"),
        "union-eve": ("Eve", "needsAction"),
    }
    # delete by the organizer's userId cancelled the event for everyone.
    assert directory.event(event_id)["status"] == "cancelled"
    creates = [r for r in directory.requests() if r["operation"] == "CreateEvent"]
    assert creates[0]["path"].startswith("/v1.0/calendar/users/union-lead/")
    assert creates[0]["body"]["attendees"] == [
        {"id": "union-ada", "isOptional": False},
        {"id": "union-bo", "isOptional": True},
    ]
    # The identity round trip: the mobiles as given, mapped to unionIds, pushed beside the event id.
    assert xcom(result, "dtcal_people_mixed", "create", "dingtalk_people") == [
        {"attendees": {"+86 138-0000-0001": "union-ada", "138 0000 0002": "union-bo"}}
    ]
    assert xcom(result, "dtcal_people_mixed", "add", "dingtalk_people") == [
        {"organizer_id": {"u-lead": "union-lead"}, "attendees": {"u-dee": "union-dee", "u-eve": "union-eve"}}
    ]
    assert xcom(result, "dtcal_people_mixed", "sync", "dingtalk_people") == [
        {"attendees": {"u-ada": "union-ada", "u-eve": "union-eve"}}
    ]
    mobiles = sorted(r["body"]["mobile"] for r in directory.requests() if r["operation"] == "GetUserByMobile")
    assert set(mobiles) == {"13800000001", "13800000002"}  # looked up in DingTalk's form
    calls = directory.stats()["calls"]
    assert calls["GetUserByMobile"] >= 2 and calls["GetUser"] >= 4
    counted = directory.stats()["counted"]
    assert counted.get("GetUser", 0) == counted.get("GetUserByMobile", 0) == 0  # free of the monthly quota
    assert counted["CreateEvent"] == 1


def test_an_unknown_person_or_one_who_left_fails_before_anything_is_written(airflow_db, directory, flows):
    result = run_dag(flows.unknown)
    assert result.state == "failed"
    assert result.task_states["create"] == "failed"
    assert directory.events() == []
    assert directory.stats()["calls"].get("CreateEvent", 0) == 0
    # The error names the people (read from the operator itself: where dag.test() prints a task's failure
    # differs between Airflow lines).
    import re

    from airflow_dtcal.exceptions import DingTalkNotFoundError
    from airflow_dtcal.operators.events import CreateEventOperator
    from tests.helpers import task_context

    operator = CreateEventOperator(
        task_id="create",
        id_type="userId",
        organizer_id="u-lead",
        attendees=["u-ada", "u-ghost", "u-cy", "u-gone", "u-bo"],
        summary="Onboarding",
        **flows.WHEN,
    )
    words = (
        "attendees: 2 userIds not in the organisation's directory (never members, or left): "
        "'u-ghost', 'u-gone'"
    )
    with pytest.raises(DingTalkNotFoundError, match=re.escape(words)):
        operator.execute(task_context("create"))
    assert directory.stats()["calls"].get("CreateEvent", 0) == 0


def test_unknown_people_are_skipped_and_reported_when_asked(airflow_db, directory, flows):
    result = run_dag(flows.skip)
    assert result.state == "success", result.task_states
    event_id = result.xcom("create")
    assert statuses(directory, event_id) == {
        "union-lead": "accepted",
        "union-ada": "needsAction",
        "union-cy": "needsAction",  # has not activated DingTalk yet: invited all the same
        "union-bo": "needsAction",
    }
    assert xcom(result, "dtcal_people_skip", "create", "dingtalk_unresolved") == [
        {"attendees": {"unknown": ["u-ghost", "u-gone"]}}
    ]
    assert xcom(result, "dtcal_people_skip", "create", "dingtalk_people") == [
        {
            "organizer_id": {"u-lead": "union-lead"},
            "attendees": {"u-ada": "union-ada", "u-cy": "union-cy", "u-bo": "union-bo"},
        }
    ]


def test_an_unknown_organizer_fails_even_when_skipping(airflow_db, directory, flows):
    result = run_dag(flows.ghost_host)
    assert result.task_states["create"] == "failed"
    assert directory.events() == []
    import re

    from airflow_dtcal.exceptions import DingTalkNotFoundError
    from airflow_dtcal.operators.events import CreateEventOperator
    from tests.helpers import task_context

    operator = CreateEventOperator(
        task_id="create",
        id_type="userId",
        on_unknown="skip",
        organizer_id="u-ghost",
        attendees=["u-ada"],
        summary="Onboarding",
        **flows.WHEN,
    )
    words = "organizer_id: 1 userId not in the organisation's directory (never members, or left): 'u-ghost'"
    with pytest.raises(DingTalkNotFoundError, match=re.escape(words)):
        operator.execute(task_context("create"))


def test_resolve_users_operator_returns_the_mapping(airflow_db, directory, flows):
    result = run_dag(flows.resolve)
    assert result.state == "success", result.task_states
    assert result.xcom("mapping") == {"u-ada": "union-ada", "u-cy": "union-cy", "u-bo": "union-bo"}
    assert xcom(result, "dtcal_people_resolve", "mapping", "dingtalk_unresolved") == [
        {"ids": {"unknown": ["u-ghost", "u-gone"]}}
    ]
    # unionIds back to userIds (topapi/user/getbyunionid), to join calendar results to HR tables.
    assert result.xcom("back") == {"union-cy": "u-cy", "union-ada": "u-ada"}
    assert xcom(result, "dtcal_people_resolve", "back", "dingtalk_unresolved") == [
        {"ids": {"unknown": ["union-x"]}}
    ]
    assert result.xcom("by_mobile") == {"13800000002": "u-bo", "13800000001": "u-ada"}
    assert result.xcom("as_list") == ["union-eve", "union-dee"]
    assert set(statuses(directory, result.xcom("create"))) == {"union-lead", "union-eve", "union-dee"}
    # Every person given as a unionId: no identity mapping is pushed.
    assert xcom(result, "dtcal_people_resolve", "create", "dingtalk_people") == []


# --------------------------------------------------------------------------------------------- the example


def test_example_onboarding_dag_end_to_end(airflow_db, dtcal_emulator):
    import pendulum

    dtcal_emulator.seed_users(HIRES)
    example = load_module(ROOT / "dags" / "dingtalk_onboarding_session.py")
    monday = pendulum.datetime(2026, 12, 7, 10, 10, tz="Asia/Shanghai")
    result = run_dag(example.dag, logical_date=monday)
    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}

    event = dtcal_emulator.event(result.xcom("create_onboarding_session"))
    assert event["summary"] == "Welcome to the team: onboarding session"
    assert event["start"] == {"dateTime": "2026-12-09T14:00:00+08:00", "timeZone": "Asia/Shanghai"}
    assert event["organizer"]["id"] == "union-hr-01"
    invited = {a["id"]: a["displayName"] for a in result.xcom("invited")}
    assert invited == {
        "union-hr-01": "Hana (HR)",
        "union-2041": "Li Wei",
        "union-2042": "Zhang Min",
        "union-2043": "Chen Jie",
    }
    stats = dtcal_emulator.stats()
    assert stats["applied"]["CreateEvent"] == 1
    assert stats["calls"]["GetUser"] >= 4  # the partner and three hires; the second task may use the cache
    assert stats["counted"].get("GetUser", 0) == 0  # free of the monthly quota


@pytest.mark.airflow
def test_example_onboarding_dag_logs_no_token_under_airflow_dags_test(dtcal_emulator):
    """``airflow dags test`` with debug logging: the HTTP libraries log the lookups' URLs, token blanked."""
    from tests.test_secrets import KEY, SECRET, dags_test

    dtcal_emulator.seed_users(HIRES)
    home = Path(tempfile.mkdtemp(prefix="dtcal-onboarding-"))
    output = dags_test(home, ROOT / "dags", "dingtalk_onboarding_session", dtcal_emulator)
    assert "Created DingTalk event" in output
    token = requests.post(
        f"{dtcal_emulator.base_url}/v1.0/oauth2/accessToken",
        json={"appKey": KEY, "appSecret": SECRET},
        timeout=5,
    ).json()["accessToken"]
    assert dtcal_emulator.stats()["calls"]["GetUser"] >= 4
    # urllib3 logged each lookup's URL at debug level, with the token blanked by the provider's filter.
    assert output.count("/topapi/v2/user/get?access_token=<redacted>") >= 4
    assert token not in output


def test_bad_id_type_or_on_unknown_fails_before_any_request(dtcal_emulator):
    from airflow_dtcal.exceptions import DingTalkInvalidArgumentError
    from airflow_dtcal.operators.attendees import AddAttendeesOperator
    from tests.helpers import task_context

    def run(**kwargs):
        AddAttendeesOperator(
            task_id="add", organizer_id="u-lead", event_id="e-1", attendees=["u-ada"], **kwargs
        ).execute(task_context("add"))

    with pytest.raises(DingTalkInvalidArgumentError, match="id_type: must be one of unionId, userId, mobile"):
        run(id_type="email")
    with pytest.raises(DingTalkInvalidArgumentError, match=r"id_type: names 'attendee_ids', which is not"):
        run(id_type={"attendee_ids": "userId"})
    with pytest.raises(DingTalkInvalidArgumentError, match=r"id_type\['attendees'\]: must be one of"):
        run(id_type={"attendees": "userid"})
    with pytest.raises(DingTalkInvalidArgumentError, match="on_unknown: must be 'fail' or 'skip'"):
        run(id_type="userId", on_unknown="ignore")
    assert dtcal_emulator.requests() == []  # refused before any request, the token fetch included


def test_resolve_users_operator_refuses_a_conversion_it_cannot_make(dtcal_emulator):
    from airflow_dtcal.exceptions import DingTalkInvalidArgumentError
    from airflow_dtcal.operators.people import ResolveUsersOperator
    from tests.helpers import task_context

    for id_type, to in (("unionId", "unionId"), ("userId", "userId")):
        operator = ResolveUsersOperator(task_id="r", ids=["x"], id_type=id_type, to=to)
        with pytest.raises(DingTalkInvalidArgumentError, match="to: must differ from id_type"):
            operator.execute(task_context("r"))
    operator = ResolveUsersOperator(task_id="r", ids=["+85291234567"], id_type="mobile")
    with pytest.raises(DingTalkInvalidArgumentError, match=r"ids\[0\]: must be a mainland mobile"):
        operator.execute(task_context("r"))
    assert dtcal_emulator.requests() == []


def test_union_ids_map_to_themselves_without_a_lookup():
    import logging

    from airflow_dtcal.operators.arguments import ATTENDEES, ONE, resolve_people

    def lookup(ids, id_type):
        raise AssertionError(f"looked up {ids} as {id_type}")

    declared = {"organizer_id": ONE, "attendees": ATTENDEES}
    checked = {"organizer_id": "u-lead", "attendees": [{"id": "u-ada", "isOptional": False}]}
    types = {"organizer_id": "unionId", "attendees": "unionId"}
    resolved = resolve_people(declared, checked, types, "fail", lookup, logging.getLogger(__name__))
    assert resolved.values == checked and resolved.skipped == {}
