"""Fault injection over real HTTP: error replies, TCP resets, delays, HTML pages and the IP-ban JSON."""

from __future__ import annotations

import time

import pytest
import requests

from airflow_dtcal.testing import DingTalkEmulator

from .conftest import Api, assert_error, event_body


def _wait_for(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_fail_next_answers_dingtalk_error_and_applies_nothing(emu: DingTalkEmulator, api: Api) -> None:
    emu.fail_next(count=2)
    for _ in range(2):
        assert_error(api.create("org", event_body()), 503, "ServiceUnavailable")
    assert emu.events() == []
    assert api.create("org", event_body()).status_code == 200
    stats = emu.stats()
    assert stats["faulted"]["CreateEvent"] == 2 and stats["applied"]["CreateEvent"] == 1
    assert stats["calls"]["CreateEvent"] == 3


def test_fail_next_custom_error_and_operation_filter(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.new_event()
    emu.fail_next(status=500, code="unknownError", message="boom", operation="GetEvent")
    assert api.list_events("org").status_code == 200  # other operations pass untouched
    assert_error(api.get("org", event_id), 500, "unknownError", "boom")
    assert api.get("org", event_id).status_code == 200
    assert emu.faults() == []


def test_faults_skip_token_calls_unless_named(emu: DingTalkEmulator, api: Api) -> None:
    emu.fail_next()
    assert api.get_token().status_code == 200  # operation=None never matches GetAccessToken
    assert_error(api.list_events("org"), 503, "ServiceUnavailable")
    emu.fail_next(operation="GetAccessToken", status=500, code="unknownError")
    assert_error(api.get_token(), 500, "unknownError")
    assert emu.stats()["faulted"]["GetAccessToken"] == 1


def test_faults_apply_in_order(emu: DingTalkEmulator, api: Api) -> None:
    emu.fail_next(status=502, code="BadGateway")
    emu.html_next(status=403)
    emu.deny_next(wait=3)
    assert_error(api.list_events("org"), 502, "BadGateway")
    assert api.list_events("org").status_code == 403
    assert api.list_events("org").json() == {"status": 1111, "wait": 3, "punish": "deny"}
    assert api.list_events("org").json()["events"] == []


def test_reset_before_drops_the_connection_and_applies_nothing(emu: DingTalkEmulator, api: Api) -> None:
    emu.reset_before(operation="CreateEvent")
    with pytest.raises(requests.ConnectionError):
        api.create("org", event_body(), client_token="c-1")
    assert emu.events() == []
    retry = api.create("org", event_body(), client_token="c-1")  # the session reconnects
    assert retry.status_code == 200
    assert len(emu.events()) == 1 and emu.stats()["replayed"]["CreateEvent"] == 0


def test_reset_after_applies_then_loses_the_reply(emu: DingTalkEmulator, api: Api) -> None:
    emu.reset_after(operation="CreateEvent")
    with pytest.raises(requests.ConnectionError):
        api.create("org", event_body(), client_token="create-42")
    created = emu.events()
    assert len(created) == 1 and created[0]["status"] == "confirmed"
    record = emu.requests()[-1]
    assert record["operation"] == "CreateEvent" and record["status"] is None
    retry = api.create("org", event_body(), client_token="create-42")
    assert retry.status_code == 200 and retry.json()["id"] == created[0]["id"]
    assert len(emu.events()) == 1
    stats = emu.stats()
    assert stats["applied"]["CreateEvent"] == 1 and stats["replayed"]["CreateEvent"] == 1
    # without a client token the retry creates a duplicate: exactly what the fault is meant to expose
    emu.reset_after(operation="CreateEvent")
    with pytest.raises(requests.ConnectionError):
        api.create("org", event_body())
    api.create("org", event_body())
    assert len(emu.events()) == 3


def test_reset_after_on_delete_still_deletes(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.new_event()
    emu.reset_after(operation="DeleteEvent")
    with pytest.raises(requests.ConnectionError):
        api.delete("org", event_id)
    assert emu.event(event_id)["status"] == "cancelled"


def test_delay_next_exceeds_a_client_timeout_then_applies(emu: DingTalkEmulator, api: Api) -> None:
    emu.delay_next(seconds=0.6, operation="CreateEvent")
    began = time.perf_counter()
    with pytest.raises(requests.ReadTimeout):
        api.create("org", event_body(), timeout=0.2)
    assert time.perf_counter() - began < 0.5
    assert _wait_for(lambda: len(emu.events()) == 1)  # the server finished the work after the client gave up
    emu.delay_next(seconds=0.3)
    began = time.perf_counter()
    fresh = Api(emu.base_url, api.app_key, api.app_secret)
    fresh.token = api.token
    assert fresh.list_events("org").status_code == 200
    assert time.perf_counter() - began >= 0.3


def test_html_next_returns_an_html_page(emu: DingTalkEmulator, api: Api) -> None:
    emu.html_next(count=2, operation="CreateEvent")
    for expected in (200, 200):
        resp = api.create("org", event_body())
        assert resp.status_code == expected
        assert resp.headers["Content-Type"].startswith("text/html")
        assert resp.text.lstrip().lower().startswith("<!doctype html>")
        with pytest.raises(ValueError):
            resp.json()
    assert emu.events() == []
    emu.html_next(status=502)
    assert api.list_events("org").status_code == 502


def test_deny_next_returns_the_ip_ban_json_with_http_200(emu: DingTalkEmulator, api: Api) -> None:
    emu.deny_next(wait=5, operation="CreateEvent")
    resp = api.create("org", event_body())
    assert resp.status_code == 200
    assert resp.json() == {"status": 1111, "wait": 5, "punish": "deny"}
    assert "code" not in resp.json() and "id" not in resp.json()
    assert emu.events() == []
    emu.deny_next(status=429)
    assert api.list_events("org").status_code == 429


def test_clear_faults_and_bad_fault_arguments(emu: DingTalkEmulator, api: Api) -> None:
    emu.fail_next(count=10)
    emu.reset_before(count=3)
    assert [f["kind"] for f in emu.faults()] == ["fail", "reset_before"]
    emu.clear_faults()
    assert emu.faults() == []
    assert api.list_events("org").status_code == 200
    with pytest.raises(ValueError):
        emu.fail_next(operation="NoSuchOperation")
    with pytest.raises(ValueError):
        emu.add_fault("explode")
    with pytest.raises(ValueError):
        emu.fail_next(count=0)


@pytest.mark.dtcal_emulator(qps_limit=1)
def test_admin_endpoints_are_never_faulted_throttled_or_logged(emu: DingTalkEmulator, api: Api) -> None:
    emu.fail_next(count=50)
    emu.reset_before(count=50)
    session = requests.Session()
    session.trust_env = False
    for _ in range(10):
        assert session.get(f"{emu.base_url}/_emulator/stats", timeout=5).status_code == 200
        assert session.get(f"{emu.base_url}/_emulator/state", timeout=5).json() == {"events": []}
    assert emu.requests() == [] or all(r["operation"] == "GetAccessToken" for r in emu.requests())
    assert sum(emu.stats()["calls"].values()) == 1  # just the login of the `api` fixture
    assert emu.faults()[0]["count"] == 50
