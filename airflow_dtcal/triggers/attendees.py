"""AttendeeResponseTrigger: poll an event's attendees in the triggerer until a response condition is decided.

The trigger runs in the triggerer's event loop, so everything here is asynchronous: the connection is read
with ``BaseHook.aget_connection`` (``Connection.async_get`` / a thread on older Airflow 3 releases), the API is
called with ``httpx.AsyncClient``, and errors are mapped by the hook's
:func:`~airflow_dtcal.hooks.calendar.interpret_response`, so the trigger raises the same exception types the
hook does. It only reads (GetAccessToken, ListAttendees), so running it twice is harmless.

It fires exactly one :class:`~airflow.triggers.base.TriggerEvent` whose payload is plain JSON and carries
no credentials::

    {"status": "met" | "declined" | "error", "event_id": ..., "condition": ...,
     "statuses": {attendee id: responseStatus}, "declined": [...], "message": "..."}

Importing this module is cheap: httpx and the hook module are imported when the trigger runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_dtcal import responses

DEFAULT_CONN_ID = "dingtalk_calendar_default"
PAGE_SIZE = 500


class AttendeeResponseTrigger(BaseTrigger):
    """Poll ListAttendees every ``poll_interval`` seconds until ``condition`` holds or a relevant attendee declines.

    :param organizer_id: unionId of the event's organizer (whose calendar is read).
    :param event_id: the event.
    :param condition: ``all_responded``, ``min_accepted`` or ``accepted_by`` (see :mod:`airflow_dtcal.responses`).
    :param min_accepted: for ``min_accepted``: how many acceptances are enough.
    :param attendee_ids: for ``accepted_by``: who must accept.
    :param fail_on_decline: fire a ``declined`` event as soon as a relevant attendee declines.
    :param dingtalk_conn_id: Airflow connection of type ``dingtalk_calendar``.
    :param calendar_id: always ``primary`` today.
    :param poll_interval: seconds between two polls.
    :param max_transient_errors: consecutive retryable failures (throttling, 5xx, timeouts) tolerated before the
        trigger gives up with an ``error`` event; the waits between them double from 2 s up to
        ``poll_interval`` (about half an hour in all with the defaults and a 15-minute interval). Non-retryable
        errors (not found, permission, bad credentials) end it at once.
    """

    def __init__(
        self,
        *,
        organizer_id: str,
        event_id: str,
        condition: str = "all_responded",
        min_accepted: int | None = None,
        attendee_ids: list[str] | None = None,
        fail_on_decline: bool = False,
        dingtalk_conn_id: str = DEFAULT_CONN_ID,
        calendar_id: str = "primary",
        poll_interval: float = 60.0,
        max_transient_errors: int = 10,
    ) -> None:
        super().__init__()
        self.organizer_id = organizer_id
        self.event_id = event_id
        self.condition = condition
        self.min_accepted = min_accepted
        self.attendee_ids = list(attendee_ids) if attendee_ids is not None else None
        self.fail_on_decline = fail_on_decline
        self.dingtalk_conn_id = dingtalk_conn_id
        self.calendar_id = calendar_id
        self.poll_interval = float(poll_interval)
        self.max_transient_errors = int(max_transient_errors)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "organizer_id": self.organizer_id,
                "event_id": self.event_id,
                "condition": self.condition,
                "min_accepted": self.min_accepted,
                "attendee_ids": self.attendee_ids,
                "fail_on_decline": self.fail_on_decline,
                "dingtalk_conn_id": self.dingtalk_conn_id,
                "calendar_id": self.calendar_id,
                "poll_interval": self.poll_interval,
                "max_transient_errors": self.max_transient_errors,
            },
        )

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} event_id={self.event_id!r} condition={self.condition!r} "
            f"conn={self.dingtalk_conn_id!r}>"
        )

    # ---------------------------------------------------------------- the loop

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_dtcal.exceptions import DingTalkError
        from airflow_dtcal.payloads import InvalidArgumentError, require_id

        try:
            organizer = require_id(self.organizer_id, "organizer_id")
            event_id = require_id(self.event_id, "event_id")
            calendar = require_id(self.calendar_id, "calendar_id")
            condition, min_accepted, attendee_ids = responses.validate_condition(
                self.condition, self.min_accepted, self.attendee_ids
            )
        except InvalidArgumentError as err:
            yield self._error(err)
            return
        try:
            client = await _Client.open(self.dingtalk_conn_id)
        except Exception as err:  # a missing or unusable connection: report it to the task, do not crash
            yield self._error(err)
            return

        failures = 0
        async with client:
            while True:
                try:
                    attendees = await client.list_attendees(organizer, calendar, event_id)
                except DingTalkError as err:
                    failures += 1
                    if not err.retryable or failures > self.max_transient_errors:
                        yield self._error(err)
                        return
                    wait = max(
                        getattr(err, "retry_after", None) or 0.0, min(self.poll_interval, 2.0**failures)
                    )
                    self.log.warning(
                        "Listing the attendees of event %s failed (%s, %d/%d); next try in %.1fs",
                        event_id,
                        err,
                        failures,
                        self.max_transient_errors,
                        wait,
                    )
                    await asyncio.sleep(wait)
                    continue
                failures = 0
                check = responses.evaluate_responses(
                    attendees,
                    organizer_id=organizer,
                    condition=condition,
                    min_accepted=min_accepted,
                    attendee_ids=attendee_ids,
                    fail_on_decline=self.fail_on_decline,
                )
                if check.done:
                    self.log.info("Event %s: %s (%s)", event_id, check.outcome, check.reason)
                    yield TriggerEvent(
                        {
                            "status": check.outcome,
                            "event_id": event_id,
                            "condition": condition,
                            "statuses": check.statuses,
                            "declined": check.declined,
                            "message": check.reason,
                        }
                    )
                    return
                self.log.info(
                    "Event %s: %s; polling again in %gs", event_id, check.reason, self.poll_interval
                )
                await asyncio.sleep(self.poll_interval)

    def _error(self, err: Exception) -> TriggerEvent:
        self.log.error("Waiting for responses to event %s failed: %s", self.event_id, err)
        return TriggerEvent(
            {
                "status": "error",
                "event_id": self.event_id,
                "condition": self.condition,
                "error_type": type(err).__name__,
                "message": str(err),
            }
        )


# --------------------------------------------------------------------------------------------- async client


def _attendees_path(organizer: str, calendar: str, event_id: str) -> str:
    """ListAttendees' path, built by the hook (each id percent-encoded as one segment)."""
    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

    return DingTalkCalendarHook._event_path(organizer, calendar, event_id, "/attendees")


async def _get_connection(conn_id: str) -> Any:
    """The Airflow connection, fetched without blocking the event loop (Airflow 3.0 to 3.3+)."""
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # pragma: no cover - older layouts
        from airflow.hooks.base import BaseHook

    getter = getattr(BaseHook, "aget_connection", None)
    if getter is not None:
        return await getter(conn_id)
    try:  # pragma: no cover - Airflow 3.0 task SDK
        from airflow.sdk.definitions.connection import Connection

        if hasattr(Connection, "async_get"):
            return await Connection.async_get(conn_id)
    except ImportError:  # pragma: no cover
        pass
    from asgiref.sync import sync_to_async  # pragma: no cover

    return await sync_to_async(BaseHook.get_connection)(conn_id)  # pragma: no cover


async def _mask(secret: str) -> None:
    """Register a secret fetched at run time with the secrets masker (async-safe on every Airflow line)."""
    from airflow_dtcal.compat import amask_secret

    await amask_secret(secret)


class _Client:
    """An httpx.AsyncClient with the app's credentials: fetches its own token, pages, maps errors."""

    def __init__(self, http: Any, base_url: str, app_key: str, app_secret: str) -> None:
        self._http = http
        self._base_url = base_url
        self._app_key = app_key
        self._app_secret = app_secret
        self._token: str | None = None

    def __repr__(self) -> str:  # never show the secret or the token
        return f"_Client(base_url={self._base_url!r}, app_key={self._app_key!r})"

    @classmethod
    async def open(cls, conn_id: str) -> _Client:
        import httpx

        from airflow_dtcal import __version__
        from airflow_dtcal.exceptions import DingTalkConfigurationError
        from airflow_dtcal.hooks.calendar import DEFAULTS, resolve_base_url

        conn = await _get_connection(conn_id)
        if not conn.login or not conn.password:
            raise DingTalkConfigurationError(
                f"connection {conn_id!r}: login (App Key) and password (App Secret) must be set"
            )
        aextra = getattr(conn, "aextra_dejson", None)
        extras = (await aextra() if aextra is not None else conn.extra_dejson) or {}

        def number(name: str) -> float:
            value = extras.get(name)
            try:
                return float(DEFAULTS[name] if value in (None, "") else value)
            except (TypeError, ValueError):
                raise DingTalkConfigurationError(f"{name}: must be a number (got {value!r})") from None

        verify = extras.get("verify", DEFAULTS["verify"])
        if isinstance(verify, str) and verify.lower() in ("true", "false"):
            verify = verify.lower() == "true"
        base_url = resolve_base_url(conn.host, conn.schema, conn.port)
        await _mask(conn.password)
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(number("timeout"), connect=number("connect_timeout")),
            verify=verify,
            follow_redirects=False,  # a redirect could carry the token header to another host
            headers={"accept": "application/json", "user-agent": f"airflow-dtcal/{__version__}"},
        )
        return cls(http, base_url, conn.login.strip(), conn.password)

    async def __aenter__(self) -> _Client:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._http.aclose()

    async def _send(self, operation: str, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        from airflow_dtcal.exceptions import DingTalkTransportError
        from airflow_dtcal.hooks.calendar import interpret_response

        try:
            response = await self._http.request(method, self._base_url + path, **kwargs)
        except httpx.TimeoutException:
            raise DingTalkTransportError(operation, f"no answer from {self._base_url} in time") from None
        except httpx.HTTPError as err:
            raise DingTalkTransportError(
                operation, f"request to {self._base_url} failed ({type(err).__name__})"
            ) from None
        return interpret_response(operation, response.status_code, response.headers, response.content)

    async def _access_token(self) -> str:
        from airflow_dtcal.exceptions import DingTalkAPIError
        from airflow_dtcal.hooks.calendar import TOKEN_PATH

        if self._token is None:
            body = await self._send(
                "GetAccessToken",
                "POST",
                TOKEN_PATH,
                json={"appKey": self._app_key, "appSecret": self._app_secret},
            )
            token = body.get("accessToken") if isinstance(body, dict) else None
            if not isinstance(token, str) or not token:
                raise DingTalkAPIError("GetAccessToken", 200, None, "the answer has no accessToken")
            await _mask(token)
            self._token = token
        return self._token

    async def _get(self, operation: str, path: str, params: dict) -> Any:
        from airflow_dtcal.exceptions import DingTalkAuthError
        from airflow_dtcal.hooks.calendar import TOKEN_HEADER

        for attempt in (1, 2):
            token = await self._access_token()
            try:
                return await self._send(operation, "GET", path, params=params, headers={TOKEN_HEADER: token})
            except DingTalkAuthError:
                self._token = None  # expired or revoked: fetch a new one once
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def list_attendees(self, organizer: str, calendar: str, event_id: str) -> list[dict]:
        """Every attendee of the event, following ``nextToken`` (always on the configured host)."""
        path = _attendees_path(organizer, calendar, event_id)
        attendees: list[dict] = []
        next_token = None
        while True:
            params: dict[str, Any] = {"maxResults": PAGE_SIZE}
            if next_token:
                params["nextToken"] = next_token
            page = await self._get("ListAttendees", path, params) or {}
            attendees.extend(page.get("attendees") or [])
            next_token = page.get("nextToken")
            if not next_token:
                return attendees
