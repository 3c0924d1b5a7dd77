"""The first home of ``ExportEventsOperator``, kept so DAGs that import from it keep working. Import from
:mod:`airflow_dtcal.transfers.export` instead (the export is a transfer: calendar data to storage)."""

from __future__ import annotations

from airflow_dtcal.transfers.export import ExportEventsOperator

__all__ = ["ExportEventsOperator"]
