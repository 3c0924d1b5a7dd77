"""DingTalkCalendarHook: one HTTP path to the DingTalk Calendar API.

Every public method is a few lines over :meth:`DingTalkCalendarHook._request`, which owns the access-token
header, timeouts, client-side pacing, the retry policy, idempotency headers and the mapping of DingTalk
errors (``{code, message, requestid}``, read from the body as well as the status) to
:mod:`airflow_dtcal.exceptions`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests
import tenacity
import urllib3

from airflow_dtcal import __version__
from airflow_dtcal.exceptions import (
    DingTalkAPIError,
    DingTalkAuthError,
    DingTalkBannedError,
    DingTalkConfigurationError,
    DingTalkError,
    DingTalkInvalidArgumentError,
    DingTalkInvalidParameterError,
    DingTalkNotFoundError,
    DingTalkPermissionError,
    DingTalkQuotaExceededError,
    DingTalkRateLimitError,
    DingTalkServerError,
    DingTalkTransportError,
)
from airflow_dtcal.payloads import (
    MAX_ATTENDEES_PER_CALL,
    InvalidArgumentError,
    chunked,
    derive_client_token,
    normalize_attendee_ids,
    normalize_attendees,
    require_id,
    split_create_attendees,
    validate_response_status,
)

try:
    from airflow.sdk import BaseHook
except ImportError:  # pragma: no cover - Airflow < 3
    from airflow.hooks.base import BaseHook

from airflow_dtcal.compat import mask_secret

DEFAULT_HOST = "api.dingtalk.com"
TOKEN_HEADER = "x-acs-dingtalk-access-token"
CLIENT_TOKEN_HEADER = "x-client-token"
TOKEN_PATH = "/v1.0/oauth2/accessToken"

#: Settings read from hook arguments, then connection extras, then these defaults.
DEFAULTS: dict[str, Any] = {
    "timeout": 30.0,  # seconds to wait for an answer
    "connect_timeout": 5.0,  # seconds to open a connection
    "max_attempts": 5,  # tries of one request, the first included
    "backoff_initial": 0.5,  # seconds before the first retry; doubled each time, with jitter
    "backoff_max": 20.0,  # cap of one wait
    "retry_deadline": 120.0,  # no retry starts after this many seconds of one request
    "rate_limit": 20.0,  # calls per second per app and API in this process (DingTalk's quota); 0 = off
    "verify": True,  # TLS verification (or a CA bundle path)
}
THROTTLE_CODES = (
    "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
    "Forbidden.AccessDenied.QpsLimitForApi",
)
QUOTA_CODE = "Forbidden.AccessDenied.ApiCountLimitForOrg"
AUTH_CODES = ("InvalidAuthentication", "invalidClientIdOrSecret")
#: Seconds to wait after throttling when DingTalk gives no hint: its QPS windows are one second long.
THROTTLE_WAIT = 1.0
#: The pacer's window is a little longer than DingTalk's one second, so that network jitter cannot make
#: ``rate_limit`` calls arrive within one server-side second.
PACER_WINDOW = 1.05


# --------------------------------------------------------------------------------------------- process state


class _TokenCache:
    """Access tokens per (API base, app key, secret digest), shared by every hook in the process.

    One lock per app, held while fetching, so concurrent calls fetch a token once.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple, threading.Lock] = {}
        self._tokens: dict[tuple, tuple[str, float]] = {}

    def lock(self, key: tuple) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key: tuple) -> str | None:
        entry = self._tokens.get(key)
        if entry and time.monotonic() < entry[1]:
            return entry[0]
        return None

    def put(self, key: tuple, token: str, expires_in: float) -> None:
        margin = min(300.0, expires_in * 0.1)
        self._tokens[key] = (token, time.monotonic() + max(expires_in - margin, 1.0))

    def invalidate(self, key: tuple, token: str) -> None:
        """Forget ``token`` unless another thread has already replaced it."""
        with self._guard:
            entry = self._tokens.get(key)
            if entry and entry[0] == token:
                del self._tokens[key]

    def clear(self) -> None:
        with self._guard:
            self._tokens.clear()


class _Pacer:
    """At most ``limit`` request starts per (app, operation) in any ``PACER_WINDOW``, process-wide."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._starts: dict[tuple, deque] = {}

    def wait(self, key: tuple, limit: float) -> float:
        slots = max(int(limit), 1)
        waited = 0.0
        while True:
            with self._guard:
                starts = self._starts.setdefault(key, deque())
                now = time.monotonic()
                while starts and now - starts[0] >= PACER_WINDOW:
                    starts.popleft()
                if len(starts) < slots:
                    starts.append(now)
                    return waited
                delay = PACER_WINDOW - (now - starts[0])
            time.sleep(delay)
            waited += delay


_TOKENS = _TokenCache()
_PACER = _Pacer()


def clear_token_cache() -> None:
    """Forget every cached access token in this process (tests, credential rotation)."""
    _TOKENS.clear()


# --------------------------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Settings:
    base_url: str
    app_key: str
    app_secret: str
    timeout: float
    connect_timeout: float
    max_attempts: int
    backoff_initial: float
    backoff_max: float
    retry_deadline: float
    rate_limit: float
    verify: bool | str

    def __repr__(self) -> str:  # never show the secret
        return f"_Settings(base_url={self.base_url!r}, app_key={self.app_key!r}, app_secret='***')"


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def resolve_base_url(host: str | None, schema: str | None = None, port: int | None = None) -> str:
    """The API base URL from a connection's host (bare name or URL), schema and port.

    https is the default; plain http is accepted only for a loopback host (the emulator).
    """
    raw = (host or "").strip() or DEFAULT_HOST
    if "://" not in raw:
        scheme = (schema or "").strip().lower() or "https"
        raw = f"{scheme}://{raw}"
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise DingTalkConfigurationError(f"connection host: scheme must be https (got {scheme!r})")
    try:
        hostname, own_port = parts.hostname, parts.port
    except ValueError as err:
        raise DingTalkConfigurationError(f"connection host: {err}") from None
    if not hostname:
        raise DingTalkConfigurationError(f"connection host: no host name in {raw!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise DingTalkConfigurationError(
            "connection host: give only scheme, host, port and path (credentials go in login/password)"
        )
    if scheme == "http" and not _is_loopback(hostname):
        raise DingTalkConfigurationError(
            f"connection host: plain http:// is only allowed to a loopback host such as the emulator "
            f"(got {hostname!r}); use https://"
        )
    netloc = f"[{hostname}]" if ":" in hostname else hostname
    chosen_port = own_port or port
    if chosen_port:
        netloc += f":{chosen_port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def _segment(value: Any, field: str) -> str:
    """One percent-encoded path segment: an id like ``../x`` cannot change the path."""
    return quote(require_id(value, field), safe="")


@contextmanager
def _arguments() -> Iterator[None]:
    """Raise argument errors as DingTalkInvalidArgumentError (an AirflowFailException)."""
    try:
        yield
    except DingTalkInvalidArgumentError:
        raise
    except InvalidArgumentError as err:
        raise DingTalkInvalidArgumentError.from_error(err) from None


def _float_setting(name: str, value: Any, *, low: float = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DingTalkConfigurationError(f"{name}: must be a number (got {value!r})") from None
    if number < low:
        raise DingTalkConfigurationError(f"{name}: must be at least {low} (got {value!r})")
    return number


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def _api_error(operation: str, status: int, headers: Mapping[str, str], body: Any) -> DingTalkAPIError:
    body = body if isinstance(body, dict) else {}
    code = body.get("code") or body.get("Code")
    message = body.get("message") or body.get("Message")
    request_id = body.get("requestid") or body.get("requestId") or body.get("RequestId")
    code_text = str(code or "")
    lowered = code_text.lower()
    retry_after = _retry_after(headers)
    if code_text in THROTTLE_CODES or "qpslimit" in lowered or status == 429:
        cls = DingTalkRateLimitError
        retry_after = THROTTLE_WAIT if retry_after is None else retry_after
    elif code_text == QUOTA_CODE:
        cls = DingTalkQuotaExceededError
    elif (
        code_text in AUTH_CODES
        or lowered.startswith("authenticationfailed")
        or lowered.startswith("invalidauthentication")
        or status == 401
    ):
        cls = DingTalkAuthError
    elif status == 404 or "notexist" in lowered or "notfound" in lowered or "not.found" in lowered:
        cls = DingTalkNotFoundError
    elif status == 403 or lowered.startswith("forbidden"):
        cls = DingTalkPermissionError
    elif status >= 500:
        cls = DingTalkServerError
    elif status == 400 or lowered:
        cls = DingTalkInvalidParameterError
    else:
        cls = DingTalkAPIError
    return cls(operation, status, code_text or None, message, request_id, retry_after=retry_after)


def interpret_response(operation: str, status: int, headers: Mapping[str, str], content: bytes) -> Any:
    """The parsed JSON body of a successful answer, or the typed exception for a failed one.

    Shared by the hook (requests) and the trigger (httpx): DingTalk errors are read from the body as well as
    the status; a non-JSON answer or an IP-ban body is a retryable :class:`DingTalkBannedError`.
    """
    body = None
    if content and content.strip():
        try:
            body = json.loads(content)
        except ValueError:
            kind = (headers.get("content-type") or "unknown type").split(";")[0]
            raise DingTalkBannedError(
                operation,
                status,
                None,
                f"answered {kind} ({len(content)} bytes) instead of JSON; a gateway error or an IP ban page",
            ) from None
    wait = _ban_wait(body)
    if wait is not None:
        raise DingTalkBannedError(
            operation, status, None, f"the IP is being limited (wait {wait:g}s)", retry_after=wait
        )
    if status >= 400 or (
        isinstance(body, dict)
        and "code" in body
        and "message" in body
        and ("requestid" in body or "requestId" in body)
    ):
        raise _api_error(operation, status, headers, body)
    if status >= 300:
        raise DingTalkAPIError(operation, status, None, "unexpected redirect; not followed")
    return body


def _ban_wait(body: Any) -> float | None:
    if isinstance(body, dict) and "punish" in body:
        try:
            return max(float(body.get("wait", 0)), 0.0)
        except (TypeError, ValueError):
            return None
    return None


def _transport_error(operation: str, s: _Settings, err: Exception) -> DingTalkTransportError:
    """A requests or urllib3 failure as a DingTalkTransportError; DNS and TLS failures are not retried."""
    text = f"{type(err).__name__}: {err}"
    if isinstance(err, (requests.exceptions.SSLError, urllib3.exceptions.SSLError)):
        return DingTalkTransportError(
            operation, f"TLS failure talking to {s.base_url}: {err}", retryable=False
        )
    if isinstance(err, urllib3.exceptions.NameResolutionError) or any(
        hint in text for hint in ("NameResolution", "Name or service not known", "nodename nor servname")
    ):
        return DingTalkTransportError(
            operation,
            f"cannot resolve the host of {s.base_url}; check the connection's host",
            retryable=False,
        )
    refused = isinstance(err, urllib3.exceptions.NewConnectionError)  # a ConnectTimeoutError subclass
    if not refused and isinstance(err, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError)):
        return DingTalkTransportError(
            operation,
            f"no answer from {s.base_url} within {s.connect_timeout:g}s connect / {s.timeout:g}s read",
        )
    return DingTalkTransportError(operation, f"connection to {s.base_url} failed ({type(err).__name__})")


# --------------------------------------------------------------------------------------------- the hook


class DingTalkCalendarHook(BaseHook):
    """Talk to the DingTalk Calendar server API with an internal app's credentials.

    The Airflow connection gives the App Key (login), App Secret (password) and optionally the API host
    (default ``api.dingtalk.com`` over https; ``http://127.0.0.1:PORT`` for the emulator). Retry, timeout and
    pacing settings come from the arguments here, then the connection's extras, then :data:`DEFAULTS`.

    :param dingtalk_conn_id: the Airflow connection id.
    :param timeout: seconds to wait for an answer. :param connect_timeout: seconds to connect.
    :param max_attempts: tries per request (1 = no retry). :param retry_deadline: seconds after which no
        retry starts. :param backoff_initial: first backoff in seconds. :param backoff_max: cap of one wait.
    :param rate_limit: calls per second per API this process allows itself (DingTalk's quota is 20);
        0 turns pacing off. :param verify: TLS verification, or a CA bundle path.
    """

    conn_name_attr = "dingtalk_conn_id"
    default_conn_name = "dingtalk_calendar_default"
    conn_type = "dingtalk_calendar"
    hook_name = "DingTalk Calendar"

    def __init__(
        self,
        dingtalk_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        max_attempts: int | None = None,
        backoff_initial: float | None = None,
        backoff_max: float | None = None,
        retry_deadline: float | None = None,
        rate_limit: float | None = None,
        verify: bool | str | None = None,
    ) -> None:
        super().__init__()
        self.dingtalk_conn_id = dingtalk_conn_id
        self._overrides = {
            "timeout": timeout,
            "connect_timeout": connect_timeout,
            "max_attempts": max_attempts,
            "backoff_initial": backoff_initial,
            "backoff_max": backoff_max,
            "retry_deadline": retry_deadline,
            "rate_limit": rate_limit,
            "verify": verify,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dingtalk_conn_id={self.dingtalk_conn_id!r})"

    # ---------------------------------------------------------------- connection form (Airflow 3.0 - 3.1)

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import StringField

        return {
            "timeout": StringField(lazy_gettext("Timeout (s)"), widget=BS3TextFieldWidget()),
            "max_attempts": StringField(lazy_gettext("Max attempts"), widget=BS3TextFieldWidget()),
            "rate_limit": StringField(lazy_gettext("Calls per second per API"), widget=BS3TextFieldWidget()),
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "port"],
            "relabeling": {
                "login": "App Key (Client ID)",
                "password": "App Secret (Client Secret)",
                "host": "API host",
            },
            "placeholders": {
                "login": "dingxxxxxxxxxxxxxxxx",
                "password": "the app's Client Secret",
                "host": "api.dingtalk.com (or http://127.0.0.1:PORT for the emulator)",
                "timeout": "30",
                "max_attempts": "5",
                "rate_limit": "20",
            },
        }

    # ---------------------------------------------------------------- settings, session

    @cached_property
    def settings(self) -> _Settings:
        """Resolved once per hook: connection fields, extras and arguments, validated."""
        conn = self.get_connection(self.dingtalk_conn_id)
        extras = conn.extra_dejson or {}
        missing = [
            label
            for label, value in (("login (App Key)", conn.login), ("password (App Secret)", conn.password))
            if not value
        ]
        if missing:
            raise DingTalkConfigurationError(
                f"connection {self.dingtalk_conn_id!r}: {' and '.join(missing)} must be set"
            )

        def pick(name: str) -> Any:
            value = self._overrides.get(name)
            if value is None:  # plain extras, or the prefixed names older connection forms stored
                value = extras.get(name, extras.get(f"extra__{self.conn_type}__{name}"))
            if value is None or value == "":
                value = DEFAULTS[name]
            return value

        verify = pick("verify")
        if isinstance(verify, str) and verify.lower() in ("true", "false"):
            verify = verify.lower() == "true"
        attempts = _float_setting("max_attempts", pick("max_attempts"), low=1)
        if attempts != int(attempts):
            raise DingTalkConfigurationError(f"max_attempts: must be a whole number (got {attempts!r})")
        return _Settings(
            base_url=resolve_base_url(conn.host, conn.schema, conn.port),
            app_key=conn.login.strip(),
            app_secret=conn.password,
            timeout=_float_setting("timeout", pick("timeout"), low=0.001),
            connect_timeout=_float_setting("connect_timeout", pick("connect_timeout"), low=0.001),
            max_attempts=int(attempts),
            backoff_initial=_float_setting("backoff_initial", pick("backoff_initial")),
            backoff_max=_float_setting("backoff_max", pick("backoff_max")),
            retry_deadline=_float_setting("retry_deadline", pick("retry_deadline")),
            rate_limit=_float_setting("rate_limit", pick("rate_limit")),
            verify=verify,
        )

    @cached_property
    def session(self) -> requests.Session:
        """One keep-alive session per hook."""
        session = requests.Session()
        session.headers.update({"accept": "application/json", "user-agent": f"airflow-dtcal/{__version__}"})
        session.verify = self.settings.verify
        return session

    def get_conn(self) -> requests.Session:
        return self.session

    @cached_property
    def _pool(self) -> Any:
        """The urllib3 pool that the session's own adapter keeps for the API host, or None.

        Requests' ``Session.request`` re-reads the environment, merges settings and copies cookie jars on every
        call, which is most of a call's client CPU (see docs/benchmarks.md). The hook talks to one host with
        fixed headers, so it sends through the same keep-alive pool directly, with the TLS settings
        ``requests`` itself resolves (``verify``, ``REQUESTS_CA_BUNDLE``). When a proxy or ``~/.netrc``
        credentials apply to the host (None), every call takes the full ``Session.request`` path instead.
        """
        session, url = self.session, self.settings.base_url
        env = session.merge_environment_settings(url, {}, None, None, None)
        if requests.utils.select_proxy(url, env.get("proxies") or {}):
            return None
        if session.trust_env and requests.utils.get_netrc_auth(url):
            return None
        probe = requests.PreparedRequest()
        probe.prepare(method="GET", url=url)
        adapter = session.get_adapter(url)
        return adapter.get_connection_with_tls_context(probe, env.get("verify", True), cert=env.get("cert"))

    @cached_property
    def _pool_settings(self) -> tuple[str, dict[str, str], urllib3.Timeout]:
        s = self.settings
        headers = {key.lower(): value for key, value in self.session.headers.items()}
        return urlsplit(s.base_url).path, headers, urllib3.Timeout(connect=s.connect_timeout, read=s.timeout)

    def _send(
        self, method: str, path: str, params: Any, body: Any, headers: dict
    ) -> tuple[int, Mapping, bytes]:
        """One HTTP exchange, never following a redirect (it could carry the token header to another host)."""
        pool = self._pool
        if pool is None:
            s = self.settings
            response = self.session.request(
                method,
                s.base_url + path,
                params=params,
                json=body,
                headers=headers,
                timeout=(s.connect_timeout, s.timeout),
                allow_redirects=False,
            )
            return response.status_code, response.headers, response.content
        prefix, base_headers, timeout = self._pool_settings
        target = prefix + path
        if params:
            target += "?" + urlencode(params)
        payload = None
        all_headers = {**base_headers, **headers}
        if body is not None:
            payload = json.dumps(body, ensure_ascii=False, allow_nan=False).encode()
            all_headers["content-type"] = "application/json; charset=utf-8"
        response = pool.urlopen(
            method,
            target,
            body=payload,
            headers=all_headers,
            retries=False,  # the hook's own policy retries
            redirect=False,
            timeout=timeout,
            preload_content=True,
        )
        return response.status, response.headers, response.data

    @cached_property
    def _app(self) -> tuple:
        s = self.settings
        return (s.base_url, s.app_key, hashlib.sha256(s.app_secret.encode()).hexdigest())

    @cached_property
    def _retrying(self) -> tenacity.Retrying:
        s = self.settings
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(s.max_attempts) | tenacity.stop_before_delay(s.retry_deadline),
            wait=self._backoff,
            retry=tenacity.retry_if_exception(lambda err: isinstance(err, DingTalkError) and err.retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )

    def _backoff(self, state: tenacity.RetryCallState) -> float:
        s = self.settings
        exponential = min(s.backoff_max, s.backoff_initial * 2 ** (state.attempt_number - 1))
        wait = random.uniform(exponential / 2, exponential)
        hint = getattr(state.outcome.exception(), "retry_after", None) if state.outcome else None
        if hint is not None:
            wait = max(wait, min(hint, s.backoff_max) + random.uniform(0, s.backoff_initial / 2))
        return wait

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        operation = state.args[0] if state.args else "request"
        detail = getattr(error, "code", None) or type(error).__name__
        self.log.warning(
            "DingTalk %s attempt %d/%d failed (%s: %s); retrying in %.2fs",
            operation,
            state.attempt_number,
            self.settings.max_attempts,
            detail,
            error,
            state.upcoming_sleep,
        )

    # ---------------------------------------------------------------- the one request path

    def _request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        client_token: str | None = None,
        authenticated: bool = True,
    ) -> Any:
        """Send one API request with retries; return the parsed JSON body (None when there is none)."""
        return self._retrying(
            self._attempt, operation, method, path, params, body, client_token, authenticated
        )

    def _attempt(self, operation, method, path, params, body, client_token, authenticated) -> Any:
        s = self.settings
        headers = {CLIENT_TOKEN_HEADER: client_token} if client_token else {}
        refreshed = False
        while True:
            token = None
            if authenticated:
                token = self.get_access_token()
                headers[TOKEN_HEADER] = token
            if s.rate_limit > 0 and authenticated:
                waited = _PACER.wait((*self._app, operation), s.rate_limit)
                if waited > 0.5:
                    self.log.info(
                        "Paced DingTalk %s for %.2fs to stay within %g calls/s",
                        operation,
                        waited,
                        s.rate_limit,
                    )
            try:
                status, answer_headers, content = self._send(method, path, params, body, headers)
            except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as err:
                raise _transport_error(operation, s, err) from None
            try:
                return interpret_response(operation, status, answer_headers, content)
            except DingTalkAuthError:
                if not authenticated or refreshed:
                    raise
                _TOKENS.invalidate(self._app, token)
                refreshed = True
                self.log.info("DingTalk rejected the access token for %s; fetching a new one", operation)

    # ---------------------------------------------------------------- token

    def get_access_token(self) -> str:
        """The app's access token, from the process cache or fetched (then cached until shortly before expiry)."""
        token = _TOKENS.get(self._app)
        if token:
            return token
        with _TOKENS.lock(self._app):
            token = _TOKENS.get(self._app)  # another thread may have fetched it meanwhile
            if token:
                return token
            token, expires_in = self._fetch_token()
            _TOKENS.put(self._app, token, expires_in)
            return token

    def _fetch_token(self, *, retry: bool = True) -> tuple[str, float]:
        s = self.settings
        self.log.info("Fetching a DingTalk access token for app key %s", s.app_key)
        credentials = {"appKey": s.app_key, "appSecret": s.app_secret}
        try:
            if retry:
                body = self._request(
                    "GetAccessToken", "POST", TOKEN_PATH, body=credentials, authenticated=False
                )
            else:  # one attempt, without the retry policy
                body = self._attempt("GetAccessToken", "POST", TOKEN_PATH, None, credentials, None, False)
        except DingTalkError as err:
            # Already retried by its own policy: the call that needed the token must not retry it again.
            err.retryable = False
            raise
        token = body.get("accessToken") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise DingTalkAPIError("GetAccessToken", 200, None, "the answer has no accessToken")
        mask_secret(token)
        try:
            expires_in = float(body.get("expireIn", 7200))
        except (TypeError, ValueError):
            expires_in = 7200.0
        return token, expires_in

    def test_connection(self) -> tuple[bool, str]:
        """Fetch a fresh token: (True, ...) when the credentials work, else (False, the reason)."""
        try:  # one attempt: the connection form's Test button must answer quickly
            _token, expires_in = self._fetch_token(retry=False)
        except DingTalkError as err:
            return False, str(err)
        return (
            True,
            f"DingTalk issued an access token for app key {self.settings.app_key} (valid {expires_in:g}s)",
        )

    # ---------------------------------------------------------------- paths, tokens, chunks

    @staticmethod
    def _events_path(user_id: str, calendar_id: str) -> str:
        user, calendar = _segment(user_id, "user_id"), _segment(calendar_id, "calendar_id")
        return f"/v1.0/calendar/users/{user}/calendars/{calendar}/events"

    @classmethod
    def _event_path(cls, user_id: str, calendar_id: str, event_id: str, suffix: str = "") -> str:
        return f"{cls._events_path(user_id, calendar_id)}/{_segment(event_id, 'event_id')}{suffix}"

    @staticmethod
    def _base_token(client_token: str | None) -> str:
        if client_token is None:
            return uuid.uuid4().hex  # still makes this call's own retries idempotent
        return require_id(client_token, "client_token")

    def _in_chunks(
        self,
        operation: str,
        verb: str,
        event_id: str,
        items: list,
        chunk_size: int,
        client_token: str | None,
        send: Callable[[list, str], None],
    ) -> None:
        if not 1 <= chunk_size <= MAX_ATTENDEES_PER_CALL:
            raise DingTalkInvalidArgumentError(
                "chunk_size", f"must be from 1 to {MAX_ATTENDEES_PER_CALL}", chunk_size
            )
        base = self._base_token(client_token)
        chunks = list(chunked(items, chunk_size))
        done = 0
        for index, chunk in enumerate(chunks):
            token = base if len(chunks) == 1 else derive_client_token(base, operation, index)
            try:
                send(list(chunk), token)
            except DingTalkError:
                if done:
                    self.log.error(
                        "%s stopped after %s %s of %s attendees of event %s; running it again with the same "
                        "client token is safe (each chunk is idempotent)",
                        operation,
                        verb,
                        f"{done:,}",
                        f"{len(items):,}",
                        event_id,
                    )
                raise
            done += len(chunk)
            self.log.info(
                "%s %s of %s attendees of event %s",
                verb.capitalize(),
                f"{done:,}",
                f"{len(items):,}",
                event_id,
            )

    # ---------------------------------------------------------------- events

    def create_event(
        self,
        user_id: str,
        event: Mapping[str, Any],
        *,
        calendar_id: str = "primary",
        client_token: str | None = None,
    ) -> dict:
        """Create an event in the organizer's (``user_id``) calendar; return the created event.

        ``event`` is the wire-format body (see :func:`airflow_dtcal.payloads.build_event`). More than 500
        attendees are split: the event is created with the first 500 and the rest added in chunks.
        """
        with _arguments():
            if not isinstance(event, Mapping) or not event.get("summary") or not event.get("start"):
                raise InvalidArgumentError("event", "must be a dict with at least 'summary' and 'start'")
            path = self._events_path(user_id, calendar_id)
            head, rest = split_create_attendees(dict(event))
            if rest:
                normalize_attendees(event["attendees"])  # the per-event limit, before anything is sent
        base = self._base_token(client_token)
        created = self._request("CreateEvent", "POST", path, body=head, client_token=base)
        if not isinstance(created, dict) or not created.get("id"):
            raise DingTalkAPIError("CreateEvent", 200, None, "the answer has no event id")
        if rest:
            self.add_attendees(
                user_id,
                created["id"],
                rest,
                calendar_id=calendar_id,
                client_token=derive_client_token(base, "rest"),
            )
        return created

    def get_event(
        self, user_id: str, event_id: str, *, calendar_id: str = "primary", max_attendees: int | None = None
    ) -> dict:
        """One event as ``user_id`` (organizer or attendee) sees it."""
        with _arguments():
            path = self._event_path(user_id, calendar_id, event_id)
        params = {"maxAttendees": max_attendees} if max_attendees else None
        return self._request("GetEvent", "GET", path, params=params)

    def patch_event(
        self,
        user_id: str,
        event_id: str,
        changes: Mapping[str, Any],
        *,
        calendar_id: str = "primary",
        client_token: str | None = None,
    ) -> dict:
        """Change fields of an event (DingTalk's PUT PatchEvent; ``id`` is added for you)."""
        with _arguments():
            path = self._event_path(user_id, calendar_id, event_id)
            if not isinstance(changes, Mapping) or not changes:
                raise InvalidArgumentError(
                    "changes", "must be a non-empty dict of wire-format fields", changes
                )
        body = {**changes, "id": require_id(event_id, "event_id")}
        return self._request(
            "PatchEvent", "PUT", path, body=body, client_token=self._base_token(client_token)
        )

    def delete_event(
        self,
        user_id: str,
        event_id: str,
        *,
        calendar_id: str = "primary",
        push_notification: bool | None = None,
        client_token: str | None = None,
    ) -> None:
        """Delete an event: for everyone when ``user_id`` is the organizer, else from that attendee's calendar."""
        with _arguments():
            path = self._event_path(user_id, calendar_id, event_id)
        params = (
            None
            if push_notification is None
            else {"pushNotification": "true" if push_notification else "false"}
        )
        self._request(
            "DeleteEvent", "DELETE", path, params=params, client_token=self._base_token(client_token)
        )

    def iter_events(
        self,
        user_id: str,
        *,
        time_min: str | None = None,
        time_max: str | None = None,
        show_deleted: bool = False,
        page_size: int = 100,
        calendar_id: str = "primary",
    ) -> Iterator[dict]:
        """Events of a calendar, page by page (``nextToken``), without holding all pages."""
        with _arguments():
            path = self._events_path(user_id, calendar_id)
            if not 1 <= page_size <= 100:
                raise InvalidArgumentError("page_size", "must be from 1 to 100", page_size)
        params: dict[str, Any] = {"maxResults": page_size}
        if time_min:
            params["timeMin"] = time_min
        if time_max:
            params["timeMax"] = time_max
        if show_deleted:
            params["showDeleted"] = "true"
        yield from self._pages("ListEvents", path, params, "events")

    def list_events(self, user_id: str, **kwargs: Any) -> list[dict]:
        return list(self.iter_events(user_id, **kwargs))

    def _pages(self, operation: str, path: str, params: dict, key: str) -> Iterator[dict]:
        next_token = None
        while True:
            query = dict(params)
            if next_token:
                query["nextToken"] = next_token
            page = self._request(operation, "GET", path, params=query) or {}
            items, next_token = page.get(key) or [], page.get("nextToken")
            page = None
            yield from items
            items = None  # let this page go before the next one is fetched: memory stays at one page
            if not next_token:
                return

    # ---------------------------------------------------------------- attendees

    def add_attendees(
        self,
        user_id: str,
        event_id: str,
        attendees: Sequence[str | Mapping[str, Any]],
        *,
        calendar_id: str = "primary",
        chat_notification: bool | None = None,
        push_notification: bool | None = None,
        client_token: str | None = None,
        chunk_size: int = MAX_ATTENDEES_PER_CALL,
    ) -> list[dict]:
        """Add attendees (ids or ``{"id", "isOptional"}``) as the organizer ``user_id``, 500 per call.

        Each chunk carries its own ``x-client-token`` derived from ``client_token``, so repeating the whole
        call (a retried task) adds nobody twice. Returns the attendees sent.
        """
        with _arguments():
            path = self._event_path(user_id, calendar_id, event_id, "/attendees")
            wanted = normalize_attendees(attendees)
        flags = {}
        if chat_notification is not None:
            flags["chatNotification"] = bool(chat_notification)
        if push_notification is not None:
            flags["pushNotification"] = bool(push_notification)

        def send(chunk: list, token: str) -> None:
            self._request(
                "AddAttendee", "POST", path, body={"attendeesToAdd": chunk, **flags}, client_token=token
            )

        self._in_chunks("AddAttendee", "added", event_id, wanted, chunk_size, client_token, send)
        return wanted

    def iter_attendees(
        self,
        user_id: str,
        event_id: str,
        *,
        calendar_id: str = "primary",
        page_size: int = MAX_ATTENDEES_PER_CALL,
    ) -> Iterator[dict]:
        """Attendees page by page; memory stays at one page however many there are."""
        with _arguments():
            path = self._event_path(user_id, calendar_id, event_id, "/attendees")
            if not 1 <= page_size <= MAX_ATTENDEES_PER_CALL:
                raise InvalidArgumentError(
                    "page_size", f"must be from 1 to {MAX_ATTENDEES_PER_CALL}", page_size
                )
        yield from self._pages("ListAttendees", path, {"maxResults": page_size}, "attendees")

    def list_attendees(
        self,
        user_id: str,
        event_id: str,
        *,
        calendar_id: str = "primary",
        page_size: int = MAX_ATTENDEES_PER_CALL,
    ) -> list[dict]:
        """Every attendee of the event (all pages), as ``{id, displayName, responseStatus, ...}`` dicts."""
        return list(self.iter_attendees(user_id, event_id, calendar_id=calendar_id, page_size=page_size))

    def respond_event(
        self,
        user_id: str,
        event_id: str,
        response_status: str,
        *,
        calendar_id: str = "primary",
        client_token: str | None = None,
    ) -> None:
        """Set the response of the attendee ``user_id``: needsAction, accepted, declined or tentative."""
        with _arguments():
            path = self._event_path(user_id, calendar_id, event_id, "/respond")
            status = validate_response_status(response_status)
        self._request(
            "RespondEvent",
            "POST",
            path,
            body={"responseStatus": status},
            client_token=self._base_token(client_token),
        )

    def remove_attendees(
        self,
        user_id: str,
        event_id: str,
        attendee_ids: Sequence[str],
        *,
        calendar_id: str = "primary",
        client_token: str | None = None,
        chunk_size: int = MAX_ATTENDEES_PER_CALL,
    ) -> list[str]:
        """Remove attendees as the organizer ``user_id``, 500 per call; returns the ids sent."""
        with _arguments():
            path = self._event_path(user_id, calendar_id, event_id, "/attendees/batchRemove")
            ids = normalize_attendee_ids(attendee_ids)

        def send(chunk: list, token: str) -> None:
            body = {"attendeesToRemove": [{"id": attendee_id} for attendee_id in chunk]}
            self._request("RemoveAttendee", "POST", path, body=body, client_token=token)

        self._in_chunks("RemoveAttendee", "removed", event_id, ids, chunk_size, client_token, send)
        return ids
