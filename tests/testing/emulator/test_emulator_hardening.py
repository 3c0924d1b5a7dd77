"""The emulator against misbehaving clients: raw sockets and http.client on 127.0.0.1, bounded in bytes and
time. Body size cap, slow clients, malformed HTTP, admin input checks, secrets in the request log, the admin
API's origin and media-type checks, and dot segments in paths."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from airflow_dtcal.testing import DingTalkEmulator, EmulatorAdmin

from .conftest import Api, event_body
from .rawhttp import assert_dingtalk_error, closed_by_server, connect, exchange, read_reply

TOKEN_PATH = "/v1.0/oauth2/accessToken"


def _post(path: str, body: bytes, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _json_post(path: str, payload: object, *headers: str) -> bytes:
    body = json.dumps(payload).encode()
    return _post(path, body, "Content-Type: application/json", f"Content-Length: {len(body)}", *headers)


@pytest.fixture
def small() -> Iterator[DingTalkEmulator]:
    """An emulator with small limits, so the limits are reached quickly."""
    with DingTalkEmulator(qps_limit=None, max_body_bytes=2048, request_timeout=0.5, idle_timeout=1.0) as emu:
        yield emu


def _conn(emu: DingTalkEmulator) -> http.client.HTTPConnection:
    parts = urlsplit(emu.base_url)
    assert parts.hostname == "127.0.0.1"
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)


# ----------------------------------------------------------------------------------------- body size cap


def test_an_oversized_body_is_refused_with_413_before_it_is_sent(emu: DingTalkEmulator) -> None:
    # Only the headers go out: the reply can only come if the server does not wait for the 10 MiB body.
    head = _post(TOKEN_PATH, b"", "Content-Type: application/json", f"Content-Length: {10 * 1024 * 1024}")
    reply = exchange(emu.base_url, head)
    assert_dingtalk_error(reply, 413, "requestEntityTooLarge", str(1024 * 1024))
    assert reply.headers["connection"] == "close"
    assert emu.requests() == [] and emu.stats()["calls"]["GetAccessToken"] == 0


def test_the_body_cap_is_configurable_and_inclusive(small: DingTalkEmulator) -> None:
    def token_call(size: int) -> bytes:
        body = b'{"appKey": "k", "appSecret": "s", "pad": "' + b"x" * (size - 44) + b'"}'
        assert len(body) == size
        return _post(TOKEN_PATH, body, "Content-Type: application/json", f"Content-Length: {size}")

    assert exchange(small.base_url, token_call(2048)).status == 200
    with connect(small.base_url) as sock:  # part of the body is sent; the reply still arrives intact
        sock.sendall(token_call(2049)[:1500])
        assert_dingtalk_error(read_reply(sock), 413, "requestEntityTooLarge", "2049", "2048")
    assert small.stats()["calls"]["GetAccessToken"] == 1


def test_expect_100_continue_gets_413_instead_of_an_invitation(small: DingTalkEmulator) -> None:
    head = _post(TOKEN_PATH, b"", "Content-Length: 5000", "Expect: 100-continue")
    reply = exchange(small.base_url, head)
    assert_dingtalk_error(reply, 413, "requestEntityTooLarge")


# ----------------------------------------------------------------------------------------- slow clients


def _trickle_until_closed(sock, payload: bytes, seconds: float) -> bool:
    """Send ``payload`` one byte every 0.1 s; True as soon as the server answers or closes."""
    for i in range(int(seconds / 0.1)):
        if closed_or_answered(sock):
            return True
        try:
            sock.send(payload[i % len(payload) : i % len(payload) + 1])
        except OSError:
            return True
    return closed_or_answered(sock)


def closed_or_answered(sock) -> bool:
    sock.settimeout(0.1)
    try:
        sock.recv(1, socket.MSG_PEEK)  # returns at once when data or EOF is waiting
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def test_a_request_trickling_its_headers_is_cut_off_at_the_deadline(small: DingTalkEmulator) -> None:
    with connect(small.base_url) as sock:
        sock.sendall(b"POST /v1.0/oauth2/accessToken HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        # each byte arrives well within any per-read timeout; only a deadline for the whole request ends it
        assert _trickle_until_closed(sock, b"abcdefgh", seconds=5.0)
        assert_dingtalk_error(read_reply(sock), 408, "requestTimeout")
        assert closed_by_server(sock, 5.0)


def test_a_body_shorter_than_its_content_length_is_cut_off(small: DingTalkEmulator) -> None:
    with connect(small.base_url) as sock:
        sock.sendall(
            _post(TOKEN_PATH, b'{"appKey": ', "Content-Type: application/json", "Content-Length: 100")
        )
        assert_dingtalk_error(read_reply(sock), 408, "requestTimeout", "100 bytes")
        assert closed_by_server(sock, 5.0)
    assert small.stats()["calls"]["GetAccessToken"] == 0


def test_an_idle_keep_alive_connection_is_closed(small: DingTalkEmulator) -> None:
    with connect(small.base_url) as sock:
        sock.sendall(_json_post(TOKEN_PATH, {"appKey": "k", "appSecret": "s"}))
        assert read_reply(sock).status == 200
        assert closed_by_server(sock, 5.0)  # idle_timeout is 1 s; the client sends nothing more


def test_the_server_serves_others_while_a_client_stalls(small: DingTalkEmulator) -> None:
    with connect(small.base_url) as stalled:
        stalled.sendall(b"GET /_emulator/health HTTP/1.1\r\n")
        assert Api(small.base_url).get_token().status_code == 200


# ----------------------------------------------------------------------------------------- malformed HTTP


@pytest.mark.parametrize(
    ("raw", "status", "code", "needle"),
    [
        (b"hello\r\n\r\n", 400, "invalidRequest", "Bad request syntax"),
        (b"GET / HTTP/2.0\r\n\r\n", 505, "httpVersionNotSupported", ""),
        (b"BREW /v1.0/oauth2/accessToken HTTP/1.1\r\nHost: x\r\n\r\n", 501, "methodNotImplemented", "BREW"),
        (b"GET /x HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431, "requestHeaderFieldsTooLarge", ""),
        (_post(TOKEN_PATH, b"{}", "Content-Length: abc"), 400, "invalidRequest", "Content-Length"),
        (_post(TOKEN_PATH, b"{}", "Content-Length: -2"), 400, "invalidRequest", "Content-Length"),
        (_post(TOKEN_PATH, b"{}", "Content-Length: 1_0"), 400, "invalidRequest", "Content-Length"),
        (
            _post(TOKEN_PATH, b"{}", "Content-Length: 2", "Content-Length: 3"),
            400,
            "invalidRequest",
            "Content-Length",
        ),
        (
            _post(TOKEN_PATH, b'{"appKey": "k", "appSecret": "s"}'),
            411,
            "missingContentLength",
            "Content-Length",
        ),
        (
            _post(TOKEN_PATH, b"2\r\n{}\r\n0\r\n\r\n", "Transfer-Encoding: chunked"),
            400,
            "invalidParameter",
            "chunked",
        ),
    ],
)
def test_malformed_http_gets_a_dingtalk_json_error_and_a_close(
    emu: DingTalkEmulator, raw: bytes, status: int, code: str, needle: str
) -> None:
    reply = exchange(emu.base_url, raw)
    assert_dingtalk_error(reply, status, code, needle)
    assert reply.headers["connection"] == "close"
    assert emu.stats()["token_fetches"] == 0


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"appKey": "k", "appSecret": "s"', "not valid JSON"),
        (b'{"appKey": "k", "appSecret": "\xff\xfe"}', "not valid UTF-8"),
        ('{"appKey": "k", "appSecret": "s"}'.encode("utf-16"), "not valid UTF-8"),
        (b'{"appKey": "k", "appSecret": NaN}', "not valid JSON"),
        (b'["k", "s"]', "must be a JSON object"),
        (b'"k:s"', "must be a JSON object"),
    ],
)
def test_bad_bodies_get_invalid_parameter(emu: DingTalkEmulator, body: bytes, needle: str) -> None:
    raw = _post(TOKEN_PATH, body, "Content-Type: application/json", f"Content-Length: {len(body)}")
    assert_dingtalk_error(exchange(emu.base_url, raw), 400, "invalidParameter", needle)
    assert emu.stats()["tokens_issued"] == 0


def test_a_calendar_write_with_a_non_object_body(emu: DingTalkEmulator, api: Api) -> None:
    for body in ([event_body()], "Standup", 3, None):
        resp = api.session.post(
            api.url("org", "events"),
            data=json.dumps(body),
            headers={"x-acs-dingtalk-access-token": api.token, "Content-Type": "application/json"},
            timeout=5,
        )
        assert resp.status_code == 400 and "must be a JSON object" in resp.json()["message"], resp.text
    assert emu.events() == []


def test_the_connection_stays_usable_after_an_api_error(emu: DingTalkEmulator) -> None:
    with connect(emu.base_url) as sock:
        sock.sendall(_json_post(TOKEN_PATH, ["not", "an", "object"]))
        assert read_reply(sock).status == 400
        sock.sendall(_json_post(TOKEN_PATH, {"appKey": "k", "appSecret": "s"}))
        assert read_reply(sock).status == 200


# ----------------------------------------------------------------------------------------- admin inputs


def _admin_post(emu: DingTalkEmulator, name: str, payload: object) -> requests.Response:
    return requests.post(f"{emu.base_url}/_emulator/{name}", json=payload, timeout=5)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "meteor"}, "kind"),
        ({"count": 2}, "kind"),
        ({"kind": "fail", "count": "3"}, "count"),
        ({"kind": "fail", "count": 0}, "count"),
        ({"kind": "fail", "count": True}, "count"),
        ({"kind": "fail", "operation": "Explode"}, "operation"),
        ({"kind": "fail", "status": 600}, "status"),
        ({"kind": "fail", "status": "503"}, "status"),
        ({"kind": "fail", "code": 7}, "code"),
        ({"kind": "fail", "retry_after": -1}, "retry_after"),
        ({"kind": "delay", "seconds": -1}, "seconds"),
        ({"kind": "delay", "seconds": "2"}, "seconds"),
        ({"kind": "delay", "seconds": 1e9}, "seconds"),
        ({"kind": "deny", "wait": 1.5}, "wait"),
        ({"kind": "html", "status": 99}, "status"),
        ({"kind": "reset_before", "seconds": 3}, "seconds"),
        (["fail"], "object"),
    ],
)
def test_bad_fault_specs_get_400_naming_the_field(emu: DingTalkEmulator, payload: object, field: str) -> None:
    resp = _admin_post(emu, "faults", payload)
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == "invalidParameter" and field in resp.json()["message"], resp.json()
    assert emu.faults() == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"qps_limit": "ten"}, "qps_limit"),
        ({"qps_limit": -1}, "qps_limit"),
        ({"qps_limit": 2.5}, "qps_limit"),
        ({"latency": -1}, "latency"),
        ({"latency": "0.1"}, "latency"),
        ({"token_ttl": 0}, "token_ttl"),
        ({"token_ttl": None}, "token_ttl"),
        ({"qps": 3}, "qps"),
        ({"latency": 0.5, "token_ttl": -1}, "token_ttl"),
    ],
)
def test_bad_config_gets_400_naming_the_field_and_changes_nothing(
    emu: DingTalkEmulator, payload: dict, field: str
) -> None:
    before = emu.config()
    resp = _admin_post(emu, "config", payload)
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == "invalidParameter" and field in resp.json()["message"], resp.json()
    assert emu.config() == before


def test_bad_seed_gets_400_naming_the_event_and_field(emu: DingTalkEmulator) -> None:
    resp = _admin_post(emu, "seed", {"events": [{**event_body(), "organizer": "a"}, {**event_body()}]})
    assert resp.status_code == 400 and "events[1].organizer" in resp.json()["message"], resp.text
    resp = _admin_post(emu, "seed", {"events": [{**event_body(summary=""), "organizer": "a"}]})
    assert resp.status_code == 400 and "events[0]: summary" in resp.json()["message"], resp.text


def test_the_python_api_checks_the_same_inputs(emu: DingTalkEmulator) -> None:
    with pytest.raises(ValueError, match="count"):
        emu.fail_next(count="2")
    with pytest.raises(ValueError, match="seconds"):
        emu.delay_next(seconds=-1)
    with pytest.raises(ValueError, match="latency"):
        emu.set_latency(-0.5)
    with pytest.raises(ValueError, match="token_ttl"):
        emu.set_token_ttl(0)
    with pytest.raises(ValueError, match="qps_limit"):
        emu.set_qps_limit(-3)
    with pytest.raises(ValueError, match="max_body_bytes"):
        DingTalkEmulator(max_body_bytes=-1)
    assert emu.faults() == []
    admin = EmulatorAdmin(emu.base_url)
    with pytest.raises(RuntimeError, match="count must be an integer"):
        admin.fail_next(count=0)


# ----------------------------------------------------------------------------------------- secrets in the log


def test_the_request_log_never_holds_the_app_secret_or_the_token(emu: DingTalkEmulator) -> None:
    secret = "app-secret-value-1"
    api = Api(emu.base_url, "app-1", secret)
    token = api.login()
    api.list_events("org", params={"access_token": token})  # a client sending the token the old way
    api.list_events("org", token=None, headers={"Authorization": f"Bearer {token}"})
    api.create("org", event_body(summary=f"leaked {token} and {secret}"))
    bad_json = b'{"appKey": "app-1", "appSecret": "other-secret-2",'
    raw = _post(TOKEN_PATH, bad_json, "Content-Type: application/json", f"Content-Length: {len(bad_json)}")
    assert exchange(emu.base_url, raw).status == 400

    log = emu.requests()
    dumped = json.dumps(log) + requests.get(f"{emu.base_url}/_emulator/requests", timeout=5).text
    for leaked in (secret, token, "other-secret-2"):
        assert leaked not in dumped
    token_call = log[0]
    assert token_call["operation"] == "GetAccessToken"
    assert token_call["body"] == {"appKey": "app-1", "appSecret": "[redacted]"}
    assert log[1]["query"]["access_token"] == "[redacted]"
    assert log[2]["headers"]["authorization"] == "Bearer [redacted]"
    assert log[3]["body"]["summary"] == "leaked [redacted] and [redacted]"
    assert log[3]["has_token"] is True
    assert '"appSecret": "[redacted]"' in log[4]["body"]


# ----------------------------------------------------------------------------------------- admin origin and media type


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1", "https://localhost"])
def test_the_admin_api_refuses_other_origins(emu: DingTalkEmulator, api: Api, origin: str) -> None:
    api.new_event()
    headers = {"Origin": origin}
    resp = requests.post(f"{emu.base_url}/_emulator/reset", json={}, headers=headers, timeout=5)
    assert resp.status_code == 403 and resp.json()["code"] == "Forbidden.AccessDenied.CrossOrigin", resp.text
    resp = requests.get(f"{emu.base_url}/_emulator/state", headers=headers, timeout=5)
    assert resp.status_code == 403 and "events" not in resp.json()
    assert len(emu.events()) == 1


def test_the_admin_api_accepts_its_own_origin_and_no_origin(emu: DingTalkEmulator) -> None:
    port = urlsplit(emu.base_url).port
    for headers in ({}, {"Origin": emu.base_url}, {"Origin": f"http://localhost:{port}"}):
        resp = requests.post(
            f"{emu.base_url}/_emulator/config", json={"latency": 0}, headers=headers, timeout=5
        )
        assert resp.status_code == 200, (headers, resp.text)


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_admin_writes_need_a_json_body(emu: DingTalkEmulator, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = b'{"kind": "fail", "count": 5}'
    resp = requests.post(f"{emu.base_url}/_emulator/faults", data=body, headers=headers, timeout=5)
    assert resp.status_code == 415 and resp.json()["code"] == "UnsupportedMediaType", resp.text
    assert emu.faults() == []
    ok = requests.post(
        f"{emu.base_url}/_emulator/faults",
        data=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 200 and emu.faults()[0]["count"] == 5


# ----------------------------------------------------------------------------------------- dot segments in paths


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/v1.0/calendar/users/org/calendars/primary/events/..", "eventId"),
        ("GET", "/v1.0/calendar/users/org/calendars/primary/events/.", "eventId"),
        ("DELETE", "/v1.0/calendar/users/org/calendars/primary/events/%2E%2E", "eventId"),
        ("GET", "/v1.0/calendar/users/org/calendars/primary/events/%2e/attendees", "eventId"),
        ("GET", "/v1.0/calendar/users/../calendars/primary/events", "userId"),
        ("GET", "/v1.0/calendar/users//calendars/primary/events", "userId"),
        ("GET", "/v1.0/calendar/users/org/calendars//events", "calendarId"),
        ("POST", "/v1.0/calendar/users/org/calendars/primary/events/", "eventId"),
        ("GET", "/v1.0/calendar/users/org/calendars/primary/events/x/../y", "segment 9"),
        ("GET", "/v1.0/oauth2/../oauth2/accessToken", "segment 3"),
    ],
)
def test_dot_segments_and_empty_ids_are_rejected(
    emu: DingTalkEmulator, api: Api, method: str, path: str, field: str
) -> None:
    event_id = api.new_event()
    conn = _conn(emu)  # http.client sends the path exactly as given (no dot-segment normalisation)
    try:
        conn.request(method, path, body=b"{}", headers={"x-acs-dingtalk-access-token": api.token})
        resp = conn.getresponse()
        body = json.loads(resp.read())
    finally:
        conn.close()
    assert resp.status == 400, body
    assert body["code"] == "invalidParameter" and field in body["message"], body
    assert emu.event(event_id)["status"] == "confirmed"
    assert emu.requests()[-1]["operation"] is None and emu.requests()[-1]["status"] == 400
