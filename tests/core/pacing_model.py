"""A deterministic model of worker processes sharing DingTalk's quota with ``pacing="process"``, in simulated
time: no sleeping, no machine noise, the same result on every run for a given seed.

Each process has its own :class:`~airflow_dtcal.core.pacing.ProcessPacer` (its clock is the model's) and
``in_flight`` workers, as ``run_many`` keeps; each worker reserves a start, sends, and its call reaches the
server ``latency`` (+ up to ``jitter``) later, where a sliding one-second window admits at most ``quota`` calls
(the emulator's rule). A throttled call is retried as the hook's retry policy does (exponential backoff with
jitter, at least DingTalk's one-second hint), at most ``attempts`` times (the hook's ``max_throttled_attempts``); then the error reaches the caller.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import random
from dataclasses import dataclass

from airflow_dtcal.core.pacing import ProcessPacer
from airflow_dtcal.core.pacing.rule import PACER_WINDOW

KEY = ("app", "CreateEvent")


@dataclass
class Outcome:
    elapsed: float
    ok: int
    errors: int
    sent: int
    throttled: int
    per_process: list[float]
    quota: int

    @property
    def aggregate_over_quota(self) -> float:
        return self.ok / self.elapsed / self.quota

    @property
    def throttled_share(self) -> float:
        return self.throttled / self.sent


def run(
    processes: int,
    calls_each: int,
    *,
    seed: int = 1,
    quota: int = 20,
    rate: float = 20.0,
    latency: float = 0.15,
    jitter: float = 0.02,
    in_flight: int = 8,
    attempts: int = 8,  # the hook's max_throttled_attempts
    backoff_initial: float = 0.5,
) -> Outcome:
    rng = random.Random(seed)
    now = [0.0]
    pacers = [ProcessPacer(random.Random(seed * 1000 + i), clock=lambda: now[0]) for i in range(processes)]
    events: list = []
    order = itertools.count()
    window: collections.deque[float] = collections.deque()
    left = [calls_each] * processes
    done_at = [0.0] * processes
    counts = {"ok": 0, "errors": 0, "sent": 0, "throttled": 0}

    def at(time: float, action, *args) -> None:
        heapq.heappush(events, (time, next(order), action, args))

    def start_next(p: int) -> None:
        if left[p]:
            left[p] -= 1
            reserve(p, 1)

    def reserve(p: int, attempt: int) -> None:
        delay = pacers[p].reserve(KEY, rate, PACER_WINDOW)
        if delay < 0:  # not booked: ask again then
            at(now[0] - delay, reserve, p, attempt)
        else:
            at(now[0] + delay, send, p, attempt)

    def send(p: int, attempt: int) -> None:
        counts["sent"] += 1
        at(now[0] + latency + rng.uniform(0, jitter), arrive, p, attempt)

    def arrive(p: int, attempt: int) -> None:
        while window and window[0] <= now[0] - 1.0:
            window.popleft()
        if len(window) < quota:
            window.append(now[0])
            pacers[p].succeeded(KEY)
            counts["ok"] += 1
            done_at[p] = now[0]
            start_next(p)
            return
        counts["throttled"] += 1
        pacers[p].throttled(KEY, rate, PACER_WINDOW)
        if attempt >= attempts:
            counts["errors"] += 1
            done_at[p] = now[0]
            start_next(p)
            return
        exponential = backoff_initial * 2 ** (attempt - 1)
        wait = max(rng.uniform(exponential / 2, exponential), 1.0 + rng.uniform(0, backoff_initial / 2))
        at(now[0] + wait, reserve, p, attempt + 1)

    for p in range(processes):
        for _ in range(in_flight):
            start_next(p)
    while events:
        now[0], _, action, args = heapq.heappop(events)
        action(*args)
    return Outcome(
        max(done_at), counts["ok"], counts["errors"], counts["sent"], counts["throttled"], done_at, quota
    )
