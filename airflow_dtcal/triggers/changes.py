"""Kept so that DAGs, docs and triggers already stored by a triggerer keep finding ``CalendarChangeTrigger``
here; it lives in :mod:`airflow_dtcal.triggers.watch`."""

from airflow_dtcal.triggers.watch import CalendarChangeTrigger

__all__ = ["CalendarChangeTrigger"]
