"""The first home of the event and attendee operators, kept so DAGs that import from it keep working.

Import from :mod:`airflow_dtcal.operators.events` (events) and :mod:`airflow_dtcal.operators.attendees`
(attendees) instead.
"""

from __future__ import annotations

from airflow_dtcal.operators.attendees import (
    AddAttendeesOperator,
    ListAttendeesOperator,
    RemoveAttendeesOperator,
    RespondEventOperator,
    SyncAttendeesOperator,
)
from airflow_dtcal.operators.events import CreateEventOperator, DeleteEventOperator

__all__ = [
    "AddAttendeesOperator",
    "CreateEventOperator",
    "DeleteEventOperator",
    "ListAttendeesOperator",
    "RemoveAttendeesOperator",
    "RespondEventOperator",
    "SyncAttendeesOperator",
]
