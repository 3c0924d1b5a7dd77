"""Check-in operations, written once as flows (:mod:`.operation`): an event's check-in and check-out lists."""

from __future__ import annotations

from airflow_dtcal.core import calls
from airflow_dtcal.hooks.operation import Context, Listing, pages


def iter_sign_ins(
    ctx: Context,
    organizer_id: str,
    event_id: str,
    *,
    calendar_id: str = "primary",
    status: str = "sign_in",
    page_size: int = 500,
) -> Listing:
    """An event's check-in list (``status`` ``sign_in`` / ``not_yet_sign_in``) or check-out list
    (``sign_out`` / ``not_yet_sign_out``): ``{"userId", "displayName", "checkInTime"}`` per person
    (``checkOutTime`` for check-outs), page by page. ``organizer_id`` is the organizer's unionId."""
    yield from pages(
        ctx, calls.sign_ins(organizer_id, event_id, calendar_id, status=status, page_size=page_size)
    )
