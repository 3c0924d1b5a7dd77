"""Resolving userIds and mobiles to unionIds: the hook against the emulator's legacy endpoints over real HTTP,
the legacy answer shape, the process cache, the legacy host setting, and the token kept out of every URL
that is logged or raised."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import traceback

import pytest
import requests

from airflow_dtcal.core import answers, calls
from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.pacing import TOKENS
from airflow_dtcal.core.settings import resolve_settings
from airflow_dtcal.exceptions import (
    DingTalkAnswerError,
    DingTalkAuthError,
    DingTalkConfigurationError,
    DingTalkInvalidArgumentError,
    DingTalkInvalidParameterError,
    DingTalkNotFoundError,
    DingTalkPermissionError,
    DingTalkRateLimitError,
    DingTalkServerError,
    DingTalkTransportError,
)
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.planning import people
from airflow_dtcal.planning.events import build_event
from airflow_dtcal.planning.people import DirectoryCache, Resolver
from airflow_dtcal.testing.emulator import DingTalkEmulator
from airflow_dtcal.testing.pytest_plugin import APP_KEY, APP_SECRET

STAFF = [
    {"userId": "u-ada", "unionId": "union-ada", "mobile": "13800000001", "name": "Ada"},
    {"userId": "u-bo", "unionId": "union-bo", "mobile": "13800000002", "name": "Bo"},
    {"userId": "u-cy", "unionId": "union-cy", "mobile": "13800000003", "name": "Cy", "active": False},
]


@pytest.fixture(autouse=True)
def _fresh_directory_cache():
    people.clear_directory_cache()
    yield
    people.clear_directory_cache()


@pytest.fixture
def staff(dtcal_emulator):
    dtcal_emulator.seed_users(STAFF)
    return dtcal_emulator


def sent(emulator, operation: str) -> int:
    return emulator.stats()["calls"].get(operation, 0)


# --------------------------------------------------------------------------------------------- in bulk


def test_many_user_ids_resolve_in_bulk_and_are_not_counted(dtcal_emulator):
    dtcal_emulator.seed_users(
        [{"userId": f"hr-{i:03d}", "unionId": f"union-{i:03d}", "name": f"Hire {i}"} for i in range(60)]
    )
    hook = DingTalkCalendarHook()
    wanted = [f"hr-{i:03d}" for i in range(60)]
    mapping = hook.resolve_user_ids([*wanted, "hr-007"])  # a duplicate is looked up once
    assert mapping == {f"hr-{i:03d}": f"union-{i:03d}" for i in range(60)}
    assert list(mapping) == wanted  # in the order asked
    assert sent(dtcal_emulator, "GetUser") == 60
    assert hook.calls_spent == {"GetAccessToken": 1, "GetUser": 60}
    assert hook.quota_calls_spent == 0  # contacts lookups are free of the monthly quota
    # The legacy calls carried the token as access_token (the emulator logs it redacted), no token header.
    lookups = [r for r in dtcal_emulator.requests() if r["operation"] == "GetUser"]
    assert all(r["query"].get("access_token") == "[redacted]" for r in lookups)
    assert all("x-acs-dingtalk-access-token" not in r["headers"] for r in lookups)
    assert sorted(r["body"]["userid"] for r in lookups) == wanted


@pytest.mark.dtcal_emulator(qps_limit=5)
def test_bulk_lookups_are_paced_below_the_limit(dtcal_emulator):
    dtcal_emulator.seed_users([{"userId": f"p-{i}", "unionId": f"union-p-{i}"} for i in range(12)])
    hook = DingTalkCalendarHook(rate_limit=4, pacing="process")
    assert len(hook.resolve_user_ids([f"p-{i}" for i in range(12)])) == 12
    assert dtcal_emulator.stats()["throttled"].get("GetUser", 0) == 0
    assert sent(dtcal_emulator, "GetUser") == 12


@pytest.mark.dtcal_emulator(qps_limit=3)
def test_throttled_lookups_errcode_90018_are_retried(dtcal_emulator):
    dtcal_emulator.seed_users([{"userId": f"t-{i}", "unionId": f"union-t-{i}"} for i in range(10)])
    # The hook allows itself more than the emulator does: DingTalk's 90018 answers must be retried.
    hook = DingTalkCalendarHook(rate_limit=50, pacing="process", max_attempts=10, backoff_initial=0.2)
    mapping = hook.resolve_user_ids([f"t-{i}" for i in range(10)])
    assert mapping == {f"t-{i}": f"union-t-{i}" for i in range(10)}
    assert dtcal_emulator.stats()["throttled"]["GetUser"] > 0
    assert hook.calls_spent["GetUser"] == 10 + dtcal_emulator.stats()["throttled"]["GetUser"]


def test_mobiles_resolve_to_user_ids_and_to_union_ids(staff):
    hook = DingTalkCalendarHook()
    assert hook.resolve_mobiles(["13800000002", "13800000001"]) == {
        "13800000002": "u-bo",
        "13800000001": "u-ada",
    }
    assert hook.calls_spent.get("GetUser", 0) == 0  # mobile -> userId needs one lookup each, no more
    resolution = hook.resolve_people(["13800000001"], "mobile")
    assert resolution.union_ids == {"13800000001": "union-ada"}
    assert resolution.user_ids == {"13800000001": "u-ada"}
    assert hook.get_user_id_by_mobile("13800000002") == "u-bo"
    user = hook.get_user("u-bo")
    assert user["unionid"] == "union-bo" and user["name"] == "Bo" and user["active"] is True


def test_union_ids_need_no_lookup(staff):
    hook = DingTalkCalendarHook()
    resolution = hook.resolve_people(["union-x", "union-y"], "unionId")
    assert resolution.union_ids == {"union-x": "union-x", "union-y": "union-y"}
    assert hook.calls_spent == {}


def test_async_resolution(staff):
    async def main():
        hook = DingTalkCalendarHook()
        try:
            by_user = await hook.aresolve_user_ids(["u-ada", "u-bo"])
            by_mobile = await hook.aresolve_mobiles(["13800000002"])
            both = await hook.aresolve_people(["13800000001", "13800000009"], "mobile", on_unknown="skip")
            user = await hook.aget_user("u-ada")
            user_id = await hook.aget_user_id_by_mobile("13800000001")
            with pytest.raises(DingTalkNotFoundError, match="u-ghost"):
                await hook.aresolve_user_ids(["u-ada", "u-ghost"])
            back = await hook.aresolve_union_ids_to_user_ids(["union-bo", "union-cy"])
            one_back = await hook.aget_user_id_by_union_id("union-ada")
            assert (back, one_back) == ({"union-bo": "u-bo", "union-cy": "u-cy"}, "u-ada")
            return by_user, by_mobile, both, user, user_id
        finally:
            await hook.aclose()

    by_user, by_mobile, both, user, user_id = asyncio.run(main())
    assert by_user == {"u-ada": "union-ada", "u-bo": "union-bo"}
    assert by_mobile == {"13800000002": "u-bo"}
    assert both.union_ids == {"13800000001": "union-ada"} and both.unknown == ["13800000009"]
    assert user["unionid"] == "union-ada" and user_id == "u-ada"


# --------------------------------------------------------------------------------------------- cache


def test_resolved_ids_are_cached_per_process_and_app(staff):
    first = DingTalkCalendarHook()
    first.resolve_user_ids(["u-ada", "u-bo"])
    assert sent(staff, "GetUser") == 2
    second = DingTalkCalendarHook()  # another task of the same worker process
    resolution = second.resolve_people(["u-bo", "u-ada"], "userId")
    assert resolution.union_ids == {"u-bo": "union-bo", "u-ada": "union-ada"}
    assert resolution.cached == 2 and resolution.lookups == 0
    assert sent(staff, "GetUser") == 2
    # mobile -> userId is cached too; its userId -> unionId step reuses the userId entry.
    second.resolve_people(["13800000001"], "mobile")
    second.resolve_people(["13800000001"], "mobile")
    assert sent(staff, "GetUserByMobile") == 1 and sent(staff, "GetUser") == 2


def test_unknown_ids_are_not_cached_a_new_hire_is_found_later(staff):
    hook = DingTalkCalendarHook()
    assert hook.resolve_user_ids(["u-new"], on_unknown="skip") == {}
    staff.seed_users([{"userId": "u-new", "unionId": "union-new"}])
    assert hook.resolve_user_ids(["u-new"]) == {"u-new": "union-new"}
    assert sent(staff, "GetUser") == 2


def test_cache_is_bounded_least_recently_used_out_and_expires():
    cache = DirectoryCache(size=2, ttl=3600)
    cache.put(("app", "user", "a"), "A")
    cache.put(("app", "user", "b"), "B")
    assert cache.get(("app", "user", "a")) == "A"  # "a" is now the most recently used
    cache.put(("app", "user", "c"), "C")
    assert len(cache) == 2
    assert cache.get(("app", "user", "b")) is None
    assert cache.get(("app", "user", "a")) == "A" and cache.get(("app", "user", "c")) == "C"
    assert cache.get(("other-app", "user", "a")) is None  # per app
    expired = DirectoryCache(size=10, ttl=0.0)
    expired.put(("app", "user", "a"), "A")
    assert expired.get(("app", "user", "a")) is None and len(expired) == 0


def test_resolver_asks_only_for_what_the_cache_lacks():
    cache = DirectoryCache()
    cache.put(("app", "user", "u-1"), "union-1")
    resolver = Resolver(["u-1", "u-2", " u-2 "], "userId", "app", cache=cache)
    [step] = list(resolver.steps())[:1]
    assert [(value, call.operation, call.body) for value, call in step] == [
        ("u-2", "GetUser", {"userid": "u-2"})
    ]
    resolver.accept(step, [{"userid": "u-2", "unionid": "union-2", "active": True}])
    result = resolver.result()
    assert result.union_ids == {"u-1": "union-1", "u-2": "union-2"}
    assert (result.cached, result.lookups) == (1, 1)


# --------------------------------------------------------------------------------------------- unknown


def test_unknown_people_fail_naming_every_id(staff):
    hook = DingTalkCalendarHook()
    with pytest.raises(DingTalkNotFoundError) as caught:
        hook.resolve_user_ids(["u-ada", "u-ghost", "u-cy", "u-nobody"])
    message = str(caught.value)
    assert "2 userIds not in the organisation's directory (never members, or left)" in message
    assert "'u-ghost', 'u-nobody'" in message and "u-cy" not in message
    assert "on_unknown='skip'" in message


def test_unknown_people_are_skipped_and_reported_when_asked(staff, capsys):
    hook = DingTalkCalendarHook()
    resolution = hook.resolve_people(["u-ada", "u-ghost", "u-cy"], "userId", on_unknown="skip")
    assert resolution.union_ids == {"u-ada": "union-ada", "u-cy": "union-cy"}
    assert resolution.unknown == ["u-ghost"]
    [skipped] = [line for line in capsys.readouterr().out.splitlines() if "not in the" in line]
    assert "1 userId not in the organisation's directory (never members, or left): 'u-ghost'" in skipped


def test_a_member_who_has_not_activated_dingtalk_resolves_and_is_invitable(staff, capsys):
    """``active`` false is "has not activated DingTalk" (a new hire not yet logged in), not "departed"."""
    hook = DingTalkCalendarHook()
    resolution = hook.resolve_people(["u-cy", "u-ada"], "userId")
    assert resolution.union_ids == {"u-cy": "union-cy", "u-ada": "union-ada"}
    assert resolution.not_activated == ["u-cy"] and resolution.unknown == []
    assert hook.resolve_people(["13800000003"], "mobile").union_ids == {"13800000003": "union-cy"}
    assert "have not activated DingTalk yet" in capsys.readouterr().out
    body = build_event(
        summary="Welcome",
        start="2030-01-06T10:00:00+08:00",
        end="2030-01-06T11:00:00+08:00",
        timezone="Asia/Shanghai",
        attendees=[resolution.union_ids["u-cy"]],
    )
    event = hook.create_event("union-ada", body)
    assert "union-cy" in {a["id"] for a in event["attendees"]}


def test_a_person_who_left_is_unknown_everywhere(staff):
    """DingTalk removes people who leave from the directory: every lookup answers 60121."""
    hook = DingTalkCalendarHook()
    assert staff.remove_users(["u-bo", "u-none"]) == ["u-bo"]
    resolution = hook.resolve_people(["u-bo"], "userId", on_unknown="skip")
    assert resolution.unknown == ["u-bo"] and resolution.union_ids == {}
    assert hook.resolve_people(["13800000002"], "mobile", on_unknown="skip").unknown == ["13800000002"]
    back = hook.resolve_people(["union-bo"], "unionId", on_unknown="skip", target="userId")
    assert back.unknown == ["union-bo"]
    with pytest.raises(DingTalkNotFoundError):
        hook.get_user_id_by_union_id("union-bo")


def test_mobiles_are_normalised_before_lookup_and_reported_as_given(staff):
    hook = DingTalkCalendarHook()
    given = ["+86 138-0000-0001", "(0086) 138 0000 0002", "138.0000.0003", "13800000001"]
    resolution = hook.resolve_people(given, "mobile")
    assert resolution.union_ids == {
        "+86 138-0000-0001": "union-ada",
        "(0086) 138 0000 0002": "union-bo",
        "138.0000.0003": "union-cy",
        "13800000001": "union-ada",
    }
    looked_up = [r["body"]["mobile"] for r in staff.requests() if r["operation"] == "GetUserByMobile"]
    assert sorted(looked_up) == ["13800000001", "13800000002", "13800000003"]  # once each, DingTalk's form
    assert hook.get_user_id_by_mobile("+86 13800000002") == "u-bo"


def test_international_mobiles_take_the_plus_cc_dash_form(dtcal_emulator):
    dtcal_emulator.seed_users([{"userId": "u-hk", "unionId": "union-hk", "mobile": "+852-91234567"}])
    hook = DingTalkCalendarHook()
    assert hook.resolve_mobiles(["+852 9123 4567", "00852-9123-4567"]) == {
        "+852 9123 4567": "u-hk",
        "00852-9123-4567": "u-hk",
    }
    with pytest.raises(DingTalkInvalidArgumentError, match=r"ids\[0\]: must be a mainland mobile") as caught:
        hook.resolve_mobiles(["+85291234567"])  # where the country code ends cannot be told
    assert "91234567" not in str(caught.value)  # masked
    assert dtcal_emulator.stats()["calls"].get("GetUserByMobile", 0) == 1


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("+86 139-7619-3331", "13976193331"),
        ("139-7619-3331", "13976193331"),
        ("(+86) 139 7619 3331", "13976193331"),
        ("0086 13976193331", "13976193331"),
        ("86-13976193331", "13976193331"),
        ("+1 (415) 555-0100", "+1-4155550100"),
        ("+44-7911 123456", "+44-7911123456"),
        ("0044 7911 123456", "+44-7911123456"),
        ("12345678", "12345678"),
    ],
)
def test_the_mobile_rule(given, expected):
    assert people.normalise_mobile(given) == expected


@pytest.mark.parametrize("given", ["+8613", "abc", "+44", "139-7619-333x", "+4479111234567"])
def test_the_mobile_rule_refuses_what_it_cannot_read(given):
    with pytest.raises(InvalidArgumentError, match="mobile: must be a mainland mobile"):
        people.normalise_mobile(given)


def test_union_ids_resolve_back_to_user_ids(staff):
    hook = DingTalkCalendarHook()
    assert hook.resolve_union_ids_to_user_ids(["union-cy", "union-ada"]) == {
        "union-cy": "u-cy",
        "union-ada": "u-ada",
    }
    assert hook.get_user_id_by_union_id("union-bo") == "u-bo"
    assert sent(staff, "GetUserByUnionId") == 3
    hook.resolve_union_ids_to_user_ids(["union-ada"])  # cached
    assert sent(staff, "GetUserByUnionId") == 3
    assert hook.quota_calls_spent == 0
    with pytest.raises(DingTalkNotFoundError, match="'union-x'"):
        hook.resolve_union_ids_to_user_ids(["union-ada", "union-x"])


def test_an_external_contacts_union_id_is_not_a_member():
    resolver = Resolver(["union-ext"], "unionId", "app", target="userId", cache=DirectoryCache())
    [step] = list(resolver.steps())
    assert [call.path for _, call in step] == ["/topapi/user/getbyunionid"]
    resolver.accept(step, [{"contact_type": 1, "userid": "ext-1"}])
    assert resolver.result().unknown == ["union-ext"]


def test_bad_input_is_refused_before_any_request(staff):
    hook = DingTalkCalendarHook()
    with pytest.raises(DingTalkInvalidArgumentError, match=r"ids\[1\]: must be a non-empty id"):
        hook.resolve_user_ids(["u-ada", " "])
    with pytest.raises(DingTalkInvalidArgumentError, match="ids: must be a list of userIds"):
        hook.resolve_user_ids("u-ada")
    with pytest.raises(DingTalkInvalidArgumentError, match="id_type: must be one of unionId, userId, mobile"):
        hook.resolve_people(["x"], "email")
    with pytest.raises(DingTalkInvalidArgumentError, match="on_unknown: must be 'fail' or 'skip'"):
        hook.resolve_user_ids(["u-ada"], on_unknown="ignore")
    assert hook.calls_spent == {}


# --------------------------------------------------------------------------------------------- legacy answers


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"errcode": 40014, "errmsg": "不合法的access_token"}, DingTalkAuthError),
        ({"errcode": 42001, "errmsg": "access_token超时"}, DingTalkAuthError),
        ({"errcode": 40001, "errmsg": "invalid credential"}, DingTalkAuthError),
        ({"errcode": 60121, "errmsg": "找不到该用户"}, DingTalkNotFoundError),
        ({"errcode": 60111, "errmsg": "userid不存在"}, DingTalkNotFoundError),
        ({"errcode": 90018, "errmsg": "qps"}, DingTalkRateLimitError),
        ({"errcode": "90002", "errmsg": "qps"}, DingTalkRateLimitError),
        ({"errcode": -1, "errmsg": "系统繁忙"}, DingTalkServerError),
        ({"errcode": 88, "sub_code": "60011", "errmsg": "no permission"}, DingTalkPermissionError),
        ({"errcode": 40035, "errmsg": "不合法的参数"}, DingTalkInvalidParameterError),
    ],
)
def test_legacy_errcodes_map_to_typed_errors(body, error):
    content = json.dumps({**body, "request_id": "r-1"}).encode()
    with pytest.raises(error) as caught:
        answers.interpret("GetUser", 200, {}, content, "legacy:user")
    assert caught.value.code == str(body["errcode"]) and caught.value.request_id == "r-1"
    assert type(caught.value) is error
    if error is DingTalkRateLimitError:
        assert caught.value.retryable and caught.value.retry_after == answers.THROTTLE_WAIT


def test_legacy_success_returns_the_checked_result():
    ok = {"errcode": 0, "errmsg": "ok", "result": {"userid": "u", "unionid": "n", "active": True}}
    assert answers.interpret("GetUser", 200, {}, json.dumps(ok).encode(), "legacy:user")["unionid"] == "n"
    by_mobile = {"errcode": 0, "errmsg": "ok", "result": {"userid": "u"}}
    assert answers.interpret("GetUserByMobile", 200, {}, json.dumps(by_mobile).encode(), "legacy:userid") == {
        "userid": "u"
    }
    for bad, detail in [
        ({"errcode": 0, "errmsg": "ok"}, "no 'result' object"),
        ({"errcode": 0, "result": {"userid": "u"}}, "result.unionid is missing"),
        ({"errcode": 0, "result": {"userid": "u", "unionid": "n", "active": "yes"}}, "result.active"),
        ({"result": {"userid": "u", "unionid": "n"}}, "no errcode 0"),
    ]:
        with pytest.raises(DingTalkAnswerError, match=detail):
            answers.interpret("GetUser", 200, {}, json.dumps(bad).encode(), "legacy:user")


def test_legacy_calls_are_built_for_the_legacy_host():
    call = calls.get_user("team/lead")
    assert (call.operation, call.method, call.path, call.body) == (
        "GetUser",
        "POST",
        "/topapi/v2/user/get",
        {"userid": "team/lead"},
    )
    assert call.legacy and call.authenticated and call.client_token is None
    assert calls.get_user_by_mobile("13800000001").path == "/topapi/v2/user/getbymobile"
    assert not calls.get_event("u", "e", "primary", None).legacy  # every existing call is unchanged


def test_a_revoked_token_errcode_40014_is_refreshed_once(staff):
    hook = DingTalkCalendarHook()
    assert hook.resolve_user_ids(["u-ada"]) == {"u-ada": "union-ada"}
    staff.revoke_tokens()
    assert hook.resolve_user_ids(["u-bo"]) == {"u-bo": "union-bo"}
    assert hook.calls_spent == {"GetAccessToken": 2, "GetUser": 3}
    assert staff.stats()["errors"]["GetUser"] == 1


# --------------------------------------------------------------------------------------------- legacy host


def settings_for(host: str, extras: dict | None = None):
    return resolve_settings(
        conn_id="c",
        host=host,
        schema=None,
        port=None,
        login="k",
        password="s",
        extras=extras or {},
        overrides={},
    )


def test_legacy_host_setting():
    assert settings_for("api.dingtalk.com").legacy_base_url == "https://oapi.dingtalk.com"
    assert settings_for("http://127.0.0.1:8765").legacy_base_url == "http://127.0.0.1:8765"  # the emulator
    proxied = settings_for("api.dingtalk.com", {"legacy_host": "https://oapi.example.cn/ding"})
    assert proxied.legacy_base_url == "https://oapi.example.cn/ding"
    prefixed = settings_for("api.dingtalk.com", {"extra__dingtalk_calendar__legacy_host": "oapi.example.cn"})
    assert prefixed.legacy_base_url == "https://oapi.example.cn"
    with pytest.raises(DingTalkConfigurationError, match="legacy_host: plain http:// is only allowed"):
        settings_for("api.dingtalk.com", {"legacy_host": "http://oapi.example.cn"})
    with pytest.raises(DingTalkConfigurationError, match="legacy_host: must be a host name"):
        settings_for("api.dingtalk.com", {"legacy_host": 5})


def test_legacy_calls_go_to_the_legacy_host(dtcal_emulator, monkeypatch):
    """API host and legacy host are different servers: only the lookups reach the legacy one."""
    with DingTalkEmulator(port=0, qps_limit=None) as legacy:
        legacy.seed_users([{"userId": "u-1", "unionId": "union-from-legacy"}])
        conn = {
            "conn_type": "dingtalk_calendar",
            "login": APP_KEY,
            "password": APP_SECRET,
            "host": dtcal_emulator.base_url,
            "extra": {"legacy_host": legacy.base_url},
        }
        monkeypatch.setenv("AIRFLOW_CONN_DTCAL_TWO_HOSTS", json.dumps(conn))
        hook = DingTalkCalendarHook("dtcal_two_hosts")
        # Two emulators issue different tokens (DingTalk's two hosts share one): give the hook the legacy
        # emulator's token, as if the API host had issued it.
        token = requests.post(
            f"{legacy.base_url}/v1.0/oauth2/accessToken",
            json={"appKey": APP_KEY, "appSecret": APP_SECRET},
            timeout=5,
        ).json()["accessToken"]
        TOKENS.put(hook.settings.app, token, 3600)
        assert hook.resolve_user_ids(["u-1"]) == {"u-1": "union-from-legacy"}
        assert sent(legacy, "GetUser") == 1
        assert sent(dtcal_emulator, "GetUser") == 0


# --------------------------------------------------------------------------------------------- the token


def _texts_of(error: BaseException) -> str:
    """Everything an error shows or holds: its text, its traceback, and the same for its whole chain."""
    parts, seen, todo = [], set(), [error]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        parts.append(repr(item))
        parts.append("".join(traceback.format_exception(type(item), item, item.__traceback__)))
        parts.extend(repr(arg) for arg in item.args)
        todo.extend([item.__cause__, item.__context__])
    return "\n".join(parts)


def test_the_token_is_in_no_logged_url_sync_or_async(staff, caplog, capsys):
    hook = DingTalkCalendarHook()
    token = hook.get_access_token()
    # Airflow quiets httpx and urllib3 with their own levels: let them speak as a user's config may.
    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, logger="httpx"),
        caplog.at_level(logging.DEBUG, logger="urllib3"),
    ):
        hook.resolve_user_ids(["u-ada"])
        hook.resolve_people(["13800000002"], "mobile")

        async def run_async():
            async_hook = DingTalkCalendarHook()
            try:
                await async_hook.aresolve_user_ids(["u-bo"])
            finally:
                await async_hook.aclose()

        people.clear_directory_cache()
        asyncio.run(run_async())
    messages = [record.getMessage() for record in caplog.records]
    # The HTTP libraries did log the request URLs (urllib3 at DEBUG, httpx at INFO), with the token blanked.
    urllib3_lines = [m for r, m in zip(caplog.records, messages, strict=True) if r.name.startswith("urllib3")]
    httpx_lines = [m for r, m in zip(caplog.records, messages, strict=True) if r.name == "httpx"]
    assert any("/topapi/v2/user/get?access_token=<redacted>" in m for m in urllib3_lines), urllib3_lines
    assert any("/topapi/v2/user/get?access_token=<redacted>" in m for m in httpx_lines), httpx_lines
    assert not [m for m in messages if token in m]
    assert token not in capsys.readouterr().out  # the hook's own lines


def test_the_token_is_in_no_transport_error(staff, monkeypatch, caplog):
    """A lookup to a legacy host that refuses connections: the error names the host, never the URL."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    conn = {
        "conn_type": "dingtalk_calendar",
        "login": APP_KEY,
        "password": APP_SECRET,
        "host": staff.base_url,
        "extra": {"legacy_host": f"http://127.0.0.1:{port}"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_DTCAL_DEAD_LEGACY", json.dumps(conn))
    hook = DingTalkCalendarHook("dtcal_dead_legacy", max_attempts=2, backoff_initial=0.01)
    token = hook.get_access_token()
    with caplog.at_level(logging.DEBUG), pytest.raises(DingTalkTransportError) as caught:
        hook.resolve_user_ids(["u-ada"])
    assert f"connection to http://127.0.0.1:{port} failed" in str(caught.value)
    assert token not in _texts_of(caught.value)
    assert caught.value.__context__ is None and caught.value.__cause__ is None
    assert not [r for r in caplog.records if token in r.getMessage()]

    async def run_async():
        async_hook = DingTalkCalendarHook("dtcal_dead_legacy", max_attempts=1)
        try:
            await async_hook.aresolve_user_ids(["u-ada"])
        finally:
            await async_hook.aclose()

    with pytest.raises(DingTalkTransportError) as caught_async:
        asyncio.run(run_async())
    assert token not in _texts_of(caught_async.value)
    assert caught_async.value.__context__ is None
