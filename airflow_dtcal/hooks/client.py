"""What every hook operation runs on: the connection, settings, access tokens, the request path (pacing,
retries, answer checks) and the two executors that drive operation flows (:mod:`.operation`).

Each operation is written once as a flow; :class:`CalendarClient` drives it with ``requests`` (sync) or
``httpx`` (async). The two paths share everything but how they wait and move bytes: one settings resolution
(:mod:`airflow_dtcal.core.settings`), one retry policy (:mod:`airflow_dtcal.core.retry`), one pacer and token
cache (:mod:`airflow_dtcal.core.pacing`), one answer check (:mod:`airflow_dtcal.core.answers`), two thin
transports (:mod:`.transport`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from functools import cached_property
from typing import Any

import requests
import tenacity

from airflow_dtcal.compat import BaseHook, amask_secret, mask_secret
from airflow_dtcal.core import answers, calls, operations, retry
from airflow_dtcal.core.calls import Call
from airflow_dtcal.core.pacing import PACERS, TOKENS, Usage
from airflow_dtcal.core.settings import LEGACY_HOST_EXTRA, Settings, resolve_settings
from airflow_dtcal.exceptions import (
    DingTalkAuthError,
    DingTalkError,
    DingTalkNotFoundError,
    DingTalkPermissionError,
)
from airflow_dtcal.hooks import limiter, transport
from airflow_dtcal.hooks.executor import Executor
from airflow_dtcal.hooks.operation import Context

#: Operations that do not count toward an organisation's monthly API quota (token, contacts, Stream open).
NOT_COUNTED = (
    frozenset({"GetAccessToken", "GetUser", "GetUserByMobile", "GetUserByUnionId", "OpenStreamConnection"})
    | operations.UNCOUNTED
)


def clear_token_cache() -> None:
    """Forget every cached access token and pacing reservation in this process (tests, credential rotation)."""
    TOKENS.clear()
    PACERS.clear()


class CalendarClient(Executor, BaseHook):
    """The request machinery of :class:`~airflow_dtcal.hooks.calendar.DingTalkCalendarHook` (see there for
    the arguments); the operations themselves live in the per-domain modules of this package."""

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
        max_throttled_attempts: int | None = None,
        backoff_initial: float | None = None,
        backoff_max: float | None = None,
        retry_deadline: float | None = None,
        rate_limit: float | None = None,
        max_answer_bytes: int | None = None,
        max_pages: int | None = None,
        max_in_flight: int | None = None,
        pacing: str | None = None,
        verify: bool | str | None = None,
        monthly_budget: int | None = None,
    ) -> None:
        super().__init__()
        self.dingtalk_conn_id = dingtalk_conn_id
        self._overrides = {
            "timeout": timeout,
            "connect_timeout": connect_timeout,
            "max_attempts": max_attempts,
            "max_throttled_attempts": max_throttled_attempts,
            "backoff_initial": backoff_initial,
            "backoff_max": backoff_max,
            "retry_deadline": retry_deadline,
            "rate_limit": rate_limit,
            "max_answer_bytes": max_answer_bytes,
            "max_pages": max_pages,
            "max_in_flight": max_in_flight,
            "pacing": pacing,
            "verify": verify,
            "monthly_budget": monthly_budget,
        }
        self._month_checked = False
        self._month_guard = threading.Lock()  # concurrent first calls check the month once
        self._amonth_guard: tuple[Any, asyncio.Lock] | None = None  # (event loop, its lock)
        self._async_client: tuple[Any, Any] | None = None  # (event loop, httpx.AsyncClient)
        self._spent: Counter[str] = Counter()
        self._spent_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dingtalk_conn_id={self.dingtalk_conn_id!r})"

    # ---------------------------------------------------------------- calls spent

    @property
    def calls_spent(self) -> dict[str, int]:
        """Requests this hook sent, by operation (every attempt counts; the token fetch included)."""
        with self._spent_lock:
            return dict(self._spent)

    @property
    def quota_calls_spent(self) -> int:
        """Of :attr:`calls_spent`, the calls DingTalk counts toward the monthly quota (not token or contacts)."""
        return sum(n for operation, n in self.calls_spent.items() if operation not in NOT_COUNTED)

    def _count(self, call: Call) -> None:
        with self._spent_lock:
            self._spent[call.operation] += 1

    # ---------------------------------------------------------------- settings and clients

    def _settings_from(self, conn: Any, extras: Any) -> Settings:
        return resolve_settings(
            conn_id=self.dingtalk_conn_id,
            host=conn.host,
            schema=conn.schema,
            port=conn.port,
            login=conn.login,
            password=conn.password,
            extras=extras,
            overrides=self._overrides,
        )

    @cached_property
    def settings(self) -> Settings:
        """Resolved once per hook: connection fields, extras and arguments, validated.

        The connection's password is masked by Airflow when it reads the connection; it is not masked again
        here (on Airflow 3.0 a second mask request is logged with the value).
        """
        conn = self.get_connection(self.dingtalk_conn_id)
        return self._settings_from(conn, conn.extra_dejson)

    async def asettings(self) -> Settings:
        """:attr:`settings`, read without blocking the event loop (for triggers and async tasks)."""
        if "settings" not in self.__dict__:
            from airflow.providers.common.compat.connection import (
                get_async_connection,
                get_async_extra_dejson,
            )

            conn = await get_async_connection(self.dingtalk_conn_id, hook=self)
            self.__dict__["settings"] = self._settings_from(conn, await get_async_extra_dejson(conn))
        return self.settings

    def _context(self) -> Context:
        return Context(self.settings, self.log)

    async def _acontext(self) -> Context:
        return Context(await self.asettings(), self.log)

    @cached_property
    def session(self) -> requests.Session:
        """One keep-alive ``requests.Session`` per hook (mount adapters or set hooks on it as usual)."""
        return transport.new_session(self.settings)

    def get_conn(self) -> requests.Session:
        return self.session

    async def get_async_client(self) -> Any:
        """This hook's ``httpx.AsyncClient`` for the running event loop (created on first use)."""
        loop = asyncio.get_running_loop()
        if self._async_client is None or self._async_client[0] is not loop:
            settings = await self.asettings()
            # Loading the CA bundle reads files: off the event loop.
            self._async_client = (loop, await asyncio.to_thread(transport.new_async_client, settings))
        return self._async_client[1]

    async def aclose(self) -> None:
        """Close the async client (a trigger calls this when it ends)."""
        if self._async_client is not None:
            _loop, client = self._async_client
            self._async_client = None
            await client.aclose()

    # ---------------------------------------------------------------- one call: token, pacing, retries

    def _retrying(self, s: Settings, operation: str, attempts: int | None) -> dict[str, Any]:
        policy = retry.strategies(s, operation)
        if attempts is not None:
            policy["stop"] = tenacity.stop_after_attempt(attempts)

        def log_retry(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            self.log.warning(
                "DingTalk %s attempt %d/%d failed (%s: %s); retrying in %.2fs",
                operation,
                state.attempt_number,
                retry.attempts_allowed(s, error),
                getattr(error, "code", None) or type(error).__name__,
                error,
                state.upcoming_sleep,
            )

        return {**policy, "before_sleep": log_retry}

    def _run(self, call: Call, *, attempts: int | None = None) -> Any:
        """Send ``call`` with retries; return its checked answer."""
        s = self.settings
        if not self._month_checked and call.authenticated and call.operation not in NOT_COUNTED:
            with self._month_guard:
                if not self._month_checked:
                    self.check_monthly_budget()
        for attempt in tenacity.Retrying(**self._retrying(s, call.operation, attempts)):
            with attempt:
                return self._attempt(s, call)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _arun(self, call: Call, *, attempts: int | None = None) -> Any:
        s = await self.asettings()
        if not self._month_checked and call.authenticated and call.operation not in NOT_COUNTED:
            async with self._amonth_lock():
                if not self._month_checked:
                    await self.acheck_monthly_budget()
        async for attempt in tenacity.AsyncRetrying(**self._retrying(s, call.operation, attempts)):
            with attempt:
                return await self._aattempt(s, call)
        raise AssertionError("unreachable")  # pragma: no cover

    def _amonth_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._month_guard:
            if self._amonth_guard is None or self._amonth_guard[0] is not loop:
                self._amonth_guard = (loop, asyncio.Lock())
            return self._amonth_guard[1]

    def _attempt(self, s: Settings, call: Call) -> Any:
        refreshed = False
        while True:
            token = self.get_access_token() if call.authenticated else None
            if call.authenticated:  # token calls are not paced
                limiter.wait_turn(self, s, call.operation)
            self._count(call)
            status, headers, content = transport.exchange(self.session, s, call, token)
            try:
                answer = answers.interpret(call.operation, status, headers, content, call.expect)
            except DingTalkError as err:
                self._after(s, call, err)
                if not isinstance(err, DingTalkAuthError) or token is None or refreshed:
                    raise
                refreshed = self._forget_token(s, call, token)
                continue
            self._after(s, call, None)
            return answer

    async def _aattempt(self, s: Settings, call: Call) -> Any:
        client = await self.get_async_client()
        refreshed = False
        while True:
            token = await self.aget_access_token() if call.authenticated else None
            went_out = None
            if call.authenticated:
                await limiter.await_turn(self, s, call.operation)
                went_out = self._went_out(s, call, time.monotonic())
            self._count(call)
            status, headers, content = await transport.aexchange(client, s, call, token, went_out)
            try:
                answer = answers.interpret(call.operation, status, headers, content, call.expect)
            except DingTalkError as err:
                await self._aafter(s, call, err)
                if not isinstance(err, DingTalkAuthError) or token is None or refreshed:
                    raise
                refreshed = self._forget_token(s, call, token)
                continue
            await self._aafter(s, call, None)
            return answer

    def _went_out(self, s: Settings, call: Call, due: float) -> Callable[[float], Awaitable[None]]:
        """Tells the pacer, when the request goes out, how long after its start (a new connection, a busy
        event loop): a late start is recorded when it went out (see :func:`~.limiter.awent_out`).

        The sync path has no such moment to hook (``requests`` connects and writes in one call); its
        threads wait for their start each on its own, right before sending."""

        async def went_out(at: float) -> None:
            await limiter.awent_out(self, s, call.operation, due, at)

        return went_out

    def _after(self, s: Settings, call: Call, error: BaseException | None) -> None:
        """Throttling slows this app's pacer down, success grows it back; what DingTalk counts is counted."""
        if call.authenticated:
            limiter.after_call(self, s, call.operation, call.operation not in NOT_COUNTED, error)

    async def _aafter(self, s: Settings, call: Call, error: BaseException | None) -> None:
        if call.authenticated:
            await limiter.aafter_call(self, s, call.operation, call.operation not in NOT_COUNTED, error)

    def check_monthly_budget(self, expected_calls: int = 1) -> Usage:
        """Log this app's DingTalk calls this month (deployment-wide with ``pacing="redis"``, else this
        machine's), with this DAG's share; with ``monthly_budget``, raise
        :class:`~airflow_dtcal.exceptions.DingTalkMonthlyBudgetError` before any request when
        ``expected_calls`` more would exceed it. The hook runs it with 1 before its first counted call; a task
        that knows its plan calls it first with the plan's size."""
        usage = limiter.check_month(self, self.settings, expected_calls)
        self._month_checked = True  # after the check: a refused task stays refused
        return usage

    async def acheck_monthly_budget(self, expected_calls: int = 1) -> Usage:
        """:meth:`check_monthly_budget` for an event loop."""
        usage = await limiter.acheck_month(self, await self.asettings(), expected_calls)
        self._month_checked = True
        return usage

    def _forget_token(self, s: Settings, call: Call, token: str) -> bool:
        TOKENS.invalidate(s.app, token)
        self.log.info("DingTalk rejected the access token for %s; fetching a new one", call.operation)
        return True

    # ---------------------------------------------------------------- access token

    def get_access_token(self) -> str:
        """The app's access token, from the process cache or fetched (then cached until shortly before expiry)."""
        s = self.settings
        token = TOKENS.get(s.app)
        if token:
            return token
        with TOKENS.thread_lock(s.app):
            token = TOKENS.get(s.app)  # another thread may have fetched it meanwhile
            if not token:
                token, lifetime = self._fetch_token(s)
                TOKENS.put(s.app, token, lifetime)
            return token

    async def aget_access_token(self) -> str:
        """:meth:`get_access_token` for async callers: one fetch per app at a time, shared with sync callers."""
        s = await self.asettings()
        token = TOKENS.get(s.app)
        if token:
            return token
        async with TOKENS.loop_lock(s.app):
            token = TOKENS.get(s.app)
            if not token:
                self.log.info("Fetching a DingTalk access token for app key %s", s.app_key)
                token, lifetime = answers.access_token(
                    await self._arun(calls.get_access_token(s.app_key, s.app_secret))
                )
                await amask_secret(token)
                TOKENS.put(s.app, token, lifetime)
            return token

    def _fetch_token(self, s: Settings, *, attempts: int | None = None) -> tuple[str, float]:
        self.log.info("Fetching a DingTalk access token for app key %s", s.app_key)
        token, lifetime = answers.access_token(
            self._run(calls.get_access_token(s.app_key, s.app_secret), attempts=attempts)
        )
        mask_secret(token)
        return token, lifetime

    def test_connection(self) -> tuple[bool, str]:
        """Fetch a token once, and when the connection names a legacy host, look one person up there (the
        contacts permission userIds and mobiles need): (True, ...) when all works, else (False, the reason)."""
        try:  # one attempt: the connection form's Test button must answer quickly
            s = self.settings
            _token, lifetime = self._fetch_token(s, attempts=1)
        except DingTalkError as err:
            return False, str(err)
        issued = f"DingTalk issued an access token for app key {s.app_key} (valid {lifetime:g}s)"
        extras = self.get_connection(self.dingtalk_conn_id).extra_dejson
        if not (self._overrides.get(LEGACY_HOST_EXTRA) or extras.get(LEGACY_HOST_EXTRA)):
            return True, issued
        probe = "dtcal-connection-test"  # a userId no organisation holds: "not found" proves the permission
        try:
            self.get_user(probe)  # type: ignore[attr-defined]
        except DingTalkNotFoundError:
            pass
        except DingTalkPermissionError as err:
            return False, f"{issued}, but {s.legacy_base_url} refused the contacts lookup: {err}"
        except DingTalkError as err:
            return False, f"{issued}, but the contacts lookup on {s.legacy_base_url} failed: {err}"
        return True, f"{issued}; the contacts lookup on {s.legacy_base_url} is allowed"
