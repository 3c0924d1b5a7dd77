"""Calendars, subscribed (team/public) calendars and ACLs (sharing).

DingTalk documents the fields, the privileges, the 500-sharer limit (``shareExceedLimit``) and the
subscription limit's error (``exceedSubscribeLimit``) [create-schedule-access-control,
create-subscription-calendar, subscribe-to-a-public-calendar]. What it leaves open is chosen here
conservatively and listed in docs/emulator.md:

* every user has a ``primary`` calendar, which only they share (the path user is the owner);
* a subscribed calendar is read by its author, managers, subscribers and people it is shared with, changed
  (and shared) by its author or a manager, deleted by its author only; anyone else gets ``noPermission``
  (403) for a write and ``calendarNotExist`` (404) for a read, so its existence does not leak;
* the author is subscribed when the calendar is created; subscribing needs the person to be the author, a
  manager, named in ``subscribeScope.unionIds``, or any ``corpIds`` to be given (one organisation here:
  everyone is in it); ``openConversationIds`` are stored but grant nobody (no group chats here); a user
  subscribes to at most :data:`MAX_SUBSCRIPTIONS` calendars;
* sharing with the calendar's owner (or author) is refused; sharing again with someone who holds an ACL
  replaces its privilege and keeps its ``aclId``; ACLs are listed in the order granted, all on one page;
* ListCalendars lists the primary calendar, the subscribed ones and the subscribed calendars shared with
  the user (``shared``); another person's primary calendar shared with the user is not listed (DingTalk does
  not document the id it would have).

Each handler runs with ``state.lock`` held, like those in ``operations.py``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from airflow_dtcal.testing.emulator import directory
from airflow_dtcal.testing.emulator.errors import ApiError, invalid
from airflow_dtcal.testing.emulator.state import State

Result = tuple[int, Any]
PRIVILEGES = ("free_busy_reader", "title_reader", "reader", "writer")
MAX_SHARERS = 500
MAX_NAME = 128
MAX_DESCRIPTION = 1024
SCOPE_KEYS = ("unionIds", "openConversationIds", "corpIds")
#: Undocumented numbers, the emulator's choice: ids per managers/scope list, subscriptions per user.
MAX_IDS = 500
MAX_SUBSCRIPTIONS = 100
TIME_ZONE = "Asia/Shanghai"

# ----------------------------------------------------------------------------------------- routing

#: ``/v1.0/calendar/users/{userId}/<rest>`` -> operation, by method and the shape of ``rest``
#: (``*`` is an id).
ROUTES = {
    ("GET", ("calendars",)): "ListCalendars",
    ("POST", ("subscribedCalendars",)): "CreateSubscribedCalendar",
    ("GET", ("subscribedCalendars", "*")): "GetSubscribedCalendar",
    ("PUT", ("subscribedCalendars", "*")): "UpdateSubscribedCalendars",
    ("DELETE", ("subscribedCalendars", "*")): "DeleteSubscribedCalendar",
    ("POST", ("calendars", "*", "subscribe")): "SubscribeCalendar",
    ("POST", ("calendars", "*", "unsubscribe")): "UnsubscribeCalendar",
    ("POST", ("calendars", "*", "acls")): "CreateAcls",
    ("GET", ("calendars", "*", "acls")): "ListAcls",
    ("DELETE", ("calendars", "*", "acls", "*")): "DeleteAcl",
}
_ID_NAMES = {1: ("calendarId", "calendar"), 3: ("aclId", "acl")}


def route(method: str, segs: list[str]) -> tuple[str, dict] | None:
    """``(operation, path ids)`` of a calendar/ACL path (decoded segments), or None when it is not one."""
    if len(segs) < 5 or segs[:3] != ["v1.0", "calendar", "users"]:
        return None
    rest = segs[4:]
    shape = tuple("*" if i in _ID_NAMES else part for i, part in enumerate(rest))
    operation = ROUTES.get((method, shape))
    if operation is None:
        return None
    params = {}
    for field, key, value in (
        ("userId", "user", segs[3]),
        *((name, key, rest[i]) for i, (name, key) in _ID_NAMES.items() if i < len(rest)),
    ):
        if value == "" or value in (".", ".."):
            raise invalid(f"{field} in the path must not be {value!r}")
        params[key] = value
    return operation, params


# ----------------------------------------------------------------------------------------- errors


def _no_calendar() -> ApiError:
    return ApiError(404, "calendarNotExist", "The calendar does not exist or is not visible to this user.")


def _no_permission(what: str) -> ApiError:
    return ApiError(403, "Forbidden.AccessDenied.NoPermission", f"This user may not {what}.")


# ----------------------------------------------------------------------------------------- bodies


def _object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    return body


def _text(body: dict, name: str, high: int, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"{name} is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(f"{name} must be a non-empty string")
    if len(value) > high:
        raise invalid(f"{name} must be at most {high} characters")
    return value


def _ids(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_IDS:
        raise invalid(f"{name} must be an array of at most {MAX_IDS} ids")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise invalid(f"{name}[{i}] must be a non-empty string")
    return list(dict.fromkeys(value))


def _fields(body: dict, partial: bool) -> dict:
    out: dict[str, Any] = {}
    for name, high in (("name", MAX_NAME), ("description", MAX_DESCRIPTION)):
        value = _text(body, name, high, required=name == "name" and not partial)
        if value is not None:
            out[name] = value
    if body.get("managers") is not None:
        out["managers"] = _ids(body["managers"], "managers")
    scope = body.get("subscribeScope")
    if scope is not None:
        if not isinstance(scope, dict):
            raise invalid("subscribeScope must be an object {unionIds, openConversationIds, corpIds}")
        unknown = sorted(set(scope) - set(SCOPE_KEYS))
        if unknown:
            raise invalid(f"subscribeScope.{unknown[0]} is not a field; expected {', '.join(SCOPE_KEYS)}")
        out["subscribeScope"] = {
            key: _ids(scope[key], f"subscribeScope.{key}") for key in SCOPE_KEYS if scope.get(key) is not None
        }
    return out


# ----------------------------------------------------------------------------------------- lookups


def _subscribed(state: State, calendar_id: str) -> dict:
    cal = state.calendars.get(calendar_id)
    if cal is None:
        raise _no_calendar()
    return cal


def _may_manage(cal: dict, user: str) -> bool:
    return user == cal["author"] or user in cal["managers"]


def _may_read(state: State, cal: dict, user: str) -> bool:
    return (
        _may_manage(cal, user)
        or user in cal["subscribers"]
        or _acl_of(state, ("sub", cal["calendarId"]), user) is not None
    )


def _acl_of(state: State, key: tuple, user: str) -> dict | None:
    return next((a for a in state.acls.get(key, {}).values() if a["scope"]["userId"] == user), None)


def _acl_key(state: State, user: str, calendar_id: str, what: str) -> tuple[tuple, str]:
    """The ACL table of a calendar the path user may share, and the calendar's owner."""
    if calendar_id == "primary":
        return ("primary", user), user
    cal = _subscribed(state, calendar_id)
    if not _may_manage(cal, user):
        if _may_read(state, cal, user):
            raise _no_permission(what)
        raise _no_calendar()
    return ("sub", calendar_id), cal["author"]


def _render(cal: dict) -> dict:
    return {
        "calendarId": cal["calendarId"],
        "name": cal["name"],
        "description": cal.get("description", ""),
        "author": cal["author"],
        "managers": list(cal["managers"]),
        "subscribeScope": {k: list(v) for k, v in cal["subscribeScope"].items()},
    }


def _etag(item: dict) -> str:
    return hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------------------- handlers


def list_calendars(state: State, p: dict, q: dict, body: Any) -> Result:
    user = p["user"]
    out = [
        {
            "id": "primary",
            "summary": directory.display_name(state, user),
            "description": "",
            "timeZone": TIME_ZONE,
            "type": "primary",
            "privilege": "owner",
        }
    ]
    for cal in state.calendars.values():
        acl = _acl_of(state, ("sub", cal["calendarId"]), user)
        if user in cal["subscribers"]:
            kind = "subscribed"
            privilege = "owner" if _may_manage(cal, user) else acl["privilege"] if acl else "reader"
        elif acl is not None:
            kind, privilege = "shared", acl["privilege"]
        else:
            continue
        out.append(
            {
                "id": cal["calendarId"],
                "summary": cal["name"],
                "description": cal.get("description", ""),
                "timeZone": TIME_ZONE,
                "type": kind,
                "privilege": privilege,
            }
        )
    for item in out:
        item["eTag"] = _etag(item)
    return 200, {"response": {"calendars": out}}


def create_subscribed_calendar(state: State, p: dict, q: dict, body: Any) -> Result:
    fields = _fields(_object(body), partial=False)
    user = p["user"]
    if len(state.subscriptions.get(user, ())) >= MAX_SUBSCRIPTIONS:
        raise ApiError(
            400, "exceedSubscribeLimit", f"A user subscribes to at most {MAX_SUBSCRIPTIONS} calendars."
        )
    calendar_id = "sub_" + uuid.uuid4().hex
    state.calendars[calendar_id] = {
        "calendarId": calendar_id,
        "name": fields["name"],
        "description": fields.get("description", ""),
        "author": user,
        "managers": fields.get("managers", []),
        "subscribeScope": fields.get("subscribeScope", {}),
        "subscribers": {user: None},
    }
    state.subscriptions.setdefault(user, {})[calendar_id] = None
    return 200, {"calendarId": calendar_id}


def get_subscribed_calendar(state: State, p: dict, q: dict, body: Any) -> Result:
    cal = _subscribed(state, p["calendar"])
    if not _may_read(state, cal, p["user"]):
        raise _no_calendar()
    return 200, _render(cal)


def update_subscribed_calendar(state: State, p: dict, q: dict, body: Any) -> Result:
    fields = _fields(_object(body), partial=True)
    cal = _subscribed(state, p["calendar"])
    if not _may_manage(cal, p["user"]):
        raise _no_permission("change this calendar") if _may_read(state, cal, p["user"]) else _no_calendar()
    if not fields:
        raise invalid("Give at least one of name, description, managers, subscribeScope")
    cal.update(fields)
    return 200, {"result": True}


def delete_subscribed_calendar(state: State, p: dict, q: dict, body: Any) -> Result:
    cal = _subscribed(state, p["calendar"])
    if p["user"] != cal["author"]:
        raise _no_permission("delete this calendar") if _may_read(state, cal, p["user"]) else _no_calendar()
    del state.calendars[p["calendar"]]
    state.acls.pop(("sub", p["calendar"]), None)
    for user in cal["subscribers"]:
        state.subscriptions.get(user, {}).pop(p["calendar"], None)
    return 200, {"result": True}


def subscribe_calendar(state: State, p: dict, q: dict, body: Any) -> Result:
    cal = _subscribed(state, p["calendar"])
    user = p["user"]
    scope = cal["subscribeScope"]
    allowed = _may_manage(cal, user) or user in scope.get("unionIds", []) or bool(scope.get("corpIds"))
    if not allowed:
        raise _no_permission("subscribe to this calendar (not in its subscribeScope)")
    if user in cal["subscribers"]:
        return 200, None
    if len(state.subscriptions.get(user, ())) >= MAX_SUBSCRIPTIONS:
        raise ApiError(
            400, "exceedSubscribeLimit", f"A user subscribes to at most {MAX_SUBSCRIPTIONS} calendars."
        )
    cal["subscribers"][user] = None
    state.subscriptions.setdefault(user, {})[p["calendar"]] = None
    return 200, None


def unsubscribe_calendar(state: State, p: dict, q: dict, body: Any) -> Result:
    cal = _subscribed(state, p["calendar"])
    cal["subscribers"].pop(p["user"], None)
    state.subscriptions.get(p["user"], {}).pop(p["calendar"], None)
    return 200, {"result": True}


def create_acl(state: State, p: dict, q: dict, body: Any) -> Result:
    body = _object(body)
    privilege = body.get("privilege")
    if privilege not in PRIVILEGES:
        raise invalid(f"privilege must be one of {', '.join(PRIVILEGES)}, got {privilege!r}")
    scope = body.get("scope")
    if not isinstance(scope, dict) or scope.get("scopeType") != "user":
        raise invalid("scope must be an object with scopeType 'user' and a userId")
    grantee = scope.get("userId")
    if not isinstance(grantee, str) or not grantee.strip():
        raise invalid("scope.userId is required and must be a non-empty string (a unionId)")
    if body.get("sendMsg") is not None and not isinstance(body["sendMsg"], bool):
        raise invalid("sendMsg must be a boolean")
    key, owner = _acl_key(state, p["user"], p["calendar"], "share this calendar")
    if grantee == owner:
        raise invalid("scope.userId is the calendar's owner, who needs no ACL")
    acls = state.acls.setdefault(key, {})
    acl = _acl_of(state, key, grantee)
    if acl is None:
        if len(acls) >= MAX_SHARERS:
            raise ApiError(
                400, "shareExceedLimit", f"A calendar is shared with at most {MAX_SHARERS} people."
            )
        acl = {"aclId": "acl_" + uuid.uuid4().hex, "scope": {"scopeType": "user", "userId": grantee}}
        acls[acl["aclId"]] = acl
    acl["privilege"] = privilege
    return 200, {"aclId": acl["aclId"], "privilege": privilege, "scope": dict(acl["scope"])}


def list_acls(state: State, p: dict, q: dict, body: Any) -> Result:
    key, _owner = _acl_key(state, p["user"], p["calendar"], "read this calendar's sharing")
    acls = state.acls.get(key, {}).values()
    return 200, {"acls": [{**acl, "scope": dict(acl["scope"])} for acl in acls]}


def delete_acl(state: State, p: dict, q: dict, body: Any) -> Result:
    key, _owner = _acl_key(state, p["user"], p["calendar"], "change this calendar's sharing")
    if state.acls.get(key, {}).pop(p["acl"], None) is None:
        raise ApiError(404, "aclNotExist", "The ACL does not exist on this calendar.")
    return 200, None


HANDLERS = {
    "ListCalendars": list_calendars,
    "CreateSubscribedCalendar": create_subscribed_calendar,
    "GetSubscribedCalendar": get_subscribed_calendar,
    "UpdateSubscribedCalendars": update_subscribed_calendar,
    "DeleteSubscribedCalendar": delete_subscribed_calendar,
    "SubscribeCalendar": subscribe_calendar,
    "UnsubscribeCalendar": unsubscribe_calendar,
    "CreateAcls": create_acl,
    "ListAcls": list_acls,
    "DeleteAcl": delete_acl,
}
