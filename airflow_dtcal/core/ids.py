"""Ids and lists of ids as a DAG passes them (unionIds, userIds, event ids, attendee lists), checked.

Pure: no I/O, no Airflow. A value that breaks a rule raises :class:`InvalidArgumentError` naming the
argument, before any request is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from airflow_dtcal.core.errors import InvalidArgumentError

MAX_ATTENDEES_PER_CALL = 500
MAX_ATTENDEES_PER_EVENT = 5000
RESPONSE_STATUSES = ("needsAction", "accepted", "declined", "tentative")


def require_id(value: Any, field: str, *, hint: str = "") -> str:
    """A non-empty string id (unionId, event id, calendar id), stripped of surrounding white space."""
    if value is None:
        rule = "is required"
        if hint:
            rule += f"; {hint}"
        raise InvalidArgumentError(field, rule, value)
    if not isinstance(value, str):
        raise InvalidArgumentError(field, "must be a string id", value)
    stripped = value.strip()
    if not stripped or stripped.lower() == "none":
        rule = "must be a non-empty id"
        if hint:
            rule += f"; {hint}"
        raise InvalidArgumentError(field, rule, value)
    return stripped


def as_list(value: Any, field: str) -> list:
    if isinstance(value, str):
        raise InvalidArgumentError(
            field,
            "must be a list of ids, not one string (a Jinja template renders a list as text: pass "
            "the XComArg itself, e.g. upstream.output, or set render_template_as_native_obj=True on the DAG)",
            value,
        )
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise InvalidArgumentError(field, "must be a list", value)
    if isinstance(value, (set, frozenset)):  # no order of its own: take a canonical one, not the hash order
        return sorted(value, key=lambda item: (type(item).__name__, str(item)))
    return list(value)


def normalize_attendees(value: Any, field: str = "attendees", *, allow_empty: bool = False) -> list[dict]:
    """Ids or ``{"id", "isOptional"}`` dicts -> wire attendee dicts, validated.

    Rules: a list; each id a non-empty string; no id twice; at most 5,000 (DingTalk's per-event limit).
    """
    items = as_list(value, field)
    if not items and not allow_empty:
        raise InvalidArgumentError(field, "must name at least one attendee", value)
    if len(items) > MAX_ATTENDEES_PER_EVENT:
        raise InvalidArgumentError(
            field,
            f"has {len(items):,} attendees; DingTalk allows at most {MAX_ATTENDEES_PER_EVENT:,} per event",
        )
    seen: set[str] = set()
    result = []
    for i, item in enumerate(items):
        where = f"{field}[{i}]"
        optional = False
        if isinstance(item, Mapping):
            unknown = set(item) - {"id", "isOptional", "is_optional"}
            if unknown:
                raise InvalidArgumentError(
                    where, f"unknown keys {sorted(unknown)}; use 'id' and 'isOptional'"
                )
            optional = item.get("isOptional", item.get("is_optional", False))
            if not isinstance(optional, bool):
                raise InvalidArgumentError(f"{where}.isOptional", "must be true or false", optional)
            item = item.get("id")
        if not isinstance(item, str):
            raise InvalidArgumentError(where, "must be a string unionId", item)
        attendee_id = item.strip()
        if not attendee_id:
            raise InvalidArgumentError(where, "must be a non-empty unionId", item)
        if attendee_id in seen:
            raise InvalidArgumentError(where, f"duplicates attendee {attendee_id!r}")
        seen.add(attendee_id)
        result.append({"id": attendee_id, "isOptional": optional})
    return result


def normalize_attendee_ids(
    value: Any, field: str = "attendee_ids", *, allow_empty: bool = False
) -> list[str]:
    """A list of attendee ids (or attendee dicts) -> list of ids, with the same rules."""
    return [a["id"] for a in normalize_attendees(value, field, allow_empty=allow_empty)]


def chunked(items: Sequence, size: int = MAX_ATTENDEES_PER_CALL) -> Iterator[Sequence]:
    """Consecutive slices of at most ``size`` items."""
    if size < 1:
        raise InvalidArgumentError("chunk_size", "must be at least 1", size)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def validate_response_status(value: Any, field: str = "response_status") -> str:
    if value not in RESPONSE_STATUSES:
        raise InvalidArgumentError(field, f"must be one of {', '.join(RESPONSE_STATUSES)}", value)
    return value


def whole_number(value: Any, field: str, *, low: int = 1, high: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise InvalidArgumentError(field, f"must be a whole number {bound}", value)
    return value
