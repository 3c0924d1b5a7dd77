"""``pacing="process"``: each process paces alone, in memory, and adapts to the throttling it meets.

Processes on different machines with no shared store learn of each other only through DingTalk's throttling
answers. When the offered calls exceed the quota, DingTalk lets the quota through and throttles the rest,
so the share of a process's answers that were throttled in a window, ``t``, tells every process the same
thing: together they offered ``1 / (1 - t)`` times what fits. The rule, evaluated once per window on that
window's answers:

* **Scale to fit.** Multiply the allowed share by ``(1 - t) / (1 - TARGET)`` (within ``[FLOOR, GROW]``): if
  every process does, the calls offered together come to the quota plus a little (``TARGET`` throttled),
  in one step, whatever the number of processes. Four processes that start together at 20/s each see about
  three quarters throttled and drop to about 5/s each in one window, not by halves over several.
* **Refill freed quota fast.** A window without throttles multiplies the share by ``GROW``: when other
  processes finish or slow down, the quota is taken up within a few windows instead of sitting idle.
* **Converge on equal shares.** Every evaluation also adds ``FAIR_STEP`` calls per second: the same for a
  big and a small process, while the scaling is in proportion, so shares drift toward equal.
* **Judge a change by its own answers.** Calls reserved before a change (``run_many`` keeps several
  reserved ahead) start at the old rate; answers that come before the last of them is due are not counted,
  so one overshoot is not cut twice.
* A storm (half of at least ``STORM_ANSWERS`` answers throttled) is evaluated at once, not at the window's
  end; a lone process is never throttled and keeps the full rate from its first call.

Throttled calls are retried by the hook (at least a second later); the target keeps them few enough that a
call throttled at every one of its attempts stays rare (``make bench`` and ``tests/pacing_model.py``).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_dtcal.core.pacing.base import Pacer
from airflow_dtcal.core.pacing.rule import PACER_WINDOW, next_start

#: The share of answers the rule aims to see throttled when several processes share the quota blind.
TARGET = 0.05
#: The most one evaluation may cut: to a quarter.
FLOOR = 0.25
#: Calls per second a window without throttles adds (the same for every share, which evens shares out).
GROW_CALLS = 2.0
#: Evaluate at once when at least this many answers of the current window came, half of them throttled.
STORM_ANSWERS = 8
#: The lowest share this backend goes down to (20/s: 1 call a second).
PROCESS_MIN_FACTOR = 0.05


@dataclass
class _State:
    starts: list[float] = field(default_factory=list)
    factor: float = 1.0
    evaluated_at: float = -math.inf  # the start of the window whose answers are being counted
    answered: int = 0
    throttled: int = 0


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
            start, state.starts = next_start(state.starts, now, rate, state.factor, window)
            return start - now

    def throttled(self, key: tuple, rate: float, window: float = PACER_WINDOW) -> None:
        self._answer(key, rate, window, throttled=True)

    def succeeded(self, key: tuple) -> None:
        self._answer(key, 0.0, PACER_WINDOW, throttled=False)

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
            if now < state.evaluated_at:  # an answer to a call reserved before the last change: stale
                return
            state.answered += 1
            state.throttled += throttled
            if throttled and state.answered >= STORM_ANSWERS and state.throttled * 2 >= state.answered:
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
        if rate > 0 and share_throttled == 0:  # additive growth: the same for big and small shares
            state.factor = min(1.0, state.factor + GROW_CALLS * self._rng.uniform(0.75, 1.25) / rate)
        elif rate > 0:  # multiplicative decrease, in proportion to the overshoot
            step = min(1.0, max(FLOOR, (1 - share_throttled) / (1 - TARGET)))
            state.factor = max(PROCESS_MIN_FACTOR, state.factor * step * self._rng.uniform(0.97, 1.03))
        # calls reserved until now start at the old rate: their answers say nothing of the new one
        state.evaluated_at = max(now, state.starts[-1]) if state.starts else now
        state.answered, state.throttled = 0, 0
