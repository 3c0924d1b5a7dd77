"""DingTalkCalendarHook: the DingTalk Calendar API, sync (requests) and async (httpx), over one pure core.

Every public method is a few lines: build a :class:`~airflow_dtcal.core.calls.Call`, then run it through
:meth:`DingTalkCalendarHook._run` (sync) or :meth:`DingTalkCalendarHook._arun` (async). Those two own the
access-token header, pacing, the retry policy (:mod:`airflow_dtcal.core.retry`) and answer interpretation
(:mod:`airflow_dtcal.core.answers`); the transports (:mod:`airflow_dtcal.hooks.transport`) only move bytes.
Async methods are named ``a`` + the sync name (``acreate_event``, ``aiter_attendees``...).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from functools import cached_property
from typing import Any

import requests
import tenacity

from airflow_dtcal.compat import BaseHook, amask_secret, mask_secret
from airflow_dtcal.core import answers, calls, retry
from airflow_dtcal.core.calls import Call, derive_client_token
from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.ids import (
    MAX_ATTENDEES_PER_CALL,
    chunked,
    normalize_attendee_ids,
    normalize_attendees,
)
from airflow_dtcal.core.pacing import PACERS, TOKENS, Usage
from airflow_dtcal.core.paging import Pager
from airflow_dtcal.core.settings import DEFAULTS, Settings, resolve_base_url, resolve_settings
from airflow_dtcal.exceptions import DingTalkAuthError, DingTalkError
from airflow_dtcal.exceptions import invalid_arguments as _arguments
from airflow_dtcal.hooks import limiter, transport
from airflow_dtcal.hooks.changes import EventChangesMethods
from airflow_dtcal.planning.events import split_create_attendees
from airflow_dtcal.planning.people import (
    Resolution,
    Resolver,
    afound_or_none,
    check_on_unknown,
    found_or_none,
)

__all__ = ["DEFAULTS", "DingTalkCalendarHook", "clear_token_cache", "resolve_base_url"]

#: Operations that do not count toward an organisation's monthly API quota (token, contacts, Stream open).
NOT_COUNTED = frozenset({"GetAccessToken", "GetUser", "GetUserByMobile", "OpenStreamConnection"})


def clear_token_cache() -> None:
    """Forget every cached access token and pacing reservation in this process (tests, credential rotation)."""
    TOKENS.clear()
    PACERS.clear()


def _chunk_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ATTENDEES_PER_CALL:
        raise InvalidArgumentError("chunk_size", f"must be from 1 to {MAX_ATTENDEES_PER_CALL}", value)
    return value


def _chunk_tokens(base: str, operation: str, count: int) -> list[str]:
    """One idempotency key per chunk: the base itself for a single chunk, else derived from it."""
    return [base] if count == 1 else [derive_client_token(base, operation, i) for i in range(count)]


class _Progress:
    """Progress of one chunked add/remove, logged as chunks complete (in any order)."""

    def __init__(self, hook: Any, operation: str, verb: str, event_id: str, total: int) -> None:
        self.hook, self.operation, self.verb, self.event_id, self.total = (
            hook,
            operation,
            verb,
            event_id,
            total,
        )
        self.count = 0
        self._lock = threading.Lock()

    def done(self, call: Call, _answer: Any) -> None:
        body = call.body or {}
        size = len(body.get("attendeesToAdd") or body.get("attendeesToRemove") or [])
        with self._lock:
            self.count += size
            count = self.count
        self.hook.log.info(
            "%s %s of %s attendees of event %s",
            self.verb.capitalize(),
            f"{count:,}",
            f"{self.total:,}",
            self.event_id,
        )

    def failed(self) -> None:
        if self.count:
            self.hook.log.error(
                "%s stopped after %s %s of %s attendees of event %s; running it again with the same client "
                "token is safe (each chunk is idempotent)",
                self.operation,
                self.verb,
                f"{self.count:,}",
                f"{self.total:,}",
                self.event_id,
            )


class DingTalkCalendarHook(EventChangesMethods, BaseHook):
    """Talk to the DingTalk Calendar server API with an internal app's credentials.

    The Airflow connection gives the App Key (login), App Secret (password) and optionally the API host
    (default ``api.dingtalk.com`` over https; ``http://127.0.0.1:PORT`` for the emulator). Settings come from
    the arguments here, then the connection's extras (plain or ``extra__dingtalk_calendar__`` keys), then
    :data:`~airflow_dtcal.core.settings.DEFAULTS`.

    :param dingtalk_conn_id: the Airflow connection id.
    :param timeout: seconds one attempt may take in all (connect, send, whole answer).
    :param connect_timeout: seconds to open a connection.
    :param max_attempts: tries per request (1 = no retry).
    :param backoff_initial: first backoff in seconds; doubled per retry, with jitter.
    :param backoff_max: cap of one wait, a server's ``Retry-After`` included.
    :param retry_deadline: seconds after which no retry starts.
    :param rate_limit: calls per second per app and API this process allows itself (DingTalk's quota is 20);
        fractions are honoured; 0 turns pacing off.
    :param max_answer_bytes: cap of one answer after decompression (default 4 MiB).
    :param max_pages: cap of one ``nextToken`` loop (default 1,000 pages).
    :param max_in_flight: requests kept in flight for bulk work (attendee chunks, :meth:`run_many`); default 8.
    :param pacing: ``"host"`` (default): every process of this machine paces together through a small locked
        file per app and API; ``"redis"``: every process of every machine paces together through the Redis of
        the connection extra ``pacing_redis_conn_id`` (default ``redis_default``); ``"process"``: this process
        paces alone and adapts to throttling.
    :param monthly_budget: DingTalk calls this app may spend per calendar month (China time) across the
        deployment (counted in the pacing store); the hook refuses, before any request, a task whose expected
        calls (:meth:`check_monthly_budget`) would exceed what is left. 0 or ``None``: no budget.
    :param verify: TLS verification, or a CA bundle path.

    :attr:`calls_spent` counts the requests this hook sent, by operation (retries and token fetches included).
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
        self._async_client: tuple[Any, Any] | None = None  # (event loop, httpx.AsyncClient)
        self._spent: Counter[str] = Counter()
        self._spent_lock = threading.Lock()

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

    # ---------------------------------------------------------------- the request path (sync)

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
                s.max_attempts,
                getattr(error, "code", None) or type(error).__name__,
                error,
                state.upcoming_sleep,
            )

        return {**policy, "before_sleep": log_retry}

    def _run(self, call: Call, *, attempts: int | None = None) -> Any:
        """Send ``call`` with retries; return its checked answer."""
        s = self.settings
        if not self._month_checked and call.authenticated and call.operation not in NOT_COUNTED:
            self.check_monthly_budget()
        for attempt in tenacity.Retrying(**self._retrying(s, call.operation, attempts)):
            with attempt:
                return self._attempt(s, call)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, s: Settings, call: Call) -> Any:
        refreshed = False
        while True:
            token = self.get_access_token() if call.authenticated else None
            delay = self._pace(s, call)
            if delay:
                time.sleep(delay)
            self._count(call)
            status, headers, content = transport.exchange(self.session, s, call, token)
            try:
                answer = self._interpret(s, call, status, headers, content)
            except DingTalkError as err:
                self._after(s, call, err)
                if not isinstance(err, DingTalkAuthError) or token is None or refreshed:
                    raise
                refreshed = self._forget_token(s, call, token)
                continue
            self._after(s, call, None)
            return answer

    def _pace(self, s: Settings, call: Call) -> float:
        """Seconds to wait before sending ``call`` to stay within ``rate_limit`` (token calls are not paced)."""
        if not call.authenticated:
            return 0.0
        return self._paced(s, call, limiter.reserve(self, s, call.operation))

    async def _apace(self, s: Settings, call: Call) -> float:
        if not call.authenticated:
            return 0.0
        return self._paced(s, call, await limiter.areserve(self, s, call.operation))

    def _paced(self, s: Settings, call: Call, delay: float) -> float:
        if delay > 0.5:
            self.log.info(
                "Paced DingTalk %s for %.2fs to stay within %g calls/s", call.operation, delay, s.rate_limit
            )
        return delay

    def _interpret(self, s: Settings, call: Call, status: int, headers: Any, content: bytes) -> Any:
        """The checked answer."""
        return answers.interpret(call.operation, status, headers, content, call.expect)

    def _after(self, s: Settings, call: Call, error: BaseException | None) -> None:
        """Throttling slows this app's pacer down, success grows it back; what DingTalk counts is counted."""
        if call.authenticated:
            limiter.after_call(self, s, call.operation, call.operation not in NOT_COUNTED, error)

    async def _aafter(self, s: Settings, call: Call, error: BaseException | None) -> None:
        if call.authenticated:
            await limiter.aafter_call(self, s, call.operation, call.operation not in NOT_COUNTED, error)

    def check_monthly_budget(self, expected_calls: int = 1) -> Usage:
        """Log this app's DingTalk calls this month (deployment-wide with ``pacing="redis"``, else this
        machine's), with this DAG's share; with ``monthly_budget``, raise :class:`DingTalkMonthlyBudgetError`
        before any request when ``expected_calls`` more would exceed it. The hook runs it with 1 before its
        first counted call; a task that knows its plan calls it first with the plan's size."""
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

    # ---------------------------------------------------------------- the request path (async)

    async def _arun(self, call: Call, *, attempts: int | None = None) -> Any:
        s = await self.asettings()
        if not self._month_checked and call.authenticated and call.operation not in NOT_COUNTED:
            await self.acheck_monthly_budget()
        async for attempt in tenacity.AsyncRetrying(**self._retrying(s, call.operation, attempts)):
            with attempt:
                return await self._aattempt(s, call)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _aattempt(self, s: Settings, call: Call) -> Any:
        client = await self.get_async_client()
        refreshed = False
        while True:
            token = await self.aget_access_token() if call.authenticated else None
            delay = await self._apace(s, call)
            if delay:
                await asyncio.sleep(delay)
            self._count(call)
            status, headers, content = await transport.aexchange(client, s, call, token)
            try:
                answer = self._interpret(s, call, status, headers, content)
            except DingTalkError as err:
                await self._aafter(s, call, err)
                if not isinstance(err, DingTalkAuthError) or token is None or refreshed:
                    raise
                refreshed = self._forget_token(s, call, token)
                continue
            await self._aafter(s, call, None)
            return answer

    # ---------------------------------------------------------------- requests in flight

    def run_many(
        self, function: Callable[[Any], Any], items: Iterable[Any], *, max_in_flight: int | None = None
    ) -> list:
        """``function(item)`` for every item, up to ``max_in_flight`` at once (threads sharing this hook and
        its pacer); the results in the items' order.

        Use it for bulk work in one task: ``hook.run_many(lambda r: hook.respond_event(*r), responses)``. On
        the first error no new item starts; the ones already in flight finish, then that error is raised.
        """
        items = list(items)
        limit = max_in_flight or self.settings.max_in_flight
        if limit <= 1 or len(items) <= 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix="dtcal") as pool:
            futures = [pool.submit(function, item) for item in items]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:
                future.cancel()
            wait(futures)
            for future in futures:
                if not future.cancelled() and future.exception() is not None:
                    raise future.exception()
            return [future.result() for future in futures]

    async def arun_many(
        self,
        function: Callable[[Any], Awaitable[Any]],
        items: Iterable[Any],
        *,
        max_in_flight: int | None = None,
    ) -> list:
        """Async :meth:`run_many`: ``await function(item)`` for every item, up to ``max_in_flight`` at once."""
        items = list(items)
        limit = asyncio.Semaphore(max_in_flight or (await self.asettings()).max_in_flight)
        failed = asyncio.Event()

        async def one(item: Any) -> Any:
            async with limit:
                if failed.is_set():
                    raise asyncio.CancelledError
                try:
                    return await function(item)
                except BaseException:
                    failed.set()
                    raise

        tasks = [asyncio.ensure_future(one(item)) for item in items]
        if not tasks:
            return []
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()
        return [task.result() for task in tasks]

    # ---------------------------------------------------------------- token

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
                body = await self._arun(calls.get_access_token(s.app_key, s.app_secret))
                token, lifetime = answers.access_token(body)
                await amask_secret(token)
                TOKENS.put(s.app, token, lifetime)
            return token

    def _fetch_token(self, s: Settings, *, attempts: int | None = None) -> tuple[str, float]:
        self.log.info("Fetching a DingTalk access token for app key %s", s.app_key)
        body = self._run(calls.get_access_token(s.app_key, s.app_secret), attempts=attempts)
        token, lifetime = answers.access_token(body)
        mask_secret(token)
        return token, lifetime

    def test_connection(self) -> tuple[bool, str]:
        """Fetch a token once: (True, ...) when the credentials work, else (False, the reason)."""
        try:  # one attempt: the connection form's Test button must answer quickly
            s = self.settings
            _token, lifetime = self._fetch_token(s, attempts=1)
        except DingTalkError as err:
            return False, str(err)
        return True, f"DingTalk issued an access token for app key {s.app_key} (valid {lifetime:g}s)"

    # ---------------------------------------------------------------- events

    def _create_plan(self, user_id: str, event: Any, calendar_id: str, client_token: str | None):
        with _arguments():
            if not isinstance(event, Mapping):
                raise InvalidArgumentError("event", "must be a dict with at least 'summary' and 'start'")
            head, rest = split_create_attendees(dict(event))
            if rest:
                normalize_attendees(event["attendees"])  # the per-event limit, before anything is sent
            base = calls.client_token(client_token)
            return calls.create_event(user_id, head, calendar_id, base), rest, base

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
        call, rest, base = self._create_plan(user_id, event, calendar_id, client_token)
        created = self._run(call)
        if rest:
            self.add_attendees(
                user_id,
                created["id"],
                rest,
                calendar_id=calendar_id,
                client_token=derive_client_token(base, "rest"),
            )
        return created

    async def acreate_event(
        self,
        user_id: str,
        event: Mapping[str, Any],
        *,
        calendar_id: str = "primary",
        client_token: str | None = None,
    ) -> dict:
        """Async :meth:`create_event`."""
        call, rest, base = self._create_plan(user_id, event, calendar_id, client_token)
        created = await self._arun(call)
        if rest:
            await self.aadd_attendees(
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
            call = calls.get_event(user_id, event_id, calendar_id, max_attendees)
        return self._run(call)

    async def aget_event(
        self, user_id: str, event_id: str, *, calendar_id: str = "primary", max_attendees: int | None = None
    ) -> dict:
        """Async :meth:`get_event`."""
        with _arguments():
            call = calls.get_event(user_id, event_id, calendar_id, max_attendees)
        return await self._arun(call)

    def _patch_call(self, user_id, event_id, changes, calendar_id, client_token) -> Call:
        with _arguments():
            return calls.patch_event(
                user_id, event_id, changes, calendar_id, calls.client_token(client_token)
            )

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
        return self._run(self._patch_call(user_id, event_id, changes, calendar_id, client_token))

    async def apatch_event(
        self,
        user_id: str,
        event_id: str,
        changes: Mapping[str, Any],
        *,
        calendar_id: str = "primary",
        client_token: str | None = None,
    ) -> dict:
        """Async :meth:`patch_event`."""
        return await self._arun(self._patch_call(user_id, event_id, changes, calendar_id, client_token))

    def _delete_call(self, user_id, event_id, calendar_id, push_notification, client_token) -> Call:
        with _arguments():
            if push_notification not in (None, True, False):
                raise InvalidArgumentError(
                    "push_notification", "must be true, false or None", push_notification
                )
            token = calls.client_token(client_token)
            return calls.delete_event(user_id, event_id, calendar_id, push_notification, token)

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
        self._run(self._delete_call(user_id, event_id, calendar_id, push_notification, client_token))

    async def adelete_event(
        self,
        user_id: str,
        event_id: str,
        *,
        calendar_id: str = "primary",
        push_notification: bool | None = None,
        client_token: str | None = None,
    ) -> None:
        """Async :meth:`delete_event`."""
        await self._arun(self._delete_call(user_id, event_id, calendar_id, push_notification, client_token))

    def _events_call(self, user_id, calendar_id, time_min, time_max, show_deleted, page_size) -> Call:
        with _arguments():
            return calls.list_events(
                user_id,
                calendar_id,
                time_min=time_min,
                time_max=time_max,
                show_deleted=show_deleted,
                page_size=page_size,
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
        call = self._events_call(user_id, calendar_id, time_min, time_max, show_deleted, page_size)
        yield from self._pages(call)

    async def aiter_events(
        self,
        user_id: str,
        *,
        time_min: str | None = None,
        time_max: str | None = None,
        show_deleted: bool = False,
        page_size: int = 100,
        calendar_id: str = "primary",
    ) -> AsyncIterator[dict]:
        """Async :meth:`iter_events`."""
        call = self._events_call(user_id, calendar_id, time_min, time_max, show_deleted, page_size)
        async for event in self._apages(call):
            yield event

    def list_events(self, user_id: str, **kwargs: Any) -> list[dict]:
        """Every event :meth:`iter_events` yields, as a list."""
        return list(self.iter_events(user_id, **kwargs))

    async def alist_events(self, user_id: str, **kwargs: Any) -> list[dict]:
        """Async :meth:`list_events`."""
        return [event async for event in self.aiter_events(user_id, **kwargs)]

    def _pages(self, call: Call) -> Iterator[dict]:
        pager = Pager(call, self.settings.max_pages)
        while not pager.done:
            yield from pager.accept(self._run(pager.next_call()))

    async def _apages(self, call: Call) -> AsyncIterator[dict]:
        pager = Pager(call, (await self.asettings()).max_pages)
        while not pager.done:
            for item in pager.accept(await self._arun(pager.next_call())):
                yield item

    # ---------------------------------------------------------------- attendees

    def _add_plan(self, user_id, event_id, attendees, calendar_id, chat, push, client_token, chunk_size):
        with _arguments():
            wanted = normalize_attendees(attendees)
            flags = {}
            for name, key, flag in (
                ("chat_notification", "chatNotification", chat),
                ("push_notification", "pushNotification", push),
            ):
                if flag not in (None, True, False):
                    raise InvalidArgumentError(name, "must be true, false or None", flag)
                if flag is not None:
                    flags[key] = flag
            chunks = [list(c) for c in chunked(wanted, _chunk_size(chunk_size))]
            tokens = _chunk_tokens(calls.client_token(client_token), "AddAttendee", len(chunks))
            plan = [
                calls.add_attendees(user_id, event_id, chunk, calendar_id, flags, token)
                for chunk, token in zip(chunks, tokens, strict=True)
            ]
        return wanted, plan

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
        wanted, plan = self._add_plan(
            user_id,
            event_id,
            attendees,
            calendar_id,
            chat_notification,
            push_notification,
            client_token,
            chunk_size,
        )
        self._chunks(plan, "added", event_id, len(wanted))
        return wanted

    async def aadd_attendees(
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
        """Async :meth:`add_attendees`."""
        wanted, plan = self._add_plan(
            user_id,
            event_id,
            attendees,
            calendar_id,
            chat_notification,
            push_notification,
            client_token,
            chunk_size,
        )
        await self._achunks(plan, "added", event_id, len(wanted))
        return wanted

    def _remove_plan(self, user_id, event_id, attendee_ids, calendar_id, client_token, chunk_size):
        with _arguments():
            ids = normalize_attendee_ids(attendee_ids)
            chunks = [list(c) for c in chunked(ids, _chunk_size(chunk_size))]
            tokens = _chunk_tokens(calls.client_token(client_token), "RemoveAttendee", len(chunks))
            plan = [
                calls.remove_attendees(user_id, event_id, chunk, calendar_id, token)
                for chunk, token in zip(chunks, tokens, strict=True)
            ]
        return ids, plan

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
        ids, plan = self._remove_plan(user_id, event_id, attendee_ids, calendar_id, client_token, chunk_size)
        self._chunks(plan, "removed", event_id, len(ids))
        return ids

    async def aremove_attendees(
        self,
        user_id: str,
        event_id: str,
        attendee_ids: Sequence[str],
        *,
        calendar_id: str = "primary",
        client_token: str | None = None,
        chunk_size: int = MAX_ATTENDEES_PER_CALL,
    ) -> list[str]:
        """Async :meth:`remove_attendees`."""
        ids, plan = self._remove_plan(user_id, event_id, attendee_ids, calendar_id, client_token, chunk_size)
        await self._achunks(plan, "removed", event_id, len(ids))
        return ids

    def _chunks(self, plan: list[Call], verb: str, event_id: str, total: int) -> None:
        """Send the chunks of one add/remove with requests in flight; log progress as chunks complete."""
        progress = _Progress(self, plan[0].operation if plan else "", verb, event_id, total)
        try:
            self.run_many(lambda call: progress.done(call, self._run(call)), plan)
        except DingTalkError:
            progress.failed()
            raise

    async def _achunks(self, plan: list[Call], verb: str, event_id: str, total: int) -> None:
        progress = _Progress(self, plan[0].operation if plan else "", verb, event_id, total)

        async def send(call: Call) -> None:
            progress.done(call, await self._arun(call))

        try:
            await self.arun_many(send, plan)
        except DingTalkError:
            progress.failed()
            raise

    def _attendees_call(self, user_id, event_id, calendar_id, page_size) -> Call:
        with _arguments():
            return calls.list_attendees(user_id, event_id, calendar_id, page_size)

    def iter_attendees(
        self,
        user_id: str,
        event_id: str,
        *,
        calendar_id: str = "primary",
        page_size: int = MAX_ATTENDEES_PER_CALL,
    ) -> Iterator[dict]:
        """Attendees page by page; memory stays at one page however many there are."""
        yield from self._pages(self._attendees_call(user_id, event_id, calendar_id, page_size))

    async def aiter_attendees(
        self,
        user_id: str,
        event_id: str,
        *,
        calendar_id: str = "primary",
        page_size: int = MAX_ATTENDEES_PER_CALL,
    ) -> AsyncIterator[dict]:
        """Async :meth:`iter_attendees`."""
        async for attendee in self._apages(self._attendees_call(user_id, event_id, calendar_id, page_size)):
            yield attendee

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

    async def alist_attendees(
        self,
        user_id: str,
        event_id: str,
        *,
        calendar_id: str = "primary",
        page_size: int = MAX_ATTENDEES_PER_CALL,
    ) -> list[dict]:
        """Async :meth:`list_attendees`."""
        return [
            a
            async for a in self.aiter_attendees(
                user_id, event_id, calendar_id=calendar_id, page_size=page_size
            )
        ]

    def _respond_call(self, user_id, event_id, response_status, calendar_id, client_token) -> Call:
        with _arguments():
            token = calls.client_token(client_token)
            return calls.respond_event(user_id, event_id, response_status, calendar_id, token)

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
        self._run(self._respond_call(user_id, event_id, response_status, calendar_id, client_token))

    async def arespond_event(
        self,
        user_id: str,
        event_id: str,
        response_status: str,
        *,
        calendar_id: str = "primary",
        client_token: str | None = None,
    ) -> None:
        """Async :meth:`respond_event`."""
        await self._arun(self._respond_call(user_id, event_id, response_status, calendar_id, client_token))

    # ---- lifecycle

    @staticmethod
    def _live_with_key(event: Mapping[str, Any], key: str) -> bool:
        from airflow_dtcal.planning.markers import carries_key

        return event.get("status") != "cancelled" and carries_key(event, key)

    @staticmethod
    def _series_master(event: Mapping[str, Any]) -> dict:
        master = event.get("seriesMasterId")
        return dict(event, id=master) if isinstance(master, str) and master else dict(event)

    def find_event_by_key(
        self,
        user_id: str,
        key: str,
        *,
        time_min: str,
        time_max: str,
        calendar_id: str = "primary",
    ) -> dict | None:
        """The organizer's first live event in the window that carries ``key`` (see
        :func:`~airflow_dtcal.payloads.mark_description`), or None. For an instance of a recurring series
        the series master's id is returned as ``id``.
        """
        from airflow_dtcal.planning.markers import event_key_marker

        with _arguments():
            event_key_marker(key)
        for event in self.iter_events(user_id, time_min=time_min, time_max=time_max, calendar_id=calendar_id):
            if self._live_with_key(event, key):
                return self._series_master(event)
        return None

    async def afind_event_by_key(
        self,
        user_id: str,
        key: str,
        *,
        time_min: str,
        time_max: str,
        calendar_id: str = "primary",
    ) -> dict | None:
        """Async :meth:`find_event_by_key`."""
        from airflow_dtcal.planning.markers import event_key_marker

        with _arguments():
            event_key_marker(key)
        async for event in self.aiter_events(
            user_id, time_min=time_min, time_max=time_max, calendar_id=calendar_id
        ):
            if self._live_with_key(event, key):
                return self._series_master(event)
        return None

    def cancel_event(
        self,
        user_id: str,
        event_id: str,
        *,
        calendar_id: str = "primary",
        scope: str | None = None,
        client_token: str | None = None,
    ) -> None:
        """Cancel an event for everyone, as its organizer ``user_id`` (DingTalk's CancelEvent).

        Unlike :meth:`delete_event`, the event stays readable: GetEvent returns it with status ``cancelled``.
        ``scope`` is passed through as DingTalk's query parameter (its values are not documented).
        """
        with _arguments():
            call = calls.cancel_event(user_id, event_id, calendar_id, scope, calls.client_token(client_token))
        self._run(call)

    async def acancel_event(
        self,
        user_id: str,
        event_id: str,
        *,
        calendar_id: str = "primary",
        scope: str | None = None,
        client_token: str | None = None,
    ) -> None:
        """Async :meth:`cancel_event`."""
        with _arguments():
            call = calls.cancel_event(user_id, event_id, calendar_id, scope, calls.client_token(client_token))
        await self._arun(call)

    def _transfer_call(self, user_id, event_id, new_organizer_id, calendar_id, exit_calendar, notify, token):
        with _arguments():
            return calls.transfer_event(
                user_id,
                event_id,
                new_organizer_id,
                calendar_id,
                exit_calendar,
                notify,
                calls.client_token(token),
            )

    def transfer_event(
        self,
        user_id: str,
        event_id: str,
        new_organizer_id: str,
        *,
        calendar_id: str = "primary",
        exit_calendar: bool | None = None,
        notify: bool | None = None,
        client_token: str | None = None,
    ) -> None:
        """Hand an event from its organizer ``user_id`` to ``new_organizer_id`` (DingTalk's TransferEvent).

        :param exit_calendar: also take the event out of the old organizer's calendar (``isExitCalendar``).
        :param notify: send the new organizer a 1:1 notice (``needNotifyViaO2O``).
        """
        call = self._transfer_call(
            user_id, event_id, new_organizer_id, calendar_id, exit_calendar, notify, client_token
        )
        self._run(call)

    async def atransfer_event(
        self,
        user_id: str,
        event_id: str,
        new_organizer_id: str,
        *,
        calendar_id: str = "primary",
        exit_calendar: bool | None = None,
        notify: bool | None = None,
        client_token: str | None = None,
    ) -> None:
        """Async :meth:`transfer_event`."""
        call = self._transfer_call(
            user_id, event_id, new_organizer_id, calendar_id, exit_calendar, notify, client_token
        )
        await self._arun(call)

    def _view_call(self, user_id, calendar_id, time_min, time_max, page_size, max_attendees) -> Call:
        from airflow_dtcal.core.times import iso_instant

        with _arguments():
            return calls.list_events_view(
                user_id,
                calendar_id,
                time_min=iso_instant(time_min, "time_min"),
                time_max=iso_instant(time_max, "time_max"),
                page_size=page_size,
                max_attendees=max_attendees,
            )

    def iter_events_view(
        self,
        user_id: str,
        *,
        time_min: Any,
        time_max: Any,
        page_size: int = 100,
        max_attendees: int = 100,
        calendar_id: str = "primary",
    ) -> Iterator[dict]:
        """The events in ``[time_min, time_max)`` with recurring series expanded (ListEventsView), page by page.

        Each occurrence of a series is its own item, with ``seriesMasterId`` and ``originStart``. The window
        ends are date-times (pendulum/datetime or ISO-8601 strings; naive ones are UTC).
        """
        call = self._view_call(user_id, calendar_id, time_min, time_max, page_size, max_attendees)
        yield from self._pages(call)

    async def aiter_events_view(
        self,
        user_id: str,
        *,
        time_min: Any,
        time_max: Any,
        page_size: int = 100,
        max_attendees: int = 100,
        calendar_id: str = "primary",
    ) -> AsyncIterator[dict]:
        """Async :meth:`iter_events_view`."""
        call = self._view_call(user_id, calendar_id, time_min, time_max, page_size, max_attendees)
        async for event in self._apages(call):
            yield event

    def list_events_view(self, user_id: str, **kwargs: Any) -> list[dict]:
        """Every occurrence :meth:`iter_events_view` yields, as a list."""
        return list(self.iter_events_view(user_id, **kwargs))

    async def alist_events_view(self, user_id: str, **kwargs: Any) -> list[dict]:
        """Async :meth:`list_events_view`."""
        return [event async for event in self.aiter_events_view(user_id, **kwargs)]

    @staticmethod
    def _schedule_items(call: Call, body: Any, key: str) -> list[dict]:
        """``scheduleInformation`` of a free/busy answer, checked: a list of objects naming their ``key``."""
        from airflow_dtcal.exceptions import DingTalkAnswerError

        items = body.get("scheduleInformation") if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(
            isinstance(item, dict) and isinstance(item.get(key), str) and item[key] for item in items
        ):
            raise DingTalkAnswerError(
                call.operation,
                200,
                None,
                f"the answer has no scheduleInformation list of objects with a {key}",
            )
        return items

    def _schedule_plan(self, user_id, user_ids, start, end) -> list[Call]:
        from airflow_dtcal.core.times import instant

        with _arguments():
            ids = normalize_attendee_ids(user_ids, "user_ids")
            first, last = instant(start, "start"), instant(end, "end")
            if last <= first:
                raise InvalidArgumentError("end", "must be after start", end)
            fmt = "%Y-%m-%dT%H:%MZ"  # the SDK's documented UTC form
            window = first.in_timezone("UTC").strftime(fmt), last.in_timezone("UTC").strftime(fmt)
            return [
                calls.get_schedule(user_id, list(chunk), *window)
                for chunk in chunked(ids, calls.MAX_SCHEDULE_USERS)
            ]

    def get_schedule(self, user_id: str, user_ids: Sequence[str], *, start: Any, end: Any) -> list[dict]:
        """Busy times of ``user_ids`` between ``start`` and ``end`` (GetSchedule), 20 people per call.

        Returns DingTalk's ``scheduleInformation`` items, one per person, in the order asked:
        ``{userId, error, scheduleItems: [{status: BUSY|TENTATIVE, start, end}]}``. ``start``/``end`` are
        date-times (pendulum/datetime or ISO-8601; naive ones are UTC), sent to the minute.
        """
        out: list[dict] = []
        for call in self._schedule_plan(user_id, user_ids, start, end):
            out.extend(self._schedule_items(call, self._run(call), "userId"))
        return out

    async def aget_schedule(
        self, user_id: str, user_ids: Sequence[str], *, start: Any, end: Any
    ) -> list[dict]:
        """Async :meth:`get_schedule`."""
        out: list[dict] = []
        for call in self._schedule_plan(user_id, user_ids, start, end):
            out.extend(self._schedule_items(call, await self._arun(call), "userId"))
        return out

    def _room_call(self, build, user_id, event_id, room_ids, calendar_id, client_token) -> Call:
        with _arguments():
            return build(user_id, event_id, room_ids, calendar_id, calls.client_token(client_token))

    def add_meeting_rooms(
        self,
        user_id: str,
        event_id: str,
        room_ids: Sequence[str],
        *,
        calendar_id: str = "primary",
        client_token: str | None = None,
    ) -> None:
        """Book rooms for an event as its organizer (at most 5 per event); a room already taken at that time
        is refused with ``meetingRoomNotAvailable`` (:class:`~airflow_dtcal.exceptions.DingTalkAPIError`)."""
        self._run(
            self._room_call(calls.add_meeting_rooms, user_id, event_id, room_ids, calendar_id, client_token)
        )

    async def aadd_meeting_rooms(
        self,
        user_id: str,
        event_id: str,
        room_ids: Sequence[str],
        *,
        calendar_id: str = "primary",
        client_token: str | None = None,
    ) -> None:
        """Async :meth:`add_meeting_rooms`."""
        await self._arun(
            self._room_call(calls.add_meeting_rooms, user_id, event_id, room_ids, calendar_id, client_token)
        )

    def remove_meeting_rooms(
        self,
        user_id: str,
        event_id: str,
        room_ids: Sequence[str],
        *,
        calendar_id: str = "primary",
        client_token: str | None = None,
    ) -> None:
        """Release rooms of an event as its organizer."""
        self._run(
            self._room_call(
                calls.remove_meeting_rooms, user_id, event_id, room_ids, calendar_id, client_token
            )
        )

    async def aremove_meeting_rooms(
        self,
        user_id: str,
        event_id: str,
        room_ids: Sequence[str],
        *,
        calendar_id: str = "primary",
        client_token: str | None = None,
    ) -> None:
        """Async :meth:`remove_meeting_rooms`."""
        await self._arun(
            self._room_call(
                calls.remove_meeting_rooms, user_id, event_id, room_ids, calendar_id, client_token
            )
        )

    def _rooms_schedule_plan(self, user_id, room_ids, start, end) -> list[Call]:
        from airflow_dtcal.core.times import instant

        with _arguments():
            ids = calls.room_ids(
                list(room_ids) if isinstance(room_ids, (list, tuple)) else room_ids, high=10**6
            )
            first, last = instant(start, "start"), instant(end, "end")
            if last <= first:
                raise InvalidArgumentError("end", "must be after start", end)
            if (last - first).total_seconds() > 90 * 86400:
                raise InvalidArgumentError(
                    "end", "must be at most 90 days after start (DingTalk's limit)", end
                )
            fmt = "%Y-%m-%dT%H:%MZ"
            window = first.in_timezone("UTC").strftime(fmt), last.in_timezone("UTC").strftime(fmt)
            return [
                calls.get_meeting_rooms_schedule(user_id, list(chunk), *window)
                for chunk in chunked(ids, calls.MAX_ROOMS_PER_SCHEDULE_CALL)
            ]

    def get_meeting_rooms_schedule(
        self, user_id: str, room_ids: Sequence[str], *, start: Any, end: Any
    ) -> list[dict]:
        """Busy times of rooms (GetMeetingRoomsSchedule), 5 rooms per call, a window of at most 90 days.

        Returns ``scheduleInformation`` items in the order asked: ``{roomId, error, scheduleItems: [{status,
        start, end, eventId, organizer: {id}}]}``.
        """
        out: list[dict] = []
        for call in self._rooms_schedule_plan(user_id, room_ids, start, end):
            out.extend(self._schedule_items(call, self._run(call), "roomId"))
        return out

    async def aget_meeting_rooms_schedule(
        self, user_id: str, room_ids: Sequence[str], *, start: Any, end: Any
    ) -> list[dict]:
        """Async :meth:`get_meeting_rooms_schedule`."""
        out: list[dict] = []
        for call in self._rooms_schedule_plan(user_id, room_ids, start, end):
            out.extend(self._schedule_items(call, await self._arun(call), "roomId"))
        return out

    def _room_page(self, call: Call, body: Any, pages: int) -> tuple[list[dict], int | None]:
        """The rooms of one QueryMeetingRoomList answer and the next token, checked."""
        from airflow_dtcal.exceptions import DingTalkAnswerError

        rooms = body.get("result") if isinstance(body, dict) else None
        if not isinstance(rooms, list) or not all(isinstance(r, dict) and r.get("roomId") for r in rooms):
            raise DingTalkAnswerError(call.operation, 200, None, "the answer has no result list of rooms")
        token = body.get("nextToken") if body.get("hasMore") else None
        if token is not None and (isinstance(token, bool) or not isinstance(token, int)):
            raise DingTalkAnswerError(call.operation, 200, None, "nextToken is not a number")
        if token is not None and pages >= self.settings.max_pages:
            raise DingTalkAnswerError(
                call.operation, 200, None, f"more than max_pages={self.settings.max_pages} pages"
            )
        return rooms, token

    def iter_meeting_rooms(self, union_id: str, *, page_size: int = 100) -> Iterator[dict]:
        """The organisation's meeting rooms (QueryMeetingRoomList), page by page, as seen by ``union_id``."""
        token, pages = None, 0
        while True:
            with _arguments():
                call = calls.list_meeting_rooms(union_id, page_size, token)
            pages += 1
            rooms, token = self._room_page(call, self._run(call), pages)
            yield from rooms
            if token is None:
                return

    async def aiter_meeting_rooms(self, union_id: str, *, page_size: int = 100) -> AsyncIterator[dict]:
        """Async :meth:`iter_meeting_rooms`."""
        await self.asettings()
        token, pages = None, 0
        while True:
            with _arguments():
                call = calls.list_meeting_rooms(union_id, page_size, token)
            pages += 1
            rooms, token = self._room_page(call, await self._arun(call), pages)
            for room in rooms:
                yield room
            if token is None:
                return

    # ---- people

    def get_user(self, user_id: str) -> dict:
        """A member of the organisation by org userId (legacy ``/topapi/v2/user/get``): ``userid``, ``unionid``,
        ``name``, ``active`` and, when the app may read them, ``mobile`` and ``email``."""
        with _arguments():
            call = calls.get_user(user_id)
        return self._run(call)

    async def aget_user(self, user_id: str) -> dict:
        """Async :meth:`get_user`."""
        with _arguments():
            call = calls.get_user(user_id)
        return await self._arun(call)

    def get_user_id_by_mobile(self, mobile: str) -> str:
        """The userId of the active member with this mobile number (legacy ``/topapi/v2/user/getbymobile``)."""
        with _arguments():
            call = calls.get_user_by_mobile(mobile)
        return self._run(call)["userid"]

    async def aget_user_id_by_mobile(self, mobile: str) -> str:
        """Async :meth:`get_user_id_by_mobile`."""
        with _arguments():
            call = calls.get_user_by_mobile(mobile)
        return (await self._arun(call))["userid"]

    def resolve_people(
        self,
        ids: Sequence[str],
        id_type: str = "userId",
        *,
        on_unknown: str = "fail",
        target: str = "unionId",
    ) -> Resolution:
        """Resolve many userIds or mobiles to unionIds (``target="userId"``: mobiles to userIds) in bulk.

        One legacy lookup per id not in this process's cache (mobiles take two: mobile -> userId ->
        unionId), up to ``max_in_flight`` in flight, paced like every call; lookups do not count toward the
        monthly quota. ``unionId`` ids are returned as they are, without a call.

        People DingTalk does not know, and members who left (``active`` false), fail the call with
        :class:`~airflow_dtcal.exceptions.DingTalkNotFoundError` naming them all (mobiles masked), or, with
        ``on_unknown="skip"``, are left out of the mapping, listed in the result and logged.
        """
        with _arguments():
            check_on_unknown(on_unknown)
            resolver = Resolver(ids, id_type, self.settings.app, target=target)
        for step in resolver.steps():
            found = self.run_many(lambda call: found_or_none(self._run, call), [call for _, call in step])
            resolver.accept(step, found)
        return self._resolved(resolver.result(), on_unknown, target)

    async def aresolve_people(
        self,
        ids: Sequence[str],
        id_type: str = "userId",
        *,
        on_unknown: str = "fail",
        target: str = "unionId",
    ) -> Resolution:
        """Async :meth:`resolve_people`."""
        with _arguments():
            check_on_unknown(on_unknown)
            resolver = Resolver(ids, id_type, (await self.asettings()).app, target=target)
        for step in resolver.steps():
            found = await self.arun_many(
                lambda call: afound_or_none(self._arun, call), [call for _, call in step]
            )
            resolver.accept(step, found)
        return self._resolved(resolver.result(), on_unknown, target)

    def resolve_user_ids(self, user_ids: Sequence[str], *, on_unknown: str = "fail") -> dict[str, str]:
        """``{userId: unionId}`` for org userIds (see :meth:`resolve_people`)."""
        return self.resolve_people(user_ids, "userId", on_unknown=on_unknown).union_ids

    async def aresolve_user_ids(self, user_ids: Sequence[str], *, on_unknown: str = "fail") -> dict[str, str]:
        """Async :meth:`resolve_user_ids`."""
        return (await self.aresolve_people(user_ids, "userId", on_unknown=on_unknown)).union_ids

    def resolve_mobiles(self, mobiles: Sequence[str], *, on_unknown: str = "fail") -> dict[str, str]:
        """``{mobile: userId}`` for the mobile numbers of active members (see :meth:`resolve_people`)."""
        return self.resolve_people(mobiles, "mobile", on_unknown=on_unknown, target="userId").user_ids

    async def aresolve_mobiles(self, mobiles: Sequence[str], *, on_unknown: str = "fail") -> dict[str, str]:
        """Async :meth:`resolve_mobiles`."""
        return (
            await self.aresolve_people(mobiles, "mobile", on_unknown=on_unknown, target="userId")
        ).user_ids

    def _resolved(self, result: Resolution, on_unknown: str, target: str) -> Resolution:
        found = len(result.union_ids if target == "unionId" else result.user_ids)
        if result.lookups or result.missing:
            self.log.info(
                "Resolved %s of %s %ss to %ss: %s looked up, %s from this process's cache",
                f"{found:,}",
                f"{found + len(result.missing):,}",
                result.id_type,
                target,
                f"{result.lookups:,}",
                f"{result.cached:,}",
            )
        if result.missing and on_unknown == "fail":
            raise result.error("pass on_unknown='skip' to go on without them")
        if result.missing:
            self.log.warning("%s", result.describe_missing())
        return result
