"""Airflow names only the tests use, whose home differs between Airflow 3.0, 3.1, 3.2 and 3.3.

The provider's own names come from :mod:`airflow_dtcal.compat`; this module adds what the tests need to play
Airflow's part (serde round trips, the triggerer's class import, DAG parsing, the secrets masker).
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import TaskDeferred, redact
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_2_PLUS

from airflow_dtcal.compat import AirflowFailException, AirflowSkipException

try:  # Airflow 3.2+
    from airflow.sdk.serde import deserialize, serialize
except ImportError:  # Airflow 3.0, 3.1
    from airflow.serialization.serde import deserialize, serialize

try:  # Airflow 3.1+
    from airflow.sdk.module_loading import import_string
except ImportError:  # Airflow 3.0
    from airflow.utils.module_loading import import_string


def dag_bag_class():
    """Airflow's DagBag (imported on use: it loads much of Airflow)."""
    try:  # Airflow 3.2+
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0, 3.1
        from airflow.models.dagbag import DagBag
    return DagBag


__all__ = [
    "AIRFLOW_V_3_2_PLUS",
    "AirflowFailException",
    "AirflowSkipException",
    "TaskDeferred",
    "dag_bag_class",
    "deserialize",
    "import_string",
    "redact",
    "serialize",
]
