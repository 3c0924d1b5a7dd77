"""The monthly call budget: what waiting costs, and how to space polls to stay within a budget.

A standard-edition DingTalk organisation gets 5,000 API calls a month (calendar calls count; token and
contacts calls do not). A sensor that polls every minute for a week spends 10,080: twice the month's budget.
Nothing here does I/O or imports Airflow.
"""

from __future__ import annotations

import math

#: Monthly API calls per organisation, by DingTalk edition (since 2025-11-19).
EDITIONS = {"standard": 5_000, "professional": 200_000}
#: The month a watch's ``call_budget`` is spread over, in seconds (30 days).
MONTH_SECONDS = 30 * 24 * 3600.0
#: The first poll of a budgeted wait comes this many seconds after the start; intervals then double.
FIRST_POLL = 30.0


def calls_for(timeout: float, interval: float, calls_per_poll: int = 1) -> int:
    """Calls a wait of ``timeout`` seconds spends polling every ``interval`` seconds (the first check included)."""
    return (1 + math.floor(timeout / interval)) * calls_per_poll


def poll_plan(poll_interval: float, call_budget: int | None, calendars: int) -> tuple[float, int]:
    """``(seconds between polls, calls a 30-day month of polling costs)`` for a watch of ``calendars``
    calendars that polls every ``poll_interval`` seconds at most, spaced further so that a month, its first
    poll included, fits ``call_budget`` (one call per calendar per poll)."""
    interval = float(poll_interval)
    if call_budget is not None:
        polls = call_budget // max(1, calendars)  # polls a month the budget pays for
        spacing = MONTH_SECONDS / (polls - 1) if polls > 1 else MONTH_SECONDS + 1.0
        interval = max(interval, spacing)
    return interval, calls_for(MONTH_SECONDS, interval, calendars)


def share_of_month(calls: int, edition: str = "standard") -> float:
    """``calls`` as a share of an edition's monthly budget."""
    return calls / EDITIONS[edition]


def _polls(first: float, ceiling: float, timeout: float, limit: int) -> int:
    """Polls after the start of a wait whose intervals double from ``first`` up to ``ceiling``."""
    elapsed, interval, polls = 0.0, first, 0
    while polls <= limit:
        elapsed += interval
        if elapsed > timeout:
            return polls
        polls += 1
        interval = min(interval * 2, ceiling)
    return polls


def poll_ceiling(timeout: float, budget: int, first: float = FIRST_POLL) -> float:
    """The longest poll interval of a wait that starts polling ``first`` seconds apart, doubles, and spends
    at most ``budget`` polls (the first check included) in ``timeout`` seconds."""
    if budget < 1:
        raise ValueError("call_budget must be at least 1")
    first = max(first, 1.0)
    if budget == 1 or _polls(first, first, timeout, budget) <= budget - 1:
        return first if budget > 1 else max(timeout, first)
    low, high = first, max(timeout, first)
    for _ in range(60):  # bisection: the number of polls only falls as the ceiling rises
        middle = (low + high) / 2
        if _polls(first, middle, timeout, budget) <= budget - 1:
            high = middle
        else:
            low = middle
    return high


def next_poll(polls_done: int, ceiling: float, first: float = FIRST_POLL) -> float:
    """Seconds before the next poll after ``polls_done`` polls: ``first``, doubling, at most ``ceiling``."""
    return min(max(first, 1.0) * 2 ** min(polls_done, 60), ceiling)
