"""``pacing="process"``: each process paces alone, in memory, and adapts to the throttling it meets.

Processes on different machines with no shared store learn of each other only through DingTalk's throttling
answers. When the calls offered together exceed the quota, DingTalk lets the quota through and throttles the
rest, so the share ``t`` of a process's answers that were throttled tells it how far over the quota all of
them together are: about ``1 / (1 - t)`` times. The rule:

* **Scale down to what fits.** Once a window, a window with more than ``2 * TARGET`` of its answers
  throttled multiplies the allowed share by ``(1 - t) / (1 - TARGET)`` (at least ``FLOOR``): when every
  process does, the calls offered come to the quota plus a little, in one step, whatever the number of
  processes. A storm (at least half of ``STORM_ANSWERS`` answers throttled) is judged at once.
* **Judge a change by its own answers.** Calls booked before a cut go out at the old rate; as many answers
  as were then outstanding are not counted, so one overshoot is not cut twice.
* **Grow by calls, faster when it stays quiet and the further below the full share.** A window without
  throttles adds ``GROW_CALLS`` calls per second plus ``GROW_DEFICIT`` of the rate the share lacks to the
  full one, doubling with every quiet window in a row (up to ``2 ** MAX_DOUBLINGS``): near the limit the
  aggregate creeps up, and quota freed by a process that finished is taken up within a few windows. A small
  share grows faster than a big one, which evens them out, so the process cut deepest does not finish last
  alone at a fraction of the quota (the model's 4 processes × 50 creates at 150 ms: median 0.78 of the quota
  with growth by the current rate, 0.82 with this). More probing means more throttles: a request
  DingTalk keeps throttling gets ``max_throttled_attempts`` tries (core.retry), so no error reaches a caller.
* **No bursts while sharing, no long queues.** Below its full share a process spaces its calls evenly (one
  every ``window / allowed`` seconds), so every process meets the server's window alike; and it books starts
  at most ``HORIZON`` windows ahead: a caller further back is told to ask again (a negative answer), so a
  rate that grows applies to the calls already waiting.
* A lone process is never throttled and keeps the full rate, bursts included, from its first call; a call of
  it that went out late moves its start on record (as every backend does), a call of a sharing one does not.

``tests/core/pacing_model.py`` models processes sharing the quota in simulated time; ``make bench`` measures real
ones against the emulator (docs/benchmarks.md).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_dtcal.core.pacing.base import Pacer
from airflow_dtcal.core.pacing.rule import (
    FLOOR,
    HORIZON,
    PACER_WINDOW,
    TARGET,
    moved_start,
    next_start,
    slots_kept,
)

#: A window without throttles adds GROW_CALLS calls per second plus GROW_DEFICIT of the rate the share lacks.
GROW_CALLS = 0.5
GROW_DEFICIT = 0.1
#: The growth doubles with every window in a row without a throttle, up to 2 ** MAX_DOUBLINGS.
MAX_DOUBLINGS = 3
#: Evaluate at once when at least this many answers of the current window came, half of them throttled.
STORM_ANSWERS = 4
#: The lowest share this backend goes down to (20/s: 1 call a second).
PROCESS_MIN_FACTOR = 0.05


@dataclass
class _State:
    starts: list[float] = field(default_factory=list)
    factor: float = 1.0
    evaluated_at: float = -math.inf  # the start of the window whose answers are being counted
    answered: int = 0
    throttled: int = 0
    quiet: int = 0  # windows in a row without a throttle
    booked: int = 0  # starts handed out, ever
    heard: int = 0  # answers heard, ever
    stale_until: int = 0  # answers up to this count are to calls booked before the last change


class ProcessPacer(Pacer):
    """Adaptive pacing per key in this process's memory."""

    name = "process"

    def __init__(self, rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._guard = threading.Lock()
        self._state: dict[tuple, _State] = {}
        self._rng = rng or random.Random()
        self._clock = clock

    def reserve(self, key: tuple, rate: float, window: float = PACER_WINDOW) -> float:
        if rate <= 0:
            return 0.0
        with self._guard:
            state = self._state.setdefault(key, _State())
            now = self._clock()
            self._evaluate(state, now, rate, window)
            if state.factor < 1.0:  # sharing: one call every window / allowed seconds, no bursts
                gap = window / (rate * state.factor)
                start = max(now, state.starts[-1] + gap) if state.starts else now
                starts = [*state.starts, start][-slots_kept(rate) :]
            else:
                start, starts = next_start(state.starts, now, rate, state.factor, window)
            if start - now > HORIZON * window:  # not booked: ask again when the rate may have changed
                return -(start - now - HORIZON * window * self._rng.uniform(0.5, 1.0))
            state.starts = starts
            state.booked += 1
            return start - now

    def throttled(self, key: tuple, rate: float, window: float = PACER_WINDOW) -> None:
        self._answer(key, rate, window, throttled=True)

    def succeeded(self, key: tuple) -> None:
        self._answer(key, 0.0, PACER_WINDOW, throttled=False)

    def late(self, key: tuple, due_ago: float, seconds: float) -> None:
        """At the full share a late call moves its start on record (the next window's burst counts from when
        DingTalk saw it). Below it, calls are spaced evenly and the share is learnt from throttles: moving a
        start would only space the next call further, lowering the rate below what the share allows by as
        much as the machine is busy (the bench's 4 sharing processes measured 0.74 of the quota once late
        moves came in, 0.85 before; docs/benchmarks.md has the runs since)."""
        with self._guard:
            state = self._state.get(key)
            if state is not None and state.factor >= 1.0:
                state.starts = moved_start(state.starts, self._clock() - due_ago, seconds)

    def factor(self, key: tuple) -> float:
        with self._guard:
            state = self._state.get(key)
            return state.factor if state else 1.0

    def clear(self) -> None:
        with self._guard:
            self._state.clear()

    def _answer(self, key: tuple, rate: float, window: float, *, throttled: bool) -> None:
        with self._guard:
            state = self._state.get(key)
            if state is None:
                return
            now = self._clock()
            if state.evaluated_at == -math.inf:
                state.evaluated_at = now
            state.heard += 1
            if state.heard <= state.stale_until:  # an answer to a call booked before the last change
                return
            state.answered += 1
            state.throttled += throttled
            storm = state.answered >= STORM_ANSWERS and state.throttled * 2 >= state.answered
            if throttled and storm:  # answers to calls booked before the last cut are not counted
                self._evaluate(state, now, rate, window, now_or_never=True)

    def _evaluate(
        self, state: _State, now: float, rate: float, window: float, now_or_never: bool = False
    ) -> None:
        """Once a window (or at once in a storm), scale the share to the answers of the window just gone."""
        if not now_or_never and now - state.evaluated_at < window:
            return
        if state.evaluated_at == -math.inf or state.answered == 0:  # idle: nothing learnt
            state.evaluated_at = now
            return
        share_throttled = state.throttled / state.answered
        if rate > 0 and share_throttled == 0:  # growth: more for a small share than for a big one
            state.quiet += 1
            deficit = GROW_DEFICIT * rate * (1.0 - state.factor)
            calls = (deficit + GROW_CALLS) * 2 ** min(state.quiet - 1, MAX_DOUBLINGS)
            state.factor = min(1.0, state.factor + calls * self._rng.uniform(0.75, 1.25) / rate)
        elif rate > 0 and share_throttled > 2 * TARGET:
            state.quiet = 0
            step = max(FLOOR, (1 - share_throttled) / (1 - TARGET))  # scale down to what fits
            state.factor = max(PROCESS_MIN_FACTOR, state.factor * step * self._rng.uniform(0.97, 1.03))
            state.stale_until = state.booked  # calls booked until now go out at the old rate
        state.evaluated_at, state.answered, state.throttled = now, 0, 0
