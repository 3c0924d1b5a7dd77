"""Attendee operations, each written once as a flow (:mod:`.operation`): add and remove (500 per call, the
chunks in flight, each with its own idempotency key), list (page by page) and respond.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_dtcal.core import calls
from airflow_dtcal.core.calls import Call
from airflow_dtcal.core.errors import DingTalkError, InvalidArgumentError
from airflow_dtcal.core.ids import (
    MAX_ATTENDEES_PER_CALL,
    chunked,
    normalize_attendee_ids,
    normalize_attendees,
)
from airflow_dtcal.hooks.operation import Context, Flow, Listing, Many, pages


def add_attendees(
    ctx: Context,
    user_id: str,
    event_id: str,
    attendees: Sequence[str | Mapping[str, Any]],
    *,
    calendar_id: str = "primary",
    chat_notification: bool | None = None,
    push_notification: bool | None = None,
    client_token: str | None = None,
    chunk_size: int = MAX_ATTENDEES_PER_CALL,
) -> Flow[list[dict]]:
    """Add attendees (ids or ``{"id", "isOptional"}``) as the organizer ``user_id``, 500 per call.

    Each chunk carries its own ``x-client-token`` derived from ``client_token``, so repeating the whole
    call (a retried task) adds nobody twice. Returns the attendees sent.
    """
    wanted = normalize_attendees(attendees)
    flags: dict[str, bool] = {}
    for name, key, flag in (
        ("chat_notification", "chatNotification", chat_notification),
        ("push_notification", "pushNotification", push_notification),
    ):
        if (checked := calls.optional_flag(flag, name)) is not None:
            flags[key] = checked
    chunks = _chunks(wanted, chunk_size, client_token, "AddAttendee")
    plan = [
        calls.add_attendees(user_id, event_id, chunk, calendar_id, flags, token) for chunk, token in chunks
    ]
    yield from _send_chunks(ctx, plan, "added", event_id, len(wanted))
    return wanted


def remove_attendees(
    ctx: Context,
    user_id: str,
    event_id: str,
    attendee_ids: Sequence[str],
    *,
    calendar_id: str = "primary",
    client_token: str | None = None,
    chunk_size: int = MAX_ATTENDEES_PER_CALL,
) -> Flow[list[str]]:
    """Remove attendees as the organizer ``user_id``, 500 per call; returns the ids sent."""
    ids = normalize_attendee_ids(attendee_ids)
    chunks = _chunks(ids, chunk_size, client_token, "RemoveAttendee")
    plan = [calls.remove_attendees(user_id, event_id, chunk, calendar_id, token) for chunk, token in chunks]
    yield from _send_chunks(ctx, plan, "removed", event_id, len(ids))
    return ids


def iter_attendees(
    ctx: Context,
    user_id: str,
    event_id: str,
    *,
    calendar_id: str = "primary",
    page_size: int = MAX_ATTENDEES_PER_CALL,
) -> Listing:
    """Attendees as ``{id, displayName, responseStatus, ...}`` dicts, page by page; memory stays at one
    page however many there are."""
    yield from pages(ctx, calls.list_attendees(user_id, event_id, calendar_id, page_size))


def respond_event(
    ctx: Context,
    user_id: str,
    event_id: str,
    response_status: str,
    *,
    calendar_id: str = "primary",
    client_token: str | None = None,
) -> Flow[None]:
    """Set the response of the attendee ``user_id``: needsAction, accepted, declined or tentative."""
    token = calls.client_token(client_token)
    yield calls.respond_event(user_id, event_id, response_status, calendar_id, token)


# ---------------------------------------------------------------------------------------------- chunks


def _chunks(items: list, size: Any, client_token: str | None, operation: str) -> list[tuple[list, str]]:
    """The chunks of one add/remove with their idempotency keys: the base key itself for a single chunk,
    else one derived from it per chunk."""
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_ATTENDEES_PER_CALL:
        raise InvalidArgumentError("chunk_size", f"must be from 1 to {MAX_ATTENDEES_PER_CALL}", size)
    parts = [list(chunk) for chunk in chunked(items, size)]
    base = calls.client_token(client_token)
    if len(parts) == 1:
        return [(parts[0], base)]
    return [(part, calls.derive_client_token(base, operation, i)) for i, part in enumerate(parts)]


class _Progress:
    """Progress of one chunked add/remove, logged as chunks complete (in any order)."""

    def __init__(self, ctx: Context, verb: str, event_id: str, total: int) -> None:
        self.ctx, self.verb, self.event_id, self.total = ctx, verb, event_id, total
        self.count = 0
        self._lock = threading.Lock()

    def chunk(self, call: Call) -> Flow[Any]:
        """A flow of one chunk that counts its attendees once DingTalk took them."""
        answer = yield call
        body = call.body or {}
        with self._lock:
            self.count += len(body.get("attendeesToAdd") or body.get("attendeesToRemove") or [])
            count = self.count
        self.ctx.log.info(
            "%s %s of %s attendees of event %s",
            self.verb.capitalize(),
            f"{count:,}",
            f"{self.total:,}",
            self.event_id,
        )
        return answer


def _send_chunks(ctx: Context, plan: list[Call], verb: str, event_id: str, total: int) -> Flow[None]:
    progress = _Progress(ctx, verb, event_id, total)
    try:
        yield Many([progress.chunk(call) for call in plan])
    except DingTalkError:
        if progress.count:
            ctx.log.error(
                "%s stopped after %s %s of %s attendees of event %s; running it again with the same client "
                "token is safe (each chunk is idempotent)",
                plan[0].operation,
                verb,
                f"{progress.count:,}",
                f"{total:,}",
                event_id,
            )
        raise
