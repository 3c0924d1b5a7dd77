"""``pacing="host"`` (the default): every process of this machine paces together through one small locked file
per app and API (see :mod:`.files` for what makes those files safe on a shared machine).

The file holds the shared adaptive share and the last starts, as text (``factor cut_at base throttles`` then
one start per line; machine-wide monotonic seconds), parsed without recursion and with bounds. When the directory is not
private, a file cannot be used or its lock is held too long, the call is paced by this process alone
(:class:`~.process.ProcessPacer`) with one warning per process; a lock timeout makes the key skip the file
for :data:`DEGRADED_SECONDS` so that a stuck lock costs one wait, not one per call.
"""

from __future__ import annotations

import math
import threading
import time

from airflow_dtcal.core.pacing import files
from airflow_dtcal.core.pacing.base import WARN_ONCE, Pacer
from airflow_dtcal.core.pacing.process import ProcessPacer
from airflow_dtcal.core.pacing.rule import (
    MIN_FACTOR,
    PACER_WINDOW,
    RECOVERY,
    book,
    cut_share,
    moved_start,
    slots_kept,
    state_name,
)

#: After a lock timeout, the key is paced in process for this long before the file is tried again.
DEGRADED_SECONDS = 10.0
PREFIX = "pace-"
#: A start further ahead than this (seconds) marks a file as not ours (or from before a reboot).
MAX_AHEAD = 300.0
#: The most starts a file keeps (the highest ``rate_limit`` allowed is 10,000 calls a second).
MAX_STARTS = 10_000


class State:
    """The shared adaptive share, the window of throttles being judged (when it began, the share then, its
    throttles so far) and the last starts."""

    __slots__ = ("base", "cut_at", "factor", "starts", "throttles")

    def __init__(
        self,
        factor: float = 1.0,
        cut_at: float = -math.inf,
        starts: list[float] | None = None,
        base: float = 1.0,
        throttles: int = 0,
    ):
        self.factor, self.cut_at, self.starts = factor, cut_at, starts or []
        self.base, self.throttles = base, throttles

    @classmethod
    def parse(cls, data: bytes, keep: int, now: float) -> State:
        """The state in ``data``; a fresh one for anything torn, foreign or out of bounds (a start more than
        :data:`MAX_AHEAD` seconds ahead, starts out of order)."""
        lines = data.split(b"\n", keep + 1)[: keep + 1]
        try:
            head = lines[0].split()
            if len(head) == 2:  # written by an earlier release: no window of throttles yet
                head += [head[0], b"0"]
            factor_text, cut_text, base_text, throttles_text = head
            factor, cut_at, base = float(factor_text), float(cut_text), float(base_text)
            throttles = int(throttles_text)
            starts = [float(line) for line in lines[1:] if line]
        except (ValueError, IndexError):
            return cls()
        if not all(math.isfinite(f) and MIN_FACTOR <= f <= 1.0 for f in (factor, base)) or math.isnan(cut_at):
            return cls()
        if not 0 <= throttles <= MAX_STARTS:
            return cls()
        if any(not math.isfinite(t) or t > now + MAX_AHEAD for t in starts) or starts != sorted(starts):
            return cls()
        return cls(factor, cut_at, starts[-keep:], base, throttles)

    def dump(self) -> bytes:
        head = f"{self.factor!r} {self.cut_at!r} {self.base!r} {self.throttles}"
        return ("\n".join([head, *(repr(t) for t in self.starts)]) + "\n").encode()

    def reserve(self, now: float, rate: float, window: float) -> float:
        """Seconds until the start booked; negative: nothing booked, ask again after that long."""
        delay, self.starts = book(self.starts, now, rate, self.factor, window)
        return delay

    def throttled(self, now: float, window: float) -> None:
        """Judge the throttles of one window together, by their share of the window's starts (see
        :func:`~.rule.cut_share`)."""
        if now - self.cut_at > window:
            self.cut_at, self.base, self.throttles = now, self.factor, 0
        self.throttles += 1
        booked = sum(1 for t in self.starts if t > now - window)
        self.factor = cut_share(self.factor, self.base, self.throttles, booked)

    def succeeded(self) -> None:
        self.factor = min(1.0, self.factor + RECOVERY)

    def moved(self, booked: float, late: float) -> None:
        self.starts = moved_start(self.starts, booked, late)


class HostPacer(Pacer):
    """Adaptive pacing per key shared by every process of this machine."""

    name = "host"

    def __init__(self, fallback: Pacer | None = None) -> None:
        self.fallback = fallback or ProcessPacer()
        self._guard = threading.Lock()
        self._degraded: dict[tuple, float] = {}
        self._factors: dict[tuple, float] = {}  # the share last read, so successes at 1.0 cost no file access

    # ---- sync

    def reserve(self, key: tuple, rate: float, window: float = PACER_WINDOW) -> float:
        if rate <= 0:
            return 0.0
        if self._skip(key):
            return self.fallback.reserve(key, rate, window)
        try:
            with files.locked(self._name(key)) as fd:
                now = time.monotonic()
                state = State.parse(files.read(fd), slots_kept(rate), now)
                delay = state.reserve(now, rate, window)
                files.write(fd, state.dump())
        except OSError as err:
            self._failed(key, err)
            return self.fallback.reserve(key, rate, window)
        self._factors[key] = state.factor
        return delay

    def throttled(self, key: tuple, rate: float, window: float = PACER_WINDOW) -> None:
        self._update(key, rate, window, lambda s: s.throttled(time.monotonic(), window))
        self.fallback.throttled(key, rate, window)

    def succeeded(self, key: tuple) -> None:
        if self._factors.get(key, 1.0) < 1.0:
            self._update(key, 1.0, PACER_WINDOW, State.succeeded)

    def late(self, key: tuple, due_ago: float, seconds: float) -> None:
        self._update(key, 1.0, PACER_WINDOW, lambda s: s.moved(time.monotonic() - due_ago, seconds))

    # ---- async: the same, waiting for a lock with asyncio.sleep

    async def areserve(self, key: tuple, rate: float, window: float = PACER_WINDOW) -> float:
        if rate <= 0:
            return 0.0
        if self._skip(key):
            return self.fallback.reserve(key, rate, window)
        try:
            async with files.alocked(self._name(key)) as fd:
                now = time.monotonic()
                state = State.parse(files.read(fd), slots_kept(rate), now)
                delay = state.reserve(now, rate, window)
                files.write(fd, state.dump())
        except OSError as err:
            self._failed(key, err)
            return self.fallback.reserve(key, rate, window)
        self._factors[key] = state.factor
        return delay

    async def athrottled(self, key: tuple, rate: float, window: float = PACER_WINDOW) -> None:
        await self._aupdate(key, rate, window, lambda s: s.throttled(time.monotonic(), window))
        self.fallback.throttled(key, rate, window)

    async def asucceeded(self, key: tuple) -> None:
        if self._factors.get(key, 1.0) < 1.0:
            await self._aupdate(key, 1.0, PACER_WINDOW, State.succeeded)

    async def alate(self, key: tuple, due_ago: float, seconds: float) -> None:
        await self._aupdate(key, 1.0, PACER_WINDOW, lambda s: s.moved(time.monotonic() - due_ago, seconds))

    # ---- the rest

    def factor(self, key: tuple) -> float:
        if self._skip(key):
            return self.fallback.factor(key)
        return self._factors.get(key, 1.0)

    def clear(self) -> None:
        with self._guard:
            self._degraded.clear()
            self._factors.clear()
        self.fallback.clear()
        files.remove_all(PREFIX)

    @staticmethod
    def _name(key: tuple) -> str:
        return PREFIX + state_name(key)

    # flock locks belong to an open file: each call opens its own, so threads of one process exclude each
    # other through the file lock as processes do.

    def _update(self, key: tuple, rate: float, window: float, change) -> None:
        if self._skip(key):
            return
        try:
            with files.locked(self._name(key)) as fd:
                state = State.parse(files.read(fd), MAX_STARTS, time.monotonic())
                change(state)
                files.write(fd, state.dump())
        except OSError as err:
            self._failed(key, err)
            return
        self._factors[key] = state.factor

    async def _aupdate(self, key: tuple, rate: float, window: float, change) -> None:
        if self._skip(key):
            return
        try:
            async with files.alocked(self._name(key)) as fd:
                state = State.parse(files.read(fd), MAX_STARTS, time.monotonic())
                change(state)
                files.write(fd, state.dump())
        except OSError as err:
            self._failed(key, err)
            return
        self._factors[key] = state.factor

    def _skip(self, key: tuple) -> bool:
        until = self._degraded.get(key)
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        self._degraded.pop(key, None)
        return False

    def _failed(self, key: tuple, err: OSError) -> None:
        if isinstance(err, files.LockTimeout):
            self._degraded[key] = time.monotonic() + DEGRADED_SECONDS
        WARN_ONCE(
            f"host:{type(err).__name__}",
            "DingTalk pacing: the machine-wide pacing files cannot be used (%s); this process paces its calls "
            "alone until they can",
            err,
        )
