"""The control methods shared by :class:`DingTalkEmulator` (in-process) and :class:`EmulatorAdmin` (over HTTP):
the fault shortcuts, event look-ups and the Airflow connection pointing at the emulator."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any


class EmulatorControls:
    """Subclasses provide ``base_url``, ``add_fault`` and ``events``; the rest is built on them."""

    base_url: str

    def add_fault(self, kind: str, count: int = 1, operation: str | None = None, **params: Any) -> dict:
        raise NotImplementedError

    def events(self) -> list[dict]:
        raise NotImplementedError

    def stream_connections(self) -> list[dict]:
        raise NotImplementedError

    def acked_stream_messages(self) -> list[dict]:
        raise NotImplementedError

    @staticmethod
    def _wait_for(what: str, probe: Callable[[], list], count: int, timeout: float) -> list:
        deadline = time.monotonic() + timeout
        while True:
            found = probe()
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{len(found)} {what} after {timeout:g} seconds; expected at least {count}"
                )
            time.sleep(0.05)

    def wait_for_stream_connections(self, count: int = 1, timeout: float = 10.0) -> list[dict]:
        """The open Stream connections once there are at least ``count``; ``TimeoutError`` otherwise."""
        return self._wait_for("open Stream connections", self.stream_connections, count, timeout)

    def wait_for_stream_acks(self, count: int, timeout: float = 10.0) -> list[dict]:
        """The acked Stream messages once at least ``count`` are acked; ``TimeoutError`` otherwise."""
        return self._wait_for("acked Stream messages", self.acked_stream_messages, count, timeout)

    def event(self, event_id: str) -> dict | None:
        for ev in self.events():
            if ev["id"] == event_id:
                return ev
        return None

    def attendees(self, event_id: str) -> list[dict]:
        ev = self.event(event_id)
        return list(ev["attendees"]) if ev else []

    def connection_json(self, app_key: str = "dtcal-test-key", app_secret: str = "dtcal-test-secret") -> str:
        """An Airflow connection in JSON form (for ``AIRFLOW_CONN_<ID>``) pointing at this emulator."""
        return json.dumps(
            {
                "conn_type": "dingtalk_calendar",
                "login": app_key,
                "password": app_secret,
                "host": self.base_url,
            }
        )

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        code: str = "ServiceUnavailable",
        message: str = "The service is temporarily unavailable.",
        operation: str | None = None,
        retry_after: int | None = None,
    ) -> dict:
        """The next ``count`` matching calls get a DingTalk error body with ``status``; nothing is applied.

        ``retry_after`` adds a ``Retry-After: <seconds>`` header (DingTalk documents none; proxies may add it).
        """
        return self.add_fault(
            "fail", count, operation, status=status, code=code, message=message, retry_after=retry_after
        )

    def reset_before(self, count: int = 1, operation: str | None = None) -> dict:
        """The next ``count`` matching calls get a TCP reset before anything is applied."""
        return self.add_fault("reset_before", count, operation)

    def reset_after(self, count: int = 1, operation: str | None = None) -> dict:
        """The next ``count`` matching calls are applied, then the connection is reset (the reply is lost)."""
        return self.add_fault("reset_after", count, operation)

    def delay_next(self, count: int = 1, seconds: float = 2.0, operation: str | None = None) -> dict:
        """The next ``count`` matching calls sleep ``seconds`` first, then are applied and answered normally."""
        return self.add_fault("delay", count, operation, seconds=seconds)

    def html_next(self, count: int = 1, status: int = 200, operation: str | None = None) -> dict:
        """The next ``count`` matching calls get an HTML error page with ``status``; nothing is applied."""
        return self.add_fault("html", count, operation, status=status)

    def deny_next(
        self, count: int = 1, wait: int = 1, operation: str | None = None, status: int = 200
    ) -> dict:
        """The next ``count`` matching calls get the IP-ban JSON ``{"status":1111,"wait":wait,"punish":"deny"}``
        with HTTP ``status`` (200 by default: the body carries no ``code``); nothing is applied."""
        return self.add_fault("deny", count, operation, wait=wait, status=status)
