"""Event operations, each written once as a flow (:mod:`.operation`): create, read, change, delete, cancel,
hand over, list (as stored, as a window of occurrences, or as changes since a sync token), find by key.

:class:`~airflow_dtcal.hooks.calendar.DingTalkCalendarHook` exposes each as a sync method and an ``a``-prefixed
async one. Every argument is checked before the first request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_dtcal.core import calls
from airflow_dtcal.core.errors import DingTalkAnswerError, InvalidArgumentError
from airflow_dtcal.core.ids import chunked, normalize_attendees, require_id
from airflow_dtcal.core.paging import EventPage, Pager
from airflow_dtcal.core.times import iso_instant
from airflow_dtcal.hooks.attendees import add_attendees
from airflow_dtcal.hooks.operation import Context, Emit, Flow, Listing, pages
from airflow_dtcal.planning.events import split_create_attendees
from airflow_dtcal.planning.markers import KeyScan, Markers, check_event_key, with_marker


def create_event(
    ctx: Context,
    user_id: str,
    event: Mapping[str, Any],
    *,
    calendar_id: str = "primary",
    client_token: str | None = None,
) -> Flow[dict]:
    """Create an event in the organizer's (``user_id``) calendar; return the created event.

    ``event`` is the wire-format body (see :func:`airflow_dtcal.planning.events.build_event`). More than 500
    attendees are split: the event is created with the first 500 and the rest added in chunks, each chunk
    with its own idempotency key derived from ``client_token``.
    """
    if not isinstance(event, Mapping):
        raise InvalidArgumentError("event", "must be a dict with at least 'summary' and 'start'")
    head, rest = split_create_attendees(dict(event))
    if rest:
        normalize_attendees(event["attendees"])  # the per-event limit, before anything is sent
    base = calls.client_token(client_token)
    created = yield calls.create_event(user_id, head, calendar_id, base)
    if rest:
        token = calls.derive_client_token(base, "rest")
        yield from add_attendees(
            ctx, user_id, created["id"], rest, calendar_id=calendar_id, client_token=token
        )
    return created


def get_event(
    ctx: Context,
    user_id: str,
    event_id: str,
    *,
    calendar_id: str = "primary",
    max_attendees: int | None = None,
) -> Flow[dict]:
    """One event as ``user_id`` (organizer or attendee) sees it."""
    return (yield calls.get_event(user_id, event_id, calendar_id, max_attendees))


def patch_event(
    ctx: Context,
    user_id: str,
    event_id: str,
    changes: Mapping[str, Any],
    *,
    calendar_id: str = "primary",
    client_token: str | None = None,
) -> Flow[dict]:
    """Change fields of an event (DingTalk's PUT PatchEvent; ``id`` is added for you)."""
    token = calls.client_token(client_token)
    return (yield calls.patch_event(user_id, event_id, changes, calendar_id, token))


def delete_event(
    ctx: Context,
    user_id: str,
    event_id: str,
    *,
    calendar_id: str = "primary",
    push_notification: bool | None = None,
    client_token: str | None = None,
) -> Flow[None]:
    """Delete an event: for everyone when ``user_id`` is the organizer, else from that attendee's calendar."""
    token = calls.client_token(client_token)
    yield calls.delete_event(user_id, event_id, calendar_id, push_notification, token)


def cancel_event(
    ctx: Context,
    user_id: str,
    event_id: str,
    *,
    calendar_id: str = "primary",
    scope: str | None = None,
    client_token: str | None = None,
) -> Flow[None]:
    """Cancel an event for everyone, as its organizer ``user_id`` (DingTalk's CancelEvent).

    Unlike :meth:`delete_event`, the event stays readable: GetEvent returns it with status ``cancelled``.
    ``scope`` is passed through as DingTalk's query parameter (its values are not documented).
    """
    yield calls.cancel_event(user_id, event_id, calendar_id, scope, calls.client_token(client_token))


def transfer_event(
    ctx: Context,
    user_id: str,
    event_id: str,
    new_organizer_id: str,
    *,
    calendar_id: str = "primary",
    exit_calendar: bool | None = None,
    notify: bool | None = None,
    client_token: str | None = None,
) -> Flow[None]:
    """Hand an event from its organizer ``user_id`` to ``new_organizer_id`` (DingTalk's TransferEvent).

    :param exit_calendar: also take the event out of the old organizer's calendar (``isExitCalendar``).
    :param notify: send the new organizer a 1:1 notice (``needNotifyViaO2O``).
    """
    token = calls.client_token(client_token)
    yield calls.transfer_event(user_id, event_id, new_organizer_id, calendar_id, exit_calendar, notify, token)


def iter_events(
    ctx: Context,
    user_id: str,
    *,
    time_min: str | None = None,
    time_max: str | None = None,
    show_deleted: bool = False,
    page_size: int = 100,
    calendar_id: str = "primary",
) -> Listing:
    """Events of a calendar, page by page (``nextToken``), without holding all pages."""
    call = calls.list_events(
        user_id,
        calendar_id,
        time_min=time_min,
        time_max=time_max,
        show_deleted=show_deleted,
        page_size=page_size,
    )
    yield from pages(ctx, call)


def iter_events_view(
    ctx: Context,
    user_id: str,
    *,
    time_min: Any,
    time_max: Any,
    page_size: int = 100,
    max_attendees: int = 100,
    calendar_id: str = "primary",
) -> Listing:
    """The events in ``[time_min, time_max)`` with recurring series expanded (ListEventsView), page by page.

    Each occurrence of a series is its own item, with ``seriesMasterId`` and ``originStart``. The window
    ends are date-times (pendulum/datetime or ISO-8601 strings; naive ones are UTC).
    """
    call = calls.list_events_view(
        user_id,
        calendar_id,
        time_min=iso_instant(time_min, "time_min"),
        time_max=iso_instant(time_max, "time_max"),
        page_size=page_size,
        max_attendees=max_attendees,
    )
    yield from pages(ctx, call)


def convert_legacy_event_ids(
    ctx: Context, user_id: str, legacy_event_ids: Sequence[str]
) -> Flow[dict[str, str]]:
    """``{legacy id: event id}`` for events made with DingTalk's old calendar API (ConvertLegacyEventId,
    SDK-only), as seen by ``user_id`` (a unionId), 100 ids a call, in the order asked. Ids DingTalk does
    not convert are left out of the mapping (and logged); an answer naming an id not asked for, or mapping
    to anything but a non-empty string, raises :class:`~airflow_dtcal.exceptions.DingTalkAnswerError`."""
    if isinstance(legacy_event_ids, (str, bytes, Mapping)) or not isinstance(legacy_event_ids, Sequence):
        raise InvalidArgumentError("legacy_event_ids", "must be a list of legacy event ids", legacy_event_ids)
    ids = list(dict.fromkeys(require_id(i, f"legacy_event_ids[{n}]") for n, i in enumerate(legacy_event_ids)))
    if not ids:
        raise InvalidArgumentError("legacy_event_ids", "must name at least one id", legacy_event_ids)
    found: dict[str, str] = {}
    for chunk in chunked(ids, calls.MAX_LEGACY_IDS_PER_CALL):
        call = calls.convert_legacy_event_ids(user_id, list(chunk))
        answer = yield call
        mapping = answer.get("legacyEventIdMap") if isinstance(answer, dict) else None
        if mapping is None:
            mapping = {}
        if not isinstance(mapping, dict) or not all(
            key in chunk and isinstance(value, str) and value.strip() for key, value in mapping.items()
        ):
            raise DingTalkAnswerError(
                call.operation, 200, None, "legacyEventIdMap is not a map of the ids asked to event ids"
            )
        found.update(mapping)
    result = {legacy: found[legacy] for legacy in ids if legacy in found}
    if len(result) < len(ids):
        ctx.log.warning("%d of %d legacy event ids were not converted", len(ids) - len(result), len(ids))
    return result


def iter_instances(
    ctx: Context,
    user_id: str,
    event_id: str,
    *,
    time_min: Any,
    time_max: Any,
    page_size: int = 100,
    max_attendees: int = 100,
    calendar_id: str = "primary",
) -> Listing:
    """The occurrences of the recurring series ``event_id`` in ``[time_min, time_max)`` (ListInstances),
    page by page, in start order: each with its own id, the series' id as ``seriesMasterId`` and its
    original start as ``originStart``. ``user_id`` is the organizer or an attendee. An occurrence's id is
    for reading: DingTalk documents no write on it (see docs/lifecycle.md, "One occurrence of a series").
    """
    call = calls.list_instances(
        user_id,
        calendar_id,
        event_id,
        time_min=iso_instant(time_min, "time_min"),
        time_max=iso_instant(time_max, "time_max"),
        page_size=page_size,
        max_attendees=max_attendees,
    )
    yield from pages(ctx, call)


def iter_event_changes(
    ctx: Context,
    user_id: str,
    *,
    calendar_id: str = "primary",
    sync_token: str | None = None,
    time_min: str | None = None,
    page_size: int = 100,
    max_attendees: int = 100,
    page_token: str | None = None,
) -> Listing:
    """A calendar's events page by page: all of them (``sync_token=None``), or those changed since
    ``sync_token``. Deleted and cancelled events are included, with ``status`` ``"cancelled"``.

    Yields one :class:`~airflow_dtcal.core.paging.EventPage` per page. Each page but the last carries the
    ``next_token`` where the next one starts: give it back as ``page_token`` (with the same ``sync_token``)
    to go on from there later. The last page carries the ``sync_token`` to keep for next time (DingTalk
    gives one only when no ``timeMax`` is sent, so none is).
    A token DingTalk no longer accepts raises
    :class:`~airflow_dtcal.exceptions.DingTalkSyncTokenExpiredError`: list again with ``sync_token=None``.
    Each page is one call; nothing is held beyond the current page.
    """
    call = calls.list_event_changes(
        user_id,
        calendar_id,
        sync_token=sync_token,
        time_min=time_min,
        page_size=page_size,
        max_attendees=max_attendees,
    )
    pager = Pager(call, ctx.settings.max_pages)
    pager.next_token = page_token or None
    while not pager.done:
        events = pager.accept((yield pager.next_call()))
        next_token = None if pager.done else pager.next_token
        yield Emit([EventPage(events, pager.sync_token, sync_token is None, pager.done, next_token)])


def find_event_by_key(
    ctx: Context,
    user_id: str,
    key: str,
    *,
    time_min: str,
    time_max: str,
    calendar_id: str = "primary",
) -> Flow[dict | None]:
    """The first live event in the window that ``user_id`` organizes and whose marker of ``key`` verifies
    (see :mod:`airflow_dtcal.planning.markers`), or None. For an occurrence of a recurring series the
    series' id is returned as ``id``.

    ``user_id`` is the organizer, by unionId (as event answers name organizers). Events that carry a marker
    of the key but are not ours (organized by someone else, or a copy of our marker on another event) are
    logged and ignored. An event of ours marked by the previous release, when it is the only one, is
    adopted: its marker is replaced by a verified one (one PatchEvent) and it is returned.
    """
    scan = KeyScan(Markers(ctx.settings.app_secret), user_id, calendar_id, check_event_key(key))
    call = calls.list_events(
        user_id, calendar_id, time_min=time_min, time_max=time_max, show_deleted=False, page_size=100
    )
    pager = Pager(call, ctx.settings.max_pages)
    while not pager.done and scan.found is None:
        for event in pager.accept((yield pager.next_call())):
            if scan.see(event):
                break
    for event_id, why in scan.ignored:
        ctx.log.warning("Ignored event %s, which carries the marker of this key: %s", event_id, why)
    if scan.found is not None:
        return scan.found
    if len(scan.legacy) > 1:
        ctx.log.warning(
            "Events %s carry the previous release's marker of this key; none is adopted (which one is "
            "the intended event cannot be told): a new one is made. Cancel the others if they are yours",
            ", ".join(e["id"] for e in scan.legacy),
        )
    adopted = scan.adoptable()
    if adopted is None:
        return None
    return (
        yield from mark_event(
            ctx, user_id, adopted["id"], key, description=adopted.get("description"), calendar_id=calendar_id
        )
    )


def mark_event(
    ctx: Context,
    user_id: str,
    event_id: str,
    key: str,
    *,
    description: str | None,
    calendar_id: str = "primary",
) -> Flow[dict]:
    """Give the event ``event_id`` of the organizer ``user_id`` the marker of ``key``, bound to its id, as
    the last line of ``description`` (which replaces the event's; a marker line already there is replaced).
    One PatchEvent, idempotent (its client token is derived from what it writes). Returns the patched event.
    """
    markers = Markers(ctx.settings.app_secret)
    marked = with_marker(description, markers.event(user_id, calendar_id, check_event_key(key), event_id))
    token = calls.derive_client_token("airflow-dtcal", "MarkEvent", user_id, calendar_id, event_id, marked)
    patched = yield calls.patch_event(user_id, event_id, {"description": marked}, calendar_id, token)
    ctx.log.info("Marked event %s with its key", event_id)
    return dict(patched, id=event_id, description=marked)
