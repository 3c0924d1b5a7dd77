"""Calendars, subscribed (team/public) calendars and sharing (ACLs), each written once as a flow
(:mod:`.operation`) over the rows of the documented table (:mod:`airflow_dtcal.core.operations`).

``user_id`` in every path is a unionId: the calendar's owner for ACLs (for a subscribed calendar, its
author or a manager), the subscriber for subscribe/unsubscribe. Every argument is checked before the first
request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_dtcal.core import operations
from airflow_dtcal.core.errors import DingTalkAnswerError
from airflow_dtcal.hooks.operation import Context, Flow
from airflow_dtcal.planning.sharing import acl_body, subscribed_calendar_body


def build_call(name: str, path_params: dict, body: Any = None) -> Any:
    """The call of a table row, a bad path value named by this module's argument (``calendar_id``)."""
    return operations.build_call(name, path_params, body=body, by_argument=True)


def _user(user_id: str) -> dict[str, str]:
    return {"userId": user_id}


def _calendar(user_id: str, calendar_id: str) -> dict[str, str]:
    return {"userId": user_id, "calendarId": calendar_id}


def list_calendars(ctx: Context, user_id: str) -> Flow[list[dict]]:
    """The calendars ``user_id`` sees (ListCalendars): ``[{id, summary, description, timeZone, eTag,
    type (primary/subscribed/shared), privilege}]``."""
    call = build_call("ListCalendars", _user(user_id))
    body = yield call
    response = body.get("response") if isinstance(body, dict) else None
    calendars = response.get("calendars") if isinstance(response, dict) else None
    if not isinstance(calendars, list) or not all(
        isinstance(c, dict) and isinstance(c.get("id"), str) and c["id"] for c in calendars
    ):
        raise DingTalkAnswerError(
            call.operation, 200, None, "the answer has no response.calendars list with ids"
        )
    return calendars


def create_subscribed_calendar(
    ctx: Context,
    user_id: str,
    name: str,
    *,
    description: str | None = None,
    managers: Sequence[str] | None = None,
    subscribe_scope: Mapping[str, Sequence[str]] | None = None,
) -> Flow[str]:
    """Create a subscribed (team/public) calendar authored by ``user_id``; return its calendar id.

    DingTalk takes no idempotency key here: a request whose answer is lost may have created the calendar
    (:class:`~airflow_dtcal.operators.calendars.EnsureSubscribedCalendarOperator` finds it again by key).
    ``subscribe_scope`` says who may subscribe: ``{"unionIds", "openConversationIds", "corpIds"}``.
    """
    body = subscribed_calendar_body(name, description, managers, subscribe_scope)
    call = build_call("CreateSubscribedCalendar", _user(user_id), body=body)
    answer = yield call
    calendar_id = answer.get("calendarId")
    if not isinstance(calendar_id, str) or not calendar_id:
        raise DingTalkAnswerError(call.operation, 200, None, "the answer has no calendarId")
    return calendar_id


def get_subscribed_calendar(ctx: Context, user_id: str, calendar_id: str) -> Flow[dict]:
    """A subscribed calendar: ``{calendarId, name, description, author, managers, subscribeScope}``."""
    return (yield build_call("GetSubscribedCalendar", _calendar(user_id, calendar_id)))


def update_subscribed_calendar(
    ctx: Context,
    user_id: str,
    calendar_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    managers: Sequence[str] | None = None,
    subscribe_scope: Mapping[str, Sequence[str]] | None = None,
) -> Flow[None]:
    """Change the fields given (at least one) of a subscribed calendar, as its author or a manager; a list
    given replaces the one DingTalk holds."""
    body = subscribed_calendar_body(name, description, managers, subscribe_scope, partial=True)
    yield build_call("UpdateSubscribedCalendars", _calendar(user_id, calendar_id), body=body)


def delete_subscribed_calendar(ctx: Context, user_id: str, calendar_id: str) -> Flow[None]:
    """Delete a subscribed calendar (as its author)."""
    yield build_call("DeleteSubscribedCalendar", _calendar(user_id, calendar_id))


def subscribe_calendar(ctx: Context, user_id: str, calendar_id: str) -> Flow[None]:
    """``user_id`` subscribes to a subscribed calendar (they must be in its subscribe scope); too many
    subscriptions answer ``exceedSubscribeLimit``."""
    yield build_call("SubscribeCalendar", _calendar(user_id, calendar_id))


def unsubscribe_calendar(ctx: Context, user_id: str, calendar_id: str) -> Flow[None]:
    """``user_id`` stops subscribing to a subscribed calendar."""
    yield build_call("UnsubscribeCalendar", _calendar(user_id, calendar_id))


def list_acls(ctx: Context, user_id: str, *, calendar_id: str = "primary") -> Flow[list[dict]]:
    """Who a calendar is shared with (ListAcls, at most 500): ``[{aclId, privilege, scope: {scopeType,
    userId}}]``; ``user_id`` is the calendar's owner."""
    return (yield build_call("ListAcls", _calendar(user_id, calendar_id)))["acls"]


def add_acl(
    ctx: Context,
    user_id: str,
    grantee_id: str,
    privilege: str,
    *,
    calendar_id: str = "primary",
    send_msg: bool | None = None,
) -> Flow[dict]:
    """Share ``user_id``'s calendar with ``grantee_id`` (a unionId) at ``privilege``
    (``free_busy_reader``, ``title_reader``, ``reader`` or ``writer``); return the ACL ``{aclId, privilege,
    scope}``. A calendar is shared with at most 500 people (``shareExceedLimit``)."""
    call = build_call(
        "CreateAcls", _calendar(user_id, calendar_id), body=acl_body(grantee_id, privilege, send_msg)
    )
    acl = yield call
    if not isinstance(acl.get("aclId"), str) or not acl["aclId"]:
        raise DingTalkAnswerError(call.operation, 200, None, "the answer has no aclId")
    return acl


def delete_acl(ctx: Context, user_id: str, acl_id: str, *, calendar_id: str = "primary") -> Flow[None]:
    """Stop sharing a calendar through one ACL (its ``aclId`` from :meth:`list_acls`)."""
    yield build_call("DeleteAcl", {**_calendar(user_id, calendar_id), "aclId": acl_id})
