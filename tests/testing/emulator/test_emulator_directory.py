"""The user directory and the legacy contacts endpoints (oapi.dingtalk.com's /topapi/v2/user/get and
/topapi/v2/user/getbymobile), over real HTTP."""

from __future__ import annotations

import pytest
import requests

from airflow_dtcal.testing import DingTalkEmulator, EmulatorAdmin

from .conftest import Api, event_body

USERS = [
    {"userId": "u-alice", "unionId": "union-alice", "mobile": "13800000001", "name": "Alice", "active": True},
    {"userId": "u-bob", "unionId": "union-bob", "mobile": "13800000002", "name": "Bob"},
    {
        "userId": "u-carol",
        "unionId": "union-carol",
        "mobile": "13800000003",
        "name": "Carol",
        "active": False,
    },
]


def legacy(api: Api, name: str, body: object, token: str | None = "default", **kw: object) -> dict:
    params = {"access_token": api.token if token == "default" else token} if token is not None else {}
    resp = api.session.post(
        f"{api.base_url}/topapi/{'user' if name == 'getbyunionid' else 'v2/user'}/{name}",
        params=params,
        json=body,
        timeout=5,
        **kw,
    )
    assert resp.status_code == 200, resp.text  # the legacy API answers errors with HTTP 200 too
    assert resp.headers["Content-Type"].startswith("application/json")
    return resp.json()


def assert_errcode(answer: dict, errcode: int) -> None:
    assert answer["errcode"] == errcode, answer
    assert isinstance(answer["errmsg"], str) and answer["errmsg"]
    assert "result" not in answer and answer["request_id"]


def test_get_user_returns_the_unionid(emu: DingTalkEmulator, api: Api) -> None:
    assert emu.seed_users(USERS) == ["u-alice", "u-bob", "u-carol"]
    answer = legacy(api, "get", {"userid": "u-alice"})
    assert answer["errcode"] == 0 and answer["errmsg"] == "ok" and answer["request_id"]
    assert answer["result"] == {
        "userid": "u-alice",
        "unionid": "union-alice",
        "name": "Alice",
        "mobile": "13800000001",
        "active": True,
    }
    assert legacy(api, "get", {"userid": "u-carol"})["result"]["active"] is False  # inactive users are found
    assert_errcode(legacy(api, "get", {"userid": "u-nobody"}), 60121)


def test_get_by_mobile_finds_members_activated_or_not(emu: DingTalkEmulator, api: Api) -> None:
    emu.seed_users(USERS)
    answer = legacy(api, "getbymobile", {"mobile": "13800000002"})
    assert answer["errcode"] == 0 and answer["result"] == {"userid": "u-bob"}
    # Carol has not activated DingTalk yet: still a member, found.
    assert legacy(api, "getbymobile", {"mobile": "13800000003"})["result"] == {"userid": "u-carol"}
    assert_errcode(legacy(api, "getbymobile", {"mobile": "+86-13800000002"}), 60121)  # exact match only


def test_get_by_union_id_answers_the_user_id(emu: DingTalkEmulator, api: Api) -> None:
    emu.seed_users(USERS)
    answer = legacy(api, "getbyunionid", {"unionid": "union-carol"})
    assert answer["errcode"] == 0 and answer["result"] == {"contact_type": 0, "userid": "u-carol"}
    assert_errcode(legacy(api, "getbyunionid", {"unionid": "union-nobody"}), 60121)
    assert_errcode(legacy(api, "getbyunionid", {}), 40035)


def test_a_person_who_left_is_found_by_no_lookup(emu: DingTalkEmulator, api: Api) -> None:
    emu.seed_users(USERS)
    assert emu.remove_users(["u-bob"]) == ["u-bob"]
    assert_errcode(legacy(api, "get", {"userid": "u-bob"}), 60121)
    assert_errcode(legacy(api, "getbymobile", {"mobile": "13800000002"}), 60121)
    assert_errcode(legacy(api, "getbyunionid", {"unionid": "union-bob"}), 60121)
    assert [u["userId"] for u in emu.users()] == ["u-alice", "u-carol"]


def test_tokens_come_from_the_query_and_are_the_emulators_own(emu: DingTalkEmulator, api: Api) -> None:
    emu.seed_users(USERS)
    assert_errcode(legacy(api, "get", {"userid": "u-alice"}, token=None), 40014)
    assert_errcode(legacy(api, "get", {"userid": "u-alice"}, token="forged"), 40014)
    header_only = legacy(
        api, "get", {"userid": "u-alice"}, token=None, headers={"x-acs-dingtalk-access-token": api.token}
    )
    assert_errcode(header_only, 40014)
    emu.revoke_tokens()
    assert_errcode(legacy(api, "get", {"userid": "u-alice"}), 40014)
    api.login()
    assert legacy(api, "get", {"userid": "u-alice"})["errcode"] == 0


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("get", {}),
        ("get", {"userid": 7}),
        ("get", ["u-alice"]),
        ("getbymobile", {"mobile": ""}),
        ("get", None),
    ],
)
def test_bad_parameters_get_errcode_40035(emu: DingTalkEmulator, api: Api, name: str, body: object) -> None:
    answer = legacy(api, name, body)
    assert_errcode(answer, 40035)
    assert emu.stats()["errors"]["GetUser" if name == "get" else "GetUserByMobile"] == 1


def test_bad_json_gets_errcode_40035(emu: DingTalkEmulator, api: Api) -> None:
    resp = api.session.post(
        f"{api.base_url}/topapi/v2/user/get",
        params={"access_token": api.token},
        data=b'{"userid": ',
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert resp.status_code == 200 and resp.json()["errcode"] == 40035


@pytest.mark.dtcal_emulator(qps_limit=2)
def test_legacy_calls_have_their_own_qps_windows(emu: DingTalkEmulator, api: Api) -> None:
    emu.seed_users(USERS)
    codes = [legacy(api, "get", {"userid": "u-alice"})["errcode"] for _ in range(3)]
    assert codes == [0, 0, 90018]
    assert (
        legacy(api, "getbymobile", {"mobile": "13800000001"})["errcode"] == 0
    )  # another API, another window
    assert api.list_events("org").status_code == 200
    assert emu.stats()["throttled"]["GetUser"] == 1


@pytest.mark.dtcal_emulator(monthly_quota=1)
def test_legacy_calls_are_not_counted_in_the_monthly_quota(emu: DingTalkEmulator, api: Api) -> None:
    emu.seed_users(USERS)
    assert api.list_events("org").status_code == 200
    assert api.list_events("org").status_code == 403  # the quota is used up
    for _ in range(3):
        assert legacy(api, "get", {"userid": "u-bob"})["errcode"] == 0
    stats = emu.stats()
    assert stats["counted"]["GetUser"] == 0 and stats["counted_total"] == 1
    assert stats["calls"]["GetUser"] == 3


def test_the_log_redacts_the_query_token(emu: DingTalkEmulator, api: Api) -> None:
    emu.seed_users(USERS)
    legacy(api, "get", {"userid": "u-alice"})
    record = emu.requests()[-1]
    assert record["operation"] == "GetUser" and record["query"] == {"access_token": "[redacted]"}
    assert record["status"] == 200 and api.token not in str(emu.requests())


def test_calendar_display_names_come_from_the_directory(emu: DingTalkEmulator, api: Api) -> None:
    before = api.create("union-alice", event_body(attendees=[{"id": "union-bob"}])).json()
    assert before["organizer"]["displayName"] == "User union-alice"  # no directory: the default names
    emu.seed_users(USERS)
    created = api.create(
        "union-alice", event_body(attendees=[{"id": "union-bob"}, {"id": "stranger"}])
    ).json()
    assert created["organizer"]["displayName"] == "Alice"
    assert [a["displayName"] for a in created["attendees"]] == ["Alice", "Bob", "User stranger"]
    # names are looked up when the event is read, so users seeded after the event count too
    got = api.get("union-bob", before["id"]).json()
    assert got["organizer"]["displayName"] == "Alice"
    listed = api.list_attendees("union-alice", before["id"]).json()["attendees"]
    assert [a["displayName"] for a in listed] == ["Alice", "Bob"]
    assert emu.event(created["id"])["attendees"][1]["displayName"] == "Bob"


def test_seed_users_checks_its_input(emu: DingTalkEmulator) -> None:
    emu.seed_users(USERS[:1])
    cases = [
        ([{"unionId": "x"}], "users[0].userId"),
        ([{"userId": "x", "unionId": ""}], "users[0].unionId"),
        ([{"userId": "x", "unionId": "y", "active": "yes"}], "users[0].active"),
        ([{"userId": "x", "unionId": "y", "email": "x@y"}], "users[0].email"),
        ([{"userId": "x", "unionId": "y", "mobile": 138}], "users[0].mobile"),
        ([{"userId": "u-alice", "unionId": "y"}], "users[0].userId"),
        ([{"userId": "x", "unionId": "union-alice"}], "users[0].unionId"),
        (
            [{"userId": "x", "unionId": "y"}, {"userId": "z", "unionId": "w", "mobile": "13800000001"}],
            "users[1].mobile",
        ),
        ("u-alice", "list"),
    ]
    for users, needle in cases:
        with pytest.raises(ValueError, match=needle.replace("[", r"\[").replace("]", r"\]")):
            emu.seed_users(users)
    assert [u["userId"] for u in emu.users()] == ["u-alice"]  # all or nothing
    resp = requests.post(f"{emu.base_url}/_emulator/users", json={"users": [{"userId": "x"}]}, timeout=5)
    assert resp.status_code == 400 and "users[0].unionId" in resp.json()["message"]


def test_users_through_the_admin_api_and_reset(emu: DingTalkEmulator) -> None:
    admin = EmulatorAdmin(emu.base_url)
    assert admin.users() == []
    assert admin.seed_users(USERS[1:]) == ["u-bob", "u-carol"]
    assert admin.users() == [
        {"userId": "u-bob", "unionId": "union-bob", "mobile": "13800000002", "name": "Bob", "active": True},
        {
            "userId": "u-carol",
            "unionId": "union-carol",
            "mobile": "13800000003",
            "name": "Carol",
            "active": False,
        },
    ]
    admin.reset()
    assert emu.users() == []
