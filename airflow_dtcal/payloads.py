"""Payload builders, by the names DAGs and docs have used since the first release.

The builders live with their domain now: ids and attendee lists in :mod:`airflow_dtcal.core.ids`, times in
:mod:`airflow_dtcal.core.times`, event bodies and recurrence in :mod:`airflow_dtcal.planning.events`, event
keys in :mod:`airflow_dtcal.planning.markers`, idempotency keys in :mod:`airflow_dtcal.core.calls`. This
module only re-exports them (``from airflow_dtcal.payloads import Recurrence`` keeps working).
"""

from __future__ import annotations

from airflow_dtcal.core.calls import derive_client_token
from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.ids import (
    MAX_ATTENDEES_PER_CALL,
    MAX_ATTENDEES_PER_EVENT,
    RESPONSE_STATUSES,
    chunked,
    normalize_attendee_ids,
    normalize_attendees,
    require_id,
    validate_response_status,
)
from airflow_dtcal.core.times import DAYS_OF_WEEK, event_times, instant, iso_instant
from airflow_dtcal.planning.events import (
    MAX_DESCRIPTION_LENGTH,
    MAX_SUMMARY_LENGTH,
    Recurrence,
    build_event,
    normalize_reminders,
    split_create_attendees,
    validate_recurrence,
)
from airflow_dtcal.planning.markers import key_search_window, with_marker

__all__ = [
    "DAYS_OF_WEEK",
    "MAX_ATTENDEES_PER_CALL",
    "MAX_ATTENDEES_PER_EVENT",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_SUMMARY_LENGTH",
    "RESPONSE_STATUSES",
    "InvalidArgumentError",
    "Recurrence",
    "build_event",
    "chunked",
    "derive_client_token",
    "event_times",
    "instant",
    "iso_instant",
    "key_search_window",
    "normalize_attendee_ids",
    "normalize_attendees",
    "normalize_reminders",
    "require_id",
    "split_create_attendees",
    "validate_recurrence",
    "validate_response_status",
    "with_marker",
]
