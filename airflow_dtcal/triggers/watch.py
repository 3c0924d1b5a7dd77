"""CalendarChangeTrigger: fire when an event in a watched DingTalk calendar is created, changed or cancelled.

A :class:`~airflow.triggers.base.BaseEventTrigger`, for an :class:`~airflow.sdk.AssetWatcher`: a DAG scheduled
on the asset runs for each change. What changed is always read from each calendar's own change log
(ListEvents with a ``syncToken``, :meth:`aiter_event_changes
<airflow_dtcal.hooks.calendar.DingTalkCalendarHook.aiter_event_changes>`); two sources say when to read it:

* ``source="stream"``: DingTalk Stream mode (:mod:`airflow_dtcal.hooks.stream`). A ``calendar_event_change``
  notice naming a watched calendar wakes the watch, which reads that calendar's delta (one call). DingTalk
  pushes each notice to ONE of the app's open Stream connections (its load balancing), so a notice may
  land on another watcher, another triggerer or a bot of the same app: a safety poll of every watched
  calendar (every ``poll_interval``, default an hour) finds what such notices announced. Notices are
  acknowledged as soon as they are read: they are only wake-ups.
* ``source="poll"``: the calendars' deltas are read every ``poll_interval`` (default 5 minutes).

Both are spaced to fit ``call_budget`` (see docs/event-driven.md for the costs).

**Delivery: at least once, with a stable dedup key.** The watch keeps its position in each calendar's
change log in a cursor (:mod:`airflow_dtcal.state.cursor`, Airflow Variables). A position that passes a
change is saved only :data:`~airflow_dtcal.state.cursor.SETTLE_SECONDS` after the change's TriggerEvent was
handed to the triggerer, by when the triggerer has stored it. A triggerer that stops (or is killed) before
then reads the change again when the watch starts anew and fires it again, with the same ``dedup_key``:
a change is never lost, and a repeat is recognisable. (With ``fields`` the key names the change of the
watched fields, so a copy that reads it when the event changed in other fields too gives the same key.) docs/event-driven.md has the recipe for an
idempotent DAG.

A sync token DingTalk no longer accepts (expired after days without reading, or reset) is replaced by a
full listing of the calendar, without firing for every event in it: with ``fields``, each watched event
whose fields changed (or that was cancelled) fires as usual; whatever the watch cannot compare (no
``fields``, or events it holds no fingerprint of) is reported as one ``change_type="resync"`` event for
the calendar (``event_id`` None): "look at the calendar again".

The payload of every TriggerEvent is plain JSON with no credentials::

    {"source": "stream" | "poll", "calendar": <unionId of the watched calendar's owner>, "calendar_id",
     "event_id", "change_type": "create" | "update" | "delete" | "resync",
     "update_time": <the event's updateTime or None>, "dedup_key": <the same for the same change>,
     "changed_fields": [...] | None, "event": {"summary", "start", "end", "status"} | None}

Failures: a failed read ends the session; the watch waits (2 s doubling to 5 minutes; 5 minutes at once for
bad credentials or a missing permission) and starts again from the saved cursor, for as long as it takes
(``max_failures`` makes it give up); after :data:`LOUD_AFTER` failures in a row each one is logged as
critical. What no retry can cure (bad arguments, people the directory does not know) stops the watch for
good: it logs why once and waits until Airflow cancels it (a trigger that ends is started again by the
triggerer at once, so ending would retry in a tight loop). A damaged cursor is reported naming its Variable
and the command that resets it; the watch resumes by itself once the Variable was deleted.

Importing this module is cheap (the DAG processor imports it): the hook and websockets are imported when
the trigger runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import re
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.ids import require_id
from airflow_dtcal.planning import budget
from airflow_dtcal.planning.watch import (
    changed_fields,
    classify,
    dedup_key,
    field_change_key,
    fingerprint,
    notice_calendars,
    resync_key,
    seconds_to_next_month,
    summary_of,
)
from airflow_dtcal.state.cursor import (
    MAX_CALENDARS,
    MAX_ID_CHARS,
    MAX_TOKEN_CHARS,
    Cursor,
    DamagedCursorError,
)
from airflow_dtcal.state.variables import check_key

DEFAULT_CONN_ID = "dingtalk_calendar_default"
SOURCES = ("stream", "poll")
ID_TYPES = ("unionId", "userId")
#: The change types this trigger reports.
CHANGE_TYPES = ("create", "update", "delete", "resync")
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
MAX_EVENT_IDS = 1000
MAX_FIELDS = 32
#: ``poll_interval`` by default: seconds between two reads of every calendar (poll), or between two safety
#: polls of a Stream watch.
POLL_INTERVAL = {"poll": 300.0, "stream": 3600.0}
#: Seconds a Stream wake-up waits for the rest of a burst of notices before reading.
WAKE_DELAY = 1.0
#: Longest wait between two attempts after an error (a fixed connection is picked up within this).
MAX_ERROR_WAIT = 300.0
#: Failures in a row after which each failure is logged as critical.
LOUD_AFTER = 10
#: Seconds between two looks at a damaged cursor's Variable (the watch resumes once it was deleted).
RESET_CHECK = 60.0


def error_wait(failures: int, err: BaseException) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: 2 s doubling up to :data:`MAX_ERROR_WAIT`
    (the exponent is capped first, so any count works), or the ceiling at once for what only a person can
    fix (bad credentials, a missing permission)."""
    from airflow_dtcal.exceptions import DingTalkAnswerError, DingTalkError

    if isinstance(err, DingTalkError) and not err.retryable and not isinstance(err, DingTalkAnswerError):
        return MAX_ERROR_WAIT
    return min(MAX_ERROR_WAIT, 2.0 ** min(max(failures, 1), 16))


async def _pause(seconds: float) -> None:
    """Every wait of the trigger (tests replace it to run a thousand failures without waiting)."""
    await asyncio.sleep(seconds)


def _list(value: Any, field: str, most: int) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidArgumentError(field, "must be a list of strings", value)
    items = [require_id(item, f"{field}[{index}]") for index, item in enumerate(value)]
    if not items:
        raise InvalidArgumentError(field, "must not be empty (leave it out to accept any)", value)
    for index, item in enumerate(items):
        if len(item) > MAX_ID_CHARS:
            raise InvalidArgumentError(
                f"{field}[{index}]", f"must be at most {MAX_ID_CHARS} characters", item
            )
    items = list(dict.fromkeys(items))
    if len(items) > most:
        raise InvalidArgumentError(field, f"must name at most {most:,} (got {len(items):,})", len(items))
    return items


class CalendarChangeTrigger(BaseEventTrigger):
    """Fire a TriggerEvent for each change to an event in the watched calendars (see the module doc).

    :param calendars: whose calendars to watch: unionIds (or userIds with ``id_type="userId"``, resolved
        to unionIds when the trigger starts; that lookup does not count against the monthly quota). At most
        10,000.
    :param source: ``"stream"`` (DingTalk Stream mode wakes the watch; the app needs it enabled and the
        ``calendar_event_change`` event subscribed) or ``"poll"`` (read every ``poll_interval``).
    :param id_type: ``"unionId"`` (default) or ``"userId"``: what ``calendars`` holds.
    :param event_ids: fire only for these events; all events when left out.
    :param change_types: fire only for these change types (``create``, ``update``, ``delete``,
        ``resync``); all when left out.
    :param fields: fire an ``update`` only when one of these event fields changed (e.g. ``["start",
        "end"]``: a reschedule, not a new attendee or response); creations and deletions always pass.
    :param dingtalk_conn_id: Airflow connection of type ``dingtalk_calendar``.
    :param calendar_id: always ``primary`` today.
    :param poll_interval: seconds between two reads of every calendar: the poll itself (default 300), or
        the safety poll of a Stream watch (default 3600); ``call_budget`` may space them further.
    :param call_budget: DingTalk API calls this watch may spend per calendar month. Polls are spaced so a
        month fits it (a Stream watch gives its safety polls half of it and its wake-ups the rest); once a
        month's calls are spent, the watch waits for the next month and then reads what changed meanwhile.
    :param state_key: the Airflow Variable holding the cursor's head; by default derived from the
        connection, source, calendars and filters (two watchers with the same arguments share one cursor).
    :param max_failures: give up after this many failures in a row (the watch then logs why and stops
        working until Airflow cancels it); by default it tries for as long as it takes.
    """

    def __init__(
        self,
        *,
        calendars: list[str],
        source: str = "stream",
        id_type: str = "unionId",
        event_ids: list[str] | None = None,
        change_types: list[str] | None = None,
        fields: list[str] | None = None,
        dingtalk_conn_id: str = DEFAULT_CONN_ID,
        calendar_id: str = "primary",
        poll_interval: float | None = None,
        call_budget: int | None = None,
        state_key: str | None = None,
        max_failures: int | None = None,
    ) -> None:
        super().__init__()
        if source not in SOURCES:
            raise InvalidArgumentError("source", f"must be one of {', '.join(SOURCES)}", source)
        if id_type not in ID_TYPES:
            raise InvalidArgumentError("id_type", f"must be one of {', '.join(ID_TYPES)}", id_type)
        watched = _list(calendars, "calendars", MAX_CALENDARS)
        if watched is None:
            raise InvalidArgumentError("calendars", "is required: the unionIds whose calendars to watch")
        self.calendars: list[str] = watched
        self.source = source
        self.id_type = id_type
        self.event_ids = _list(event_ids, "event_ids", MAX_EVENT_IDS)
        self.change_types = _list(change_types, "change_types", len(CHANGE_TYPES))
        for index, change in enumerate(self.change_types or ()):
            if change not in CHANGE_TYPES:
                raise InvalidArgumentError(
                    f"change_types[{index}]", f"must be one of {', '.join(CHANGE_TYPES)}", change
                )
        self.fields = _list(fields, "fields", MAX_FIELDS)
        for index, name in enumerate(self.fields or ()):
            if not _FIELD.fullmatch(name):
                raise InvalidArgumentError(
                    f"fields[{index}]", "must be an event field name such as 'start'", name
                )
        self.dingtalk_conn_id = require_id(dingtalk_conn_id, "dingtalk_conn_id")
        self.calendar_id = require_id(calendar_id, "calendar_id")
        if poll_interval is not None and (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, int | float)
            or not poll_interval > 0
            or poll_interval > budget.MONTH_SECONDS
        ):
            raise InvalidArgumentError(
                "poll_interval", "must be a number of seconds above 0 (at most 30 days)", poll_interval
            )
        self.poll_interval = None if poll_interval is None else float(poll_interval)
        if call_budget is not None and (
            isinstance(call_budget, bool) or not isinstance(call_budget, int) or call_budget < 1
        ):
            raise InvalidArgumentError("call_budget", "must be a whole number of at least 1", call_budget)
        self.call_budget = call_budget
        if state_key is not None:  # checked here, so a bad key fails the DAG's parse (AssetWatcher)
            # Parts of the cursor are kept under "<state_key>.<n>" (at most 250 characters in all).
            if isinstance(state_key, str) and len(state_key) > 240:
                raise InvalidArgumentError("state_key", "must be at most 240 characters", state_key)
            state_key = check_key(state_key)
        self.state_key = state_key
        if max_failures is not None and (
            isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 1
        ):
            raise InvalidArgumentError("max_failures", "must be a whole number of at least 1", max_failures)
        self.max_failures = max_failures

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "calendars": self.calendars,
                "source": self.source,
                "id_type": self.id_type,
                "event_ids": self.event_ids,
                "change_types": self.change_types,
                "fields": self.fields,
                "dingtalk_conn_id": self.dingtalk_conn_id,
                "calendar_id": self.calendar_id,
                "poll_interval": self.poll_interval,
                "call_budget": self.call_budget,
                "state_key": self.state_key,
                "max_failures": self.max_failures,
            },
        )

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} source={self.source!r} calendars={self.calendars!r} "
            f"conn={self.dingtalk_conn_id!r}>"
        )

    @property
    def cursor_key(self) -> str:
        """The Airflow Variable holding this watch's cursor (its head; see :mod:`airflow_dtcal.state.cursor`)."""
        if self.state_key:
            return self.state_key
        identity = json.dumps(
            [
                self.dingtalk_conn_id,
                self.source,
                self.id_type,
                sorted(self.calendars),
                self.calendar_id,
                sorted(self.event_ids or []),
                sorted(self.change_types or []),
                sorted(self.fields or []),
            ]
        )
        return f"dtcal_watch_{self.source}_{hashlib.sha256(identity.encode()).hexdigest()[:20]}"

    @property
    def interval(self) -> float:
        """``poll_interval``, or the source's default."""
        return self.poll_interval or POLL_INTERVAL[self.source]

    # ---------------------------------------------------------------- the loop

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The first trigger of a triggerer process imports the hook (requests, httpx): off the event loop.
        await asyncio.to_thread(importlib.import_module, "airflow_dtcal.hooks.calendar")
        from airflow_dtcal.exceptions import DingTalkInvalidArgumentError, DingTalkPeopleNotFoundError
        from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

        hook = DingTalkCalendarHook(dingtalk_conn_id=self.dingtalk_conn_id)
        failures, since = 0, 0.0
        try:
            while True:
                cursor: Cursor | None = None
                try:
                    calendars = await self._union_ids(hook)
                    # Each session starts from the saved cursor: what a failed one held in memory is not trusted.
                    cursor = Cursor(self.cursor_key, self.source, calendars, counted=hook.quota_calls_spent)
                    await cursor.load()
                    watch = self._stream if self.source == "stream" else self._poll
                    async for event in watch(hook, cursor, calendars):
                        failures = 0
                        yield event
                        cursor.handed_over()
                except (
                    DingTalkInvalidArgumentError,
                    InvalidArgumentError,
                    DingTalkPeopleNotFoundError,
                ) as err:
                    await self._stop_for_good(f"it cannot work as configured: {err}")
                except DamagedCursorError as err:
                    await self._wait_for_reset(err)
                except Exception as err:  # a watch must outlive DingTalk's and the database's bad moments
                    failures += 1
                    since = since if failures > 1 else time.time()
                    await self._write_what_is_due(cursor)
                    wait = error_wait(failures, err)
                    self._log_failure(err, failures, since, wait)
                    if self.max_failures is not None and failures >= self.max_failures:
                        await self._stop_for_good(f"it failed {failures} times in a row (max_failures)")
                    await _pause(wait)
        finally:
            self.log.info(
                "The %s watch of %s spent %d DingTalk calls: %s",
                self.source,
                self.calendars,
                hook.quota_calls_spent,
                hook.calls_spent,
            )
            await hook.aclose()

    def _log_failure(self, err: BaseException, failures: int, since: float, wait: float) -> None:
        from airflow_dtcal.exceptions import DingTalkError

        detail = f"{type(err).__name__}: {err}"
        if failures >= LOUD_AFTER:
            began = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since))
            self.log.critical(
                "THE WATCH OF %s (%s) IS NOT WORKING: %d failures in a row since %s; the last: %s; "
                "trying again in %.0fs",
                self.calendars,
                self.source,
                failures,
                began,
                detail,
                wait,
            )
            return
        self.log.error(
            "Watching %s (%s) failed (%d in a row): %s; trying again in %.0fs",
            self.calendars,
            self.source,
            failures,
            detail,
            wait,
            exc_info=not isinstance(err, DingTalkError),
        )

    async def _write_what_is_due(self, cursor: Cursor | None) -> None:
        """After a failure: the checkpoints already due are safe to write (their changes are stored)."""
        if cursor is None:
            return
        try:
            await cursor.save_due()
        except Exception as err:  # the database may be what failed
            self.log.warning("Could not save the watch's cursor (%s: %s)", type(err).__name__, err)

    async def _stop_for_good(self, why: str) -> None:
        """Log why the watch stops, then wait for Airflow to cancel it (a trigger that ended would be started
        again at once, retrying in a tight loop)."""
        self.log.critical(
            "THE WATCH OF %s (%s) HAS STOPPED: %s. Fix the DAG or the connection; it stays stopped until the "
            "trigger is replaced (the DAG changed) or the triggerer restarts.",
            self.calendars,
            self.source,
            why,
        )
        await asyncio.get_running_loop().create_future()  # never done: only a cancellation ends it

    async def _wait_for_reset(self, err: DamagedCursorError) -> None:
        """Report the damaged cursor, then look at its head Variable every :data:`RESET_CHECK` seconds and
        return (the watch starts afresh) once someone deleted or rewrote it."""
        from airflow_dtcal.state import variables

        # Read before reporting: whoever reacts to the report (deletes the Variable) does so after this read.
        before = await variables.aload_raw(err.key)
        self.log.critical("THE WATCH OF %s (%s) IS WAITING: %s", self.calendars, self.source, err)
        while True:
            await _pause(RESET_CHECK)
            if await variables.aload_raw(err.key) != before:
                self.log.warning("Variable %r changed; the watch starts again", err.key)
                return

    async def _union_ids(self, hook: Any) -> list[str]:
        if self.id_type == "unionId":
            return list(self.calendars)
        resolution = await hook.aresolve_people(self.calendars, "userId")
        return [resolution.union_ids[user_id] for user_id in self.calendars]

    # ---------------------------------------------------------------- waiting

    async def _idle(
        self,
        cursor: Cursor,
        seconds: float,
        wake: asyncio.Event | None = None,
        listener: asyncio.Task | None = None,
    ) -> None:
        """Wait ``seconds`` (or until ``wake`` is set, or ``listener`` ends), writing the cursor's
        checkpoints as they fall due."""
        deadline = time.monotonic() + seconds
        while True:
            await cursor.save_settled()
            now = time.monotonic()
            if now >= deadline or (wake is not None and wake.is_set()):
                return
            due = cursor.next_due()
            timeout = max(0.0, min(deadline, due if due is not None else deadline) - now)
            if wake is None:
                await _pause(timeout)
                continue
            waiter = asyncio.ensure_future(wake.wait())
            watched = {waiter} if listener is None else {waiter, listener}
            try:
                done, _ = await asyncio.wait(watched, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if listener is not None and listener in done:
                return

    async def _within_budget(self, hook: Any, cursor: Cursor) -> None:
        """Wait (writing the cursor as it falls due) while this month's ``call_budget`` is spent."""
        while self.call_budget is not None and cursor.spent(hook) >= self.call_budget:
            wait = min(3600.0, seconds_to_next_month())
            self.log.warning(
                "The call budget of %d calls this month is spent; reading again in %.0fs (nothing is lost: "
                "the watch then reads what changed meanwhile)",
                self.call_budget,
                wait,
            )
            await self._idle(cursor, wait)

    # ---------------------------------------------------------------- sources

    async def _poll(self, hook: Any, cursor: Cursor, calendars: list[str]) -> AsyncIterator[TriggerEvent]:
        interval, calls = budget.poll_plan(self.interval, self.call_budget, len(calendars))
        self._log_plan("polling", calendars, interval, calls)
        while True:
            for union_id in calendars:
                await self._within_budget(hook, cursor)
                async for event in self._read(hook, cursor, union_id):
                    yield event
            await self._idle(cursor, interval)

    async def _stream(self, hook: Any, cursor: Cursor, calendars: list[str]) -> AsyncIterator[TriggerEvent]:
        from airflow_dtcal.hooks.stream import ChangeStream

        share = None if self.call_budget is None else max(1, self.call_budget // 2)
        interval, calls = budget.poll_plan(self.interval, share, len(calendars))
        self._log_plan("Stream mode, with a safety poll", calendars, interval, calls)
        stream = ChangeStream(hook, logger=self.log)
        woken: set[str] = set(calendars)  # first, every calendar: what changed while no watch ran
        wake = asyncio.Event()
        listener = asyncio.create_task(self._listen(stream, calendars, woken, wake))
        next_poll = time.monotonic() + interval
        try:
            while True:
                if listener.done():
                    listener.result()  # raises what ended it
                    raise RuntimeError("the Stream connection ended")
                due, wake_up = sorted(woken), wake.is_set()
                woken.clear()
                wake.clear()
                if wake_up:
                    self.log.info("Stream notices for %s: reading their changes", due)
                for union_id in due:
                    await self._within_budget(hook, cursor)
                    async for event in self._read(hook, cursor, union_id):
                        yield event
                if time.monotonic() >= next_poll:
                    woken.update(calendars)  # the safety poll: notices that went to another connection
                    next_poll = time.monotonic() + interval
                    continue
                await self._idle(cursor, next_poll - time.monotonic(), wake, listener)
                if wake.is_set():
                    await _pause(WAKE_DELAY)  # the rest of a burst of writes comes with it
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            await stream.close()

    async def _listen(self, stream: Any, calendars: list[str], woken: set[str], wake: asyncio.Event) -> None:
        """Acknowledge every notice at once and note the watched calendars they name."""
        from airflow_dtcal.hooks.stream import CALENDAR_TOPIC

        self.log.info("Listening for DingTalk Stream notices about the calendars of %s", calendars)
        async for message in stream.messages():
            if message.topic == CALENDAR_TOPIC:
                named = notice_calendars(message.data, calendars, self.event_ids)
                if named:
                    woken.update(named)
                    wake.set()
            await stream.ack(message)

    def _log_plan(self, how: str, calendars: list[str], interval: float, calls: int) -> None:
        self.log.info(
            "Watching the calendars of %s by %s every %gs: about %d calls a month for the polls (%.0f%% of "
            "a standard organisation's %s)",
            calendars,
            how,
            interval,
            calls,
            100 * budget.share_of_month(calls),
            f"{budget.EDITIONS['standard']:,}",
        )

    # ---------------------------------------------------------------- reading a calendar

    async def _read(self, hook: Any, cursor: Cursor, union_id: str) -> AsyncIterator[TriggerEvent]:
        """Read one calendar's changes since its position; fire each; move the position page by page."""
        from airflow_dtcal.exceptions import DingTalkInvalidParameterError, DingTalkSyncTokenExpiredError

        position = cursor.position(union_id)
        token, page_token = position.token, position.page
        if token is None:  # the first listing: where changes start from; nothing fires
            async for event in self._list(hook, cursor, union_id, None):
                yield event
            return
        try:
            async for page in hook.aiter_event_changes(
                union_id, calendar_id=self.calendar_id, sync_token=token, page_token=page_token
            ):
                cursor.count_calls(hook)
                new_token = _checked_token(page.sync_token)
                for event in page.events:
                    payload = self._change(cursor, union_id, event, listing=False)
                    if payload is not None:
                        yield self._fire(payload)
                if page.last:
                    if new_token is None:
                        self.log.warning(
                            "DingTalk gave no new sync token for %s's calendar; reading from the old one",
                            union_id,
                        )
                    cursor.move(union_id, new_token or token)
                else:
                    cursor.move(union_id, token, page.next_token)
                await cursor.save_settled()
        except DingTalkSyncTokenExpiredError:
            cursor.count_calls(hook)
            self.log.warning("The sync token of %s's calendar expired; listing it again", union_id)
            async for event in self._list(hook, cursor, union_id, token):
                yield event
        except DingTalkInvalidParameterError as err:
            cursor.count_calls(hook)
            if page_token is None:
                raise
            # A saved nextToken DingTalk no longer takes: read the delta from its start (the changes of its
            # earlier pages fire again, with the same dedup keys).
            self.log.warning(
                "Resuming %s's delta at its saved page failed (%s); reading it whole", union_id, err
            )
            cursor.move(union_id, token)
            async for event in self._read(hook, cursor, union_id):
                yield event

    async def _list(
        self, hook: Any, cursor: Cursor, union_id: str, lost: str | None
    ) -> AsyncIterator[TriggerEvent]:
        """List a calendar in full for a sync token: a first listing (``lost`` None) fires nothing; a
        resync (``lost``: the token that expired) reports what it can tell changed in the gap."""
        new_token, unknown = None, 0
        async for page in hook.aiter_event_changes(union_id, calendar_id=self.calendar_id):
            cursor.count_calls(hook)
            new_token = _checked_token(page.sync_token) or new_token
            for event in page.events:
                event_id = event.get("id")
                if lost is not None and self.fields and isinstance(event_id, str) and self._watched(event_id):
                    unknown += cursor.fingerprint(event_id) is None and event.get("status") != "cancelled"
                payload = self._change(cursor, union_id, event, listing=True)
                if payload is not None and lost is not None:
                    yield self._fire(payload)
            if not page.last:
                await cursor.save_settled()
        if lost is not None and (not self.fields or unknown) and self._wanted(None, "resync"):
            yield self._fire(
                {
                    "source": self.source,
                    "calendar": union_id,
                    "calendar_id": self.calendar_id,
                    "event_id": None,
                    "change_type": "resync",
                    "update_time": None,
                    "dedup_key": resync_key(self.source, union_id, lost),
                    "changed_fields": None,
                    "event": None,
                }
            )
        if new_token is None:
            self.log.warning(
                "DingTalk gave no sync token for %s's calendar; listing it again next time", union_id
            )
        cursor.move(union_id, new_token)
        await cursor.save_settled()

    def _change(self, cursor: Cursor, union_id: str, event: Mapping[str, Any], listing: bool) -> dict | None:
        """Note one listed event in the cursor; the payload to fire for it, or None.

        In a delta every change counts. In a full listing (``listing``) only what the cursor can tell
        changed does: a watched event whose fields' fingerprint moved, or that is now cancelled."""
        event_id = event.get("id")
        if not isinstance(event_id, str) or not event_id or not self._watched(event_id):
            return None
        known = cursor.known(event_id)
        change = classify(event, known)
        changed: list[str] | None = None
        key = dedup_key(self.source, union_id, event)
        if change == "delete":
            old = cursor.fingerprint(event_id)
            cursor.forget(event_id)
            if listing and (not self.fields or old is None):
                return None
            if self.fields:
                key = field_change_key(self.source, union_id, event_id, old, None)
        elif self.fields:
            new = fingerprint(event, self.fields)
            old = cursor.fingerprint(event_id)
            cursor.remember(event_id, new)
            if old == new or (listing and old is None):
                return None
            key = field_change_key(self.source, union_id, event_id, old, new)
            if change == "create":
                changed = list(self.fields)
            elif old is not None:
                changed = changed_fields(old, new, self.fields)
        else:
            cursor.remember(event_id)
            if listing:
                return None
        if not self._wanted(event_id, change):
            return None
        update_time = event.get("updateTime")
        return {
            "source": self.source,
            "calendar": union_id,
            "calendar_id": self.calendar_id,
            "event_id": event_id,
            "change_type": change,
            "update_time": update_time if isinstance(update_time, str) else None,
            "dedup_key": key,
            "changed_fields": changed,
            "event": summary_of(event),
        }

    def _fire(self, payload: dict) -> TriggerEvent:
        self.log.info("Event %s: %s (%s)", payload["event_id"], payload["change_type"], payload["dedup_key"])
        return TriggerEvent(payload)

    def _wanted(self, event_id: str | None, change: str) -> bool:
        """Whether a change of this type to this event passes ``change_types`` and ``event_ids``."""
        if self.change_types is not None and change not in self.change_types:
            return False
        return event_id is None or self._watched(event_id)

    def _watched(self, event_id: str) -> bool:
        return self.event_ids is None or event_id in self.event_ids


def _checked_token(token: str | None) -> str | None:
    """A sync token the cursor can keep; a longer one is refused before the page's changes fire."""
    if token is not None and len(token) > MAX_TOKEN_CHARS:
        from airflow_dtcal.exceptions import DingTalkAnswerError

        raise DingTalkAnswerError(
            "ListEvents",
            200,
            None,
            f"syncToken of {len(token):,} characters is longer than the {MAX_TOKEN_CHARS:,} a watch keeps",
        )
    return token
