"""The four clients compared by the benchmark, each driving the same five Calendar calls.

Every client exposes ``create(organizer) -> event id``, ``add(organizer, event_id, ids)``,
``list(organizer, event_id) -> attendees``, ``respond(user, event_id, status)`` and
``remove(organizer, event_id, ids)``, and builds its payload inside the call, the way its user would:

* ``hook``: :class:`airflow_dtcal.hooks.calendar.DingTalkCalendarHook` (dict payloads).
* ``requests``: a bare ``requests.Session`` with keep-alive, sending the same headers (accept, user-agent,
  token, a fresh ``x-client-token`` per write) and the same JSON: the floor for a requests-based client.
* ``sdk``: the official ``alibabacloud_dingtalk`` calendar_1_0 client, request and header models built per
  call, the token fetched once and passed in the header model.
* ``httphook``: Airflow's generic ``HttpHook`` used as a hand-rolled user would (one hook per HTTP method,
  ``run(endpoint, json=..., headers=...)``, ``.json()`` on the answer), the token fetched once.

The token is fetched (and, for our hook, cached) in the constructor, so the timed calls never include it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

TOKEN_PATH = "/v1.0/oauth2/accessToken"
TOKEN_HEADER = "x-acs-dingtalk-access-token"
CLIENT_TOKEN_HEADER = "x-client-token"
TZ = "Asia/Shanghai"
START = "2026-03-02T10:00:00+08:00"
END = "2026-03-02T10:30:00+08:00"
SUMMARY = "Benchmark sync"
#: Attendees named in the create body; the scenario then adds two more, lists, responds and removes one.
FIRST_ATTENDEES = ("att-1", "att-2")
PAGE_SIZE = 500


def event_body(attendees: tuple[str, ...] | list[str] = FIRST_ATTENDEES) -> dict:
    """The wire-format CreateEvent body every requests-based client sends."""
    return {
        "summary": SUMMARY,
        "start": {"dateTime": START, "timeZone": TZ},
        "end": {"dateTime": END, "timeZone": TZ},
        "attendees": [{"id": a, "isOptional": False} for a in attendees],
    }


def connection_json(
    base_url: str,
    app_key: str,
    app_secret: str,
    conn_type: str = "dingtalk_calendar",
    extra: dict | None = None,
) -> str:
    """An Airflow connection in JSON form, for an ``AIRFLOW_CONN_<ID>`` environment variable."""
    conn = {"conn_type": conn_type, "login": app_key, "password": app_secret, "host": base_url}
    if extra:
        conn["extra"] = extra
    return json.dumps(conn)


def _events(user: str) -> str:
    return f"/v1.0/calendar/users/{quote(user, safe='')}/calendars/primary/events"


def _event(user: str, event_id: str, suffix: str) -> str:
    return f"{_events(user)}/{quote(event_id, safe='')}{suffix}"


class HookClient:
    name = "hook"
    label = "airflow-dtcal hook"

    def __init__(self, conn_id: str, **hook_kwargs: Any) -> None:
        from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

        self.hook = DingTalkCalendarHook(conn_id, **hook_kwargs)
        self.hook.get_access_token()  # cached in the process from here on

    def create(self, organizer: str) -> str:
        return self.hook.create_event(organizer, event_body())["id"]

    def add(self, organizer: str, event_id: str, ids: list[str]) -> None:
        self.hook.add_attendees(organizer, event_id, ids)

    def list(self, organizer: str, event_id: str) -> list[dict]:
        return self.hook.list_attendees(organizer, event_id)

    def respond(self, user: str, event_id: str, status: str) -> None:
        self.hook.respond_event(user, event_id, status)

    def remove(self, organizer: str, event_id: str, ids: list[str]) -> None:
        self.hook.remove_attendees(organizer, event_id, ids)


class RequestsClient:
    name = "requests"
    label = "bare requests.Session"

    def __init__(self, base_url: str, app_key: str, app_secret: str) -> None:
        import requests

        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers.update({"accept": "application/json", "user-agent": "dtcal-bench/requests"})
        answer = self.session.post(base_url + TOKEN_PATH, json={"appKey": app_key, "appSecret": app_secret})
        answer.raise_for_status()
        self.token = answer.json()["accessToken"]

    def _send(self, method: str, path: str, *, body: Any = None, params: Any = None, write: bool = True):
        headers = {TOKEN_HEADER: self.token}
        if write:
            headers[CLIENT_TOKEN_HEADER] = uuid.uuid4().hex
        answer = self.session.request(
            method,
            self.base_url + path,
            params=params,
            json=body,
            headers=headers,
            timeout=(5.0, 30.0),
            allow_redirects=False,
        )
        answer.raise_for_status()
        return answer

    def create(self, organizer: str) -> str:
        return self._send("POST", _events(organizer), body=event_body()).json()["id"]

    def add(self, organizer: str, event_id: str, ids: list[str]) -> None:
        body = {"attendeesToAdd": [{"id": i, "isOptional": False} for i in ids]}
        self._send("POST", _event(organizer, event_id, "/attendees"), body=body)

    def list(self, organizer: str, event_id: str) -> list[dict]:
        path = _event(organizer, event_id, "/attendees")
        found: list[dict] = []
        params: dict[str, Any] = {"maxResults": PAGE_SIZE}
        while True:
            page = self._send("GET", path, params=params, write=False).json()
            found.extend(page.get("attendees") or [])
            if not page.get("nextToken"):
                return found
            params = {"maxResults": PAGE_SIZE, "nextToken": page["nextToken"]}

    def respond(self, user: str, event_id: str, status: str) -> None:
        self._send("POST", _event(user, event_id, "/respond"), body={"responseStatus": status})

    def remove(self, organizer: str, event_id: str, ids: list[str]) -> None:
        body = {"attendeesToRemove": [{"id": i} for i in ids]}
        self._send("POST", _event(organizer, event_id, "/attendees/batchRemove"), body=body)


#: The code DingTalk answers (HTTP 403) when an app exceeds an API's calls per second.
THROTTLE_CODE = "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"


def sdk_retry_options(max_attempts: int = 5, period_ms: int = 500, cap_ms: int = 20000):
    """The SDK's own retry on the throttling code, set up as a careful user would.

    ``alibabacloud_dingtalk`` 2.x sends through tea-openapi's ``execute``, which retries only when the
    client's ``Config.retry_options`` has a ``RetryCondition`` naming the error code; the per-call
    ``RuntimeOptions(autoretry=True, max_attempts=..., backoff_policy=...)`` is ignored on that path. The
    attempts (5) match the hook's default; the waits (exponential with equal jitter: 0.5-1, 1-2, 2-4, 4-8 s)
    follow DingTalk's "retry after 1 second" and come close to the hook's (at least 1 s after a throttle).
    """
    from darabonba.policy.retry import RetryCondition, RetryOptions

    condition = RetryCondition(
        max_attempts=max_attempts,
        error_code=[THROTTLE_CODE],
        backoff={"policy": "ExponentialWithEqualJitter", "period": period_ms, "cap": cap_ms},
    )
    return RetryOptions(retryable=True, retry_condition=[condition])


class SdkClient:
    name = "sdk"
    label = "official SDK (alibabacloud_dingtalk)"

    def __init__(self, base_url: str, app_key: str, app_secret: str, *, retry: bool = False) -> None:
        from alibabacloud_dingtalk.calendar_1_0 import models as cm
        from alibabacloud_dingtalk.calendar_1_0.client import Client as CalendarClient
        from alibabacloud_dingtalk.oauth2_1_0 import models as om
        from alibabacloud_dingtalk.oauth2_1_0.client import Client as OAuthClient
        from alibabacloud_tea_openapi import models as open_api_models
        from alibabacloud_tea_util import models as util_models

        self.cm = cm
        self.util_models = util_models
        endpoint = base_url.split("://", 1)[1]
        config = open_api_models.Config(protocol="http", region_id="central", endpoint=endpoint)
        oauth = OAuthClient(config)
        if retry:
            config.retry_options = sdk_retry_options()
        self.calendar = CalendarClient(config)
        answer = oauth.get_access_token(om.GetAccessTokenRequest(app_key=app_key, app_secret=app_secret))
        self.token = answer.body.access_token

    def _runtime(self):
        return self.util_models.RuntimeOptions(connect_timeout=5000, read_timeout=30000)

    def create(self, organizer: str) -> str:
        cm = self.cm
        request = cm.CreateEventRequest(
            summary=SUMMARY,
            start=cm.CreateEventRequestStart(date_time=START, time_zone=TZ),
            end=cm.CreateEventRequestEnd(date_time=END, time_zone=TZ),
            attendees=[cm.CreateEventRequestAttendees(id=a, is_optional=False) for a in FIRST_ATTENDEES],
        )
        headers = cm.CreateEventHeaders(x_acs_dingtalk_access_token=self.token)
        answer = self.calendar.create_event_with_options(
            organizer, "primary", request, headers, self._runtime()
        )
        return answer.body.id

    def add(self, organizer: str, event_id: str, ids: list[str]) -> None:
        cm = self.cm
        request = cm.AddAttendeeRequest(
            attendees_to_add=[cm.AddAttendeeRequestAttendeesToAdd(id=i, is_optional=False) for i in ids]
        )
        headers = cm.AddAttendeeHeaders(x_acs_dingtalk_access_token=self.token)
        self.calendar.add_attendee_with_options(
            organizer, "primary", event_id, request, headers, self._runtime()
        )

    def list(self, organizer: str, event_id: str) -> list:
        cm = self.cm
        headers = cm.ListAttendeesHeaders(x_acs_dingtalk_access_token=self.token)
        found: list = []
        next_token = None
        while True:
            request = cm.ListAttendeesRequest(max_results=PAGE_SIZE, next_token=next_token)
            body = self.calendar.list_attendees_with_options(
                organizer, "primary", event_id, request, headers, self._runtime()
            ).body
            found.extend(body.attendees or [])
            next_token = body.next_token
            if not next_token:
                return found

    def respond(self, user: str, event_id: str, status: str) -> None:
        cm = self.cm
        request = cm.RespondEventRequest(response_status=status)
        headers = cm.RespondEventHeaders(x_acs_dingtalk_access_token=self.token)
        self.calendar.respond_event_with_options(user, "primary", event_id, request, headers, self._runtime())

    def remove(self, organizer: str, event_id: str, ids: list[str]) -> None:
        cm = self.cm
        request = cm.RemoveAttendeeRequest(
            attendees_to_remove=[cm.RemoveAttendeeRequestAttendeesToRemove(id=i) for i in ids]
        )
        headers = cm.RemoveAttendeeHeaders(x_acs_dingtalk_access_token=self.token)
        self.calendar.remove_attendee_with_options(
            organizer, "primary", event_id, request, headers, self._runtime()
        )


class HttpHookClient:
    name = "httphook"
    label = "Airflow HttpHook (providers-http)"

    def __init__(self, conn_id: str, app_key: str, app_secret: str) -> None:
        from airflow.providers.http.hooks.http import HttpHook

        self.post = HttpHook(method="POST", http_conn_id=conn_id)
        self.get = HttpHook(method="GET", http_conn_id=conn_id)
        answer = self.post.run(TOKEN_PATH, json={"appKey": app_key, "appSecret": app_secret})
        self.token = answer.json()["accessToken"]
        self.headers = {TOKEN_HEADER: self.token}

    def create(self, organizer: str) -> str:
        return self.post.run(_events(organizer), json=event_body(), headers=self.headers).json()["id"]

    def add(self, organizer: str, event_id: str, ids: list[str]) -> None:
        body = {"attendeesToAdd": [{"id": i, "isOptional": False} for i in ids]}
        self.post.run(_event(organizer, event_id, "/attendees"), json=body, headers=self.headers)

    def list(self, organizer: str, event_id: str) -> list[dict]:
        path = _event(organizer, event_id, "/attendees")
        found: list[dict] = []
        params: dict[str, Any] = {"maxResults": PAGE_SIZE}
        while True:
            page = self.get.run(path, data=params, headers=self.headers).json()
            found.extend(page.get("attendees") or [])
            if not page.get("nextToken"):
                return found
            params = {"maxResults": PAGE_SIZE, "nextToken": page["nextToken"]}

    def respond(self, user: str, event_id: str, status: str) -> None:
        self.post.run(
            _event(user, event_id, "/respond"), json={"responseStatus": status}, headers=self.headers
        )

    def remove(self, organizer: str, event_id: str, ids: list[str]) -> None:
        body = {"attendeesToRemove": [{"id": i} for i in ids]}
        self.post.run(_event(organizer, event_id, "/attendees/batchRemove"), json=body, headers=self.headers)
