"""Everything the emulator remembers, behind one lock: configuration, events, users, tokens, idempotency records,
throttling windows, queued faults, counters and the request log.

The other rooms read and change a :class:`State` while holding ``state.lock``; the methods here take the
lock themselves.
"""

from __future__ import annotations

import collections
import copy
import datetime as dt
import math
import secrets
import threading
from typing import Any

from airflow_dtcal.testing.emulator.contract import (
    OPERATIONS,
    ORG_TIME_ZONE,
    STREAM_DUPLICATE_RATE,
    STREAM_REDELIVERY_DELAY,
    STREAM_SEED,
    STREAM_TICKET_TTL,
    SYNC_TOKEN_TTL,
)

COUNTERS = ("calls", "applied", "replayed", "throttled", "faulted", "errors", "counted", "over_quota")
SETTINGS = (
    "qps_limit",
    "latency",
    "token_ttl",
    "monthly_quota",
    "sync_token_ttl",
    "stream_ticket_ttl",
    "stream_redelivery_delay",
    "stream_seed",
    "stream_duplicate_rate",
)
#: Settings that are a number of seconds > 0.
SECONDS_SETTINGS = ("token_ttl", "sync_token_ttl", "stream_ticket_ttl", "stream_redelivery_delay")
STREAM_COUNTS = (
    "tickets_issued",
    "connections_opened",
    "published",
    "deliveries",
    "redeliveries",
    "duplicates",
    "acked",
    "later",
    "failed_acks",
    "unknown_acks",
    "pings_sent",
    "pongs",
    "disconnects_sent",
    "discarded",
)
MAX_LATENCY = 600.0  # seconds


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_setting(name: str, value: Any) -> Any:
    """The validated value of one setting; ``ValueError`` names the field and the rule."""
    if name == "qps_limit":
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"qps_limit must be null or an integer >= 0 (0 or null = off), got {value!r}")
        return value or None
    if name == "latency":
        if value is None:
            return 0.0
        if not _number(value) or not 0 <= value <= MAX_LATENCY:
            raise ValueError(
                f"latency must be null or a number of seconds from 0 to {MAX_LATENCY:g}, got {value!r}"
            )
        return float(value)
    if name == "monthly_quota":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ValueError(f"monthly_quota must be null (no quota) or an integer >= 0, got {value!r}")
        return value
    if name == "stream_seed":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
            raise ValueError(f"stream_seed must be an integer from 0 to 2**63 - 1, got {value!r}")
        return value
    if name == "stream_duplicate_rate":
        if not _number(value) or not 0 <= value <= 1:
            raise ValueError(f"stream_duplicate_rate must be a number from 0 to 1, got {value!r}")
        return float(value)
    if name in SECONDS_SETTINGS:
        if not _number(value) or value <= 0:
            raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
        return float(value)
    raise ValueError(f"unknown setting {name!r}; expected one of {', '.join(SETTINGS)}")


class State:
    """The emulator's memory. ``reset()`` forgets everything except the configuration."""

    def __init__(
        self,
        qps_limit: int | None,
        latency: float,
        token_ttl: float,
        apps: dict[str, str] | None,
        max_logged_requests: int,
        monthly_quota: int | None = None,
    ) -> None:
        self.lock = threading.Lock()
        self.idle = threading.Condition()  # guards in_flight
        self.in_flight = 0
        self.qps_limit: int | None = check_setting("qps_limit", qps_limit)
        self.latency: float = check_setting("latency", latency or 0.0)
        self.token_ttl: float = check_setting("token_ttl", token_ttl)
        self.monthly_quota: int | None = check_setting("monthly_quota", monthly_quota)
        self.sync_token_ttl: float = SYNC_TOKEN_TTL
        self.stream_ticket_ttl: float = STREAM_TICKET_TTL
        self.stream_redelivery_delay: float = STREAM_REDELIVERY_DELAY
        self.stream_seed: int = STREAM_SEED
        self.stream_duplicate_rate: float = STREAM_DUPLICATE_RATE
        self.apps = dict(apps) if apps is not None else None
        self.max_logged_requests = max_logged_requests
        self._clear()

    def _clear(self) -> None:
        self.events: dict[str, dict] = {}  # event id -> stored event (see events.py)
        self.users: dict[str, dict] = {}  # userId -> seeded user (see directory.py)
        self.rooms: dict[str, dict] = {}  # roomId -> seeded meeting room (see rooms.py)
        self.calendars: dict[str, dict] = {}  # subscribed calendarId -> calendar (see calendars.py)
        self.acls: dict[tuple, dict] = {}  # ("primary", owner) or ("sub", calendarId) -> {aclId: ACL}
        self.subscriptions: dict[str, dict] = {}  # unionId -> {calendarId: None} it subscribes to
        self.tokens: dict[str, dict] = {}  # access token -> {"app", "expires"}
        self.app_tokens: dict[str, str] = {}  # app key -> its current access token
        self.secrets_seen: set[str] = set()  # app secrets that obtained a token (scrubbed from the log)
        self.idempotency: dict[
            tuple, tuple
        ] = {}  # (app, operation, x-client-token) -> (expires, status, body)
        self.windows: dict[tuple, collections.deque] = {}  # (app, operation) -> accepted call times
        self.faults: list[dict] = []  # queued faults, first in first out (see faults.py)
        self.log: collections.deque = collections.deque(maxlen=self.max_logged_requests)
        self.counters = {name: dict.fromkeys(OPERATIONS, 0) for name in COUNTERS}
        self.token_fetches = 0
        self.tokens_issued = 0
        self.quota_month = ""  # "yyyy-MM" of the calls in counters["counted"]
        self.counted_by_app: dict[str, int] = {}  # app key -> its calls in counters["counted"]
        self.event_seq = 0  # creation order
        self.change_seq = 0  # last change number, for ListEvents sync tokens
        self.peak_in_flight = 0  # most requests handled at once since the last reset
        self.sync_key = secrets.token_bytes(16)  # signs sync tokens: another emulator's tokens are invalid
        self.sync_generation = 0  # bumped by the "expire sync tokens" control
        # Stream mode (see stream.py): tickets, subscribed apps, messages per app, open connections.
        self.stream_tickets: dict[str, dict] = {}  # ticket -> {"app", "topics", "expires"}
        self.stream_apps: dict[str, set] = {}  # app key -> the EVENT topics of its latest connection-open
        self.stream_messages: dict[str, dict] = {}  # app key -> {messageId -> message}, oldest first
        self.stream_connections: dict[str, Any] = {}  # connectionId -> StreamConnection (open ones)
        self.stream_serial = 0  # messages published so far (each message's serial number)
        self.stream_counts = dict.fromkeys(STREAM_COUNTS, 0)

    # ---- lifecycle and configuration

    def reset(self) -> None:
        """Forget everything but the configuration; open Stream connections are dropped."""
        with self.lock:
            connections = list(self.stream_connections.values())
            self._clear()
        for connection in connections:
            connection.drop()

    def configure(self, **changes: Any) -> dict:
        """Change any of :data:`SETTINGS`; all are validated before any applies."""
        checked = {name: check_setting(name, value) for name, value in changes.items()}
        with self.lock:
            for name, value in checked.items():
                setattr(self, name, value)
            return self.config_locked()

    def config(self) -> dict:
        with self.lock:
            return self.config_locked()

    def config_locked(self) -> dict:
        return {name: getattr(self, name) for name in SETTINGS}

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()
            self.app_tokens.clear()

    def expire_sync_tokens(self) -> None:
        """Invalidate every ListEvents syncToken issued so far (clients must list again without one)."""
        with self.lock:
            self.sync_generation += 1

    def expire_client_tokens(self) -> None:
        """Forget every ``x-client-token``, as DingTalk does a day after each write."""
        with self.lock:
            self.idempotency.clear()

    def roll_quota_month(self) -> None:
        """Start counting afresh when a new calendar month begins, China time (caller holds the lock)."""
        month = dt.datetime.now(ORG_TIME_ZONE).strftime("%Y-%m")
        if month != self.quota_month:
            self.quota_month = month
            self.counters["counted"] = dict.fromkeys(OPERATIONS, 0)
            self.counted_by_app = {}

    # ---- inspection

    def stats(self) -> dict:
        with self.lock:
            self.roll_quota_month()
            out: dict[str, Any] = {name: dict(counts) for name, counts in self.counters.items()}
            out["counted_total"] = sum(self.counters["counted"].values())
            out["counted_by_app"] = dict(self.counted_by_app)
            out["token_fetches"] = self.token_fetches
            out["tokens_issued"] = self.tokens_issued
            out["peak_in_flight"] = self.peak_in_flight
            return out

    def requests(self) -> list[dict]:
        with self.lock:
            return copy.deepcopy(list(self.log))

    # ---- requests in flight (so a test can wait for a delayed request to finish)

    def begin_request(self) -> None:
        with self.idle:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def end_request(self) -> None:
        with self.idle:
            self.in_flight -= 1
            self.idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self.idle:
            return self.idle.wait_for(lambda: self.in_flight == 0, timeout)
