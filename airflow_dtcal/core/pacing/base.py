"""The one small interface every pacing backend implements, and the warning each backend gives once.

The hook asks a backend for the seconds to wait before each call (``reserve``/``areserve``) and tells it how
the call went (``throttled``/``succeeded`` and their async twins); the caller sleeps (``time.sleep`` or
``asyncio.sleep``), never the backend. A backend whose store fails (a stuck file lock, an unreachable Redis)
paces that call through its fallback instead and says so once per process: no task fails because of the
limiter. A call that went out later than its booked start (``late``: a new connection, a busy event loop)
moves its start on record to when it went out, so the calls booked after it keep their distance from it.
"""

from __future__ import annotations

import logging
import threading

from airflow_dtcal.core.pacing.rule import PACER_WINDOW

log = logging.getLogger("airflow_dtcal.pacing")


class Pacer:
    """At most ``rate`` call starts per second per key (app + API), adaptive to throttling answers."""

    #: The backend's name, as the ``pacing`` setting spells it.
    name = ""

    def reserve(self, key: tuple, rate: float, window: float = PACER_WINDOW) -> float:
        """Reserve the next start for ``key``; the seconds to wait before starting (0 when free).

        A negative answer means nothing was reserved: ask again after that many seconds (the in-process
        pacer books starts only a little ahead, so that its own rate changes apply to the calls waiting)."""
        raise NotImplementedError

    async def areserve(self, key: tuple, rate: float, window: float = PACER_WINDOW) -> float:
        """:meth:`reserve` for an event loop: never blocks it."""
        return self.reserve(key, rate, window)

    def throttled(self, key: tuple, rate: float, window: float = PACER_WINDOW) -> None:
        """DingTalk answered a call of ``key`` with a throttling code: someone else shares the quota."""
        raise NotImplementedError

    async def athrottled(self, key: tuple, rate: float, window: float = PACER_WINDOW) -> None:
        self.throttled(key, rate, window)

    def late(self, key: tuple, due_ago: float, seconds: float) -> None:
        """The call of ``key`` whose start came ``due_ago`` seconds ago went out ``seconds`` after it: record
        when it went out (see :func:`~.rule.moved_start`)."""

    async def alate(self, key: tuple, due_ago: float, seconds: float) -> None:
        self.late(key, due_ago, seconds)

    def succeeded(self, key: tuple) -> None:
        """A call of ``key`` went through."""

    async def asucceeded(self, key: tuple) -> None:
        self.succeeded(key)

    def factor(self, key: tuple) -> float:
        """The share of ``rate`` this backend currently allows ``key`` (1.0 until a throttle); for logs."""
        return 1.0

    def clear(self) -> None:
        """Forget all pacing history this backend keeps (tests, credential rotation)."""


class WarnOnce:
    """One warning per process and topic: a degraded limiter says so once, not on every call."""

    def __init__(self) -> None:
        self._said: set[str] = set()
        self._guard = threading.Lock()

    def __call__(self, topic: str, message: str, *args: object) -> bool:
        with self._guard:
            if topic in self._said:
                return False
            self._said.add(topic)
        log.warning(message, *args)
        return True

    def forget(self) -> None:
        with self._guard:
            self._said.clear()


WARN_ONCE = WarnOnce()
