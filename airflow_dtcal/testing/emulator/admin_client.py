"""EmulatorAdmin: drive an emulator running in another process (``dtcal-emulator``) over its admin API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from airflow_dtcal.testing.emulator.controls import EmulatorControls


class EmulatorAdmin(EmulatorControls):
    """Drives an emulator running in another process through its ``/_emulator/`` admin endpoints.

    It ignores proxy environment variables. A refused call raises ``RuntimeError`` with the emulator's
    error message (which names the bad field).
    """

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def __repr__(self) -> str:
        return f"<EmulatorAdmin {self.base_url}>"

    def _call(self, method: str, name: str, payload: Any = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(f"{self.base_url}/_emulator/{name}", data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise RuntimeError(f"emulator admin {method} {name} failed: HTTP {exc.code} {detail}") from None
        return json.loads(raw) if raw else None

    def health(self) -> bool:
        return bool(self._call("GET", "health").get("ok"))

    def events(self) -> list[dict]:
        return self._call("GET", "state")["events"]

    def stats(self) -> dict:
        return self._call("GET", "stats")

    def requests(self) -> list[dict]:
        return self._call("GET", "requests")["requests"]

    def faults(self) -> list[dict]:
        return self._call("GET", "faults")["faults"]

    def config(self) -> dict:
        return self._call("GET", "config")

    def reset(self) -> None:
        self._call("POST", "reset", {})

    def set_qps_limit(self, qps_limit: int | None) -> None:
        self._call("POST", "config", {"qps_limit": qps_limit})

    def set_latency(self, seconds: float) -> None:
        self._call("POST", "config", {"latency": seconds})

    def set_token_ttl(self, seconds: float) -> None:
        self._call("POST", "config", {"token_ttl": seconds})

    def set_monthly_quota(self, calls: int | None) -> None:
        self._call("POST", "config", {"monthly_quota": calls})

    def revoke_tokens(self) -> None:
        self._call("POST", "revoke-tokens", {})

    def expire_client_tokens(self) -> None:
        self._call("POST", "expire-client-tokens", {})

    def seed_events(self, events: list[dict]) -> list[str]:
        return self._call("POST", "seed", {"events": events})["ids"]

    def seed_users(self, users: list[dict]) -> list[str]:
        return self._call("POST", "users", {"users": users})["userIds"]

    def remove_users(self, user_ids: list[str]) -> list[str]:
        return self._call("POST", "users/remove", {"userIds": user_ids})["userIds"]

    def seed_rooms(self, rooms: list[dict]) -> list[str]:
        return self._call("POST", "rooms", {"rooms": rooms})["roomIds"]

    def rooms(self) -> list[dict]:
        return self._call("GET", "rooms")["rooms"]

    def users(self) -> list[dict]:
        return self._call("GET", "users")["users"]

    def add_fault(self, kind: str, count: int = 1, operation: str | None = None, **params: Any) -> dict:
        payload = {"kind": kind, "count": count, "operation": operation}
        payload.update({k: v for k, v in params.items() if v is not None})
        return self._call("POST", "faults", payload)

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    # ---- ListEvents sync tokens

    def set_sync_token_ttl(self, seconds: float) -> None:
        self._call("POST", "config", {"sync_token_ttl": seconds})

    def expire_sync_tokens(self) -> None:
        self._call("POST", "expire-sync-tokens", {})

    # ---- Stream mode

    def set_stream_ticket_ttl(self, seconds: float) -> None:
        self._call("POST", "config", {"stream_ticket_ttl": seconds})

    def set_stream_redelivery_delay(self, seconds: float) -> None:
        self._call("POST", "config", {"stream_redelivery_delay": seconds})

    def set_stream_delivery(self, seed: int = 0, duplicate_rate: float = 0.0) -> None:
        self._call("POST", "config", {"stream_seed": seed, "stream_duplicate_rate": duplicate_rate})

    def stream_stats(self) -> dict:
        return self._call("GET", "stream")

    def stream_connections(self) -> list[dict]:
        return self._call("GET", "stream/connections")["connections"]

    def stream_messages(self) -> list[dict]:
        return self._call("GET", "stream/messages")["messages"]

    def pending_stream_messages(self) -> list[dict]:
        return self._call("GET", "stream/pending")["messages"]

    def acked_stream_messages(self) -> list[dict]:
        return self._call("GET", "stream/acked")["messages"]

    def drop_stream_connections(self) -> int:
        return self._call("POST", "stream/drop", {})["connections"]

    def disconnect_stream_connections(self) -> int:
        return self._call("POST", "stream/disconnect", {})["connections"]

    def ping_stream_connections(self) -> int:
        return self._call("POST", "stream/ping", {})["connections"]

    def expire_stream_tickets(self) -> None:
        self._call("POST", "stream/expire-tickets", {})
