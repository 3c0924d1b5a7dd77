"""The few names whose home differs between Airflow 3.0, 3.1, 3.2 and 3.3, in one place.

Everything it can comes through ``apache-airflow-providers-common-compat`` (the community's own shim); the few
fallbacks common-compat has no name for are here, so no other module of this provider carries an
``ImportError`` fallback of its own. Importing this module is cheap enough for
DAG parsing: it only resolves names.
"""

from __future__ import annotations

import sys
from typing import Any

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

# Airflow 3.3+ has an async mask_secret for code on an event loop (triggers); older lines have none.
_airflow_amask_secret: Any
try:
    from airflow.sdk.log import amask_secret as _airflow_amask_secret
except ImportError:  # Airflow 3.0-3.2
    _airflow_amask_secret = None


def mask_secret(value: str) -> None:
    """Register a secret obtained at run time (an access token) with Airflow's secrets masker.

    Only for values Airflow does not mask itself: Airflow already masks a connection's password when it
    hands the connection out. Under ``airflow dags test`` / ``dag.test()`` (every Airflow 3 line) the
    supervisor runs in the task's own process and logs each message it is sent, value included, at debug
    level (and Airflow 3.0 prints debug there by default); so there the value goes straight to this
    process's masker, which is the supervisor's. In a worker, Airflow's own ``mask_secret`` tells the
    supervisor process, which writes the task log.
    """
    if not value:
        return
    if _supervisor_is_this_process():
        _mask_in_this_process(value)
    else:
        _airflow_mask_secret(value)


async def amask_secret(value: str) -> None:
    """:func:`mask_secret` for code running on an event loop (a trigger): never blocks the loop."""
    if not value:
        return
    if _supervisor_is_this_process():
        _mask_in_this_process(value)
    elif _airflow_amask_secret is not None:
        await _airflow_amask_secret(value)
    else:  # Airflow 3.0-3.2: the sync call, off the event loop
        from asgiref.sync import sync_to_async

        await sync_to_async(_airflow_mask_secret)(value)


def _supervisor_is_this_process() -> bool:
    """True when the task runs inside its supervisor's process (``dags test``, ``dag.test()``)."""
    supervisor = sys.modules.get("airflow.sdk.execution_time.supervisor")
    task_runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    in_process = getattr(supervisor, "InProcessSupervisorComms", None)
    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    return in_process is not None and isinstance(comms, in_process)


def _mask_in_this_process(value: str) -> None:
    """What Airflow's mask_secret and its supervisor do with a value in one process, minus the debug line."""
    try:  # Airflow 3.1+
        from airflow.sdk._shared.secrets_masker import _secrets_masker as masker
    except ImportError:  # Airflow 3.0
        from airflow.sdk.execution_time.secrets_masker import _secrets_masker as masker  # type: ignore[no-redef]
    masker().add_mask(value)


__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "BaseHook",
    "BaseOperator",
    "BaseSensorOperator",
    "PokeReturnValue",
    "conf",
    "amask_secret",
    "mask_secret",
]
