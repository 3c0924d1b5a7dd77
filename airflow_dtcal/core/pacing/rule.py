"""The pacing rule every backend applies, and the names its state is kept under.

DingTalk allows ``rate`` calls per second per app and API (20 on a standard-edition org) in a sliding
one-second window. A pacer reserves each call a start time such that at most ``slots`` starts fall in any
window of ``window * slots / allowed`` seconds, where ``allowed = rate * factor`` is the rate the adaptive
share (``factor``, 1.0 until a throttle) currently allows and ``slots = floor(allowed)`` (at least one), and
never more than the full share allows (``floor(rate)`` starts in any ``window * floor(rate) / rate``). ``window`` is a little longer than
DingTalk's second, so that the jitter between a reserved start and the server seeing the call cannot put
``rate`` calls in one server-side second.

The shared backends (host files, Redis) see every call of the app that is paced through them, so a throttle
there means jitter (a call that reached DingTalk later than booked) or a client outside them sharing the app.
:func:`cut_share` tells the two apart by the share of a window's calls that came back throttled.
"""

from __future__ import annotations

import hashlib
import math

#: The default window (seconds): 10 % over DingTalk's second, for the jitter of processes that each wake up
#: on their own clock. The Redis backend's measured default is in ``shared.REDIS_WINDOW``.
PACER_WINDOW = 1.1
#: Bounds of the ``pacing_window`` setting.
MIN_WINDOW, MAX_WINDOW = 1.0, 2.0
#: The lowest share of ``rate`` an adaptive pacer goes down to.
MIN_FACTOR = 0.05
#: The share of answers an adaptive pacer aims to see throttled; a window with at most twice as many is left
#: alone (isolated throttles are jitter, and are retried).
TARGET = 0.05
#: The most one evaluation may cut the share: to a quarter.
FLOOR = 0.25
#: The shared backends (host files, Redis): every success adds RECOVERY back to the shared share (up to 1).
RECOVERY = 0.02
#: A call whose request went out this many seconds after its booked start moves its start on record.
LATE = 0.01
#: Starts are booked at most this many windows ahead; a caller further back is told to ask again (a negative
#: answer), so the starts a booking is counted from are the ones already sent, moved if they went out late.
HORIZON = 0.5


def next_start(
    starts: list[float], now: float, rate: float, factor: float = 1.0, window: float = PACER_WINDOW
) -> tuple[float, list[float]]:
    """The earliest start, at or after ``now`` and after every start already reserved, that keeps at most
    ``slots`` starts in any window of ``window * slots / allowed`` seconds; and the starts to keep.

    Starts are reserved in order, so any window that long holds at most ``slots`` of them, whatever the
    adaptive share was when each was reserved. Scaling ``slots`` with the share keeps a slowed pacer smooth
    (5 calls a second come as 5 per window, not 20 at once every 4 windows), which matters when several
    processes share the quota without knowing of each other.
    """
    allowed = rate * factor
    slots = max(1, math.floor(allowed))
    span = window * slots / allowed
    start = now
    if starts:
        start = max(start, starts[-1])
    if len(starts) >= slots:
        start = max(start, starts[-slots] + span)
    # A span under DingTalk's second (a share between about a half and 1 with a window close to one second)
    # would let two bursts of ``slots`` into one server-side second: never more than the full share allows.
    full = slots_kept(rate)
    if len(starts) >= full:
        start = max(start, starts[-full] + window * full / rate)
    return start, [*starts, start][-full:]


def book(
    starts: list[float], now: float, rate: float, factor: float = 1.0, window: float = PACER_WINDOW
) -> tuple[float, list[float]]:
    """:func:`next_start` within :data:`HORIZON`: the seconds until the start and the starts to keep, or, for
    a start further ahead, minus the seconds after which to ask again and the starts unchanged."""
    start, kept = next_start(starts, now, rate, factor, window)
    ahead = start - now
    if ahead > HORIZON * window:
        return -(ahead - HORIZON * window), starts
    return ahead, kept


def slots_kept(rate: float) -> int:
    """How many starts a pacer keeps for ``rate`` (the most any share needs)."""
    return max(1, math.floor(rate))


def state_name(key: tuple) -> str:
    """A file or store key for one app and API: a digest, so no app key, secret digest or path part shows."""
    return hashlib.sha256("\0".join(map(str, key)).encode()).hexdigest()[:32]


def cut_share(factor: float, base: float, throttles: int, booked: int) -> float:
    """The shared share once ``throttles`` of the ``booked`` calls of one window came back throttled, where
    ``base`` was the share when that window's first throttle came and ``factor`` is the share now.

    At most ``2 * TARGET`` of the window's calls throttled: jitter, nothing changes (each is retried). More:
    someone outside the store shares the app, and the share becomes what got through, over the
    ``1 - TARGET`` aimed at, from the window's base (so the throttles of one burst cut once, as deep as
    their share says, at most to ``FLOOR`` of it). A throttle never raises the share.
    """
    throttled = throttles / max(booked, throttles, 1)
    if throttled <= 2 * TARGET:
        return factor
    return min(factor, max(MIN_FACTOR, base * max(FLOOR, (1 - throttled) / (1 - TARGET))))


def moved_start(starts: list[float], booked: float, late: float) -> list[float]:
    """The starts on record once the call booked to start at ``booked`` went out ``late`` seconds after it:
    the start nearest to ``booked`` moves ``late`` seconds on, in order.

    The window of the next calls is counted from the starts on record; a call that went out late (its new
    connection took a while, the event loop was busy) reaches DingTalk late too, and the calls booked a
    window after its booked start would reach DingTalk less than a second after it.
    """
    if not starts:
        return starts
    nearest = min(range(len(starts)), key=lambda i: abs(starts[i] - booked))
    return sorted([*starts[:nearest], *starts[nearest + 1 :], starts[nearest] + late])
