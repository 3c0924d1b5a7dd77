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


async def amask_secret(value: str) -> None:
    """The same from an event loop (a trigger): never a blocking call to the supervisor."""
    if not value:
        return
    try:
        from airflow.sdk.log import amask_secret as _airflow_amask_secret
    except ImportError:  # Airflow 3.0: no async variant; the masker itself is in-process
        _airflow_mask_secret(value)
        return
    await _airflow_amask_secret(value)


__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "BaseHook",
    "BaseOperator",
    "BaseSensorOperator",
    "PokeReturnValue",
    "amask_secret",
    "conf",
    "mask_secret",
]
