"""Operators for calendars and their sharing, and the escape hatch to any documented operation.

* :class:`DingTalkCalendarApiOperator`: any operation of the documented table by name (``call_api``);
* :class:`SyncCalendarAclOperator`: make a calendar's sharing equal to a desired table of (person,
  privilege), e.g. a team calendar provisioned from an HR roster;
* :class:`EnsureSubscribedCalendarOperator`, :class:`UpdateSubscribedCalendarOperator`,
  :class:`DeleteSubscribedCalendarOperator`, :class:`SubscribeCalendarOperator`,
  :class:`UnsubscribeCalendarOperator`: subscribed (team/public) calendars.

Importing this module is cheap (the scheduler does it on every DAG parse): the hook and the planning code
are imported only when a task runs. People are unionIds, or see ``id_type`` (resolved in ``execute()``,
before anything is sent); return values name people by unionId.

DingTalk takes no ``x-client-token`` for calendar, subscription and ACL writes, so these operators refuse
``client_token`` (it could not be honoured) and are idempotent by what they read first instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dtcal.operators.arguments import IDS, ONE, People, checked_by, optional
from airflow_dtcal.operators.base import DingTalkCalendarBaseOperator, Execution, check_flags

if TYPE_CHECKING:
    from airflow.sdk import XComArg

__all__ = [
    "DeleteSubscribedCalendarOperator",
    "DingTalkCalendarApiOperator",
    "EnsureSubscribedCalendarOperator",
    "SubscribeCalendarOperator",
    "SyncCalendarAclOperator",
    "UnsubscribeCalendarOperator",
    "UpdateSubscribedCalendarOperator",
]

#: The desired sharing: ``{person: privilege}`` or rows ``{"id", "privilege"}`` / ``[person, privilege]``,
#: read as ``[{"id", "privilege"}]`` so the people in it resolve by ``id_type`` like attendees.
SHARING = People("attendees", allow_empty=True, check=checked_by("airflow_dtcal.operators.calendars:sharing_rows"))


def sharing_rows(value: Any, argument: str) -> list[dict]:
    """The desired sharing table checked (:func:`~airflow_dtcal.planning.sharing.desired_sharing`), as rows."""
    from airflow_dtcal.planning.sharing import desired_sharing

    return [{"id": person, "privilege": privilege} for person, privilege in desired_sharing(value, argument).items()]


class _NoIdempotencyKey(DingTalkCalendarBaseOperator):
    """An operator whose writes DingTalk takes no ``x-client-token`` for: ``client_token`` is refused."""

    def argument_rules(self) -> dict[str, Any]:
        from airflow_dtcal.core.errors import InvalidArgumentError

        owner = type(self).__name__

        def no_token(value: Any, argument: str) -> None:
            if value is not None:
                raise InvalidArgumentError(
                    argument, f"does not apply: DingTalk takes no idempotency key for the writes of {owner}"
                )

        return {**super().argument_rules(), "client_token": no_token}


# --------------------------------------------------------------------------------------------- escape hatch


class DingTalkCalendarApiOperator(DingTalkCalendarBaseOperator):
    """Send any documented DingTalk Calendar operation by name and return its answer (the escape hatch for
    what has no operator of its own: ``ListCategories``, ``MeetingRoomRespond``, ``ListInstances``...).

    The operation table (:mod:`airflow_dtcal.core.operations`) gives its method, path, idempotency header
    and answer shape; the request goes through the hook's machinery (token, pacing, monthly budget,
    retries, bounded and checked answers, typed errors). Everything is checked before any request: an
    unknown operation, a missing or unexpected path parameter or a value that is not plain JSON fails the
    task naming it.

    :param operation: the operation's SDK name, e.g. ``"ListInstances"``. (templated)
    :param path_params: the path parameters by wire name, e.g. ``{"eventId": create.output}``. (templated)
    :param user_id: the person of the path's ``{userId}`` (a unionId, or see ``id_type``); give it here,
        not in ``path_params``, to have it resolved from a userId or mobile. (templated)
    :param calendar_id: fills the path's ``{calendarId}`` when ``path_params`` does not; refused for an
        operation without one unless it is the default ``primary``. (templated)
    :param query: the query parameters (strings, numbers, booleans). (templated)
    :param body: the JSON body of a POST or PUT. (templated)
    :param client_token: the ``x-client-token`` of an operation that takes one (derived from the task
        instance and try number when not given; refused for the others). (templated)
    :param id_type: for ``user_id``.
    """

    people = {"user_id": ONE(optional=True)}
    writes = ("CallApi",)
    rules = {"operation": checked_by("airflow_dtcal.core.operations:check_operation")}
    template_fields: Sequence[str] = (
        "operation",
        "path_params",
        "user_id",
        "query",
        "body",
        "calendar_id",
        "client_token",
        "dingtalk_conn_id",
    )

    def __init__(
        self,
        *,
        operation: str,
        path_params: dict[str, Any] | None = None,
        user_id: str | XComArg | None = None,
        query: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.operation = operation
        self.path_params = path_params
        self.user_id = user_id
        self.query = query
        self.body = body

    def _path_params(self, ex: Execution, user: str | None) -> dict[str, Any]:
        from airflow_dtcal.core.errors import InvalidArgumentError
        from airflow_dtcal.core.operations import operation

        row = operation(ex.operation)
        given = self.path_params if self.path_params is not None else {}
        if not isinstance(given, dict):
            raise InvalidArgumentError("path_params", "must be a dict of path parameters", given)
        params = dict(given)
        if user is not None:
            if "userId" not in row.path_params:
                raise InvalidArgumentError("user_id", f"does not apply: {row.name}'s path names no user")
            if "userId" in params:
                raise InvalidArgumentError("user_id", "is given twice: as user_id and as path_params.userId")
            params["userId"] = user
        if "calendarId" in row.path_params:
            params.setdefault("calendarId", ex.calendar_id)
        elif ex.calendar_id != "primary":
            raise InvalidArgumentError("calendar_id", f"does not apply: {row.name}'s path names no calendar")
        return params

    def check(self, ex: Execution) -> dict[str, Any]:
        from airflow_dtcal.core.operations import build_call, operation

        row = operation(ex.operation)
        # The whole call, checked now (the person as given: a valid segment either way).
        build_call(row.name, self._path_params(ex, ex.user_id), self.query, self.body, self.client_token)
        return {"row": row}

    def expected_calls(self, ex: Execution) -> int:
        return 1 if ex.row.counted else 0

    def run(self, ex: Execution) -> Any:
        row = ex.row
        params = self._path_params(ex, ex.user_id)
        token = None
        if row.client_token:
            token = ex.token("CallApi", [row.name, params, self.query, self.body])
        answer = ex.hook.call_api(row.name, params, self.query, self.body, client_token=token)
        self.log.info("DingTalk %s answered%s", row.name, "" if answer is not None else " with no body")
        return answer


# --------------------------------------------------------------------------------------------- sharing


class SyncCalendarAclOperator(_NoIdempotencyKey):
    """Make a calendar's sharing equal to a desired table of (person, privilege): grant who is missing,
    change who holds another privilege, and (with ``revoke_unlisted``) revoke who is not listed.

    The calendar's ACLs are listed first, so only the difference is sent; a second run with the same table
    sends nothing but the listing. Revocations go first (so a calendar near DingTalk's 500 sharers has
    room), then grants. DingTalk has no call to change a privilege: a change revokes the person's ACL and
    grants the new privilege (between the two they briefly hold none). A person found with several ACLs
    keeps one at the wanted privilege; the others are revoked.

    **What is ours.** DingTalk's ACLs carry no mark of who granted them, so the operator does not guess:
    by default it touches only the people in the table (their privilege is what the table says) and leaves
    everyone else's sharing alone, whoever granted it. With ``revoke_unlisted=True`` the table is the
    calendar's whole sharing: everyone not in it loses access (use it for a calendar only this task shares,
    such as a team calendar provisioned from a roster, so leavers lose access). The calendar's owner needs
    no ACL: listed, they are left out (and logged).

    Returns ``{"added": [ids], "changed": [ids], "removed": [ids], "unchanged": n}`` by unionId.

    :param owner_id: the calendar's owner: the person whose primary calendar it is, or a subscribed
        calendar's author or manager; a unionId, or see ``id_type``. (templated)
    :param sharing: the desired table: ``{person: privilege}``, or rows ``{"id", "privilege"}`` or
        ``[person, privilege]`` (an upstream XComArg works); privileges are ``free_busy_reader``,
        ``title_reader``, ``reader`` and ``writer``; at most 500 people. (templated)
    :param calendar_id: ``primary`` (the owner's) or a subscribed calendar's id. (templated)
    :param revoke_unlisted: revoke everyone not in ``sharing`` (default False: leave them alone).
    :param send_msg: tell people granted access (DingTalk's default when None).
    :param id_type: for ``owner_id`` and the people of ``sharing``. :param on_unknown: for ``sharing``.
    """

    people = {"owner_id": ONE, "sharing": SHARING}
    template_fields: Sequence[str] = ("owner_id", "sharing", "calendar_id", "dingtalk_conn_id")

    def __init__(
        self,
        *,
        owner_id: str | XComArg,
        sharing: Any,
        revoke_unlisted: bool = False,
        send_msg: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.owner_id = owner_id
        self.sharing = sharing
        self.revoke_unlisted = revoke_unlisted
        self.send_msg = send_msg

    def check(self, ex: Execution) -> None:
        from airflow_dtcal.core.errors import InvalidArgumentError

        if not isinstance(self.revoke_unlisted, bool):
            raise InvalidArgumentError("revoke_unlisted", "must be true or false", self.revoke_unlisted)
        check_flags(self, "send_msg")

    def run(self, ex: Execution) -> dict[str, Any]:
        from airflow_dtcal.exceptions import DingTalkInvalidArgumentError
        from airflow_dtcal.planning.sharing import MAX_SHARERS, acl_person, plan_acls

        owner, calendar, hook = ex.owner_id, ex.calendar_id, ex.hook
        desired: dict[str, str] = {}
        for row in ex.sharing:  # people as unionIds now: two ids of one person must agree
            if desired.get(row["id"], row["privilege"]) != row["privilege"]:
                raise DingTalkInvalidArgumentError(
                    "sharing", f"names {row['id']!r} twice (as two ids) with different privileges"
                )
            desired[row["id"]] = row["privilege"]
        if desired.pop(owner, None) is not None:
            self.log.info("Leaving the calendar's owner %s out of the sharing table: owners need no ACL", owner)
        current = hook.list_acls(owner, calendar_id=calendar)
        plan = plan_acls(current, desired, revoke_unlisted=self.revoke_unlisted)
        people_after = {acl_person(a) for a in current} - set(plan.removed) - {None}
        if len(people_after | set(plan.added)) > MAX_SHARERS:
            raise DingTalkInvalidArgumentError(
                "sharing",
                f"would share the calendar with {len(people_after | set(plan.added))} people, more than "
                f"DingTalk's {MAX_SHARERS}; revoke_unlisted=True drops the people not listed",
            )
        if plan.revoke:
            hook.run_many(lambda acl_id: hook.delete_acl(owner, acl_id, calendar_id=calendar), plan.revoke)
        if plan.grant:
            hook.run_many(
                lambda item: hook.add_acl(owner, item[0], item[1], calendar_id=calendar, send_msg=self.send_msg),
                list(plan.grant.items()),
            )
        summary = plan.summary()
        self.log.info(
            "Synced the sharing of calendar %s: %d added, %d changed, %d removed, %d unchanged",
            calendar,
            len(plan.added),
            len(plan.changed),
            len(plan.removed),
            plan.unchanged,
        )
        return summary
