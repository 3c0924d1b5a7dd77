"""The admin endpoints under ``/_emulator/``: inspect and control a running emulator over HTTP.

They need no token and are never counted, logged, throttled or faulted. They refuse requests from a
browser page of another origin (an ``Origin`` header that is not the emulator's own: 403) and writes whose
body is not JSON (415), so a web page cannot drive them; every input is validated (400 naming the field).
"""

from __future__ import annotations

from typing import Any

from airflow_dtcal.testing.emulator import directory, events, faults, rooms, stream
from airflow_dtcal.testing.emulator.errors import ApiError, invalid
from airflow_dtcal.testing.emulator.messages import Reply, Request, error_reply, json_reply, parse_json_body
from airflow_dtcal.testing.emulator.state import SETTINGS, State

PREFIX = "/_emulator/"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
OK = {"ok": True}


def is_admin_path(path: str) -> bool:
    return path.startswith(PREFIX) or path == PREFIX.rstrip("/")


def _check_origin(request: Request, own_origins: frozenset[str]) -> None:
    origin = request.headers.get("origin")
    if origin is not None and origin.lower().rstrip("/") not in own_origins:
        raise ApiError(
            403,
            "Forbidden.AccessDenied.CrossOrigin",
            f"The admin API refuses requests from origin {origin!r}; only the emulator's own origin may call it.",
        )


def _check_json_body(request: Request) -> Any:
    """The parsed body of an admin write: JSON (by Content-Type and by content), or None when empty."""
    if request.method == "DELETE" and not request.body:
        return None
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"Admin writes need Content-Type: application/json, got {media_type or 'none'!r}",
        )
    return parse_json_body(request.body)


def _object(body: Any, what: str) -> dict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise invalid(f"The {what} body must be a JSON object")
    return body


def _configure(state: State, body: Any) -> dict:
    changes = _object(body, "config")
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown setting; expected any of {', '.join(SETTINGS)}")
    return state.configure(**changes)


def _add_fault(state: State, body: Any) -> dict:
    spec = dict(_object(body, "fault"))
    if "kind" not in spec:
        raise ValueError(f"kind is required: one of {', '.join(faults.FAULT_KINDS)}")
    kind = spec.pop("kind")
    count = spec.pop("count", 1)
    operation = spec.pop("operation", None)
    return faults.add_fault(state, faults.make_fault(kind, count, operation, **spec))


def _clear_faults(state: State) -> dict:
    with state.lock:
        state.faults.clear()
    return OK


def list_faults(state: State) -> list[dict]:
    with state.lock:
        return [dict(fault) for fault in state.faults]


def _then_ok(action: Any) -> dict:
    action()
    return OK


def _routes(state: State, body: Any) -> dict[tuple[str, str], Any]:
    """``(method, name) -> thunk``; each thunk returns the JSON answer."""
    return {
        ("GET", "health"): lambda: OK,
        ("GET", "state"): lambda: {"events": events.dump_events(state)},
        ("GET", "events"): lambda: {"events": events.dump_events(state)},
        ("GET", "stats"): state.stats,
        ("GET", "requests"): lambda: {"requests": state.requests()},
        ("GET", "config"): state.config,
        ("POST", "config"): lambda: _configure(state, body),
        ("POST", "reset"): lambda: _then_ok(state.reset),
        ("POST", "revoke-tokens"): lambda: _then_ok(state.revoke_tokens),
        ("POST", "expire-client-tokens"): lambda: _then_ok(state.expire_client_tokens),
        ("GET", "faults"): lambda: {"faults": list_faults(state)},
        ("POST", "faults"): lambda: _add_fault(state, body),
        ("DELETE", "faults"): lambda: _clear_faults(state),
        ("POST", "seed"): lambda: {"ids": events.seed(state, body if body is not None else [])},
        ("GET", "users"): lambda: {"users": directory.list_users(state)},
        ("GET", "rooms"): lambda: {"rooms": rooms.list_seeded(state)},
        ("POST", "rooms"): lambda: {"roomIds": rooms.seed_rooms(state, body if body is not None else [])},
        ("POST", "users"): lambda: {"userIds": directory.seed_users(state, body if body is not None else [])},
        ("POST", "users/remove"): lambda: {"userIds": directory.remove_users(state, body)},
        ("POST", "expire-sync-tokens"): lambda: _then_ok(state.expire_sync_tokens),
        ("GET", "stream"): lambda: stream.stream_stats(state),
        ("GET", "stream/connections"): lambda: {"connections": stream.list_connections(state)},
        ("GET", "stream/messages"): lambda: {"messages": stream.list_messages(state)},
        ("GET", "stream/pending"): lambda: {"messages": stream.unacked_messages(state)},
        ("GET", "stream/acked"): lambda: {"messages": stream.list_messages(state, "acked")},
        ("POST", "stream/drop"): lambda: {"connections": stream.drop_connections(state)},
        ("POST", "stream/disconnect"): lambda: {"connections": stream.send_disconnect(state)},
        ("POST", "stream/ping"): lambda: {"connections": stream.send_ping(state)},
        ("POST", "stream/expire-tickets"): lambda: _then_ok(lambda: stream.expire_tickets(state)),
    }


def handle(state: State, request: Request, own_origins: frozenset[str]) -> Reply:
    """Answer one admin request."""
    name = request.path[len(PREFIX) :] if request.path.startswith(PREFIX) else ""
    try:
        _check_origin(request, own_origins)
        body = _check_json_body(request) if request.method in WRITE_METHODS else None
        action = _routes(state, body).get((request.method, name))
        if action is None:
            raise ApiError(
                404, "InvalidAction.NotFound", f"No admin endpoint {request.method} {PREFIX}{name}"
            )
        return json_reply(action())
    except ApiError as err:
        return error_reply(err)
    except ValueError as exc:
        return error_reply(invalid(str(exc)))
