"""Shared helpers for the emulator's own tests: a thin `requests` client speaking the DingTalk wire format."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from airflow_dtcal.testing import DingTalkEmulator

TOKEN_HEADER = "x-acs-dingtalk-access-token"


def timed(start: str, end: str, tz: str = "Asia/Shanghai") -> dict:
    return {"start": {"dateTime": start, "timeZone": tz}, "end": {"dateTime": end, "timeZone": tz}}


def event_body(summary: str = "Standup", **extra: Any) -> dict:
    body = {"summary": summary}
    body.update(timed("2025-09-20T10:00:00+08:00", "2025-09-20T10:30:00+08:00"))
    body.update(extra)
    return body


class Api:
    """Plain HTTP access to an emulator, one keep-alive session, no retries, no proxies."""

    def __init__(self, base_url: str, app_key: str = "app-1", app_secret: str = "secret-1") -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.trust_env = False
        self.app_key = app_key
        self.app_secret = app_secret
        self.token: str | None = None

    def close(self) -> None:
        self.session.close()

    def get_token(self, app_key: str | None = None, app_secret: str | None = None) -> requests.Response:
        return self.session.post(
            f"{self.base_url}/v1.0/oauth2/accessToken",
            json={"appKey": app_key or self.app_key, "appSecret": app_secret or self.app_secret},
            timeout=10,
        )

    def login(self) -> str:
        resp = self.get_token()
        assert resp.status_code == 200, resp.text
        self.token = resp.json()["accessToken"]
        return self.token

    def url(self, user: str, *rest: str, calendar: str = "primary") -> str:
        parts = ["v1.0", "calendar", "users", user, "calendars", calendar, *rest]
        return self.base_url + "/" + "/".join(quote(p, safe="") for p in parts)

    def call(
        self,
        method: str,
        user: str,
        *rest: str,
        json: Any = None,
        params: dict | None = None,
        token: str | None = "default",
        client_token: str | None = None,
        timeout: float = 10,
        **kwargs: Any,
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token == "default":
            token = self.token
        if token is not None:
            headers[TOKEN_HEADER] = token
        if client_token is not None:
            headers["x-client-token"] = client_token
        return self.session.request(
            method,
            self.url(user, *rest),
            json=json,
            params=params,
            headers=headers,
            timeout=timeout,
            **kwargs,
        )

    # one helper per operation
    def create(self, user: str, body: dict, **kw: Any) -> requests.Response:
        return self.call("POST", user, "events", json=body, **kw)

    def get(self, user: str, event_id: str, **kw: Any) -> requests.Response:
        return self.call("GET", user, "events", event_id, **kw)

    def list_events(self, user: str, **kw: Any) -> requests.Response:
        return self.call("GET", user, "events", **kw)

    def patch(self, user: str, event_id: str, body: dict, **kw: Any) -> requests.Response:
        return self.call("PUT", user, "events", event_id, json=body, **kw)

    def delete(self, user: str, event_id: str, **kw: Any) -> requests.Response:
        return self.call("DELETE", user, "events", event_id, **kw)

    def add(self, user: str, event_id: str, ids: list[str], **kw: Any) -> requests.Response:
        body = {"attendeesToAdd": [{"id": i, "isOptional": False} for i in ids]}
        return self.call("POST", user, "events", event_id, "attendees", json=body, **kw)

    def list_attendees(self, user: str, event_id: str, **kw: Any) -> requests.Response:
        return self.call("GET", user, "events", event_id, "attendees", **kw)

    def remove(self, user: str, event_id: str, ids: list[str], **kw: Any) -> requests.Response:
        body = {"attendeesToRemove": [{"id": i} for i in ids]}
        return self.call("POST", user, "events", event_id, "attendees", "batchRemove", json=body, **kw)

    def respond(self, user: str, event_id: str, status: str, **kw: Any) -> requests.Response:
        return self.call("POST", user, "events", event_id, "respond", json={"responseStatus": status}, **kw)

    def new_event(self, user: str = "org", **extra: Any) -> str:
        resp = self.create(user, event_body(**extra))
        assert resp.status_code == 200, resp.text
        return resp.json()["id"]


def assert_error(resp: requests.Response, status: int, code: str, *message_parts: str) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"code", "message", "requestid"}, body
    assert body["code"] == code, body
    assert body["requestid"]
    for part in message_parts:
        assert part in body["message"], body
    return body


@pytest.fixture
def emu(dtcal_emulator: DingTalkEmulator) -> DingTalkEmulator:
    """The plugin's function-scoped emulator (clean state, throttling off unless marked)."""
    return dtcal_emulator


@pytest.fixture
def api(emu: DingTalkEmulator) -> Iterator[Api]:
    client = Api(emu.base_url)
    client.login()
    yield client
    client.close()
