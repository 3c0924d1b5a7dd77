"""The hook's methods for calendar data going out: incremental listing (``syncToken``), check-in lists and
Stream mode's connection-open call. :class:`~airflow_dtcal.hooks.calendar.DingTalkCalendarHook` inherits
them; they go through the hook's one request path (``_run`` / ``_arun``) like every other method.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from airflow_dtcal.core import calls
from airflow_dtcal.core.calls import Call
from airflow_dtcal.core.paging import EventPage, Pager
from airflow_dtcal.exceptions import invalid_arguments as _arguments

#: What Stream mode subscribes to unless told otherwise: DingTalk's calendar change event.
CALENDAR_CHANGE_TOPIC = "calendar_event_change"


class EventChangesMethods:
    """Mixed into the hook; relies on its ``_run``, ``_arun``, ``_pages``, ``_apages``, ``settings`` and
    ``asettings``."""

    # ---------------------------------------------------------------- incremental listing (syncToken)

    def _changes_call(self, user_id, calendar_id, sync_token, time_min, page_size, max_attendees) -> Call:
        with _arguments():
            return calls.list_event_changes(
                user_id,
                calendar_id,
                sync_token=sync_token,
                time_min=time_min,
                page_size=page_size,
                max_attendees=max_attendees,
            )

    def iter_event_changes(
        self,
        user_id: str,
        *,
        calendar_id: str = "primary",
        sync_token: str | None = None,
        time_min: str | None = None,
        page_size: int = 100,
        max_attendees: int = 100,
    ) -> Iterator[EventPage]:
        """A calendar's events page by page: all of them (``sync_token=None``), or those changed since
        ``sync_token``. Deleted and cancelled events are included, with ``status`` ``"cancelled"``.

        The last page carries the ``sync_token`` to keep for next time (DingTalk gives one only when no
        ``timeMax`` is sent, so none is). A token DingTalk no longer accepts raises
        :class:`~airflow_dtcal.exceptions.DingTalkSyncTokenExpiredError`: list again with ``sync_token=None``.
        Each page is one call; nothing is held beyond the current page.
        """
        call = self._changes_call(user_id, calendar_id, sync_token, time_min, page_size, max_attendees)
        pager = Pager(call, self.settings.max_pages)
        while not pager.done:
            events = pager.accept(self._run(pager.next_call()))
            yield EventPage(events, pager.sync_token, sync_token is None, pager.done)

    async def aiter_event_changes(
        self,
        user_id: str,
        *,
        calendar_id: str = "primary",
        sync_token: str | None = None,
        time_min: str | None = None,
        page_size: int = 100,
        max_attendees: int = 100,
    ) -> AsyncIterator[EventPage]:
        """Async :meth:`iter_event_changes`."""
        call = self._changes_call(user_id, calendar_id, sync_token, time_min, page_size, max_attendees)
        pager = Pager(call, (await self.asettings()).max_pages)
        while not pager.done:
            events = pager.accept(await self._arun(pager.next_call()))
            yield EventPage(events, pager.sync_token, sync_token is None, pager.done)

    # ---------------------------------------------------------------- check-in

    def _sign_ins_call(self, organizer_id, event_id, calendar_id, status, page_size) -> Call:
        with _arguments():
            return calls.sign_ins(organizer_id, event_id, calendar_id, status=status, page_size=page_size)

    def iter_sign_ins(
        self,
        organizer_id: str,
        event_id: str,
        *,
        calendar_id: str = "primary",
        status: str = "sign_in",
        page_size: int = 500,
    ) -> Iterator[dict]:
        """An event's check-in list (``status`` ``sign_in`` / ``not_yet_sign_in``) or check-out list
        (``sign_out`` / ``not_yet_sign_out``): ``{"userId", "displayName", "checkInTime"}`` per person
        (``checkOutTime`` for check-outs), page by page. ``organizer_id`` is the organizer's unionId."""
        yield from self._pages(self._sign_ins_call(organizer_id, event_id, calendar_id, status, page_size))

    async def aiter_sign_ins(
        self,
        organizer_id: str,
        event_id: str,
        *,
        calendar_id: str = "primary",
        status: str = "sign_in",
        page_size: int = 500,
    ) -> AsyncIterator[dict]:
        """Async :meth:`iter_sign_ins`."""
        call = self._sign_ins_call(organizer_id, event_id, calendar_id, status, page_size)
        async for user in self._apages(call):
            yield user

    # ---------------------------------------------------------------- Stream mode

    def open_stream_connection(self, topics: Sequence[str] = (CALENDAR_CHANGE_TOPIC,)) -> dict[str, Any]:
        """Stream mode's connection-open call: ``{"endpoint": "wss://…", "ticket": "…"}`` for a WebSocket
        that receives this app's events (``topics``). The ticket is single-use; never log it."""
        s = self.settings
        with _arguments():
            call = calls.open_stream_connection(s.app_key, s.app_secret, list(topics))
        return self._run(call)

    async def aopen_stream_connection(
        self, topics: Sequence[str] = (CALENDAR_CHANGE_TOPIC,)
    ) -> dict[str, Any]:
        """Async :meth:`open_stream_connection`."""
        s = await self.asettings()
        with _arguments():
            call = calls.open_stream_connection(s.app_key, s.app_secret, list(topics))
        return await self._arun(call)
