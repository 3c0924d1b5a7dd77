"""The user directory: seeded users (userId, unionId, mobile, name, active) that the legacy contacts
endpoints look up and the calendar uses for display names. Empty unless seeded; ``reset()`` empties it.

``active`` is DingTalk's flag "has activated DingTalk" (logged in at least once), not "still employed": an
inactive user is a member like any other. A person who leaves is removed (:func:`remove_users`), as
DingTalk removes them from the organisation's contacts; lookups of them then answer 60121.

Users live in ``state.users`` (userId -> user, in seed order). Functions that take a :class:`State` expect
the caller to hold ``state.lock``, except ``seed_users`` and ``list_users``, which take it.
"""

from __future__ import annotations

from typing import Any

from airflow_dtcal.testing.emulator.state import State

FIELDS = ("userId", "unionId", "mobile", "name", "active")


def _check_user(item: Any, where: str) -> dict:
    if not isinstance(item, dict):
        raise ValueError(f"{where} must be an object {{userId, unionId, mobile, name, active}}")
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise ValueError(f"{where}.{unknown[0]} is not a user field; expected {', '.join(FIELDS)}")
    user: dict[str, Any] = {}
    for name in ("userId", "unionId"):
        value = item.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}.{name} is required and must be a non-empty string")
        user[name] = value
    for name in ("mobile", "name"):
        value = item.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"{where}.{name} must be a non-empty string when given")
        user[name] = value
    active = item.get("active", True)
    if not isinstance(active, bool):
        raise ValueError(f"{where}.active must be a boolean")
    user["active"] = active
    return user


def seed_users(state: State, users: Any) -> list[str]:
    """Add users (a list, or ``{"users": [...]}``); returns their userIds. All or none are added.

    ``ValueError`` names the user and the field: userId, unionId and mobile must be unique.
    """
    if isinstance(users, dict) and set(users) == {"users"}:
        users = users["users"]
    if not isinstance(users, list):
        raise ValueError("users must be a list of users or {'users': [...]}")
    checked = [_check_user(item, f"users[{i}]") for i, item in enumerate(users)]
    with state.lock:
        taken = {name: {u[name] for u in state.users.values()} for name in ("userId", "unionId", "mobile")}
        for i, user in enumerate(checked):
            for name in ("userId", "unionId", "mobile"):
                if user[name] is not None and user[name] in taken[name]:
                    raise ValueError(f"users[{i}].{name} {user[name]!r} is already in the directory")
                taken[name].add(user[name])
        for user in checked:
            state.users[user["userId"]] = user
    return [user["userId"] for user in checked]


def remove_users(state: State, user_ids: Any) -> list[str]:
    """Remove people from the directory (they left the organisation); returns the userIds removed.

    ``ValueError`` when ``user_ids`` is not a list of strings; ids not in the directory are ignored."""
    if isinstance(user_ids, dict) and set(user_ids) == {"userIds"}:
        user_ids = user_ids["userIds"]
    if not isinstance(user_ids, list) or not all(isinstance(i, str) for i in user_ids):
        raise ValueError("userIds must be a list of strings")
    with state.lock:
        return [i for i in user_ids if state.users.pop(i, None) is not None]


def list_users(state: State) -> list[dict]:
    with state.lock:
        return [dict(user) for user in state.users.values()]


def by_union_id(state: State, union_id: str) -> dict | None:
    for user in state.users.values():
        if user["unionId"] == union_id:
            return user
    return None


def by_mobile(state: State, mobile: str) -> dict | None:
    for user in state.users.values():
        if user["mobile"] == mobile:
            return user
    return None


def display_name(state: State, union_id: str) -> str:
    """The directory's name for a calendar user (a unionId), else ``User <unionId>``."""
    user = by_union_id(state, union_id) if state.users else None
    if user is not None and user["name"]:
        return user["name"]
    return f"User {union_id}"
