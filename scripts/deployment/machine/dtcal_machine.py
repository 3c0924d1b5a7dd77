"""Airflow's ``[core] hostname_callable`` for the Celery deployment's workers: each worker runs as if on a
machine of its own, and task instances record that machine's name (``DTCAL_MACHINE``)."""

from __future__ import annotations

import os


def hostname() -> str:
    return os.environ["DTCAL_MACHINE"]
