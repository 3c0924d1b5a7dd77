"""Process-wide state shared by every hook, sync or async: access tokens and the pacer.

* :class:`TokenCache`: one access token per app (host, app key, secret digest), renewed shortly before it
  expires; one fetch at a time per app (a thread lock for sync callers, an asyncio lock per event loop for
  async ones).
* :class:`Pacer`: at most ``rate`` request starts per second per app and API, with fractional rates honoured,
  and **adaptive**: a throttling answer halves the rate this client allows itself, and every success grows it
  back by a small step (the pattern of an adaptive retry mode), so clients that share the quota without
  knowing of each other converge on sharing it. With ``shared=True`` the pacer's state lives in a small file
  per app and API under the machine's temp directory, locked with ``flock``, so every worker and triggerer
  process of one machine paces together, exactly, with no extra infrastructure.

The pacer only computes how long a caller must wait; the caller sleeps (``time.sleep`` or ``asyncio.sleep``),
so an event loop is never blocked for longer than a file lock is held (microseconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: The pacer's window is a little longer than DingTalk's one second, so that network jitter cannot make
#: ``rate`` calls arrive within one server-side second.
PACER_WINDOW = 1.1
#: A throttling answer multiplies the allowed rate by this; each success adds RECOVERY back (up to 1).
BACKOFF_FACTOR = 0.5
RECOVERY = 0.02
MIN_FACTOR = 0.05


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


def next_start(starts: list[float], now: float, rate: float, keep: int = 1) -> tuple[float, list[float]]:
    """The sliding-window rule: the earliest start at or after ``now`` that keeps at most ``floor(rate)``
    starts (at least one) in any window of ``PACER_WINDOW * slots / rate`` seconds; and the starts to keep
    (at least ``keep``, so that a rate that grows back cannot release a burst the window no longer remembers)."""
    slots = max(1, math.floor(rate))
    window = PACER_WINDOW * slots / rate
    recent = starts[-slots:]
    start = now if len(recent) < slots else max(now, recent[0] + window)
    return start, [*starts, start][-max(slots, keep) :]


class Pacer:
    """Adaptive pacing per key (app + API), in this process or shared by every process of the machine."""

    def __init__(self, directory: str | None = None) -> None:
        self._guard = threading.Lock()
        self._state: dict[tuple, dict[str, Any]] = {}
        self._directory = directory or os.path.join(tempfile.gettempdir(), f"airflow-dtcal-pacer-{_uid()}")

    # ---- what callers use

    def reserve(self, key: tuple, rate: float, *, shared: bool = False) -> float:
        """Reserve the next start for ``key``; return the seconds to wait before starting (0 when free)."""
        if rate <= 0:
            return 0.0
        with self._state_of(key, shared) as state:
            now = time.monotonic()
            allowed = max(rate * state["factor"], 0.01)
            start, state["starts"] = next_start(state["starts"], now, allowed, keep=max(1, math.floor(rate)))
            return start - now

    def throttled(self, key: tuple, *, shared: bool = False) -> None:
        """DingTalk answered with a throttling code: someone else shares the quota; slow down."""
        with self._state_of(key, shared) as state:
            state["factor"] = max(MIN_FACTOR, state["factor"] * BACKOFF_FACTOR)

    def succeeded(self, key: tuple, *, shared: bool = False) -> None:
        """A call went through: grow the allowed rate back by a small step."""
        if self._factor(key, shared) < 1.0:
            with self._state_of(key, shared) as state:
                state["factor"] = min(1.0, state["factor"] + RECOVERY)

    def factor(self, key: tuple, *, shared: bool = False) -> float:
        """The share of ``rate`` currently allowed (1.0 until a throttle)."""
        return self._factor(key, shared)

    def clear(self) -> None:
        """Forget all pacing history, this machine's shared files included (tests, credential rotation)."""
        with self._guard:
            self._state.clear()
            if os.path.isdir(self._directory):
                for name in os.listdir(self._directory):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(self._directory, name))

    # ---- state, in memory or in a locked file

    def _factor(self, key: tuple, shared: bool) -> float:
        with self._state_of(key, shared) as state:
            return state["factor"]

    @contextmanager
    def _state_of(self, key: tuple, shared: bool) -> Iterator[dict[str, Any]]:
        with self._guard:
            if not shared:
                yield self._state.setdefault(key, {"starts": [], "factor": 1.0})
                return
            with _locked_file(self._directory, key) as handle:
                state = _read(handle)
                yield state
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps(state).encode())
                handle.flush()  # before the lock is released, or the next process reads the old state


def _uid() -> str:
    return str(os.getuid()) if hasattr(os, "getuid") else "user"


@contextmanager
def _locked_file(directory: str, key: tuple) -> Iterator[Any]:
    import fcntl

    os.makedirs(directory, mode=0o700, exist_ok=True)
    name = hashlib.sha256("\0".join(map(str, key)).encode()).hexdigest()[:32]
    fd = os.open(os.path.join(directory, name), os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(handle: Any) -> dict[str, Any]:
    try:
        state = json.loads(handle.read() or b"{}")
        starts = [float(t) for t in state.get("starts", [])][-10000:]
        factor = float(state.get("factor", 1.0))
    except (ValueError, TypeError, AttributeError):  # a torn or foreign file: start afresh
        return {"starts": [], "factor": 1.0}
    if not math.isfinite(factor) or not MIN_FACTOR <= factor <= 1.0:
        factor = 1.0
    return {"starts": [t for t in starts if math.isfinite(t)], "factor": factor}


TOKENS = TokenCache()
PACER = Pacer()
