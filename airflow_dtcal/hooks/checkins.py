"""Check-in operations, written once as flows (:mod:`.operation`): an event's check-in and check-out lists,
and the links attendees open to check in or out."""

from __future__ import annotations

import re

from airflow_dtcal.core import calls, operations
from airflow_dtcal.core.errors import DingTalkAnswerError
from airflow_dtcal.hooks.operation import Context, Flow, Listing, pages

#: A link as DingTalk's answer may carry it: http(s) or DingTalk's app scheme, printable, bounded.
_LINK = re.compile(r"(https?|dingtalk)://[!-~]{1,2040}")


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


def _check_in_link(
    ctx: Context, organizer_id: str, event_id: str, calendar_id: str, direction: str
) -> Flow[str]:
    call = calls.check_in_link(organizer_id, event_id, calendar_id, direction)
    answer = yield call
    link = answer.get(calls.CHECK_IN_LINKS[direction][2]) if isinstance(answer, dict) else None
    if not isinstance(link, str) or not _LINK.fullmatch(link):
        raise DingTalkAnswerError(
            call.operation,
            200,
            None,
            "the answer has no http(s) or dingtalk:// link (at most 2,048 characters)",
        )
    return link


def get_sign_in_link(
    ctx: Context, organizer_id: str, event_id: str, *, calendar_id: str = "primary"
) -> Flow[str]:
    """The link attendees open to check in to the event (GetSignInLink, SDK-only), as its organizer.
    The link is checked (http(s) or ``dingtalk://``, printable, at most 2,048 characters), never opened."""
    return (yield from _check_in_link(ctx, organizer_id, event_id, calendar_id, "in"))


def get_sign_out_link(
    ctx: Context, organizer_id: str, event_id: str, *, calendar_id: str = "primary"
) -> Flow[str]:
    """The link attendees open to check out of the event (GetSignOutLink, SDK-only); see
    :func:`get_sign_in_link`."""
    return (yield from _check_in_link(ctx, organizer_id, event_id, calendar_id, "out"))


def _check_in(
    ctx: Context, name: str, field: str, user_id: str, event_id: str, calendar_id: str
) -> Flow[int]:
    call = operations.build_call(
        name, {"userId": user_id, "calendarId": calendar_id, "eventId": event_id}, by_argument=True
    )
    answer = yield call
    when = answer.get(field) if isinstance(answer, dict) else None
    if isinstance(when, bool) or not isinstance(when, int) or when < 0:
        raise DingTalkAnswerError(name, 200, None, f"the answer has no {field} (epoch milliseconds)")
    return when


def sign_in(ctx: Context, user_id: str, event_id: str, *, calendar_id: str = "primary") -> Flow[int]:
    """Check ``user_id`` (an attendee's unionId) in to the event (SignIn); returns the check-in time in epoch
    milliseconds (checking in again keeps the first)."""
    return (yield from _check_in(ctx, "SignIn", "checkInTime", user_id, event_id, calendar_id))


def sign_out(ctx: Context, user_id: str, event_id: str, *, calendar_id: str = "primary") -> Flow[int]:
    """Check ``user_id`` (an attendee's unionId) out of the event (SignOut); returns the check-out time in
    epoch milliseconds."""
    return (yield from _check_in(ctx, "SignOut", "checkOutTime", user_id, event_id, calendar_id))


def check_in(ctx: Context, user_id: str, event_id: str, *, calendar_id: str = "primary") -> Flow[int]:
    """CheckIn, the older version of :func:`sign_in` (DingTalk documents both): check ``user_id`` in to the
    event; returns the check-in time in epoch milliseconds."""
    return (yield from _check_in(ctx, "CheckIn", "checkInTime", user_id, event_id, calendar_id))
