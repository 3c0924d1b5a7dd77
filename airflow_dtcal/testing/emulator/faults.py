"""Fault injection: validating a fault, queueing it, matching it to a request and answering with it.

A fault applies to the next ``count`` matching requests; faults are queued first in, first out and a
request consumes the first one that matches it. ``operation=None`` matches every operation except
``GetAccessToken`` and ``OpenStreamConnection``, which must be named.
"""

from __future__ import annotations

import json
import math
from typing import Any

from airflow_dtcal.testing.emulator.contract import OPERATIONS, UNCOUNTED_OPERATIONS
from airflow_dtcal.testing.emulator.errors import error_body
from airflow_dtcal.testing.emulator.messages import Reply
from airflow_dtcal.testing.emulator.state import State

FAULT_KINDS = ("fail", "reset_before", "reset_after", "delay", "html", "deny")
#: The parameters each kind takes, with their defaults.
FAULT_PARAMS: dict[str, dict[str, Any]] = {
    "fail": {
        "status": 503,
        "code": "ServiceUnavailable",
        "message": "The service is temporarily unavailable.",
        "retry_after": None,
    },
    "reset_before": {},
    "reset_after": {},
    "delay": {"seconds": 2.0},
    "html": {"status": 200},
    "deny": {"status": 200, "wait": 1},
}
MAX_COUNT = 1_000_000
MAX_DELAY = 600.0  # seconds

HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Access denied</title></head>"
    "<body><h1>访问被拒绝 (Access denied)</h1><p>Your IP address has been temporarily blocked "
    "because of too many requests. Please retry later.</p></body></html>\n"
).encode()


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_param(kind: str, name: str, value: Any) -> Any:
    if name == "status":
        if not _int(value) or not 200 <= value <= 599:
            raise ValueError(f"status must be an integer from 200 to 599, got {value!r}")
    elif name in ("code", "message"):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    elif name in ("retry_after", "wait"):
        if not (value is None and name == "retry_after") and (not _int(value) or not 0 <= value <= 86400):
            raise ValueError(f"{name} must be an integer number of seconds from 0 to 86400, got {value!r}")
    elif name == "seconds":
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not number or not 0 <= value <= MAX_DELAY:
            raise ValueError(f"seconds must be a number from 0 to {MAX_DELAY:g}, got {value!r}")
        value = float(value)
    return value


def make_fault(kind: Any, count: Any = 1, operation: Any = None, **params: Any) -> dict:
    """A validated fault; ``ValueError`` names the field and the rule. ``None`` params take their default."""
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind: unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
    if not _int(count) or not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be an integer from 1 to {MAX_COUNT}, got {count!r}")
    if operation is not None and operation not in OPERATIONS:
        raise ValueError(
            f"operation: unknown operation {operation!r}; expected null or one of {', '.join(OPERATIONS)}"
        )
    allowed = FAULT_PARAMS[kind]
    unknown = sorted(name for name, value in params.items() if name not in allowed and value is not None)
    if unknown:
        expected = ", ".join(allowed) or "no other parameters"
        raise ValueError(f"{unknown[0]}: not a parameter of a {kind} fault (it takes {expected})")
    fault: dict[str, Any] = {"kind": kind, "count": count, "operation": operation}
    for name, default in allowed.items():
        value = params.get(name)
        if value is None:
            value = default
        if value is not None:
            fault[name] = _check_param(kind, name, value)
    return fault


def add_fault(state: State, fault: dict) -> dict:
    with state.lock:
        state.faults.append(fault)
    return dict(fault)


def take_fault(state: State, operation: str) -> dict | None:
    """Consume one use of the first queued fault matching ``operation`` (caller holds the lock)."""
    for i, fault in enumerate(state.faults):
        wanted = fault["operation"]
        if (wanted is None and operation not in UNCOUNTED_OPERATIONS) or wanted == operation:
            fault["count"] -= 1
            if fault["count"] <= 0:
                del state.faults[i]
            return fault
    return None


def fault_reply(fault: dict) -> Reply | None:
    """The reply a fault answers with instead of the API, or None when the API still runs (delay, reset_after)."""
    kind = fault["kind"]
    if kind == "reset_before":
        return Reply(reset_before=True)
    if kind == "fail":
        reply = Reply(fault["status"], error_body(fault["code"], fault["message"]))
        reply.retry_after = fault.get("retry_after")
        return reply
    if kind == "html":
        return Reply(fault["status"], HTML_PAGE, "text/html; charset=utf-8")
    if kind == "deny":
        payload = {"status": 1111, "wait": fault["wait"], "punish": "deny"}
        return Reply(fault["status"], json.dumps(payload).encode())
    return None
