"""CalendarChangeTrigger: fire when an event in a watched DingTalk calendar is created, changed or cancelled.

A :class:`~airflow.triggers.base.BaseEventTrigger`, for an :class:`~airflow.sdk.AssetWatcher`: a DAG scheduled
on the asset runs once per change. Two sources:

* ``source="stream"``: DingTalk Stream mode (:mod:`airflow_dtcal.hooks.stream`), an outbound long connection
  that pushes a ``calendar_event_change`` notice for every write. Costs no API calls (the notices count
  against the organisation's monthly Webhook+Stream messages instead), except one GetEvent per notice
  that passes the other filters when ``fields`` is given.
* ``source="poll"``: ListEvents with a ``syncToken`` (:meth:`aiter_event_changes
  <airflow_dtcal.hooks.calendar.DingTalkCalendarHook.aiter_event_changes>`), one call per watched calendar
  per poll (more when a delta has several pages), spaced so a month of watching fits ``call_budget``.

It fires at most once per change, also across triggerer restarts. Airflow creates an event trigger afresh
from the same arguments whenever a triggerer starts, so "has this change been reported?" cannot live in
the trigger: the cursor lives in an Airflow Variable (:mod:`airflow_dtcal.state.variables`), saved after each
TriggerEvent is yielded:

* stream: the ids of the notices already fired (bounded); a notice is acknowledged to DingTalk (SUCCESS)
  only after its TriggerEvent was yielded and the cursor saved, so an unacknowledged one is delivered again
  and then recognised, never fired twice;
* poll: the sync token of each calendar, moved on when a whole delta was handled, plus the keys of the
  changes of the current delta already fired (a delta read again after a restart skips them);
* with ``fields``: a fingerprint of those fields per event, to fire only when they changed.

The one window left: a triggerer killed after yielding an event but before Airflow stored it. Airflow
keeps yielded events in memory for a moment; such an event is lost (the cursor says it was reported).

A sync token DingTalk no longer accepts (expired after days without polling, or reset) is replaced by a
full listing of the calendar, without firing for every event in it. With ``fields``, the listing is
compared with the fingerprints and each watched event whose fields changed fires as usual; without, the
gap is reported as one ``change_type="resync"`` event for the calendar (its ``event_id`` is None).

The payload of every TriggerEvent is plain JSON with no credentials::

    {"source": "stream" | "poll", "calendar": <unionId of the watched calendar's owner>, "calendar_id",
     "event_id", "change_type": "create" | "update" | "delete" | "resync" | <other DingTalk types>,
     "update_time": <ISO 8601 UTC or None>, "dedup_key": <unique per change>,
     "changed_fields": [...] | None, "event": {"summary", "start", "end", "status"} | None}

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
    classify,
    fingerprint,
    iso_time,
    payload_hash,
    seconds_to_next_month,
    stream_notice,
    summary_of,
)
from airflow_dtcal.state.cursor import Cursor
from airflow_dtcal.state.variables import check_key

DEFAULT_CONN_ID = "dingtalk_calendar_default"
SOURCES = ("stream", "poll")
ID_TYPES = ("unionId", "userId")
#: The change types this trigger reports; DingTalk's Stream notices may carry others, reported as they are.
CHANGE_TYPES = ("create", "update", "delete", "resync")
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
#: Longest wait between two attempts after an error (a fixed connection is picked up within this).
MAX_ERROR_WAIT = 300.0


def _list(value: Any, field: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidArgumentError(field, "must be a list of strings", value)
    items = [require_id(item, f"{field}[{index}]") for index, item in enumerate(value)]
    if not items:
        raise InvalidArgumentError(field, "must not be empty (leave it out to accept any)", value)
    return list(dict.fromkeys(items))


class CalendarChangeTrigger(BaseEventTrigger):
    """Fire a TriggerEvent for each change to an event in the watched calendars (see the module doc).

    :param calendars: whose calendars to watch: unionIds (or userIds with ``id_type="userId"``, resolved
        to unionIds when the trigger starts; that lookup does not count against the monthly quota).
    :param source: ``"stream"`` (DingTalk Stream mode; the app needs it enabled and the
        ``calendar_event_change`` event subscribed) or ``"poll"`` (syncToken polling).
    :param id_type: ``"unionId"`` (default) or ``"userId"``: what ``calendars`` holds.
    :param event_ids: fire only for these events (Stream notices match ``calendarEventId`` or
        ``legacyCalendarEventId``); all events when left out.
    :param change_types: fire only for these change types (``create``, ``update``, ``delete``, ``resync``,
        or another type DingTalk's notices carry); all when left out.
    :param fields: fire an ``update`` only when one of these event fields changed (e.g. ``["start",
        "end"]``: a reschedule, not a new attendee or response); creations and deletions always pass.
    :param dingtalk_conn_id: Airflow connection of type ``dingtalk_calendar``.
    :param calendar_id: always ``primary`` today.
    :param poll_interval: poll source: seconds between two polls (at least; ``call_budget`` may space
        them further).
    :param call_budget: DingTalk API calls this watch may spend per calendar month (polls, and GetEvent
        calls for ``fields``). Polls are spaced so a month fits it; once a month's calls are spent, polling
        waits for the next month and Stream notices fire without the ``fields`` comparison.
    :param state_key: the Airflow Variable holding the cursor; by default derived from the connection,
        source, calendars and filters (two watchers with the same arguments share one cursor).
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
        poll_interval: float = 300.0,
        call_budget: int | None = None,
        state_key: str | None = None,
    ) -> None:
        super().__init__()
        if source not in SOURCES:
            raise InvalidArgumentError("source", f"must be one of {', '.join(SOURCES)}", source)
        if id_type not in ID_TYPES:
            raise InvalidArgumentError("id_type", f"must be one of {', '.join(ID_TYPES)}", id_type)
        watched = _list(calendars, "calendars")
        if watched is None:
            raise InvalidArgumentError("calendars", "is required: the unionIds whose calendars to watch")
        self.calendars: list[str] = watched
        self.source = source
        self.id_type = id_type
        self.event_ids = _list(event_ids, "event_ids")
        self.change_types = _list(change_types, "change_types")
        self.fields = _list(fields, "fields")
        for index, name in enumerate(self.fields or ()):
            if not _FIELD.fullmatch(name):
                raise InvalidArgumentError(
                    f"fields[{index}]", "must be an event field name such as 'start'", name
                )
        self.dingtalk_conn_id = require_id(dingtalk_conn_id, "dingtalk_conn_id")
        self.calendar_id = require_id(calendar_id, "calendar_id")
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, int | float)
            or poll_interval <= 0
        ):
            raise InvalidArgumentError("poll_interval", "must be a number of seconds above 0", poll_interval)
        self.poll_interval = float(poll_interval)
        if call_budget is not None and (
            isinstance(call_budget, bool) or not isinstance(call_budget, int) or call_budget < 1
        ):
            raise InvalidArgumentError("call_budget", "must be a whole number of at least 1", call_budget)
        self.call_budget = call_budget
        # Checked here, so a bad key fails the DAG's parse (an AssetWatcher's trigger is made there).
        self.state_key = None if state_key is None else check_key(state_key)

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
            },
        )

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} source={self.source!r} calendars={self.calendars!r} "
            f"conn={self.dingtalk_conn_id!r}>"
        )

    @property
    def cursor_key(self) -> str:
        """The Airflow Variable holding this watch's cursor."""
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

    # ---------------------------------------------------------------- the loop

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The first trigger of a triggerer process imports the hook (requests, httpx): off the event loop.
        await asyncio.to_thread(importlib.import_module, "airflow_dtcal.hooks.calendar")
        from airflow_dtcal.exceptions import DingTalkError, DingTalkInvalidArgumentError
        from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

        hook = DingTalkCalendarHook(dingtalk_conn_id=self.dingtalk_conn_id)
        failures = 0
        try:
            while True:
                try:
                    # Each session starts from the saved cursor: what a failed one left in memory is not trusted.
                    cursor = Cursor(self.cursor_key, self.source, counted=hook.quota_calls_spent)
                    await cursor.load()
                    calendars = await self._union_ids(hook)
                    watch = self._stream if self.source == "stream" else self._poll
                    async for event in watch(hook, cursor, calendars):
                        failures = 0
                        yield event
                except (DingTalkInvalidArgumentError, InvalidArgumentError):
                    raise  # the DAG's arguments are wrong: no point in trying again
                except Exception as err:  # a watch must outlive DingTalk's and the database's bad moments
                    failures += 1
                    wait = min(MAX_ERROR_WAIT, 2.0**failures)
                    if isinstance(err, DingTalkError) and not err.retryable:
                        wait = MAX_ERROR_WAIT  # bad credentials, a permission: until someone fixes them
                    self.log.error(
                        "Watching %s (%s) failed: %s: %s; trying again in %.0fs",
                        self.calendars,
                        self.source,
                        type(err).__name__,
                        err,
                        wait,
                        exc_info=not isinstance(err, DingTalkError),
                    )
                    await asyncio.sleep(wait)
        finally:
            self.log.info(
                "The %s watch of %s spent %d DingTalk calls: %s",
                self.source,
                self.calendars,
                hook.quota_calls_spent,
                hook.calls_spent,
            )
            await hook.aclose()

    async def _union_ids(self, hook: Any) -> list[str]:
        if self.id_type == "unionId":
            return list(self.calendars)
        mapping = await hook.aresolve_user_ids(self.calendars)
        return [mapping[user_id] for user_id in self.calendars]

    # ---------------------------------------------------------------- stream

    async def _stream(self, hook: Any, cursor: Cursor, calendars: list[str]) -> AsyncIterator[TriggerEvent]:
        from airflow_dtcal.exceptions import DingTalkError
        from airflow_dtcal.hooks.stream import CALENDAR_TOPIC, ChangeStream

        await self._baseline(hook, cursor, calendars)
        stream = ChangeStream(hook, logger=self.log)
        self.log.info("Watching the calendars of %s through DingTalk Stream mode", calendars)
        try:
            async for message in stream.messages():
                key = f"stream:{message.event_id or message.message_id}"
                if message.topic != CALENDAR_TOPIC or key in cursor.seen:
                    await stream.ack(message)  # another topic, or a notice already fired: delivered again
                    continue
                notice = stream_notice(message.data, calendars)
                if notice is None or not self._wanted(
                    notice["event_id"], notice["change_type"], notice["legacy_event_id"]
                ):
                    await stream.ack(message)
                    continue
                try:
                    payload = await self._compare(hook, cursor, notice)
                except DingTalkError as err:  # retryable (throttled, 5xx, timeout): DingTalk asks again
                    self.log.warning(
                        "GetEvent for notice %s failed (%s); asking for it again later", key, err
                    )
                    await stream.ack(message, "LATER")
                    continue
                if payload is not None:
                    payload.update(source="stream", dedup_key=key)
                    self.log.info("Event %s: %s", payload["event_id"], payload["change_type"])
                    yield TriggerEvent(payload)
                    cursor.remember(key)
                if cursor.dirty:
                    await cursor.save()
                await stream.ack(message)
        finally:
            await stream.close()

    async def _baseline(self, hook: Any, cursor: Cursor, calendars: list[str]) -> None:
        """With ``fields`` and ``event_ids``: the watched events' fingerprints before any notice comes."""
        if not self.fields or not self.event_ids:
            return
        from airflow_dtcal.exceptions import DingTalkNotFoundError

        for event_id in self.event_ids:
            if event_id in cursor.fingerprints or not self._can_spend(hook, cursor):
                continue
            for union_id in calendars:
                try:
                    event = await hook.aget_event(union_id, event_id, calendar_id=self.calendar_id)
                except DingTalkNotFoundError:
                    continue
                finally:
                    cursor.count_calls(hook)
                cursor.fingerprints[event_id] = fingerprint(event, self.fields)
                break
        await cursor.save()

    async def _compare(self, hook: Any, cursor: Cursor, notice: dict) -> dict | None:
        """The payload for a notice, or None when ``fields`` says nothing relevant changed."""
        from airflow_dtcal.exceptions import DingTalkError, DingTalkNotFoundError

        event_id, change = notice["event_id"], notice["change_type"]
        if not self.fields:
            return notice
        if change == "delete":
            cursor.forget(event_id)
            return notice
        if not self._can_spend(hook, cursor):
            self.log.warning(
                "The call budget of %d calls this month is spent: event %s fires unchecked",
                self.call_budget,
                event_id,
            )
            return {**notice, "changed_fields": None}
        try:
            event = await hook.aget_event(notice["calendar"], event_id, calendar_id=self.calendar_id)
        except DingTalkNotFoundError:
            self.log.info("Event %s is gone from %s's calendar; not reported", event_id, notice["calendar"])
            return None
        except DingTalkError as err:
            if err.retryable:
                raise  # the notice is asked for again later
            # A permission, say: the fields cannot be compared; better a run too many than a change lost.
            self.log.warning("GetEvent for event %s failed (%s): it fires unchecked", event_id, err)
            return {**notice, "changed_fields": None}
        finally:
            cursor.count_calls(hook)
        return self._changed(cursor, event_id, event, notice)

    def _changed(self, cursor: Cursor, event_id: str, event: Mapping[str, Any], payload: dict) -> dict | None:
        """``payload`` with the fields that changed since the last fingerprint, or None if none did."""
        assert self.fields is not None
        new = fingerprint(event, self.fields)
        old = cursor.fingerprints.get(event_id)
        cursor.set_fingerprint(event_id, new)
        if old is not None and old == new:
            return None
        changed = list(self.fields) if old is None else [f for f in self.fields if old.get(f) != new.get(f)]
        return {**payload, "changed_fields": changed, "event": summary_of(event)}

    def _wanted(self, event_id: str | None, change: str, legacy_id: str | None = None) -> bool:
        """Whether a change of this type to this event passes ``change_types`` and ``event_ids``."""
        if self.change_types is not None and change not in self.change_types:
            return False
        return event_id is None or self._watched(event_id, legacy_id)

    def _watched(self, event_id: str, legacy_id: str | None = None) -> bool:
        return self.event_ids is None or bool({event_id, legacy_id} & set(self.event_ids))

    def _can_spend(self, hook: Any, cursor: Cursor) -> bool:
        return self.call_budget is None or cursor.spent(hook) < self.call_budget

    # ---------------------------------------------------------------- poll

    async def _poll(self, hook: Any, cursor: Cursor, calendars: list[str]) -> AsyncIterator[TriggerEvent]:
        interval, calls = budget.poll_plan(self.poll_interval, self.call_budget, len(calendars))
        self.log.info(
            "Watching the calendars of %s by polling every %gs: about %d calls a month (%.0f%% of a "
            "standard organisation's %s)",
            calendars,
            interval,
            calls,
            100 * budget.share_of_month(calls),
            f"{budget.EDITIONS['standard']:,}",
        )
        while True:
            for union_id in calendars:
                async for event in self._poll_calendar(hook, cursor, union_id):
                    yield event
            await asyncio.sleep(interval)
            while not self._can_spend(hook, cursor):
                wait = min(3600.0, seconds_to_next_month())
                self.log.warning(
                    "The call budget of %d calls this month is spent; polling again in %.0fs",
                    self.call_budget,
                    wait,
                )
                await asyncio.sleep(wait)

    async def _poll_calendar(self, hook: Any, cursor: Cursor, union_id: str) -> AsyncIterator[TriggerEvent]:
        from airflow_dtcal.exceptions import DingTalkSyncTokenExpiredError

        token = cursor.tokens.get(union_id)
        if token is None:  # the first listing: where changes start from; nothing fires
            async for _ in self._list_all(hook, cursor, union_id, None):
                pass
            return
        start = hashlib.sha256(token.encode()).hexdigest()[:12]
        new_token = None
        try:
            async for page in hook.aiter_event_changes(
                union_id, calendar_id=self.calendar_id, sync_token=token
            ):
                cursor.count_calls(hook)
                for event in page.events:
                    payload = self._poll_payload(cursor, union_id, event, start)
                    if payload is None or payload["dedup_key"] in cursor.fired:
                        continue
                    self.log.info("Event %s: %s", payload["event_id"], payload["change_type"])
                    yield TriggerEvent(payload)
                    cursor.fired.append(payload["dedup_key"])
                    await cursor.save()
                if page.sync_token:
                    new_token = page.sync_token
        except DingTalkSyncTokenExpiredError:
            cursor.count_calls(hook)
            self.log.warning("The sync token of %s's calendar expired; listing it again", union_id)
            async for event in self._list_all(hook, cursor, union_id, start):
                yield event
            return
        if new_token is None:
            self.log.warning(
                "DingTalk gave no new sync token for %s's calendar; reading from the old one", union_id
            )
            return
        cursor.tokens[union_id] = new_token
        cursor.fired = []
        await cursor.save()

    async def _list_all(self, hook: Any, cursor: Cursor, union_id: str, resync: str | None):
        """List a calendar in full for a sync token; on a resync (``resync`` = the lost token's hash),
        report what changed in the gap (see the module doc). An async generator of TriggerEvents."""
        new_token = None
        async for page in hook.aiter_event_changes(union_id, calendar_id=self.calendar_id):
            cursor.count_calls(hook)
            for event in page.events:
                event_id = event.get("id")
                if not isinstance(event_id, str) or not event_id or not self._watched(event_id):
                    continue
                change = classify(event, cursor.knows(event_id))
                cursor.know(event_id, change != "delete")
                payload = None
                if change == "delete":  # deleted or cancelled: fires on a resync if it was being watched
                    if self.fields and event_id in cursor.fingerprints:
                        payload = {**self._poll_base(union_id, event, True), "changed_fields": []}
                    cursor.forget(event_id)
                elif self.fields:
                    base = self._poll_base(union_id, event, change != "create")
                    payload = self._changed(cursor, event_id, event, base)
                if resync is None or payload is None or not self._wanted(event_id, change):
                    continue
                payload["dedup_key"] = f"poll:{union_id}:resync:{resync}:{event_id}:{payload_hash(event)}"
                if payload["dedup_key"] not in cursor.fired:
                    self.log.info("Event %s: %s (found on a resync)", event_id, change)
                    yield TriggerEvent(payload)
                    cursor.fired.append(payload["dedup_key"])
                    await cursor.save()
            if page.sync_token:
                new_token = page.sync_token
        if resync is not None and not self.fields and self._wanted(None, "resync"):
            key = f"poll:{union_id}:resync:{resync}"
            if key not in cursor.fired:
                yield TriggerEvent(
                    {
                        "source": "poll",
                        "calendar": union_id,
                        "calendar_id": self.calendar_id,
                        "event_id": None,
                        "change_type": "resync",
                        "update_time": iso_time(time.time() * 1000),
                        "dedup_key": key,
                        "changed_fields": None,
                        "event": None,
                    }
                )
                cursor.fired.append(key)
                await cursor.save()
        if new_token is None:
            self.log.warning(
                "DingTalk gave no sync token for %s's calendar; listing again next time", union_id
            )
        else:
            cursor.tokens[union_id] = new_token
        cursor.fired = []
        await cursor.save()

    def _poll_base(self, union_id: str, event: Mapping[str, Any], known: bool = True) -> dict:
        return {
            "source": "poll",
            "calendar": union_id,
            "calendar_id": self.calendar_id,
            "event_id": event.get("id"),
            "change_type": classify(event, known),
            "update_time": event.get("updateTime") if isinstance(event.get("updateTime"), str) else None,
            "changed_fields": None,
            "event": summary_of(event),
        }

    def _poll_payload(
        self, cursor: Cursor, union_id: str, event: Mapping[str, Any], start: str
    ) -> dict | None:
        event_id = event.get("id")
        if not isinstance(event_id, str) or not event_id:
            return None
        if not self._watched(event_id):
            return None
        payload = self._poll_base(union_id, event, cursor.knows(event_id))
        cursor.know(event_id, payload["change_type"] != "delete")
        if not self._wanted(event_id, payload["change_type"]):
            return None
        if self.fields:
            if payload["change_type"] == "delete":
                cursor.forget(event_id)
            else:
                changed = self._changed(cursor, event_id, event, payload)
                if changed is None:
                    return None
                payload = changed
        # A delta read again from the same token (after a restart) gives the same key; a later change of
        # the same event a different one.
        payload["dedup_key"] = f"poll:{union_id}:{start}:{event_id}:{payload_hash(event)}"
        return payload
