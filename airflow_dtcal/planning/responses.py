"""When is waiting for attendee responses over? One pure answer shared by the sensor and the trigger.

Nothing here does I/O or imports Airflow. :func:`evaluate_responses` takes the attendee list DingTalk returns
(``[{id, responseStatus, ...}]``, the organizer included) and a condition, and says whether the condition
holds, whether a relevant attendee declined, or whether to keep waiting.

Conditions (the organizer never counts: DingTalk lists them as an attendee who has accepted):

``all_responded``
    nobody is left in ``needsAction`` (accepted, declined and tentative are all answers).
``min_accepted``
    at least ``min_accepted`` attendees accepted.
``accepted_by``
    every id in ``attendee_ids`` accepted (an id that is not invited yet keeps the wait going).

"Relevant" attendees, whose decline ends the wait when ``fail_on_decline`` is set, are everyone but the
organizer for ``all_responded`` and ``min_accepted``, and the ``attendee_ids`` for ``accepted_by``. A
decline is checked before the condition: with ``fail_on_decline`` a relevant decline wins even when the
condition also holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.ids import RESPONSE_STATUSES, normalize_attendee_ids, require_id

CONDITIONS = ("all_responded", "min_accepted", "accepted_by")

#: ``ResponseCheck.outcome`` values.
WAITING = "waiting"
MET = "met"
DECLINED = "declined"


@dataclass(frozen=True)
class ResponseCheck:
    """The verdict on one attendee list.

    :ivar outcome: ``"met"``, ``"declined"`` (a relevant attendee declined and ``fail_on_decline`` is set)
        or ``"waiting"``.
    :ivar statuses: ``{attendee id: responseStatus}`` for every attendee listed, organizer included.
    :ivar declined: relevant attendees who declined (filled whatever ``fail_on_decline`` says).
    :ivar missing: for ``accepted_by``: ids that are not attendees of the event.
    :ivar reason: one line for logs and error messages.
    """

    outcome: str
    statuses: dict[str, str]
    declined: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def done(self) -> bool:
        return self.outcome != WAITING


def validate_condition(
    condition: Any, min_accepted: Any = None, attendee_ids: Any = None
) -> tuple[str, int | None, list[str] | None]:
    """Check a condition and its argument; return ``(condition, min_accepted, attendee_ids)`` normalised.

    ``min_accepted`` may be a whole number or a string of digits (a template rendered as text).
    """
    if condition not in CONDITIONS:
        raise InvalidArgumentError("condition", f"must be one of {', '.join(CONDITIONS)}", condition)
    count = None
    ids = None
    if condition == "min_accepted":
        value = min_accepted
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgumentError(
                "min_accepted", "must be a whole number of at least 1 for condition 'min_accepted'", value
            )
        count = value
    elif min_accepted is not None:
        raise InvalidArgumentError(
            "min_accepted", f"only applies to condition 'min_accepted', not {condition!r}"
        )
    if condition == "accepted_by":
        if attendee_ids is None:
            raise InvalidArgumentError("attendee_ids", "is required for condition 'accepted_by'")
        ids = normalize_attendee_ids(attendee_ids, "attendee_ids")
    elif attendee_ids is not None:
        raise InvalidArgumentError(
            "attendee_ids", f"only applies to condition 'accepted_by', not {condition!r}"
        )
    return condition, count, ids


def attendee_statuses(attendees: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``{id: responseStatus}`` of an attendee list, in listing order (a missing status is ``needsAction``)."""
    statuses: dict[str, str] = {}
    for attendee in attendees:
        attendee_id = attendee.get("id")
        if isinstance(attendee_id, str) and attendee_id:
            statuses[attendee_id] = attendee.get("responseStatus") or "needsAction"
    return statuses


def count_statuses(statuses: Mapping[str, str]) -> dict[str, int]:
    """How many attendees gave each response (every documented status present, unknown ones added)."""
    counts = dict.fromkeys(RESPONSE_STATUSES, 0)
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return counts


def evaluate_responses(
    attendees: Iterable[Mapping[str, Any]] | Mapping[str, str],
    *,
    organizer_id: str,
    condition: str,
    min_accepted: int | None = None,
    attendee_ids: list[str] | None = None,
    fail_on_decline: bool = False,
) -> ResponseCheck:
    """Decide whether ``condition`` holds for ``attendees`` (a DingTalk attendee list or ``{id: status}``)."""
    organizer = require_id(organizer_id, "organizer_id")
    condition, wanted_count, wanted_ids = validate_condition(condition, min_accepted, attendee_ids)
    named = wanted_ids or []  # accepted_by: validated non-empty
    statuses = dict(attendees) if isinstance(attendees, Mapping) else attendee_statuses(attendees)
    others = {i: s for i, s in statuses.items() if i != organizer}

    missing: list[str] = []
    if condition == "accepted_by":
        relevant = {i: statuses[i] for i in named if i in statuses}
        missing = [i for i in named if i not in statuses]
    else:
        relevant = others
    declined = [i for i, s in relevant.items() if s == "declined"]

    if fail_on_decline and declined:
        shown = ", ".join(declined[:10]) + (f" and {len(declined) - 10} more" if len(declined) > 10 else "")
        return ResponseCheck(DECLINED, statuses, declined, missing, f"declined by {shown}")

    if condition == "all_responded":
        pending = [i for i, s in others.items() if s == "needsAction"]
        met = not pending
        reason = (
            f"all {len(others)} attendees responded"
            if met
            else f"{len(pending)} of {len(others)} attendees have not responded"
        )
    elif condition == "min_accepted":
        accepted = sum(1 for s in others.values() if s == "accepted")
        met = wanted_count is not None and accepted >= wanted_count
        reason = f"{accepted} of {len(others)} attendees accepted; {wanted_count} wanted"
    else:
        waiting_for = [i for i in named if statuses.get(i) != "accepted"]
        met = not waiting_for
        reason = (
            f"all {len(named)} named attendees accepted"
            if met
            else f"waiting for {len(waiting_for)} of {len(named)} named attendees to accept"
        )
        if missing:
            reason += f" ({len(missing)} not invited: {', '.join(missing[:10])})"
    return ResponseCheck(MET if met else WAITING, statuses, declined, missing, reason)
