"""The few names whose home differs between Airflow 3.0, 3.1, 3.2 and 3.3, in one place.

Everything comes through ``apache-airflow-providers-common-compat`` (the community's own shim), so a module of
this provider never carries an ``ImportError`` fallback of its own. Importing this module is cheap enough for
DAG parsing: it only resolves names.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    BaseHook,
    BaseOperator,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)
from airflow.providers.common.compat.sdk import mask_secret as _airflow_mask_secret


def mask_secret(value: str) -> None:
    """Register a secret obtained at run time (an access token) with Airflow's secrets masker."""
    if value:
        _airflow_mask_secret(value)


__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "BaseHook",
    "BaseOperator",
    "BaseSensorOperator",
    "PokeReturnValue",
    "conf",
    "mask_secret",
]
