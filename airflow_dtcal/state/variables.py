"""Small JSON state kept in an Airflow Variable: a change watcher's cursor (an export's watermark lives beside
its data instead: :mod:`airflow_dtcal.state.watermarks`).

A Variable is a place Airflow owns: it lives in the metadata database, survives worker and triggerer
restarts and moves between machines, and an operator can read or reset it with ``airflow variables get`` /
``airflow variables delete`` (or the UI). Inside a task or a triggerer the Task SDK's ``Variable`` goes
through Airflow's API; anywhere else (a script, a test with a metadata database) the database is used
directly, exactly as Airflow's own ``airflow.models.Variable`` decides.

Keys never contain a word Airflow treats as sensitive (``token``, ``secret``, ``password``, ``api_key``...,
see :data:`SENSITIVE_WORDS`, plus the deployment's ``[core] sensitive_var_conn_names``): Airflow masks the
values of such Variables everywhere, which would hide the state from the people who need to read it. A key
given by a DAG is refused (:func:`check_key`); the keys derived by default (the watch's) are a prefix and a
digest, free of them. The state is never a secret: a ``syncToken`` is a position in
a calendar's change log, not a credential.

What is read back is untrusted (anyone who may edit Variables can write anything there): it is bounded in
size (:data:`MAX_STATE_BYTES`) and parsed in linear time with bounded nesting
(:mod:`airflow_dtcal.core.jsontext`), on the triggerer off its event loop.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from airflow_dtcal.core import jsontext
from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.exceptions import (
    DingTalkConfigurationError,
    DingTalkInvalidArgumentError,
    invalid_arguments,
)

#: Airflow's own limit on a Variable key is 250 characters; we also keep keys to a safe alphabet.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,250}$")
KEY_RULE = "must be 1-250 characters of letters, digits, '_', '.', ':' or '-'"
#: A state larger than this is refused: it would be a design error (an unbounded list kept in a Variable).
MAX_STATE_BYTES = 256 * 1024
#: How deep a stored state may nest (the watermark and the cursor nest 4 levels).
MAX_STATE_DEPTH = 32
#: The words that make Airflow mask a Variable's value (its ``DEFAULT_SENSITIVE_FIELDS``, Airflow 3.0 to
#: 3.3, matched as substrings of the lower-cased key); a deployment adds its own in
#: ``[core] sensitive_var_conn_names``, read by :func:`sensitive_words`.
SENSITIVE_WORDS = frozenset(
    {
        "access_key",
        "access_token",
        "api_key",
        "apikey",
        "auth_header",
        "authorization",
        "bearer",
        "connection_string",
        "dsn",
        "keyfile_dict",
        "passphrase",
        "passwd",
        "password",
        "private_key",
        "proxies",
        "proxy",
        "secret",
        "service_account",
        "service_key",
        "token",
        "webhook_url",
    }
)


def sensitive_words() -> frozenset[str]:
    """:data:`SENSITIVE_WORDS` plus the deployment's ``[core] sensitive_var_conn_names`` (when Airflow's
    configuration can be read)."""
    try:
        from airflow_dtcal.compat import conf

        extra = conf.get("core", "sensitive_var_conn_names", fallback="") or ""
    except Exception:  # no configuration to read (a bare script): the defaults
        extra = ""
    return SENSITIVE_WORDS | {word.strip().lower() for word in extra.split(",") if word.strip()}


def _pattern(word: str) -> re.Pattern[str]:
    """Where ``word`` occurs as Airflow matches it: lower-cased, with ``_`` also standing for any run of
    other non-word characters (Airflow 3.1+ reads ``api-key`` as ``api_key``)."""
    return re.compile("".join(r"(?:_|\W+)" if c == "_" else re.escape(c) for c in word), re.IGNORECASE)


def sensitive_word_in(key: str) -> str | None:
    """The word that makes Airflow mask the Variable ``key`` (its value shown as ``***``), or None."""
    for word in sorted(sensitive_words()):
        if _pattern(word).search(key):
            return word
    return None


def check_key(key: Any, field: str = "state_key") -> str:
    """A Variable key a DAG gave, checked (an :class:`InvalidArgumentError` names ``field`` otherwise): the
    safe alphabet, and no word that would make Airflow mask the state."""
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise InvalidArgumentError(field, KEY_RULE, key)
    word = sensitive_word_in(key)
    if word is not None:
        raise InvalidArgumentError(
            field,
            f"contains {word!r}, so Airflow would mask the Variable's value (shown as ***) in the UI, the "
            "CLI and the logs; choose a key without it",
            key,
        )
    return key


def _check_key(key: Any) -> str:
    with invalid_arguments():
        return check_key(key)


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
    return _variable_class().get(_check_key(key), None)  # the default is positional (SDK vs models)


def load_state(key: str) -> dict | None:
    """The JSON object stored under ``key``, or None when there is none yet."""
    raw = load_raw(key)
    if raw is None:
        return None
    return parse_state(key, raw)


def parse_state(key: str, raw: Any) -> dict:
    """The state stored as ``raw`` under ``key``: a JSON object of at most :data:`MAX_STATE_BYTES`, nesting
    at most :data:`MAX_STATE_DEPTH` levels; parsed in linear time (safe in any thread)."""
    fix = f"; delete it (`airflow variables delete {key}`) to start afresh"
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if not isinstance(data, bytes):
        raise DingTalkConfigurationError(f"Airflow Variable {key!r} does not hold text{fix}")
    if len(data) > MAX_STATE_BYTES:
        raise DingTalkConfigurationError(
            f"Airflow Variable {key!r} holds {len(data):,} bytes, more than this provider ever stores "
            f"({MAX_STATE_BYTES:,}){fix}"
        )
    try:
        value = jsontext.loads(data, MAX_STATE_DEPTH)
    except jsontext.TooDeep:
        raise DingTalkConfigurationError(
            f"Airflow Variable {key!r} nests deeper than {MAX_STATE_DEPTH} levels{fix}"
        ) from None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise DingTalkConfigurationError(
            f"Airflow Variable {key!r} does not hold this provider's JSON state (an object){fix}"
        )
    return value


def save_state(key: str, value: dict, description: str | None = None) -> None:
    """Store ``value`` (a JSON object) under ``key``, replacing what was there."""
    if not isinstance(value, dict):
        raise DingTalkInvalidArgumentError("state", "must be a JSON object (a dict)", type(value).__name__)
    save_text(key, json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False), description)


def save_text(key: str, text: str, description: str | None = None) -> None:
    """Store ``text`` (a JSON object already serialized) under ``key``, replacing what was there."""
    key = _check_key(key)
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
