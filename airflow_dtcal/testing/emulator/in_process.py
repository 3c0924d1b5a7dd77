"""DingTalkEmulator: the emulator in this process, serving real HTTP on a background thread."""

from __future__ import annotations

import threading
from typing import Any

from airflow_dtcal.testing.emulator import admin, directory, faults, stream
from airflow_dtcal.testing.emulator import events as event_store
from airflow_dtcal.testing.emulator import rooms as room_store
from airflow_dtcal.testing.emulator.contract import DEFAULT_QPS_LIMIT, TOKEN_TTL
from airflow_dtcal.testing.emulator.controls import EmulatorControls
from airflow_dtcal.testing.emulator.server import IDLE_TIMEOUT, MAX_BODY_BYTES, REQUEST_TIMEOUT, Server
from airflow_dtcal.testing.emulator.state import State


class DingTalkEmulator(EmulatorControls):
    """An in-process DingTalk Calendar emulator serving real HTTP on a background thread.

    The server starts in the constructor and stops on :meth:`close` (or leaving the ``with`` block).
    ``qps_limit=None`` (or 0) disables throttling; ``latency`` is seconds added before each API answer;
    ``apps`` maps accepted app keys to secrets (``None`` accepts any non-empty key and secret).
    ``monthly_quota`` caps the calendar calls per month (``None``: no quota).
    ``max_body_bytes``, ``request_timeout`` and ``idle_timeout`` bound what one client may hold.
    """

    #: Credentials the ``dtcal_emulator`` pytest fixture configured (None outside the fixture).
    app_key: str | None = None
    app_secret: str | None = None

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        qps_limit: int | None = DEFAULT_QPS_LIMIT,
        latency: float = 0.0,
        token_ttl: float = TOKEN_TTL,
        apps: dict[str, str] | None = None,
        *,
        monthly_quota: int | None = None,
        max_logged_requests: int = 10000,
        max_body_bytes: int = MAX_BODY_BYTES,
        request_timeout: float = REQUEST_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        for name, value in (("request_timeout", request_timeout), ("idle_timeout", idle_timeout)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
        if not isinstance(max_body_bytes, int) or isinstance(max_body_bytes, bool) or max_body_bytes < 0:
            raise ValueError(f"max_body_bytes must be an integer >= 0, got {max_body_bytes!r}")
        self._state = State(qps_limit, latency, token_ttl, apps, max_logged_requests, monthly_quota)
        self._server = Server(
            (host, port),
            self._state,
            max_body_bytes=max_body_bytes,
            request_timeout=float(request_timeout),
            idle_timeout=float(idle_timeout),
        )
        self.host = host
        self.port = self._server.server_address[1]
        self.base_url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"dtcal-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._closed = False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.close_open_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    stop = close

    def __enter__(self) -> DingTalkEmulator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<DingTalkEmulator {self.base_url}>"

    # ---- inspection

    def events(self) -> list[dict]:
        return event_store.dump_events(self._state)

    def event(self, event_id: str) -> dict | None:
        return event_store.dump_event(self._state, event_id)

    def stats(self) -> dict:
        return self._state.stats()

    def requests(self) -> list[dict]:
        return self._state.requests()

    def faults(self) -> list[dict]:
        return admin.list_faults(self._state)

    def config(self) -> dict:
        return self._state.config()

    # ---- control

    def reset(self) -> None:
        self._state.reset()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until the server handles no request (True), or ``timeout`` seconds pass (False)."""
        return self._state.wait_idle(timeout)

    def set_qps_limit(self, qps_limit: int | None) -> None:
        self._state.configure(qps_limit=qps_limit)

    def set_latency(self, seconds: float) -> None:
        self._state.configure(latency=seconds)

    def set_token_ttl(self, seconds: float) -> None:
        self._state.configure(token_ttl=seconds)

    def set_monthly_quota(self, calls: int | None) -> None:
        """Cap this month's calendar calls (``None``: no quota). Calls already counted stay counted."""
        self._state.configure(monthly_quota=calls)

    def revoke_tokens(self) -> None:
        self._state.revoke_tokens()

    def expire_client_tokens(self) -> None:
        """Forget every ``x-client-token`` (as if a day had passed since each write)."""
        self._state.expire_client_tokens()

    def seed_events(self, events: list[dict]) -> list[str]:
        """Preload events (the ``--seed`` file format); returns their ids."""
        return event_store.seed(self._state, events)

    def seed_users(self, users: list[dict]) -> list[str]:
        """Add users to the directory (``{userId, unionId, mobile, name, active}``); returns their userIds."""
        return directory.seed_users(self._state, users)

    def remove_users(self, user_ids: list[str]) -> list[str]:
        """Remove people from the directory (they left); returns the userIds removed."""
        return directory.remove_users(self._state, user_ids)

    def seed_rooms(self, rooms: list[dict]) -> list[str]:
        """Add meeting rooms (``{roomId, roomName, roomCapacity}``); returns their ids."""
        return room_store.seed_rooms(self._state, rooms)

    def rooms(self) -> list[dict]:
        """The seeded meeting rooms, in seed order."""
        return room_store.list_seeded(self._state)

    def users(self) -> list[dict]:
        """The directory, in seed order."""
        return directory.list_users(self._state)

    def add_fault(self, kind: str, count: int = 1, operation: str | None = None, **params: Any) -> dict:
        return faults.add_fault(self._state, faults.make_fault(kind, count, operation, **params))

    # ---- ListEvents sync tokens

    def set_sync_token_ttl(self, seconds: float) -> None:
        """Sync tokens older than ``seconds`` are refused with ``invalidSyncToken`` (default 7 days)."""
        self._state.configure(sync_token_ttl=seconds)

    def expire_sync_tokens(self) -> None:
        """Invalidate every syncToken issued so far (the next delta call gets 400 ``invalidSyncToken``)."""
        self._state.expire_sync_tokens()

    # ---- Stream mode

    def set_stream_ticket_ttl(self, seconds: float) -> None:
        self._state.configure(stream_ticket_ttl=seconds)

    def set_stream_redelivery_delay(self, seconds: float) -> None:
        """Seconds after which an unacked (or LATER) message is sent again on an open connection."""
        self._state.configure(stream_redelivery_delay=seconds)

    def set_stream_delivery(self, seed: int = 0, duplicate_rate: float = 0.0) -> None:
        """Which open connection of an app gets each push (a hash of ``seed`` and the message: see
        docs/emulator.md), and the share of acked pushes pushed once more (0 = never)."""
        self._state.configure(stream_seed=seed, stream_duplicate_rate=duplicate_rate)

    def stream_stats(self) -> dict:
        return stream.stream_stats(self._state)

    def stream_connections(self) -> list[dict]:
        return stream.list_connections(self._state)

    def stream_messages(self) -> list[dict]:
        return stream.list_messages(self._state)

    def pending_stream_messages(self) -> list[dict]:
        return stream.unacked_messages(self._state)

    def acked_stream_messages(self) -> list[dict]:
        return stream.list_messages(self._state, "acked")

    def drop_stream_connections(self) -> int:
        return stream.drop_connections(self._state)

    def disconnect_stream_connections(self) -> int:
        return stream.send_disconnect(self._state)

    def ping_stream_connections(self) -> int:
        return stream.send_ping(self._state)

    def expire_stream_tickets(self) -> None:
        stream.expire_tickets(self._state)

    def clear_faults(self) -> None:
        with self._state.lock:
            self._state.faults.clear()
