"""The pacing rule every backend applies, and the names its state is kept under.

DingTalk allows ``rate`` calls per second per app and API (20 on a standard-edition org) in a sliding
one-second window. A pacer reserves each call a start time such that at most ``slots`` starts fall in any
window of ``window * slots / allowed`` seconds, where ``allowed = rate * factor`` is the rate the adaptive
share (``factor``, 1.0 until a throttle) currently allows and ``slots = floor(allowed)`` (at least one).
``window`` is a little longer than DingTalk's second, so that the jitter between a reserved start and the
server seeing the call cannot put ``rate`` calls in one server-side second.
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
#: The shared backends (host files, Redis): a throttle multiplies the one shared factor by this, at most
#: once per window; every success adds RECOVERY back (up to 1).
BACKOFF_FACTOR = 0.5
RECOVERY = 0.02


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
    return start, [*starts, start][-slots:]


def slots_kept(rate: float) -> int:
    """How many starts a pacer keeps for ``rate`` (the most any share needs)."""
    return max(1, math.floor(rate))


def state_name(key: tuple) -> str:
    """A file or store key for one app and API: a digest, so no app key, secret digest or path part shows."""
    return hashlib.sha256("\0".join(map(str, key)).encode()).hexdigest()[:32]
