"""Settings of one hook: hook arguments > connection extras (plain or prefixed keys) > defaults.

Both transports resolve their settings here, from the same connection fields, so the sync and async paths
cannot disagree about a host, a timeout or a retry budget.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_dtcal.core.errors import DingTalkConfigurationError

CONN_TYPE = "dingtalk_calendar"
DEFAULT_HOST = "api.dingtalk.com"
LEGACY_HOST = "oapi.dingtalk.com"
#: Connection extra naming the legacy API host (contacts lookups: userId or mobile -> unionId).
LEGACY_HOST_EXTRA = "legacy_host"
#: Connection extra allowing Stream WebSocket endpoints on hosts under this DNS suffix (e.g. ".dingtalk.com")
#: beside DingTalk's own Stream host (airflow_dtcal.core.stream_endpoint).
STREAM_SUFFIX_EXTRA = "stream_host_suffix"
_SUFFIX = re.compile(r"^(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?){2,}$")

#: Settings read from hook arguments, then connection extras, then these defaults.
DEFAULTS: dict[str, Any] = {
    "timeout": 30.0,  # seconds one attempt may take in all: connect, send, and read the whole answer
    "connect_timeout": 5.0,  # seconds to open a connection
    "max_attempts": 5,  # tries of one request, the first included
    # tries of one request while DingTalk throttles it (403 Qps*, 429), the first included: how pacers learn
    # that the quota is shared, expected with pacing="process"; never fewer than max_attempts
    "max_throttled_attempts": 8,
    "backoff_initial": 0.5,  # seconds before the first retry; doubled each time, with jitter
    "backoff_max": 20.0,  # cap of one wait, a server's Retry-After included
    "retry_deadline": 120.0,  # no retry starts after this many seconds of one request
    "rate_limit": 20.0,  # calls per second per app and API in this process (DingTalk's quota); 0 = off
    "max_answer_bytes": 4 * 1024 * 1024,  # cap of one answer, after decompression
    "max_pages": 1000,  # cap of one nextToken loop
    "max_in_flight": 8,  # requests one hook keeps in flight for bulk work (chunks, run_many)
    # pace with every process of this machine ("host"), of every machine through Redis ("redis"), or alone
    "pacing": "host",
    "pacing_redis_conn_id": "redis_default",  # the Airflow connection (type redis) of pacing="redis"
    "pacing_window": 0.0,  # seconds per ``rate_limit`` calls; 0 = the backend's (1.1 s; 1.05 s on Redis)
    "monthly_budget": 0,  # calls this app may spend per month, deployment-wide; 0 = no budget
    "verify": True,  # TLS verification (or a CA bundle path)
}

#: (name, lowest allowed, highest allowed, whole number?) of the numeric settings.
_NUMBERS: dict[str, tuple[float, float, bool]] = {
    "timeout": (0.001, 3600.0, False),
    "connect_timeout": (0.001, 600.0, False),
    "max_attempts": (1, 100, True),
    "max_throttled_attempts": (1, 100, True),
    "backoff_initial": (0.0, 600.0, False),
    "backoff_max": (0.0, 3600.0, False),
    "retry_deadline": (0.0, 86400.0, False),
    "rate_limit": (0.0, 10000.0, False),
    "max_answer_bytes": (1024, 1024**3, True),
    "max_pages": (1, 1_000_000, True),
    "max_in_flight": (1, 64, True),
    "pacing_window": (0.0, 2.0, False),
    "monthly_budget": (0, 1_000_000_000, True),
}
PACING_SCOPES = ("host", "process", "redis")
#: DingTalk's quota window is one second: a pacing window shorter than that would overrun it.
MIN_PACING_WINDOW = 1.0


@dataclass(frozen=True)
class Settings:
    """Everything one hook needs to talk to DingTalk, validated. The secret never shows in its repr."""

    base_url: str
    app_key: str
    app_secret: str = field(repr=False)
    timeout: float
    connect_timeout: float
    max_attempts: int
    backoff_initial: float
    backoff_max: float
    retry_deadline: float
    rate_limit: float
    max_answer_bytes: int
    max_pages: int
    max_in_flight: int
    pacing: str
    verify: bool | str
    #: Tries of one request whose last failure was a throttle (403 ``Qps*``, 429), the first included.
    max_throttled_attempts: int = 8
    #: The Airflow connection (type ``redis``) that ``pacing="redis"`` shares the quota through.
    pacing_redis_conn_id: str = "redis_default"
    #: Seconds per ``rate_limit`` calls; 0.0: the backend's default.
    pacing_window: float = 0.0
    #: Calls this app may spend per calendar month (China time) across the deployment; 0: no budget.
    monthly_budget: int = 0
    #: Base URL of the legacy API (``oapi.dingtalk.com``): the contacts lookups that turn userIds and
    #: mobiles into unionIds. For an emulator connection (a loopback host) it defaults to ``base_url``.
    legacy_base_url: str = ""
    #: Stream endpoints may also be on hosts under this DNS suffix (``".example.com"``; ``""``: none).
    stream_host_suffix: str = ""

    @property
    def app(self) -> tuple[str, str, str]:
        """The key of this app's process-wide state (token, pacer): host, app key, a digest of the secret."""
        return (self.base_url, self.app_key, hashlib.sha256(self.app_secret.encode()).hexdigest()[:16])


def resolve_settings(
    *,
    conn_id: str,
    host: str | None,
    schema: str | None,
    port: int | None,
    login: str | None,
    password: str | None,
    extras: Mapping[str, Any] | None,
    overrides: Mapping[str, Any],
) -> Settings:
    """Validate a connection's fields and settings; raise :class:`DingTalkConfigurationError` naming the field."""
    missing = [
        label
        for label, value in (("login (App Key)", login), ("password (App Secret)", password))
        if not value
    ]
    if missing:
        raise DingTalkConfigurationError(f"connection {conn_id!r}: {' and '.join(missing)} must be set")
    extras = extras if isinstance(extras, Mapping) else {}

    def pick(name: str) -> Any:
        value = overrides.get(name)
        if value is None:  # plain extras, or the prefixed names older connection forms stored
            value = extras.get(name, extras.get(f"extra__{CONN_TYPE}__{name}"))
        if value is None or value == "":
            value = DEFAULTS[name]
        return value

    numbers = {name: _number(name, pick(name), *rule) for name, rule in _NUMBERS.items()}
    pacing = pick("pacing")
    if pacing not in PACING_SCOPES:
        raise DingTalkConfigurationError(
            f"pacing: must be one of {', '.join(PACING_SCOPES)} (got {pacing!r})"
        )
    if 0 < numbers["pacing_window"] < MIN_PACING_WINDOW:
        raise DingTalkConfigurationError(
            f"pacing_window: must be 0 (the default) or from {MIN_PACING_WINDOW:g} to 2 seconds, "
            f"DingTalk's quota window being one second (got {numbers['pacing_window']!r})"
        )
    redis_conn_id = pick("pacing_redis_conn_id")
    if not isinstance(redis_conn_id, str) or not redis_conn_id.strip():
        raise DingTalkConfigurationError(
            f"pacing_redis_conn_id: must name an Airflow connection of type redis (got {redis_conn_id!r})"
        )
    base_url = resolve_base_url(host, schema, port)
    return Settings(
        base_url=base_url,
        legacy_base_url=_legacy_base_url(overrides, extras, base_url),
        stream_host_suffix=_stream_suffix(extras),
        app_key=str(login).strip(),
        app_secret=str(password),
        verify=_verify(pick("verify")),
        pacing=pacing,
        pacing_redis_conn_id=redis_conn_id.strip(),
        **numbers,
    )


def _legacy_base_url(overrides: Mapping[str, Any], extras: Mapping[str, Any], base_url: str) -> str:
    """The legacy host: the ``legacy_host`` argument or extra, else the API host when that is a loopback
    emulator (it serves both), else ``https://oapi.dingtalk.com``."""
    name = LEGACY_HOST_EXTRA
    value = overrides.get(name)
    if value is None:
        value = extras.get(name, extras.get(f"extra__{CONN_TYPE}__{name}"))
    if value is None or (isinstance(value, str) and not value.strip()):
        hostname = urlsplit(base_url).hostname or ""
        return base_url if _is_loopback(hostname) else f"https://{LEGACY_HOST}"
    if not isinstance(value, str):
        raise DingTalkConfigurationError(f"{name}: must be a host name or URL (got {value!r})")
    try:
        return resolve_base_url(value)
    except DingTalkConfigurationError as err:
        raise DingTalkConfigurationError(str(err).replace("connection host", name, 1)) from None


def _stream_suffix(extras: Mapping[str, Any]) -> str:
    """The ``stream_host_suffix`` extra: a DNS suffix of two labels or more, with its leading dot."""
    name = STREAM_SUFFIX_EXTRA
    value = extras.get(name, extras.get(f"extra__{CONN_TYPE}__{name}"))
    if value is None or value == "":
        return ""
    text = value.strip().lower() if isinstance(value, str) else ""
    text = text if text.startswith(".") else f".{text}"
    if not _SUFFIX.match(text):
        raise DingTalkConfigurationError(
            f"{name}: must be a DNS suffix such as '.example.com' (got {value!r})"
        )
    return text


def _number(name: str, value: Any, low: float, high: float, whole: bool) -> Any:
    if isinstance(value, bool):
        raise DingTalkConfigurationError(f"{name}: must be a number (got {value!r})")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DingTalkConfigurationError(f"{name}: must be a number (got {value!r})") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise DingTalkConfigurationError(f"{name}: must be from {low:g} to {high:g} (got {value!r})")
    if whole:
        if number != int(number):
            raise DingTalkConfigurationError(f"{name}: must be a whole number (got {value!r})")
        return int(number)
    return number


def _verify(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, str) and value.strip():
        return value.strip()  # a CA bundle path
    raise DingTalkConfigurationError(f"verify: must be true, false or a CA bundle path (got {value!r})")


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
    if any(ord(c) < 33 or ord(c) == 127 for c in raw):
        raise DingTalkConfigurationError("connection host: must not contain spaces or control characters")
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
