"""Small JSON state kept in an Airflow Variable: a change watcher's cursor (an export's watermark lives beside
its data instead: :mod:`airflow_dtcal.state.watermarks`).

A Variable is a place Airflow owns: it lives in the metadata database, survives worker and triggerer
restarts and moves between machines, and an operator can read or reset it with ``airflow variables get`` /
``airflow variables delete`` (or the UI). Inside a task or a triggerer the Task SDK's ``Variable`` goes
through Airflow's API; anywhere else (a script, a test with a metadata database) the database is used
directly, exactly as Airflow's own ``airflow.models.Variable`` decides.

Keys should not contain ``token``, ``secret`` or ``password``: Airflow masks the values of such Variables
everywhere, which would hide the state from the people who need to read it. The state is never a secret: a
``syncToken`` is a position in a calendar's change log, not a credential.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from airflow_dtcal.exceptions import DingTalkConfigurationError, DingTalkInvalidArgumentError

#: Airflow's own limit on a Variable key is 250 characters; we also keep keys to a safe alphabet.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,250}$")
#: A state larger than this is refused: it would be a design error (an unbounded list kept in a Variable).
MAX_STATE_BYTES = 256 * 1024


def check_key(key: Any) -> str:
    """``key`` if it is a Variable key this provider uses; else a DingTalkInvalidArgumentError."""
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise DingTalkInvalidArgumentError(
            "state_key", "must be 1-250 characters of letters, digits, '_', '.', ':' or '-'", key
        )
    return key


def _variable_class():
    """The Task SDK's Variable inside a task or triggerer, else the metadata database's."""
    task_runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    if getattr(task_runner, "SUPERVISOR_COMMS", None) is not None:
        from airflow.sdk import Variable

        return Variable
    from airflow.models.variable import Variable

    return Variable


def load_raw(key: str) -> str | None:
    """The text stored under ``key``, or None when there is none."""
    return _variable_class().get(check_key(key), None)  # the default is positional (SDK vs models)


def load_state(key: str) -> dict | None:
    """The JSON object stored under ``key``, or None when there is none yet."""
    raw = load_raw(key)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise DingTalkConfigurationError(
            f"Airflow Variable {key!r} does not hold this provider's JSON state (an object); delete it "
            f"(`airflow variables delete {key}`) to start afresh"
        )
    return value


def save_state(key: str, value: dict, description: str | None = None) -> None:
    """Store ``value`` (a JSON object) under ``key``, replacing what was there."""
    if not isinstance(value, dict):
        raise DingTalkInvalidArgumentError("state", "must be a JSON object (a dict)", type(value).__name__)
    save_text(key, json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False), description)


def save_text(key: str, text: str, description: str | None = None) -> None:
    """Store ``text`` (a JSON object already serialized) under ``key``, replacing what was there."""
    key = check_key(key)
    if not text.startswith("{"):
        raise DingTalkInvalidArgumentError("state", "must be a JSON object", text[:40])
    if len(text.encode()) > MAX_STATE_BYTES:
        raise DingTalkConfigurationError(
            f"the state for Variable {key!r} is {len(text.encode()):,} bytes; at most {MAX_STATE_BYTES:,}"
        )
    _variable_class().set(key, text, description=description)


async def aload_state(key: str) -> dict | None:
    """:func:`load_state` for code on an event loop (a trigger): run in a thread, never blocking the loop."""
    return await _in_thread(load_state, key)


async def aload_raw(key: str) -> str | None:
    """:func:`load_raw` for code on an event loop (a trigger)."""
    return await _in_thread(load_raw, key)


async def asave_state(key: str, value: dict, description: str | None = None) -> None:
    """:func:`save_state` for code on an event loop (a trigger)."""
    await _in_thread(save_state, key, value, description)


async def asave_text(key: str, text: str, description: str | None = None) -> None:
    """:func:`save_text` for code on an event loop (a trigger)."""
    await _in_thread(save_text, key, text, description)


async def _in_thread(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` through ``sync_to_async`` (what Airflow asks of triggers), then honour a cancellation
    that came meanwhile.

    On Airflow 3.0 and 3.1 a Variable read or write in a triggerer goes through ``async_to_sync`` inside
    the thread; when the trigger is cancelled at the moment that inner call has just finished, asgiref
    returns the thread's result instead of raising ``CancelledError``, and a cancelled trigger would go on
    (polling DingTalk until the triggerer stops). The task still records the cancellation request
    (``Task.cancelling()``): it is raised here.
    """
    import asyncio

    from asgiref.sync import sync_to_async

    result = await sync_to_async(fn)(*args)
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError("cancelled while the Variable was read or written")
    return result
