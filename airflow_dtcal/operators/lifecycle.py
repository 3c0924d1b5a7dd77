"""The first home of the operators for the rest of an event's life, kept so DAGs that import from it keep
working. Import from :mod:`airflow_dtcal.operators.events` instead."""

from __future__ import annotations

from airflow_dtcal.operators.events import (
    CancelEventOperator,
    EnsureEventOperator,
    TransferEventOperator,
    UpdateEventOperator,
)

__all__ = ["CancelEventOperator", "EnsureEventOperator", "TransferEventOperator", "UpdateEventOperator"]
