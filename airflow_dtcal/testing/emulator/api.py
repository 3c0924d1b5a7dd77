"""One API request from start to finish: route, log, faults, latency, token, authentication, monthly quota,
throttling, idempotency, then the operation itself.

A calendar call counts against the monthly quota once it is authenticated, within the quota and not
throttled, whatever its outcome (validation errors and idempotent replays count too); token calls and
Stream connection-opens never do.
"""

from __future__ import annotations

import json
import time
from typing import Any

from airflow_dtcal.testing.emulator import access, faults, legacy, request_log, stream
from airflow_dtcal.testing.emulator.contract import (
    CLIENT_TOKEN_HEADER,
    IDEMPOTENCY_WINDOW,
    LEGACY_OPERATIONS,
    WRITE_OPERATIONS,
)
from airflow_dtcal.testing.emulator.errors import ApiError
from airflow_dtcal.testing.emulator.messages import Reply, Request, error_reply, json_reply, parse_json_body
from airflow_dtcal.testing.emulator.operations import HANDLERS
from airflow_dtcal.testing.emulator.routes import route
from airflow_dtcal.testing.emulator.state import State

MAX_IDEMPOTENCY_RECORDS = 100_000  # memory bound for long benchmark runs; the oldest record is dropped


def handle(state: State, request: Request) -> Reply:
    """Answer one API request (anything outside ``/_emulator/``)."""
    try:
        operation, params = route(request.method, request.path)
    except ApiError as err:
        with state.lock:
            record = request_log.new_record(
                state, request, None, None, request.body.decode("utf-8", "replace")
            )
            record["status"] = err.status
            state.log.append(record)
        return error_reply(err)
    body: Any = None
    body_error: ApiError | None = None
    try:
        body = parse_json_body(request.body)
    except ApiError as err:
        body_error = err
    body_text = request.body.decode("utf-8", "replace") if body_error else None
    with state.lock:
        record = request_log.new_record(state, request, operation, body, body_text)
        state.log.append(record)
        state.counters["calls"][operation] += 1
        fault = faults.take_fault(state, operation)
        if fault is not None:
            state.counters["faulted"][operation] += 1
    if fault is not None:
        reply = faults.fault_reply(fault)
        if reply is not None:
            record["status"] = None if reply.reset_before else reply.status
            return reply
        if fault["kind"] == "delay":
            time.sleep(fault["seconds"])
    if state.latency > 0:
        time.sleep(state.latency)
    reply = _answer(state, operation, params, request, body, body_error)
    if fault is not None and fault["kind"] == "reset_after":
        reply.reset_after = True  # applied, but the client never hears back: the log keeps status None
    else:
        record["status"] = reply.status
    return reply


def _answer(
    state: State, op: str, params: dict, request: Request, body: Any, body_error: ApiError | None
) -> Reply:
    try:
        if op == "GetAccessToken":
            if body_error:
                raise body_error
            with state.lock:
                return json_reply(access.issue_token(state, body))
        if op == "OpenStreamConnection":  # not a calendar call: no access token, never counted
            if body_error:
                raise body_error
            with state.lock:
                return json_reply(stream.open_connection(state, body, request.headers.get("host")))
        if op in LEGACY_OPERATIONS:
            with state.lock:
                return legacy.answer(state, op, request, body, body_error)
        with state.lock:
            app = access.authenticate(state, request.headers)
            access.within_quota(state, op)
            access.throttle(state, app, op)
            access.count_call(state, app, op)
            client_token = request.headers.get(CLIENT_TOKEN_HEADER)
            key = (app, op, client_token) if client_token and op in WRITE_OPERATIONS else None
            stored = state.idempotency.get(key) if key else None
            if key is not None and stored is not None:
                if stored[0] > time.monotonic():
                    state.counters["replayed"][op] += 1
                    return Reply(stored[1], stored[2])
                del state.idempotency[key]
            if body_error:
                raise body_error
            status, payload = HANDLERS[op](state, params, request.query, body)
            data = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
            if op in WRITE_OPERATIONS:
                state.counters["applied"][op] += 1
                if key is not None and 200 <= status < 300:
                    _remember(state, key, status, data)
            return Reply(status, data)
    except ApiError as err:
        with state.lock:
            state.counters["errors"][op] += 1
        return error_reply(err)


def _remember(state: State, key: tuple, status: int, data: bytes) -> None:
    state.idempotency[key] = (time.monotonic() + IDEMPOTENCY_WINDOW, status, data)
    if len(state.idempotency) > MAX_IDEMPOTENCY_RECORDS:  # forget the oldest
        del state.idempotency[next(iter(state.idempotency))]
