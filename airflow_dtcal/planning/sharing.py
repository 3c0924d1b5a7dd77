"""Calendars and their sharing, as DingTalk takes them: subscribed-calendar bodies, ACL grants, and the plan
that brings a calendar's ACLs in line with a desired table of (person, privilege).

Pure: no I/O, no Airflow. Bad input raises :class:`~airflow_dtcal.core.errors.InvalidArgumentError` naming
the argument, before any request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.ids import as_list, normalize_attendee_ids, require_id

#: What a calendar may be shared at, least first [DOC create-schedule-access-control].
PRIVILEGES = ("free_busy_reader", "title_reader", "reader", "writer")
#: People a calendar may be shared with; one more is refused with ``shareExceedLimit`` [DOC].
MAX_SHARERS = 500
#: A subscribed calendar's name and description [DOC create-subscription-calendar].
MAX_NAME = 128
MAX_DESCRIPTION = 1024
#: The keys of ``subscribeScope`` [SDK CreateSubscribedCalendarRequestSubscribeScope].
SCOPE_KEYS = ("unionIds", "openConversationIds", "corpIds")
#: Ids per ``managers`` and per ``subscribeScope`` list: DingTalk documents none; this bounds a request.
MAX_SCOPE_IDS = 500


def check_privilege(value: Any, field_name: str = "privilege") -> str:
    if value not in PRIVILEGES:
        raise InvalidArgumentError(field_name, f"must be one of {', '.join(PRIVILEGES)}", value)
    return value


def acl_body(grantee_id: Any, privilege: Any, send_msg: Any = None) -> dict[str, Any]:
    """CreateAcls' body: share with one person (a unionId) at ``privilege``."""
    body: dict[str, Any] = {
        "privilege": check_privilege(privilege),
        "scope": {"scopeType": "user", "userId": require_id(grantee_id, "grantee_id")},
    }
    if send_msg is not None:
        if not isinstance(send_msg, bool):
            raise InvalidArgumentError("send_msg", "must be true, false or None", send_msg)
        body["sendMsg"] = send_msg
    return body


def _text(value: Any, field_name: str, high: int, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidArgumentError(
            field_name, "must be a non-empty string" if required else "must be a string"
        )
    if len(value) > high:
        raise InvalidArgumentError(field_name, f"must be at most {high} characters", len(value))
    return value


def _ids(value: Any, field_name: str) -> list[str]:
    ids = normalize_attendee_ids(value, field_name, allow_empty=True)
    if len(ids) > MAX_SCOPE_IDS:
        raise InvalidArgumentError(field_name, f"at most {MAX_SCOPE_IDS} ids", len(ids))
    return ids


def subscribe_scope(value: Any, field_name: str = "subscribe_scope") -> dict[str, list[str]]:
    """``subscribeScope``: who may subscribe, ``{"unionIds", "openConversationIds", "corpIds"}`` lists."""
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(field_name, f"must be a dict with any of {', '.join(SCOPE_KEYS)}", value)
    unknown = sorted(str(key) for key in value if key not in SCOPE_KEYS)
    if unknown:
        raise InvalidArgumentError(
            field_name, f"has no key {', '.join(unknown)} (keys: {', '.join(SCOPE_KEYS)})"
        )
    return {key: _ids(value[key], f"{field_name}.{key}") for key in SCOPE_KEYS if value.get(key) is not None}


def subscribed_calendar_body(
    name: Any = None,
    description: Any = None,
    managers: Any = None,
    scope: Any = None,
    *,
    partial: bool = False,
) -> dict[str, Any]:
    """The body of CreateSubscribedCalendar (``name`` required) or, with ``partial``, of
    UpdateSubscribedCalendars (the fields given, at least one)."""
    body: dict[str, Any] = {}
    checked_name = _text(name, "name", MAX_NAME, required=not partial)
    if checked_name is not None:
        body["name"] = checked_name
    checked_description = _text(description, "description", MAX_DESCRIPTION, required=False)
    if checked_description is not None:
        body["description"] = checked_description
    if managers is not None:
        body["managers"] = _ids(managers, "managers")
    if scope is not None:
        body["subscribeScope"] = subscribe_scope(scope)
    if partial and not body:
        raise InvalidArgumentError(
            "changes", "give at least one of name, description, managers, subscribe_scope"
        )
    return body


# --------------------------------------------------------------------------------------------- the ACL plan


def desired_sharing(value: Any, field_name: str = "sharing") -> dict[str, str]:
    """A desired table of sharing: ``{person: privilege}``, or a list of ``{"id", "privilege"}`` dicts (or
    ``[id, privilege]`` pairs, as rows of a roster), each person once."""
    if isinstance(value, Mapping):
        rows: Iterable[Any] = [(key, privilege) for key, privilege in value.items()]
    else:
        rows = as_list(value, field_name)
    out: dict[str, str] = {}
    for index, row in enumerate(rows):
        where = f"{field_name}[{index}]"
        if isinstance(row, Mapping):
            person, privilege = row.get("id"), row.get("privilege")
        elif isinstance(row, (list, tuple)) and len(row) == 2:
            person, privilege = row
        else:
            raise InvalidArgumentError(
                where, "must be {'id': person, 'privilege': ...} or [person, privilege]", row
            )
        person = require_id(person, f"{where}.id")
        privilege = check_privilege(privilege, f"{where}.privilege")
        if person in out:
            raise InvalidArgumentError(where, f"names {person!r} twice", row)
        out[person] = privilege
    if len(out) > MAX_SHARERS:
        raise InvalidArgumentError(field_name, f"at most {MAX_SHARERS} people (DingTalk's limit)", len(out))
    return out


def acl_person(acl: Mapping[str, Any]) -> str | None:
    """The person an ACL shares with (a ``user`` scope), else None."""
    scope = acl.get("scope")
    if isinstance(scope, Mapping) and scope.get("scopeType", "user") == "user":
        person = scope.get("userId")
        return person if isinstance(person, str) and person else None
    return None


@dataclass
class AclPlan:
    """What to send: ``revoke`` (aclIds, sent first, so a calendar near 500 sharers has room), then
    ``grant`` (person -> privilege; a privilege change is a revoke of the old ACL and a grant)."""

    grant: dict[str, str] = field(default_factory=dict)
    revoke: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def calls(self) -> int:
        return len(self.grant) + len(self.revoke)

    def summary(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
        }


def plan_acls(
    current: Iterable[Mapping[str, Any]], desired: Mapping[str, str], *, revoke_unlisted: bool
) -> AclPlan:
    """Bring ``current`` ACLs (ListAcls' ``acls``) in line with ``desired`` (``{unionId: privilege}``).

    A listed person without an ACL is granted; one with another privilege is changed (old ACL revoked,
    new one granted: DingTalk has no call to change a privilege); one with several ACLs keeps one at the
    wanted privilege and the rest are revoked. With ``revoke_unlisted``, every person not listed loses their
    ACLs; without it they are left alone. ACLs not for one person (another scope type) are never touched.
    """
    held: dict[str, list[Mapping[str, Any]]] = {}
    for acl in current:
        person = acl_person(acl)
        if person is not None and isinstance(acl.get("aclId"), str):
            held.setdefault(person, []).append(acl)
    plan = AclPlan()
    for person, privilege in desired.items():
        acls = held.get(person, [])
        keep = next((a for a in acls if a.get("privilege") == privilege), None)
        plan.revoke.extend(a["aclId"] for a in acls if a is not keep)
        if keep is not None:
            plan.unchanged += 1
            continue
        plan.grant[person] = privilege
        (plan.changed if acls else plan.added).append(person)
    if revoke_unlisted:
        for person, acls in held.items():
            if person not in desired:
                plan.removed.append(person)
                plan.revoke.extend(a["aclId"] for a in acls)
    return plan


def check_subscribed_calendar_id(value: Any, field_name: str = "calendar_id") -> str:
    """A subscribed calendar's id (not ``primary``, which is a person's own calendar)."""
    calendar_id = require_id(value, field_name)
    if calendar_id == "primary":
        raise InvalidArgumentError(
            field_name, "must name a subscribed calendar (e.g. ensure.output), not primary"
        )
    return calendar_id
