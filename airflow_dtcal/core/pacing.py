"""Process-wide state shared by every hook, sync or async, in one worker or triggerer process.

* :class:`TokenCache`: one access token per app (host, app key, secret digest), renewed shortly before it
  expires; one fetch at a time per app (a thread lock for sync callers, an asyncio lock per event loop for
  async ones).
* :class:`Pacer`: at most ``rate`` request starts per second per app and API, with fractional rates honoured.
  It only computes how long a caller must wait; the caller sleeps (``time.sleep`` or ``asyncio.sleep``), so
  the event loop is never blocked.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections import deque

#: The pacer's window is a little longer than DingTalk's one second, so that network jitter cannot make
#: ``rate`` calls arrive within one server-side second.
PACER_WINDOW = 1.05


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


class Pacer:
    """At most ``rate`` starts per second per key, as a sliding window of reserved start times.

    A rate of 20 allows 20 starts in any 1.05 s; a rate of 2.5 allows 2 starts in any 0.84 s. Reservations
    are made in order, so callers that wait concurrently (threads or tasks) start in turn.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._starts: dict[tuple, deque] = {}

    def reserve(self, key: tuple, rate: float) -> float:
        """Reserve the next start for ``key``; return the seconds to wait before starting (0 when free)."""
        if rate <= 0:
            return 0.0
        slots = max(1, math.floor(rate))
        window = PACER_WINDOW * slots / rate
        with self._guard:
            starts = self._starts.setdefault(key, deque())
            now = time.monotonic()
            while len(starts) > slots or (starts and now - starts[0] >= window):
                starts.popleft()
            start = now if len(starts) < slots else max(now, starts[-slots] + window)
            starts.append(start)
            return start - now

    def clear(self) -> None:
        with self._guard:
            self._starts.clear()


TOKENS = TokenCache()
PACER = Pacer()
