"""The deployment's DingTalk calls this month, per app, with the share of each DAG: the monthly budget's ledger.

DingTalk counts an organisation's calendar calls per calendar month, China time (a standard-edition org gets
5,000). The ledger counts every call the provider sent that DingTalk counts too (see
:func:`counts_toward_month`) in the pacer's store: Redis when ``pacing="redis"`` (the whole deployment),
else a small locked file in the machine's private pacing directory (this machine). Bounded: a month's entry
names at most :data:`MAX_DAGS` DAGs (the rest are summed under :data:`OTHER_DAGS`), only the current and
the previous month are kept in a file, and Redis entries expire :data:`KEEP_SECONDS` after their last call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from dataclasses import dataclass, field
from typing import Any

from airflow_dtcal.core.errors import (
    DingTalkAuthError,
    DingTalkError,
    DingTalkMonthlyBudgetError,
    DingTalkQuotaExceededError,
    DingTalkRateLimitError,
    DingTalkServerError,
)
from airflow_dtcal.core.pacing import files
from airflow_dtcal.core.pacing.base import WARN_ONCE
from airflow_dtcal.core.pacing.host import DEGRADED_SECONDS
from airflow_dtcal.core.pacing.shared import NAMESPACE, RedisStore, Unavailable

#: The quota month is China's (UTC+8).
QUOTA_ZONE = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
MAX_DAGS = 1000
OTHER_DAGS = "(other DAGs)"
NO_DAG = "(no DAG)"
KEEP_SECONDS = 62 * 86400
PREFIX = "month-"
_DAG_ID = re.compile(r"[A-Za-z0-9_.\-]{1,250}")


def current_month(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(QUOTA_ZONE)).astimezone(QUOTA_ZONE).strftime("%Y-%m")


def app_digest(base_url: str, app_key: str) -> str:
    """The ledger's name for an app: its API host and app key (not the secret, so a rotation keeps counting)."""
    return hashlib.sha256(f"{base_url}\0{app_key}".encode()).hexdigest()[:32]


def dag_label(dag_id: Any) -> str:
    """The DAG a call is attributed to: a plain DAG id, else :data:`NO_DAG` (a triggerer, a script)."""
    return dag_id if isinstance(dag_id, str) and _DAG_ID.fullmatch(dag_id) else NO_DAG


def counts_toward_month(error: BaseException | None) -> bool:
    """Whether DingTalk counts a call that got this answer (``None``: success): every answered calendar call
    does, except a throttle, a refusal for the spent quota, a rejected token and a server failure."""
    if error is None:
        return True
    if not isinstance(error, DingTalkError) or not hasattr(error, "status"):
        return False  # no answer at all (transport) or not an answer of DingTalk's
    return not isinstance(
        error, (DingTalkRateLimitError, DingTalkQuotaExceededError, DingTalkAuthError, DingTalkServerError)
    )


@dataclass
class Usage:
    """One app's calls in one month: the total and each DAG's."""

    month: str
    total: int = 0
    by_dag: dict[str, int] = field(default_factory=dict)

    def describe(self, budget: int | None, dag: str) -> str:
        spent = f"{self.total:,}" + (f" of {budget:,}" if budget else "")
        mine = f", {self.by_dag.get(dag, 0):,} by this DAG ({dag})" if dag != NO_DAG else ""
        return f"this month ({self.month}, China time): {spent} DingTalk calls{mine}"


def check_budget(usage: Usage, budget: int, expected: int, dag: str) -> None:
    """Raise :class:`DingTalkMonthlyBudgetError` when ``expected`` more calls would exceed ``budget``."""
    if not budget or usage.total + expected <= budget:
        return
    left = max(0, budget - usage.total)
    raise DingTalkMonthlyBudgetError(
        f"monthly_budget: this task expects {expected:,} DingTalk call{'s' if expected != 1 else ''} but only "
        f"{left:,} of this app's {budget:,} for {usage.month} (China time) are left; {usage.describe(budget, dag)}. "
        "Raise monthly_budget, or run it next month"
    )


# ------------------------------------------------------------------------------------------- host files


def _parse(data: bytes) -> dict[str, dict[str, int]]:
    """``{month: {dag or "*": count}}`` from ``month<TAB>count<TAB>dag`` lines; bad lines are dropped."""
    months: dict[str, dict[str, int]] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 12:
            continue
        month, count, dag = parts
        if re.fullmatch(r"\d{4}-\d{2}", month) and (
            dag == "*" or dag_label(dag) == dag or dag in (OTHER_DAGS, NO_DAG)
        ):
            months.setdefault(month, {})[dag] = int(count)
    return months


def _dump(months: dict[str, dict[str, int]]) -> bytes:
    keep = sorted(months)[-2:]  # this month and the last
    return "".join(f"{m}\t{n}\t{dag}\n" for m in keep for dag, n in months[m].items()).encode()


def _add(months: dict[str, dict[str, int]], month: str, dag: str, calls: int) -> None:
    entry = months.setdefault(month, {})
    entry["*"] = entry.get("*", 0) + calls
    if dag not in entry and len(entry) > MAX_DAGS:
        dag = OTHER_DAGS
    entry[dag] = entry.get(dag, 0) + calls


def _usage(months: dict[str, dict[str, int]], month: str) -> Usage:
    entry = dict(months.get(month, {}))
    total = entry.pop("*", 0)
    return Usage(month, total, entry)


class HostLedger:
    """The month's calls of each app on this machine, in the private pacing directory. A file that cannot be
    used (see :mod:`.files`) costs one warning per process; after a lock timeout the app's calls go
    uncounted for :data:`~.host.DEGRADED_SECONDS` instead of waiting on every call."""

    name = "host"

    def __init__(self) -> None:
        self._skip_until: dict[str, float] = {}

    def add(self, app: str, dag: str, calls: int = 1) -> None:
        if self._skipped(app):
            return
        try:
            with files.locked(PREFIX + app) as fd:
                months = _parse(files.read(fd))
                _add(months, current_month(), dag, calls)
                files.write(fd, _dump(months))
        except OSError as err:
            self._lost(app, err)

    async def aadd(self, app: str, dag: str, calls: int = 1) -> None:
        if self._skipped(app):
            return
        try:
            async with files.alocked(PREFIX + app) as fd:
                months = _parse(files.read(fd))
                _add(months, current_month(), dag, calls)
                files.write(fd, _dump(months))
        except OSError as err:
            self._lost(app, err)

    def read(self, app: str, month: str | None = None) -> Usage:
        month = month or current_month()
        if self._skipped(app):
            return Usage(month)
        try:
            with files.locked(PREFIX + app) as fd:
                return _usage(_parse(files.read(fd)), month)
        except OSError as err:
            self._lost(app, err)
            return Usage(month)

    async def aread(self, app: str, month: str | None = None) -> Usage:
        month = month or current_month()
        if self._skipped(app):
            return Usage(month)
        try:
            async with files.alocked(PREFIX + app) as fd:
                return _usage(_parse(files.read(fd)), month)
        except OSError as err:
            self._lost(app, err)
            return Usage(month)

    def _skipped(self, app: str) -> bool:
        return time.monotonic() < self._skip_until.get(app, 0.0)

    def _lost(self, app: str, err: BaseException) -> None:
        if isinstance(err, files.LockTimeout):
            self._skip_until[app] = time.monotonic() + DEGRADED_SECONDS
        _lost(err)

    def clear(self) -> None:
        files.remove_all(PREFIX)


def _lost(err: BaseException) -> None:
    WARN_ONCE(
        f"ledger:{type(err).__name__}",
        "DingTalk monthly budget: the machine's call ledger cannot be used (%s); calls are not counted "
        "until it can",
        err,
    )


# ------------------------------------------------------------------------------------------- Redis

ADD = f"""
local total = redis.call('HINCRBY', KEYS[1], '*', ARGV[2])
local dag = ARGV[1]
if redis.call('HEXISTS', KEYS[1], dag) == 0 and redis.call('HLEN', KEYS[1]) > {MAX_DAGS} then
  dag = '{OTHER_DAGS}'
end
redis.call('HINCRBY', KEYS[1], dag, ARGV[2])
redis.call('EXPIRE', KEYS[1], {KEEP_SECONDS})
return total
"""


def _redis_key(app: str, month: str) -> str:
    return f"{NAMESPACE}:month:{app}:{month}"


def _from_hash(month: str, raw: dict) -> Usage:
    entry = {}
    for k, v in raw.items():
        name = k.decode() if isinstance(k, bytes) else str(k)
        try:
            entry[name] = int(v)
        except (TypeError, ValueError):
            continue
    total = entry.pop("*", 0)
    return Usage(month, total, entry)


class RedisLedger:
    """The month's calls of each app across the deployment, in Redis; the host ledger while Redis is down."""

    name = "redis"

    def __init__(self, store: RedisStore, fallback: HostLedger) -> None:
        self.store, self.fallback = store, fallback

    def add(self, app: str, dag: str, calls: int = 1) -> None:
        if self.store.available():
            try:
                self.store.call(ADD, [_redis_key(app, current_month())], [dag, calls])
                return
            except Unavailable:
                pass
            except Exception as err:  # noqa: BLE001 - no task fails because of the ledger
                self.store.failed(err)
        self.fallback.add(app, dag, calls)

    async def aadd(self, app: str, dag: str, calls: int = 1) -> None:
        if self.store.available():
            try:
                await self.store.acall(ADD, [_redis_key(app, current_month())], [dag, calls])
                return
            except Unavailable:
                pass
            except Exception as err:  # noqa: BLE001
                self.store.failed(err)
        await self.fallback.aadd(app, dag, calls)

    def read(self, app: str, month: str | None = None) -> Usage:
        month = month or current_month()
        if self.store.available():
            try:
                return _from_hash(month, self.store.hgetall(_redis_key(app, month)))
            except Unavailable:
                pass
            except Exception as err:  # noqa: BLE001
                self.store.failed(err)
        return self.fallback.read(app, month)

    async def aread(self, app: str, month: str | None = None) -> Usage:
        month = month or current_month()
        if self.store.available():
            try:
                return _from_hash(month, await self.store.ahgetall(_redis_key(app, month)))
            except Unavailable:
                pass
            except Exception as err:  # noqa: BLE001
                self.store.failed(err)
        return await self.fallback.aread(app, month)

    def clear(self) -> None:
        self.fallback.clear()
