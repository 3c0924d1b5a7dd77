"""The `dtcal-emulator` command in a subprocess, driven through EmulatorAdmin and the admin endpoints."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from airflow_dtcal.testing import EmulatorAdmin

from .conftest import Api, assert_error, event_body
from .wsclient import WsClient

LINE = re.compile(r"^dtcal-emulator listening on (http://127\.0\.0\.1:(\d+))$")
SCRIPT = Path(sys.executable).with_name("dtcal-emulator")

STREAM_DEFAULTS = {
    "sync_token_ttl": 604800.0,
    "stream_ticket_ttl": 90.0,
    "stream_redelivery_delay": 60.0,
    "stream_seed": 0,
    "stream_duplicate_rate": 0.0,
}


class Running:
    def __init__(self, proc: subprocess.Popen, url: str) -> None:
        self.proc = proc
        self.url = url


def _start(args: list[str], timeout: float = 15.0) -> Running:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        first = lines.get(timeout=timeout)
    except queue.Empty:
        proc.kill()
        raise AssertionError("emulator did not print its listening line") from None
    match = LINE.match(first.rstrip("\n"))
    assert match, (first, proc.poll(), proc.stderr.read() if proc.poll() is not None else "")
    assert int(match.group(2)) > 0
    return Running(proc, match.group(1))


def _stop(running: Running, sig: int = signal.SIGTERM) -> int:
    if running.proc.poll() is None:
        running.proc.send_signal(sig)
    try:
        return running.proc.wait(timeout=10)
    finally:
        if running.proc.poll() is None:
            running.proc.kill()
        running.proc.stdout.close()
        running.proc.stderr.close()


SEED = {
    "users": [{"userId": "u-boss", "unionId": "boss", "mobile": "13900000000", "name": "The Boss"}],
    "events": [
        {
            "id": "seeded-event-1",
            "organizer": "boss",
            "summary": "Seeded planning",
            "start": {"dateTime": "2025-09-20T10:00:00+08:00", "timeZone": "Asia/Shanghai"},
            "end": {"dateTime": "2025-09-20T11:00:00+08:00", "timeZone": "Asia/Shanghai"},
            "attendees": [{"id": "alice", "responseStatus": "accepted"}, {"id": "bob"}],
        },
        {
            "organizer": "boss",
            "summary": "Old all-day",
            "start": {"date": "2025-01-01"},
            "end": {"date": "2025-01-02"},
            "status": "cancelled",
        },
    ],
}


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    seed = tmp_path_factory.mktemp("seed") / "seed.json"
    seed.write_text(json.dumps(SEED))
    running = _start(
        [
            str(SCRIPT),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--qps-limit",
            "0",
            "--latency-ms",
            "0",
            "--token-ttl",
            "3600",
            "--app",
            "cli-key:cli-secret",
            "--app",
            "other-key:other-secret",
            "--seed",
            str(seed),
        ]
    )
    yield running
    assert _stop(running) == 0


@pytest.fixture
def admin(cli: Running) -> EmulatorAdmin:
    client = EmulatorAdmin(cli.url)
    client.clear_faults()
    client.set_qps_limit(None)
    client.set_latency(0)
    return client


def _api(cli: Running) -> Api:
    api = Api(cli.url, "cli-key", "cli-secret")
    api.login()
    return api


def test_seeded_events_and_app_credentials(cli: Running, admin: EmulatorAdmin) -> None:
    ids = [e["id"] for e in admin.events()]
    assert "seeded-event-1" in ids
    seeded = admin.event("seeded-event-1")
    assert seeded["organizer"]["id"] == "boss" and seeded["summary"] == "Seeded planning"
    assert {a["id"]: a["responseStatus"] for a in admin.attendees("seeded-event-1")} == {
        "boss": "accepted",
        "alice": "accepted",
        "bob": "needsAction",
    }
    assert [e["status"] for e in admin.events() if e["summary"] == "Old all-day"] == ["cancelled"]
    api = Api(cli.url, "cli-key", "wrong")
    assert_error(api.get_token(), 400, "invalidClientIdOrSecret")
    assert_error(api.get_token("someone", "else"), 400, "invalidClientIdOrSecret")
    api = _api(cli)
    seen = api.get("alice", "seeded-event-1").json()
    assert seen["summary"] == "Seeded planning" and seen["organizer"]["displayName"] == "The Boss"
    assert admin.users()[0]["userId"] == "u-boss"
    found = api.session.post(
        f"{cli.url}/topapi/v2/user/getbymobile",
        params={"access_token": api.token},
        json={"mobile": "13900000000"},
    ).json()
    assert found["errcode"] == 0 and found["result"] == {"userid": "u-boss"}


def test_admin_inspection_config_and_tokens(cli: Running, admin: EmulatorAdmin) -> None:
    api = _api(cli)
    event_id = api.new_event("carol", attendees=[{"id": "dave"}])
    assert admin.event(event_id)["organizer"]["id"] == "carol"
    assert [a["id"] for a in admin.attendees(event_id)] == ["carol", "dave"]
    assert admin.event("missing") is None
    stats = admin.stats()
    assert stats["applied"]["CreateEvent"] >= 1 and stats["tokens_issued"] >= 1
    last = admin.requests()[-1]
    assert last["operation"] == "CreateEvent" and last["has_token"] is True
    assert json.loads(admin.connection_json("k", "s")) == {
        "conn_type": "dingtalk_calendar",
        "login": "k",
        "password": "s",
        "host": cli.url,
    }
    admin.set_qps_limit(2)
    assert [api.list_events("carol").status_code for _ in range(3)] == [200, 200, 403]
    admin.set_qps_limit(None)
    admin.set_latency(0.2)
    began = time.perf_counter()
    api.list_events("carol")
    assert time.perf_counter() - began >= 0.2
    admin.set_latency(0)
    assert admin.config() == {
        "qps_limit": None,
        "latency": 0.0,
        "token_ttl": 3600.0,
        "monthly_quota": None,
        **STREAM_DEFAULTS,
    }
    admin.revoke_tokens()
    assert_error(api.list_events("carol"), 400, "InvalidAuthentication")


def test_admin_faults(cli: Running, admin: EmulatorAdmin) -> None:
    api = _api(cli)
    before = len(admin.events())
    admin.fail_next(status=500, code="unknownError", message="kaput")
    assert_error(api.create("erin", event_body()), 500, "unknownError", "kaput")
    admin.html_next()
    assert api.create("erin", event_body()).headers["Content-Type"].startswith("text/html")
    admin.deny_next(wait=7)
    assert api.create("erin", event_body()).json() == {"status": 1111, "wait": 7, "punish": "deny"}
    admin.reset_before(operation="CreateEvent")
    with pytest.raises(requests.ConnectionError):
        api.create("erin", event_body())
    assert len(admin.events()) == before
    admin.reset_after(operation="CreateEvent")
    with pytest.raises(requests.ConnectionError):
        api.create("erin", event_body())
    assert len(admin.events()) == before + 1
    admin.delay_next(seconds=0.5)
    with pytest.raises(requests.ReadTimeout):
        _api(cli).list_events("erin", timeout=0.15)
    admin.fail_next(count=3)
    assert len(admin.faults()) == 1
    admin.clear_faults()
    assert admin.faults() == []
    with pytest.raises(RuntimeError, match="unknown fault kind"):
        admin.add_fault("meteor")


def test_admin_reset_and_unknown_endpoint(cli: Running, admin: EmulatorAdmin) -> None:
    _api(cli).new_event("frank")
    admin.reset()
    assert admin.events() == [] and admin.requests() == []
    assert admin.stats()["calls"]["CreateEvent"] == 0
    assert admin.health() is True
    assert_error(requests.get(f"{cli.url}/_emulator/nope", timeout=5), 404, "InvalidAction.NotFound")
    ids = admin.seed_events([{**event_body(), "organizer": "grace"}])
    assert admin.event(ids[0])["organizer"]["id"] == "grace"


def test_python_dash_m_stops_on_sigint() -> None:
    running = _start(
        [sys.executable, "-m", "airflow_dtcal.testing.emulator", "--port", "0", "--qps-limit", "5"]
    )
    try:
        admin = EmulatorAdmin(running.url)
        assert admin.config()["qps_limit"] == 5
        assert requests.post(
            f"{running.url}/v1.0/oauth2/accessToken", json={"appKey": "any", "appSecret": "thing"}, timeout=5
        ).ok
    finally:
        code = _stop(running, signal.SIGINT)
    assert code == 0


def test_monthly_quota_flag() -> None:
    running = _start([str(SCRIPT), "--port", "0", "--monthly-quota", "1"])
    try:
        admin = EmulatorAdmin(running.url)
        assert admin.config()["monthly_quota"] == 1
        api = Api(running.url, "k", "secret-k")
        api.login()
        assert api.list_events("org").status_code == 200
        assert_error(api.list_events("org"), 403, "Forbidden.AccessDenied.ApiCountLimitForOrg")
        assert api.get_token().status_code == 200
        assert admin.stats()["counted"]["ListEvents"] == 1
    finally:
        assert _stop(running) == 0


def test_bad_arguments_exit_with_usage_error() -> None:
    proc = subprocess.run([str(SCRIPT), "--app", "no-colon"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "KEY:SECRET" in proc.stderr
    proc = subprocess.run([str(SCRIPT), "--monthly-quota", "-5"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "--monthly-quota" in proc.stderr


def test_sync_and_stream_flags_and_a_stream_across_processes() -> None:
    running = _start(
        [
            str(SCRIPT),
            "--port",
            "0",
            "--sync-token-ttl",
            "100",
            "--stream-redelivery-delay",
            "0.5",
            "--stream-ticket-ttl",
            "30",
        ]
    )
    try:
        admin = EmulatorAdmin(running.url)
        config = admin.config()
        assert (config["sync_token_ttl"], config["stream_redelivery_delay"], config["stream_ticket_ttl"]) == (
            100.0,
            0.5,
            30.0,
        )
        opened = requests.post(
            running.url + "/v1.0/gateway/connections/open",
            json={
                "clientId": "k",
                "clientSecret": "secret-k",
                "subscriptions": [{"type": "EVENT", "topic": "*"}],
            },
            timeout=10,
            proxies={"http": "", "https": ""},
        ).json()
        client = WsClient(opened["endpoint"], opened["ticket"])
        try:
            assert client.status == 101
            api = Api(running.url, "k", "secret-k")
            api.login()
            event_id = api.new_event("org")
            message = client.read_json()
            assert json.loads(message["data"])["calendarEventId"] == event_id
            client.ack(message)
            (acked,) = admin.wait_for_stream_acks(1)
            assert acked["messageId"] == message["headers"]["messageId"]
        finally:
            client.close()
    finally:
        assert _stop(running) == 0
