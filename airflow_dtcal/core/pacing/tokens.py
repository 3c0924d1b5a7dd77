"""Access tokens per app, shared by every hook of the process (sync and async callers)."""

from __future__ import annotations

import asyncio
import threading
import time
import weakref


class TokenCache:
    """Access tokens per app, shared by every hook of the process."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._thread_locks: dict[tuple, threading.Lock] = {}
        self._loop_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._tokens: dict[tuple, tuple[str, float]] = {}

    def get(self, app: tuple) -> str | None:
        entry = self._tokens.get(app)
        if entry and time.monotonic() < entry[1]:
            return entry[0]
        return None

    def put(self, app: tuple, token: str, lifetime: float) -> None:
        margin = min(300.0, lifetime * 0.1)
        with self._guard:
            self._tokens[app] = (token, time.monotonic() + max(lifetime - margin, 1.0))

    def invalidate(self, app: tuple, token: str) -> None:
        """Forget ``token`` unless another caller has already replaced it."""
        with self._guard:
            entry = self._tokens.get(app)
            if entry and entry[0] == token:
                del self._tokens[app]

    def clear(self) -> None:
        with self._guard:
            self._tokens.clear()

    def thread_lock(self, app: tuple) -> threading.Lock:
        with self._guard:
            return self._thread_locks.setdefault(app, threading.Lock())

    def loop_lock(self, app: tuple) -> asyncio.Lock:
        """The asyncio lock of ``app`` for the running event loop (locks cannot cross loops)."""
        loop = asyncio.get_running_loop()
        with self._guard:
            locks = self._loop_locks.setdefault(loop, {})
            return locks.setdefault(app, asyncio.Lock())


TOKENS = TokenCache()
