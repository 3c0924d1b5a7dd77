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

from airflow_dtcal.operators.arguments import IDS, ONE, People, checked_by
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
SHARING = People(
    "attendees", allow_empty=True, check=checked_by("airflow_dtcal.operators.calendars:sharing_rows")
)


def sharing_rows(value: Any, argument: str) -> list[dict]:
    """The desired sharing table checked (:func:`~airflow_dtcal.planning.sharing.desired_sharing`), as rows."""
    from airflow_dtcal.planning.sharing import desired_sharing

    return [
        {"id": person, "privilege": privilege}
        for person, privilege in desired_sharing(value, argument).items()
    ]


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
    what has no operator of its own: ``ListCategories``, ``ListEventsInstances``, ``SignIn``...).

    The operation table (:mod:`airflow_dtcal.core.operations`) gives its method, path, idempotency header
    and answer shape; the request goes through the hook's machinery (token, pacing, monthly budget,
    retries, bounded and checked answers, typed errors). Everything is checked before any request: an
    unknown operation, a missing or unexpected path parameter or a value that is not plain JSON fails the
    task naming it.

    :param operation: the operation's SDK name, e.g. ``"ListCategories"``. (templated)
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
        elif "userId" in params and self._user_id_type() != "unionId":
            raise InvalidArgumentError(
                "path_params", "names userId, which id_type does not resolve: give the person as user_id"
            )
        if "calendarId" in row.path_params:
            params.setdefault("calendarId", ex.calendar_id)
        elif ex.calendar_id != "primary":
            raise InvalidArgumentError("calendar_id", f"does not apply: {row.name}'s path names no calendar")
        return params

    def _user_id_type(self) -> str:
        from airflow_dtcal.operators.arguments import id_types

        return id_types(self.people, self.id_type, type(self).__name__)["user_id"]

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
            self.log.info(
                "Leaving the calendar's owner %s out of the sharing table: owners need no ACL", owner
            )
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
                lambda item: hook.add_acl(
                    owner, item[0], item[1], calendar_id=calendar, send_msg=self.send_msg
                ),
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


# --------------------------------------------------------------------------------------------- subscribed calendars

#: ``calendar_id`` of the operators that work on a subscribed calendar: not ``primary``.
SUBSCRIBED_CALENDAR = checked_by("airflow_dtcal.planning.sharing:check_subscribed_calendar_id")
#: The calendar part of a subscribed calendar's marker (a primary calendar's events use ``primary``).
MARKED_CALENDARS = "subscribedCalendars"


def _scope(members: list[str] | None, scope: Any) -> dict[str, list[str]] | None:
    """``subscribeScope`` from ``members`` (unionIds, resolved) and the raw ``subscribe_scope``."""
    from airflow_dtcal.core.errors import InvalidArgumentError
    from airflow_dtcal.planning.sharing import subscribe_scope

    if members is None and scope is None:
        return None
    out = subscribe_scope(scope if scope is not None else {})
    if members is not None:
        if "unionIds" in out:
            raise InvalidArgumentError(
                "members", "is given twice: as members and as subscribe_scope.unionIds"
            )
        out["unionIds"] = list(members)
    return out


class _SubscribedCalendarFields(_NoIdempotencyKey):
    """The fields of a subscribed calendar an operator sets: name, description, managers and who may
    subscribe (``members``, by ``id_type``, and the rest of ``subscribe_scope``)."""

    people = {
        "owner_id": ONE,
        "managers": IDS(optional=True, allow_empty=True),
        "members": IDS(optional=True, allow_empty=True),
    }
    template_fields: Sequence[str] = (
        "owner_id",
        "name",
        "description",
        "managers",
        "members",
        "subscribe_scope",
        "calendar_id",
        "dingtalk_conn_id",
    )

    def __init__(
        self,
        *,
        owner_id: str | XComArg,
        name: str | None = None,
        description: str | None = None,
        managers: Any = None,
        members: Any = None,
        subscribe_scope: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.owner_id = owner_id
        self.name = name
        self.description = description
        self.managers = managers
        self.members = members
        self.subscribe_scope = subscribe_scope

    def fields(self, ex: Execution, *, partial: bool) -> dict[str, Any]:
        """The wire fields (people resolved), checked."""
        from airflow_dtcal.planning.sharing import subscribed_calendar_body

        return subscribed_calendar_body(
            self.name,
            self.description,
            ex.managers,
            _scope(ex.members, self.subscribe_scope),
            partial=partial,
        )


def _marker_room(description: str | None) -> str:
    from airflow_dtcal.core.errors import InvalidArgumentError
    from airflow_dtcal.planning.markers import EVENT_MARKER_LENGTH, strip_marker_line
    from airflow_dtcal.planning.sharing import MAX_DESCRIPTION

    text = strip_marker_line(description)
    room = MAX_DESCRIPTION - EVENT_MARKER_LENGTH - 2
    if len(text) > room:
        raise InvalidArgumentError(
            "description", f"leaves no room for the key's marker; keep it within {room} characters"
        )
    return text


def _with_line(text: str, line: str) -> str:
    return f"{text}\n\n{line}" if text else line


class EnsureSubscribedCalendarOperator(_SubscribedCalendarFields):
    """Create a subscribed (team/public) calendar once per ``key``, or find the one created before, and
    bring its fields in line; returns its calendar id (``ensure.output`` feeds the sharing and subscribe
    operators).

    DingTalk takes no idempotency key for CreateSubscribedCalendar, so the calendar carries the key as a
    marker on the last line of its description: a keyed hash of the owner, the key and the calendar's own
    id under a key derived from the app secret (:mod:`airflow_dtcal.planning.markers`), which nobody else can
    make or copy onto another calendar. A run lists the owner's calendars (ListCalendars), takes the one whose
    marker verifies, and changes only the fields that differ (name, description, managers, subscribe scope);
    when there is none it creates the calendar, marks it (UpdateSubscribedCalendars) and subscribes the owner
    (so the calendar is listed for the owner on later runs). A run that stops between creating and marking
    leaves an unmarked calendar behind, which a later run does not recognise (it creates another): delete it
    by hand.

    :param owner_id: the calendar's author (a service account, say): a unionId, or see ``id_type``. (templated)
    :param key: what names the calendar across runs, e.g. ``"data-team-rota"``. (templated)
    :param name: the calendar's name (at most 128 characters). (templated)
    :param description: its description (at most 1,024 characters with the marker line). (templated)
    :param managers: people who may change and share it (unionIds, or see ``id_type``). (templated)
    :param members: people who may subscribe (``subscribeScope.unionIds``; see ``id_type``). (templated)
    :param subscribe_scope: the rest of who may subscribe: ``{"corpIds": [...], "openConversationIds": [...]}``.
        (templated)
    """

    on_calendar = False
    rules = {"key": checked_by("airflow_dtcal.planning.markers:check_event_key")}
    template_fields: Sequence[str] = ("key", *_SubscribedCalendarFields.template_fields)

    def __init__(self, *, key: str, name: str, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.key = key

    def check(self, ex: Execution) -> dict[str, Any]:
        self.fields(ex, partial=False)  # checked now, people as given; built again once they are resolved
        return {"text": _marker_room(self.description)}

    def run(self, ex: Execution) -> str:
        hook, owner = ex.hook, ex.owner_id
        markers = hook.markers()
        from airflow_dtcal.planning.markers import marker_words

        ours = [
            c["id"]
            for c in hook.list_calendars(owner)
            if c["id"] != "primary"
            and markers.event(owner, MARKED_CALENDARS, ex.key, c["id"]) in marker_words(c.get("description"))
        ]
        if len(ours) > 1:
            self.log.warning("Calendars %s all carry the key %r; keeping %s", ours, ex.key, ours[0])
        desired = self.fields(ex, partial=False)
        if not ours:
            calendar_id = hook.create_subscribed_calendar(
                owner,
                desired["name"],
                description=desired.get("description"),
                managers=desired.get("managers"),
                subscribe_scope=desired.get("subscribeScope"),
            )
            line = markers.event(owner, MARKED_CALENDARS, ex.key, calendar_id)
            hook.update_subscribed_calendar(owner, calendar_id, description=_with_line(ex.text, line))
            hook.subscribe_calendar(owner, calendar_id)
            self.log.info("Created subscribed calendar %s for key %r", calendar_id, ex.key)
            return calendar_id
        calendar_id = ours[0]
        line = markers.event(owner, MARKED_CALENDARS, ex.key, calendar_id)
        current = hook.get_subscribed_calendar(owner, calendar_id)
        desired["description"] = _with_line(ex.text, line)
        changes = {name: value for name, value in desired.items() if _differs(current.get(name), value)}
        if changes:
            hook.update_subscribed_calendar(
                owner,
                calendar_id,
                name=changes.get("name"),
                description=changes.get("description"),
                managers=changes.get("managers"),
                subscribe_scope=changes.get("subscribeScope"),
            )
            self.log.info(
                "Updated %s of subscribed calendar %s (key %r)",
                ", ".join(sorted(changes)),
                calendar_id,
                ex.key,
            )
        else:
            self.log.info("Subscribed calendar %s (key %r) is as wanted; nothing to do", calendar_id, ex.key)
        return calendar_id


def _differs(current: Any, wanted: Any) -> bool:
    """Whether a field DingTalk holds differs from the wanted one (lists compared as sets, absent as empty)."""
    if isinstance(wanted, dict):
        current = current if isinstance(current, dict) else {}
        return any(_differs(current.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return set(current or []) != set(wanted)
    return (current or "") != (wanted or "")


class UpdateSubscribedCalendarOperator(_SubscribedCalendarFields):
    """Change the fields given of a subscribed calendar (as its author or a manager); a list given replaces
    the one DingTalk holds. A key marker on the description's last line (see
    :class:`EnsureSubscribedCalendarOperator`) is kept when the description changes.

    :param owner_id: the calendar's author or a manager: a unionId, or see ``id_type``. (templated)
    :param calendar_id: the subscribed calendar, e.g. ``ensure.output``. (templated)
    :param name: :param description: :param managers: :param members: :param subscribe_scope: as for
        :class:`EnsureSubscribedCalendarOperator`; at least one. (templated)
    """

    rules = {"calendar_id": SUBSCRIBED_CALENDAR}

    def check(self, ex: Execution) -> None:
        self.fields(ex, partial=True)  # checked now, people as given; built again once they are resolved

    def run(self, ex: Execution) -> dict[str, Any]:
        from airflow_dtcal.planning.markers import marker_words

        hook, owner, calendar_id = ex.hook, ex.owner_id, ex.calendar_id
        changes = self.fields(ex, partial=True)
        if "description" in changes:
            kept = marker_words(hook.get_subscribed_calendar(owner, calendar_id).get("description"))
            text = _marker_room(changes["description"]) if kept else changes["description"]
            changes["description"] = _with_line(text, " ".join(kept)) if kept else text
        hook.update_subscribed_calendar(
            owner,
            calendar_id,
            name=changes.get("name"),
            description=changes.get("description"),
            managers=changes.get("managers"),
            subscribe_scope=changes.get("subscribeScope"),
        )
        return {"calendar_id": calendar_id, "changed": sorted(changes)}


class DeleteSubscribedCalendarOperator(_NoIdempotencyKey):
    """Delete a subscribed calendar as its author; returns whether it was there (a calendar already gone is
    not an error, so a retry after a lost answer succeeds).

    :param owner_id: the calendar's author: a unionId, or see ``id_type``. (templated)
    :param calendar_id: the subscribed calendar. (templated)
    """

    people = {"owner_id": ONE}
    template_fields: Sequence[str] = ("owner_id", "calendar_id", "dingtalk_conn_id")

    def __init__(self, *, owner_id: str | XComArg, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.owner_id = owner_id

    rules = {"calendar_id": SUBSCRIBED_CALENDAR}

    def run(self, ex: Execution) -> bool:
        from airflow_dtcal.exceptions import DingTalkNotFoundError

        try:
            ex.hook.delete_subscribed_calendar(ex.owner_id, ex.calendar_id)
        except DingTalkNotFoundError:
            self.log.info("Subscribed calendar %s is already gone", ex.calendar_id)
            return False
        return True


class _Subscription(_NoIdempotencyKey):
    people = {"subscribers": IDS(allow_empty=True)}
    template_fields: Sequence[str] = ("subscribers", "calendar_id", "dingtalk_conn_id")
    subscribe = True

    def __init__(self, *, subscribers: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.subscribers = subscribers

    rules = {"calendar_id": SUBSCRIBED_CALENDAR}

    def expected_calls(self, ex: Execution) -> int:
        return len(ex.subscribers)

    def run(self, ex: Execution) -> list[str]:
        hook, calendar_id = ex.hook, ex.calendar_id
        method = hook.subscribe_calendar if self.subscribe else hook.unsubscribe_calendar
        hook.run_many(lambda person: method(person, calendar_id), ex.subscribers)
        self.log.info(
            "%s %d people %s calendar %s",
            "Subscribed" if self.subscribe else "Unsubscribed",
            len(ex.subscribers),
            "to" if self.subscribe else "from",
            calendar_id,
        )
        return list(ex.subscribers)


class SubscribeCalendarOperator(_Subscription):
    """Subscribe people to a subscribed calendar (one call each; each must be in its subscribe scope);
    returns their unionIds. Subscribing someone already subscribed changes nothing.

    :param subscribers: the people: unionIds, or see ``id_type``. (templated)
    :param calendar_id: the subscribed calendar, e.g. ``ensure.output``. (templated)
    """


class UnsubscribeCalendarOperator(_Subscription):
    """Unsubscribe people from a subscribed calendar (one call each); returns their unionIds.

    :param subscribers: the people: unionIds, or see ``id_type``. (templated)
    :param calendar_id: the subscribed calendar. (templated)
    """

    subscribe = False
