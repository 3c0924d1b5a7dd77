"""The organization's monthly API quota: calendar calls count, token calls do not; past it, 403."""

from __future__ import annotations

import time

import pytest
import requests
from alibabacloud_dingtalk.calendar_1_0 import models as cm
from alibabacloud_dingtalk.calendar_1_0.client import Client as CalendarClient
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_util import models as util_models
from Tea.exceptions import TeaException

from airflow_dtcal.testing import DingTalkEmulator, EmulatorAdmin

from .conftest import Api, assert_error, event_body

OVER = "Forbidden.AccessDenied.ApiCountLimitForOrg"


@pytest.mark.dtcal_emulator(monthly_quota=3)
def test_calendar_calls_count_token_calls_do_not(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.new_event()
    assert api.get("org", event_id).status_code == 200
    for _ in range(5):
        assert api.get_token().status_code == 200
    assert api.list_events("org").status_code == 200
    body = assert_error(api.list_events("org"), 403, OVER, "3")
    assert body["requestid"]
    assert_error(api.create("org", event_body()), 403, OVER)
    assert api.get_token().status_code == 200  # tokens are never refused for the quota
    stats = emu.stats()
    assert stats["counted"] == {
        **dict.fromkeys(stats["calls"], 0),
        "CreateEvent": 1,
        "GetEvent": 1,
        "ListEvents": 1,
    }
    assert stats["counted_total"] == 3
    assert stats["over_quota"]["ListEvents"] == 1 and stats["over_quota"]["CreateEvent"] == 1
    assert len(emu.events()) == 1


@pytest.mark.dtcal_emulator(monthly_quota=100, qps_limit=1)
def test_what_counts(emu: DingTalkEmulator, api: Api) -> None:
    assert_error(api.list_events("org", token="forged"), 400, "InvalidAuthentication")  # not counted
    assert_error(api.create("org", {"summary": ""}, client_token="c1"), 400, "invalidParameter")  # counted
    assert_error(
        api.create("org", event_body(), client_token="c1"),
        403,
        "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
    )
    emu.fail_next(operation="GetEvent")
    assert_error(api.get("org", "x"), 503, "ServiceUnavailable")  # faulted before the API: not counted
    emu.set_qps_limit(None)
    assert api.create("org", event_body(), client_token="c2").status_code == 200  # counted
    assert api.create("org", event_body(), client_token="c2").status_code == 200  # replay: counted
    stats = emu.stats()
    assert stats["counted"]["CreateEvent"] == 3 and stats["counted_total"] == 3
    assert stats["replayed"]["CreateEvent"] == 1


def test_no_quota_by_default_and_changes_at_run_time(emu: DingTalkEmulator, api: Api) -> None:
    assert emu.config()["monthly_quota"] is None
    for _ in range(30):
        assert api.list_events("org").status_code == 200
    assert emu.stats()["counted_total"] == 30  # counted even without a quota
    emu.set_monthly_quota(30)
    assert_error(api.list_events("org"), 403, OVER)
    emu.set_monthly_quota(31)
    assert api.list_events("org").status_code == 200
    assert_error(api.list_events("org"), 403, OVER)
    emu.set_monthly_quota(None)
    assert api.list_events("org").status_code == 200
    emu.set_monthly_quota(0)
    assert_error(api.list_events("org"), 403, OVER)
    emu.reset()  # a reset forgets the calls counted, not the quota
    api.login()
    assert emu.config()["monthly_quota"] == 0 and emu.stats()["counted_total"] == 0
    with pytest.raises(ValueError, match="monthly_quota"):
        emu.set_monthly_quota(-1)


def test_a_new_month_starts_from_zero(emu: DingTalkEmulator, api: Api) -> None:
    emu.set_monthly_quota(2)
    api.list_events("org")
    api.list_events("org")
    assert_error(api.list_events("org"), 403, OVER)
    emu._state.quota_month = "2000-01"  # as if the calls were made in an earlier month
    assert emu.stats()["counted_total"] == 0
    assert api.list_events("org").status_code == 200


def test_the_quota_through_the_admin_api(emu: DingTalkEmulator, api: Api) -> None:
    admin = EmulatorAdmin(emu.base_url)
    admin.set_monthly_quota(1)
    assert admin.config()["monthly_quota"] == 1
    assert api.list_events("org").status_code == 200
    assert_error(api.list_events("org"), 403, OVER)
    assert admin.stats()["counted_total"] == 1
    for bad in (-1, "5", 2.5, True):
        resp = requests.post(f"{emu.base_url}/_emulator/config", json={"monthly_quota": bad}, timeout=5)
        assert resp.status_code == 400 and "monthly_quota" in resp.json()["message"], resp.text
    assert emu.config()["monthly_quota"] == 1


@pytest.mark.dtcal_emulator(monthly_quota=0)
def test_the_sdk_sees_the_quota_error(emu: DingTalkEmulator, api: Api) -> None:
    config = open_api_models.Config(
        protocol="http", region_id="central", endpoint=emu.base_url.removeprefix("http://")
    )
    client = CalendarClient(config)
    headers = cm.ListEventsHeaders(x_acs_dingtalk_access_token=api.token)
    with pytest.raises(TeaException) as caught:
        client.list_events_with_options(
            "org", "primary", cm.ListEventsRequest(), headers, util_models.RuntimeOptions()
        )
    assert caught.value.code == OVER
    assert caught.value.data["statusCode"] == 403


def test_counted_per_app_and_when_received(emu: DingTalkEmulator, api: Api) -> None:
    other = Api(emu.base_url, app_key="app-2", app_secret="secret-2")
    other.login()
    before = time.time()
    assert api.list_events("org").status_code == 200
    assert api.create("org", event_body()).status_code == 200
    assert other.list_events("org").status_code == 200
    assert_error(api.list_events("org", token="forged"), 400, "InvalidAuthentication")  # not counted
    after = time.time()
    stats = emu.stats()
    assert stats["counted_by_app"] == {"app-1": 2, "app-2": 1} and stats["counted_total"] == 3
    calendar_calls = [r for r in emu.requests() if r["operation"] != "GetAccessToken"]
    assert len(calendar_calls) == 4
    times = [r["received"] for r in calendar_calls]
    assert before <= times[0] <= times[1] <= times[2] <= times[3] <= after, times
    emu._state.quota_month = "2000-01"  # a new month starts every app from zero
    assert emu.stats()["counted_by_app"] == {}
