"""Users' own mocked tests work against the hook: responses, requests-mock (sync) and respx (async).

The hook sends through ``requests.Session.request`` and ``httpx.AsyncClient`` public APIs, so a mock
library sees every call and nothing reaches the real host (``api.dingtalk.com`` by default). Mounted
adapters, ``session.auth`` and ``session.hooks`` apply as they do for any requests user.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import requests
import requests_mock
import responses
import respx

from airflow_dtcal.exceptions import DingTalkNotFoundError, DingTalkSyncTokenExpiredError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

API = "https://api.dingtalk.com"
EVENTS = f"{API}/v1.0/calendar/users/org/calendars/primary/events"
TOKEN_URL = f"{API}/v1.0/oauth2/accessToken"
EVENT = {
    "summary": "Review",
    "start": {"dateTime": "2026-12-01T10:00:00+08:00", "timeZone": "Asia/Shanghai"},
    "end": {"dateTime": "2026-12-01T11:00:00+08:00", "timeZone": "Asia/Shanghai"},
}
NOT_FOUND = {"code": "instanceNotExist", "message": "no such event", "requestid": "req-1"}


@pytest.fixture(autouse=True)
def real_host_connection(monkeypatch):
    """A production-like connection: no host given, so the hook talks to https://api.dingtalk.com."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT",
        json.dumps({"conn_type": "dingtalk_calendar", "login": "app-key", "password": "app-secret"}),
    )


def hook() -> DingTalkCalendarHook:
    return DingTalkCalendarHook(max_attempts=1, rate_limit=0)


def test_responses_sees_every_call():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(TOKEN_URL, json={"accessToken": "mock-token", "expireIn": 7200})
        mock.post(EVENTS, json={"id": "ev-1", **EVENT})
        mock.get(f"{EVENTS}/ev-2", json=NOT_FOUND, status=404)
        created = hook().create_event("org", EVENT, client_token="key-1")
        with pytest.raises(DingTalkNotFoundError, match="instanceNotExist"):
            hook().get_event("org", "ev-2")
        create = mock.calls[1].request
        assert len(mock.calls) == 3  # one token (shared by both hooks), the create, the read
    assert created["id"] == "ev-1"
    assert create.headers["x-acs-dingtalk-access-token"] == "mock-token"
    assert create.headers["x-client-token"] == "key-1"
    assert json.loads(create.body)["summary"] == "Review"


def test_requests_mock_sees_every_call():
    with requests_mock.Mocker() as mock:
        mock.post(TOKEN_URL, json={"accessToken": "mock-token", "expireIn": 7200})
        mock.get(f"{EVENTS}/ev-1/attendees", json={"attendees": [{"id": "a", "responseStatus": "accepted"}]})
        attendees = hook().list_attendees("org", "ev-1")
    assert attendees == [{"id": "a", "responseStatus": "accepted"}]
    assert [r.method for r in mock.request_history] == ["POST", "GET"]
    assert mock.request_history[1].qs == {"maxresults": ["500"]}


def test_respx_sees_every_async_call():
    async def run():
        h = hook()
        try:
            created = await h.acreate_event("org", EVENT, client_token="key-2")
            await h.arespond_event("a", created["id"], "accepted")
            with pytest.raises(DingTalkNotFoundError):
                await h.aget_event("org", "ev-2")
            return created
        finally:
            await h.aclose()

    with respx.mock(assert_all_called=True) as mock:
        token = mock.post(TOKEN_URL).respond(json={"accessToken": "mock-token", "expireIn": 7200})
        create = mock.post(EVENTS).respond(json={"id": "ev-1", **EVENT})
        respond = mock.post(
            "https://api.dingtalk.com/v1.0/calendar/users/a/calendars/primary/events/ev-1/respond"
        ).respond(status_code=200)
        mock.get(f"{EVENTS}/ev-2").respond(status_code=404, json=NOT_FOUND)
        created = asyncio.run(run())
    assert created["id"] == "ev-1"
    assert token.call_count == 1
    assert create.calls.last.request.headers["x-client-token"] == "key-2"
    assert json.loads(respond.calls.last.request.content) == {"responseStatus": "accepted"}


def test_a_users_mocks_drive_incremental_listing_and_a_token_reset():
    """What a user's unit test of their own export code does: two pages, then an expired token."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(TOKEN_URL, json={"accessToken": "mock-token", "expireIn": 7200})
        mock.get(EVENTS, json={"events": [{"id": "ev-1"}], "nextToken": "p2"})
        mock.get(EVENTS, json={"events": [{"id": "ev-2", "status": "cancelled"}], "syncToken": "s1"})
        pages = list(hook().iter_event_changes("org", sync_token="s0"))
        urls = [call.request.url for call in mock.calls]
        mock.get(
            EVENTS, status=400, json={"code": "invalidSyncToken", "message": "expired", "requestid": "r"}
        )
        with pytest.raises(DingTalkSyncTokenExpiredError):
            list(hook().iter_event_changes("org", sync_token="s1"))
    assert [(p.events, p.sync_token, p.full) for p in pages] == [
        ([{"id": "ev-1"}], None, False),
        ([{"id": "ev-2", "status": "cancelled"}], "s1", False),
    ]
    assert "syncToken=s0" in urls[1] and "nextToken" not in urls[1]
    assert "syncToken=s0" in urls[2] and "nextToken=p2" in urls[2]


def test_mounted_adapters_auth_and_hooks_apply(dtcal_emulator):
    """A user's session customisations reach the wire: an adapter mounted for the host, auth, hooks."""
    seen: list[str] = []

    class CountingAdapter(requests.adapters.HTTPAdapter):
        def send(self, request, **kwargs):
            seen.append(request.method)
            return super().send(request, **kwargs)

    h = DingTalkCalendarHook(rate_limit=0)
    h.session.mount(dtcal_emulator.base_url, CountingAdapter())
    h.session.auth = ("proxy-user", "proxy-pass")
    statuses: list[int] = []
    h.session.hooks["response"].append(lambda response, **_: statuses.append(response.status_code))

    h.list_events("org")
    assert seen == ["POST", "GET"] and statuses == [200, 200]
    assert dtcal_emulator.requests()[-1]["headers"]["authorization"].startswith("Basic ")


def test_httpx_mock_transport_is_an_ordinary_client():
    """The async client is a plain httpx.AsyncClient: a user can swap its transport like any other."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/accessToken"):
            return httpx.Response(200, json={"accessToken": "t", "expireIn": 7200})
        return httpx.Response(200, json={"events": [{"id": "ev-1"}]})

    async def run():
        h = hook()
        client = await h.get_async_client()
        assert isinstance(client, httpx.AsyncClient)
        client._transport = httpx.MockTransport(handler)
        try:
            return await h.alist_events("org")
        finally:
            await h.aclose()

    assert asyncio.run(run()) == [{"id": "ev-1"}]
