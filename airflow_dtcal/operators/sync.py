"""The first home of ``SyncAttendeesOperator``, kept so DAGs that import from it keep working. Import from
:mod:`airflow_dtcal.operators.attendees` instead."""

from __future__ import annotations

from airflow_dtcal.operators.attendees import SyncAttendeesOperator

__all__ = ["SyncAttendeesOperator"]
