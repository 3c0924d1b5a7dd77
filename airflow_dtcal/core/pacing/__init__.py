"""Process-wide state shared by every hook, sync or async: access tokens, the pacers and the month's ledger.

=================  ==================================================================================
``tokens``         :class:`TokenCache`: one access token per app, one fetch at a time
``rule``           the pacing rule (at most ``rate`` starts in any window) and the state's names
``base``           :class:`Pacer`, the interface the hook calls: ``reserve``/``areserve`` (seconds to
                   wait), ``throttled``/``succeeded`` and their async twins
``process``        ``pacing="process"``: in memory, adaptive (throttles take off what was too much)
``files``          private, locked, bounded state files on a shared machine
``host``           ``pacing="host"`` (default): every process of the machine through those files
``shared``         ``pacing="redis"``: every process of every machine through one Redis, on its clock
``month``          the deployment's calls this month per app and DAG (the ``monthly_budget`` ledger)
=================  ==================================================================================

Every backend falls back to the next one down (Redis -> host files -> this process) when its store fails,
with one warning per process; the pacer only computes how long a caller must wait and the caller sleeps, so
an event loop is never blocked by pacing.
"""

from __future__ import annotations

import threading

from airflow_dtcal.core.pacing.base import WARN_ONCE, Pacer
from airflow_dtcal.core.pacing.files import DIRECTORY_ENV
from airflow_dtcal.core.pacing.host import HostPacer
from airflow_dtcal.core.pacing.month import HostLedger, RedisLedger, Usage
from airflow_dtcal.core.pacing.process import ProcessPacer
from airflow_dtcal.core.pacing.rule import PACER_WINDOW, next_start
from airflow_dtcal.core.pacing.shared import RedisPacer, RedisStore
from airflow_dtcal.core.pacing.tokens import TOKENS, TokenCache

__all__ = [
    "DIRECTORY_ENV",
    "PACERS",
    "PACER_WINDOW",
    "TOKENS",
    "HostLedger",
    "HostPacer",
    "Pacer",
    "Pacers",
    "ProcessPacer",
    "RedisLedger",
    "RedisPacer",
    "RedisStore",
    "TokenCache",
    "Usage",
    "next_start",
]


class Pacers:
    """Every pacing backend of this process and their ledgers: one in-memory, one host, one per Redis."""

    def __init__(self) -> None:
        self.process = ProcessPacer()
        self.host = HostPacer(fallback=self.process)
        self.host_ledger = HostLedger()
        self._redis: dict[str, tuple[RedisPacer, RedisLedger]] = {}
        self._guard = threading.Lock()

    def redis(self, label: str, make_store) -> tuple[RedisPacer, RedisLedger]:
        """The Redis pacer and ledger named ``label`` (a connection id), made on first use by ``make_store``."""
        with self._guard:
            found = self._redis.get(label)
        if found is None:
            store: RedisStore = make_store()
            with self._guard:
                found = self._redis.setdefault(
                    label, (RedisPacer(store, self.host), RedisLedger(store, self.host_ledger))
                )
        return found

    def has_redis(self, label: str) -> bool:
        with self._guard:
            return label in self._redis

    def clear(self) -> None:
        """Forget every pacing history of this process and this machine (tests, credential rotation); the
        month's ledger is kept."""
        with self._guard:
            redis = list(self._redis.values())
        for pacer, _ledger in redis:
            pacer.clear()
        self.host.clear()
        WARN_ONCE.forget()

    def forget_redis(self) -> None:
        """Drop the Redis backends (tests that start and stop Redis servers)."""
        with self._guard:
            self._redis.clear()


PACERS = Pacers()
#: The name earlier releases used; ``PACER.clear()`` forgets all pacing history.
PACER = PACERS
