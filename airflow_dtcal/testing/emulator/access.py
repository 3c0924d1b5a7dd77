"""Who may call: access tokens (issue, renew, expire), authentication of calendar calls, QPS throttling and
the organization's monthly API quota.

The functions that take a :class:`State` expect the caller to hold ``state.lock``.
"""

from __future__ import annotations

import collections
import math
import secrets
import time
from typing import Any

from airflow_dtcal.testing.emulator.contract import THROTTLE_WINDOW, TOKEN_HEADER
from airflow_dtcal.testing.emulator.errors import ApiError, invalid
from airflow_dtcal.testing.emulator.state import State


def _bad_credentials() -> ApiError:
    return ApiError(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")


def issue_token(state: State, body: Any) -> dict:
    """GetAccessToken: the app's current token (renewed) while it is valid, else a new one."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object {appKey, appSecret}")
    key, secret = body.get("appKey"), body.get("appSecret")
    if not isinstance(key, str) or not key or not isinstance(secret, str) or not secret:
        raise _bad_credentials()
    if state.apps is not None and state.apps.get(key) != secret:
        raise _bad_credentials()
    state.secrets_seen.add(secret)
    now = time.monotonic()
    token = state.app_tokens.get(key)
    record = state.tokens.get(token) if token else None
    if record is None or record["expires"] <= now:
        if token:
            state.tokens.pop(token, None)
        token = secrets.token_hex(16)
        record = {"app": key}
        state.tokens[token] = record
        state.app_tokens[key] = token
        state.tokens_issued += 1
    record["expires"] = now + state.token_ttl
    state.token_fetches += 1
    return {"accessToken": token, "expireIn": math.ceil(state.token_ttl)}


def app_of_token(state: State, token: str) -> str | None:
    """The app key a valid token belongs to, or None for an unknown, expired or revoked token."""
    record = state.tokens.get(token)
    if record is None or record["expires"] <= time.monotonic():
        return None
    return record["app"]


def authenticate(state: State, headers: dict) -> str:
    """The calling app's key, from the ``x-acs-dingtalk-access-token`` header (the only place it is read)."""
    token = headers.get(TOKEN_HEADER)
    if not token:
        raise ApiError(400, "AuthenticationFailed.MissingParameter", f"缺少参数：{TOKEN_HEADER}")
    app = app_of_token(state, token)
    if app is None:
        raise ApiError(400, "InvalidAuthentication", "不合法的access_token")
    return app


def within_qps(state: State, app: str, api: str) -> bool:
    """Whether one more call of ``api`` by ``app`` fits the sliding 1-second window (and record it if so)."""
    if state.qps_limit is None:
        return True
    now = time.monotonic()
    window = state.windows.get((app, api))
    if window is None:
        window = state.windows[(app, api)] = collections.deque()
    while window and window[0] <= now - THROTTLE_WINDOW:
        window.popleft()
    if len(window) >= state.qps_limit:
        return False
    window.append(now)
    return True


def throttle(state: State, app: str, op: str) -> None:
    if not within_qps(state, app, op):
        state.counters["throttled"][op] += 1
        raise ApiError(
            403,
            "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
            "The QPS limit of this app for this API has been exceeded; retry after 1 second.",
        )


def within_quota(state: State, op: str) -> None:
    """Refuse a calendar call once the month's quota is used up (403 ``ApiCountLimitForOrg``)."""
    state.roll_quota_month()
    if state.monthly_quota is not None and sum(state.counters["counted"].values()) >= state.monthly_quota:
        state.counters["over_quota"][op] += 1
        raise ApiError(
            403,
            "Forbidden.AccessDenied.ApiCountLimitForOrg",
            f"The organization has used its {state.monthly_quota} API calls for this month.",
        )


def count_call(state: State, app: str, op: str) -> None:
    """Count one calendar call of ``app`` against the month's quota (token calls are never counted)."""
    state.counters["counted"][op] += 1
    state.counted_by_app[app] = state.counted_by_app.get(app, 0) + 1
