"""The hook's limiter: which pacer and month ledger its settings name, and the Redis client of
``pacing="redis"``, made from an Airflow connection of type ``redis``.

The hook calls four things on its request path, on both transports:

* :func:`wait_turn` / :func:`await_turn` before a call: waits, in line with the process's other callers
  of the app and API (:class:`Lines`), until the pacer's start for it has come;
* :func:`after_call` / :func:`aafter_call` after its answer: throttles slow the app down, successes grow it
  back, and what DingTalk counts goes into the month's ledger (per app, attributed to the task's DAG);
* :func:`check_month` / :func:`acheck_month` before the hook's first counted call: one log line with the
  month's count, and with ``monthly_budget`` a :class:`DingTalkMonthlyBudgetError` before any request when
  the task's expected calls would exceed what is left.

The Redis client is the Redis provider's connection (``AIRFLOW_CONN_REDIS_DEFAULT=redis://host:6379/0``;
``db`` from the extra, else the path; the provider's ``ssl*`` extras), built here rather than through
``RedisHook`` because this client must give up quickly: connect and socket timeouts of
:data:`REDIS_TIMEOUT` seconds and no retry, so an unreachable or slow Redis costs a call at most that much
before its pacing falls back to the machine's host files.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import weakref
from typing import Any

from airflow_dtcal.core.errors import DingTalkConfigurationError, DingTalkRateLimitError
from airflow_dtcal.core.pacing import PACERS, Pacer, RedisStore, Usage
from airflow_dtcal.core.pacing.month import (
    app_digest,
    check_budget,
    counts_toward_month,
    dag_label,
)
from airflow_dtcal.core.pacing.rule import LATE, PACER_WINDOW
from airflow_dtcal.core.pacing.shared import REDIS_WINDOW
from airflow_dtcal.core.settings import Settings

#: Seconds the Redis client waits to connect, and for any answer; it never retries on its own.
REDIS_TIMEOUT = 0.5
#: The Redis connection extras passed to the client as they are (the Redis provider's names).
SSL_EXTRAS = ("ssl", "ssl_cert_reqs", "ssl_ca_certs", "ssl_keyfile", "ssl_certfile", "ssl_check_hostname")
MISSING_REDIS = (
    "pacing='redis' needs the redis client library: install airflow-dtcal[redis] (Airflow's celery extra "
    "brings it too)"
)


def window(s: Settings) -> float:
    return s.pacing_window or (REDIS_WINDOW if s.pacing == "redis" else PACER_WINDOW)


# ------------------------------------------------------------------------------------------- backends


def redis_options(conn: Any, extras: dict) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis`` from a connection of type ``redis`` (no client behaviour)."""
    if (conn.conn_type or "").lower() != "redis":
        raise DingTalkConfigurationError(
            f"pacing_redis_conn_id: connection {conn.conn_id!r} is of type {conn.conn_type!r}, not redis"
        )
    db = extras.get("db")
    if db in (None, "") and str(conn.schema or "").isdigit():
        db = conn.schema  # redis://host:6379/3
    password = conn.password
    if password is not None and str(password).lower() in ("", "none", "false"):
        password = None
    try:
        options = {
            "host": conn.host or "localhost",
            "port": int(conn.port or 6379),
            "db": int(db or 0),
            "username": conn.login or None,
            "password": password,
        }
    except (TypeError, ValueError):
        raise DingTalkConfigurationError(
            f"pacing_redis_conn_id: connection {conn.conn_id!r} has a port or db that is not a number"
        ) from None
    options.update({name: extras[name] for name in SSL_EXTRAS if name in extras})
    return options


def _store(conn_id: str, conn: Any, extras: dict) -> RedisStore:
    try:
        import redis
        import redis.asyncio
        import redis.asyncio.retry
        import redis.retry
        from redis.backoff import NoBackoff
    except ImportError:
        raise DingTalkConfigurationError(MISSING_REDIS) from None
    options = {
        **redis_options(conn, extras),
        "socket_connect_timeout": REDIS_TIMEOUT,
        "socket_timeout": REDIS_TIMEOUT,
    }

    def connect() -> Any:
        return redis.Redis(**options, retry=redis.retry.Retry(NoBackoff(), 0))

    def aconnect() -> Any:
        return redis.asyncio.Redis(**options, retry=redis.asyncio.retry.Retry(NoBackoff(), 0))

    return RedisStore(f"{conn_id} at {options['host']}:{options['port']}/{options['db']}", connect, aconnect)


def _check_library() -> None:
    try:
        import redis  # noqa: F401
    except ImportError:
        raise DingTalkConfigurationError(MISSING_REDIS) from None


def _redis(hook: Any, s: Settings):
    _check_library()

    def make() -> RedisStore:
        conn = hook.get_connection(s.pacing_redis_conn_id)
        return _store(s.pacing_redis_conn_id, conn, conn.extra_dejson)

    return PACERS.redis(s.pacing_redis_conn_id, make)


async def _aredis(hook: Any, s: Settings):
    _check_library()
    conn_id = s.pacing_redis_conn_id
    if not PACERS.has_redis(conn_id):
        from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

        conn = await get_async_connection(conn_id, hook=hook)
        extras = await get_async_extra_dejson(conn)
        return PACERS.redis(conn_id, lambda: _store(conn_id, conn, extras))
    return PACERS.redis(conn_id, _unreachable)


def _unreachable() -> RedisStore:  # pragma: no cover - has_redis said it is there
    raise AssertionError("the Redis pacer was just made")


def pacer(hook: Any, s: Settings) -> Pacer:
    if s.pacing == "redis":
        return _redis(hook, s)[0]
    return PACERS.host if s.pacing == "host" else PACERS.process


async def apacer(hook: Any, s: Settings) -> Pacer:
    if s.pacing == "redis":
        return (await _aredis(hook, s))[0]
    return PACERS.host if s.pacing == "host" else PACERS.process


def ledger(hook: Any, s: Settings):
    return _redis(hook, s)[1] if s.pacing == "redis" else PACERS.host_ledger


async def aledger(hook: Any, s: Settings):
    return (await _aredis(hook, s))[1] if s.pacing == "redis" else PACERS.host_ledger


# ------------------------------------------------------------------------------------------- the hook's calls


def _key(s: Settings, operation: str) -> tuple:
    return (*s.app, operation)


def _app(s: Settings) -> str:
    return app_digest(s.base_url, s.app_key)


def current_dag() -> str:
    """The DAG of the running task (Airflow sets ``AIRFLOW_CTX_DAG_ID`` around ``execute``), else none."""
    return dag_label(os.environ.get("AIRFLOW_CTX_DAG_ID"))


class Lines:
    """The callers of one app and API in this process, in line: one at a time books its start and waits for
    it, so every start is booked just before it is used.

    A task that gathers 200 calls used to book all 200 starts at once (up to ten seconds ahead): the event
    loop was then busy with the bookings while the first calls were due, those went out up to 0.3 s after
    their booked starts, and the next second's calls, booked from the starts on record, reached DingTalk
    less than a second after them and were throttled (docs/benchmarks.md, measure 4b). In line, a call is
    sent within moments of its booking, and the starts on record are the starts DingTalk sees.

    One line per key for threads, one per key and event loop for coroutines (asyncio locks cannot cross
    loops). A caller that gives up waiting (cancelled, interrupted) leaves the line.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._threads: dict[tuple, threading.Lock] = {}
        self._loops: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def thread_line(self, key: tuple) -> threading.Lock:
        with self._guard:
            return self._threads.setdefault(key, threading.Lock())

    def loop_line(self, key: tuple) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._guard:
            lines = self._loops.setdefault(loop, {})
            return lines.setdefault(key, asyncio.Lock())


LINES = Lines()


def wait_turn(hook: Any, s: Settings, operation: str) -> float:
    """Wait, in line with this process's other callers of the app and API, until the pacer's start for one
    call has come; the seconds waited. A pacer that says "ask again later" is asked again after that."""
    if s.rate_limit <= 0:
        return 0.0
    chosen, key = pacer(hook, s), _key(s, operation)
    waited = 0.0
    with LINES.thread_line(key):
        while (delay := chosen.reserve(key, s.rate_limit, window(s))) < 0:
            time.sleep(-delay)
            waited -= delay
        _note_wait(hook, s, operation, waited + delay)
        if delay > 0:
            time.sleep(delay)
    return waited + delay


async def await_turn(hook: Any, s: Settings, operation: str) -> float:
    """:func:`wait_turn` for an event loop."""
    if s.rate_limit <= 0:
        return 0.0
    chosen, key = await apacer(hook, s), _key(s, operation)
    waited = 0.0
    async with LINES.loop_line(key):
        while (delay := await chosen.areserve(key, s.rate_limit, window(s))) < 0:
            await asyncio.sleep(-delay)
            waited -= delay
        _note_wait(hook, s, operation, waited + delay)
        if delay > 0:
            await asyncio.sleep(delay)
    return waited + delay


async def awent_out(hook: Any, s: Settings, operation: str, due: float, sent: float) -> None:
    """A call waited for its start until ``due`` and its request went out at ``sent`` (``time.monotonic()``):
    more than :data:`~.rule.LATE` after it, and its start on record moves on by as much."""
    if s.rate_limit > 0 and sent - due > LATE:
        chosen = await apacer(hook, s)
        await chosen.alate(_key(s, operation), time.monotonic() - due, sent - due)


def _note_wait(hook: Any, s: Settings, operation: str, seconds: float) -> None:
    if seconds > 0.5:
        hook.log.info(
            "Paced DingTalk %s for %.2fs to stay within %g calls/s", operation, seconds, s.rate_limit
        )


def _throttle_note(hook: Any, s: Settings, operation: str, chosen: Pacer) -> None:
    hook.log.info(
        "DingTalk throttled %s: this app now allows itself %.1f calls/s (pacing=%s)",
        operation,
        s.rate_limit * chosen.factor(_key(s, operation)),
        s.pacing,
    )


def after_call(hook: Any, s: Settings, operation: str, counted: bool, error: BaseException | None) -> None:
    """Tell the pacer how a call went and count it in the month's ledger if DingTalk counts it."""
    if s.rate_limit > 0:
        chosen = pacer(hook, s)
        if isinstance(error, DingTalkRateLimitError):
            chosen.throttled(_key(s, operation), s.rate_limit, window(s))
            _throttle_note(hook, s, operation, chosen)
        elif error is None:
            chosen.succeeded(_key(s, operation))
    if counted and counts_toward_month(error):
        ledger(hook, s).add(_app(s), current_dag())


async def aafter_call(
    hook: Any, s: Settings, operation: str, counted: bool, error: BaseException | None
) -> None:
    if s.rate_limit > 0:
        chosen = await apacer(hook, s)
        if isinstance(error, DingTalkRateLimitError):
            await chosen.athrottled(_key(s, operation), s.rate_limit, window(s))
            _throttle_note(hook, s, operation, chosen)
        elif error is None:
            await chosen.asucceeded(_key(s, operation))
    if counted and counts_toward_month(error):
        await (await aledger(hook, s)).aadd(_app(s), current_dag())


def check_month(hook: Any, s: Settings, expected_calls: int = 1) -> Usage:
    """Log the month's count and refuse (before any request) a task that would overrun ``monthly_budget``."""
    usage = ledger(hook, s).read(_app(s))
    return _judge(hook, s, usage, expected_calls)


async def acheck_month(hook: Any, s: Settings, expected_calls: int = 1) -> Usage:
    usage = await (await aledger(hook, s)).aread(_app(s))
    return _judge(hook, s, usage, expected_calls)


def _judge(hook: Any, s: Settings, usage: Usage, expected_calls: int) -> Usage:
    if isinstance(expected_calls, bool) or not isinstance(expected_calls, int) or expected_calls < 0:
        raise DingTalkConfigurationError(
            f"expected_calls: must be a whole number ≥ 0 (got {expected_calls!r})"
        )
    dag = current_dag()
    hook.log.info("DingTalk %s", usage.describe(s.monthly_budget, dag))
    check_budget(usage, s.monthly_budget, expected_calls, dag)
    return usage


def month_usage(hook: Any, s: Settings, month: str | None = None) -> tuple[Usage, str]:
    """The app's calls in ``month`` (default: this one) and the store they were read from."""
    chosen = ledger(hook, s)
    return chosen.read(_app(s), month), chosen.name
