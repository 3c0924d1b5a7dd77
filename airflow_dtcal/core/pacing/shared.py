"""``pacing="redis"``: every process on every machine of a deployment paces one app's calls per API together,
through one Redis, on Redis's clock.

Each reservation is one atomic Lua script that reads Redis's own ``TIME``, applies the rule of
:func:`~.rule.next_start` to the last starts of the key and appends the new one; so any number of processes,
whatever their clocks say, get starts that keep at most ``rate`` calls in any window of DingTalk's quota.
The adaptive share (cut by the share of a window's calls that came back throttled, see
:func:`~.rule.cut_share`; each success grows it back) lives beside the starts, shared too. Keys expire when unused: the store holds a bounded number of them.

Why scripts of our own rather than ``limits`` or ``pyrate-limiter`` (compared in docs/benchmarks.md): both
stamp entries with the *client's* clock (``time.time()``), so machines whose clocks differ by more than a
window's margin overrun the quota; both only accept or refuse a call, so a caller that must wait polls
(contending processes are served in no order, and each poll is a round trip), where a reservation here is one
round trip that says exactly how long to wait; and neither adapts to throttling by a client outside them.

When Redis does not answer within the client's bounded timeouts (set by the caller's client factory; see
:mod:`airflow_dtcal.hooks.limiter`), the call is paced by the fallback (the machine's host files) with one
warning per process, and Redis is tried again after :data:`RETRY_AFTER` seconds.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from airflow_dtcal.core.pacing.base import WARN_ONCE, Pacer, log
from airflow_dtcal.core.pacing.rule import (
    FLOOR,
    HORIZON,
    MIN_FACTOR,
    PACER_WINDOW,
    RECOVERY,
    TARGET,
    slots_kept,
    state_name,
)

#: The window the Redis backend uses unless ``pacing_window`` says otherwise. Every start comes from one clock
#: (Redis's), so the margin over DingTalk's second only absorbs the jitter between a reservation and the call
#: reaching DingTalk: in ``make bench`` (8 processes as on 8 machines, 150 ms) 1.0 s let 7 % be throttled,
#: 1.02 s none; 1.05 s keeps 2.5 times that margin (docs/benchmarks.md, measure 4c).
REDIS_WINDOW = 1.05
#: Seconds an unanswering Redis is left alone (calls paced by the fallback) before it is tried again.
RETRY_AFTER = 15.0
#: Seconds the adaptive share is remembered after the last throttle or success.
STATE_TTL = 600
NAMESPACE = "airflow-dtcal"

RESERVE = f"""
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, window, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local factor = tonumber(redis.call('HGET', KEYS[1], 'f')) or 1
if factor < {MIN_FACTOR} or factor > 1 then factor = 1 end
local allowed = rate * factor
local slots = math.max(1, math.floor(allowed))
local span = window * slots / allowed
local start = now
local n = redis.call('LLEN', KEYS[2])
if n > 0 then start = math.max(start, tonumber(redis.call('LINDEX', KEYS[2], -1)) or now) end
if n >= slots then
  start = math.max(start, (tonumber(redis.call('LINDEX', KEYS[2], -slots)) or now) + span)
end
if n >= keep then
  start = math.max(start, (tonumber(redis.call('LINDEX', KEYS[2], -keep)) or now) + window * keep / rate)
end
if start - now > {HORIZON} * window then
  return {{string.format('%.6f', -(start - now - {HORIZON} * window)), string.format('%.4f', factor)}}
end
redis.call('RPUSH', KEYS[2], string.format('%.6f', start))
redis.call('LTRIM', KEYS[2], -keep, -1)
redis.call('PEXPIRE', KEYS[2], math.ceil((start - now + span) * 1000) + 60000)
return {{string.format('%.6f', start - now), string.format('%.4f', factor)}}
"""

THROTTLED = f"""
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local factor = tonumber(redis.call('HGET', KEYS[1], 'f')) or 1
if factor < {MIN_FACTOR} or factor > 1 then factor = 1 end
local cut = tonumber(redis.call('HGET', KEYS[1], 'c')) or 0
local base = tonumber(redis.call('HGET', KEYS[1], 'b')) or factor
local throttles = tonumber(redis.call('HGET', KEYS[1], 'n')) or 0
if now - cut > window then cut, base, throttles = now, factor, 0 end
throttles = throttles + 1
local booked = 0
for _, s in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  if (tonumber(s) or 0) > now - window then booked = booked + 1 end
end
local share = throttles / math.max(booked, throttles, 1)
if share > {2 * TARGET} then
  factor = math.min(factor, math.max({MIN_FACTOR}, base * math.max({FLOOR}, (1 - share) / {1 - TARGET})))
end
redis.call('HSET', KEYS[1], 'f', string.format('%.4f', factor), 'c', string.format('%.6f', cut),
  'b', string.format('%.4f', base), 'n', throttles)
redis.call('EXPIRE', KEYS[1], {STATE_TTL})
return string.format('%.4f', factor)
"""

#: :func:`~.rule.moved_start` on Redis's clock: the start nearest to ``now - due_ago`` moves ``late`` on.
LATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local booked, late = now - tonumber(ARGV[1]), tonumber(ARGV[2])
local starts = redis.call('LRANGE', KEYS[2], 0, -1)
if #starts == 0 then return 0 end
local values, nearest = {}, 1
for i, s in ipairs(starts) do
  values[i] = tonumber(s) or 0
  if math.abs(values[i] - booked) < math.abs(values[nearest] - booked) then nearest = i end
end
values[nearest] = values[nearest] + late
table.sort(values)
local ttl = redis.call('PTTL', KEYS[2])
redis.call('DEL', KEYS[2])
for _, v in ipairs(values) do redis.call('RPUSH', KEYS[2], string.format('%.6f', v)) end
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
"""

SUCCEEDED = f"""
local factor = tonumber(redis.call('HGET', KEYS[1], 'f')) or 1
if factor < 1 then
  factor = math.min(1, factor + {RECOVERY})
  redis.call('HSET', KEYS[1], 'f', string.format('%.4f', factor))
  redis.call('EXPIRE', KEYS[1], {STATE_TTL})
end
return string.format('%.4f', factor)
"""


#: Calls one process has in flight to Redis at most (per event loop on the async path); more wait their turn,
#: so a task that gathers hundreds of calls does not open hundreds of connections.
CONCURRENCY = 8


class Unavailable(Exception):
    """Redis failed a moment ago: the caller paces through the fallback without trying it."""


class RedisStore:
    """Sync and async Redis clients of one connection, the scripts registered on them, and whether Redis
    answers: after a failure it is left alone for :data:`RETRY_AFTER` seconds.

    ``connect()`` returns a ``redis.Redis``; ``aconnect()`` a ``redis.asyncio.Redis`` (one per event loop).
    Both must bound their timeouts and retries: this class never waits on its own.
    """

    def __init__(self, label: str, connect: Callable[[], Any], aconnect: Callable[[], Any]) -> None:
        self.label = label
        self._connect, self._aconnect = connect, aconnect
        self._guard = threading.Lock()
        self._client: Any = None
        self._scripts: dict[str, Any] = {}
        self._loop_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._loop_turns: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._turns = threading.BoundedSemaphore(CONCURRENCY)
        self._down_until = 0.0

    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, err: BaseException) -> None:
        self._down_until = time.monotonic() + RETRY_AFTER
        said = WARN_ONCE(
            f"redis:{self.label}",
            "DingTalk pacing: Redis (%s) did not answer (%s: %s); this machine paces through its host files "
            "and retries Redis every %gs. Calls from other machines are not coordinated meanwhile.",
            self.label,
            type(err).__name__,
            err,
            RETRY_AFTER,
        )
        if not said:
            log.debug("Redis %s still unavailable: %s", self.label, err)

    def call(self, source: str, keys: list[str], args: list | None = None) -> Any:
        """Run a script (at most CONCURRENCY at once); :class:`Unavailable` while Redis is left alone."""
        with self._turns:
            if not self.available():
                raise Unavailable
            return self.script(source)(keys=keys, args=args or [])

    async def acall(self, source: str, keys: list[str], args: list | None = None) -> Any:
        async with self._aturns():
            if not self.available():
                raise Unavailable
            return await self.ascript(source)(keys=keys, args=args or [])

    def hgetall(self, key: str) -> Any:
        with self._turns:
            if not self.available():
                raise Unavailable
            return self.client().hgetall(key)

    async def ahgetall(self, key: str) -> Any:
        async with self._aturns():
            if not self.available():
                raise Unavailable
            return await self.aclient().hgetall(key)

    def _aturns(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        with self._guard:
            turns = self._loop_turns.get(loop)
            if turns is None:
                turns = self._loop_turns[loop] = asyncio.Semaphore(CONCURRENCY)
            return turns

    def script(self, source: str) -> Any:
        with self._guard:
            if self._client is None:
                self._client = self._connect()
            script = self._scripts.get(source)
            if script is None:
                script = self._scripts[source] = self._client.register_script(source)
            return script

    def client(self) -> Any:
        with self._guard:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def ascript(self, source: str) -> Any:
        loop = asyncio.get_running_loop()
        with self._guard:
            entry = self._loop_clients.get(loop)
            if entry is None:
                entry = self._loop_clients[loop] = (self._aconnect(), {})
            client, scripts = entry
            scripts_by_source: dict[str, Any] = scripts
            script = scripts_by_source.get(source)
            if script is None:
                script = scripts_by_source[source] = client.register_script(source)
            return script

    def aclient(self) -> Any:
        loop = asyncio.get_running_loop()
        with self._guard:
            entry = self._loop_clients.get(loop)
            if entry is None:
                entry = self._loop_clients[loop] = (self._aconnect(), {})
            return entry[0]


def _keys(key: tuple) -> list[str]:
    name = state_name(key)
    # one hash tag: both keys of an app and API live on the same node of a Redis cluster
    return [f"{NAMESPACE}:pace:{{{name}}}", f"{NAMESPACE}:pace:{{{name}}}:starts"]


class RedisPacer(Pacer):
    """Pacing per key shared through Redis by every process that names the same Redis."""

    name = "redis"

    def __init__(self, store: RedisStore, fallback: Pacer) -> None:
        self.store = store
        self.fallback = fallback
        self._factors: dict[tuple, float] = {}

    def reserve(self, key: tuple, rate: float, window: float = PACER_WINDOW) -> float:
        if rate <= 0:
            return 0.0
        if self.store.available():
            try:
                return self._reserved(
                    key, self.store.call(RESERVE, _keys(key), [rate, window, slots_kept(rate)])
                )
            except Unavailable:
                pass
            except Exception as err:  # noqa: BLE001 - no task fails because of the limiter
                self.store.failed(err)
        return self.fallback.reserve(key, rate, window)

    async def areserve(self, key: tuple, rate: float, window: float = PACER_WINDOW) -> float:
        if rate <= 0:
            return 0.0
        if self.store.available():
            try:
                answer = await self.store.acall(RESERVE, _keys(key), [rate, window, slots_kept(rate)])
                return self._reserved(key, answer)
            except Unavailable:
                pass
            except Exception as err:  # noqa: BLE001
                self.store.failed(err)
        return await self.fallback.areserve(key, rate, window)

    def throttled(self, key: tuple, rate: float, window: float = PACER_WINDOW) -> None:
        if self.store.available():
            try:
                self._factors[key] = float(self.store.call(THROTTLED, _keys(key), [window]))
                return
            except Unavailable:
                pass
            except Exception as err:  # noqa: BLE001
                self.store.failed(err)
        self.fallback.throttled(key, rate, window)

    async def athrottled(self, key: tuple, rate: float, window: float = PACER_WINDOW) -> None:
        if self.store.available():
            try:
                self._factors[key] = float(await self.store.acall(THROTTLED, _keys(key), [window]))
                return
            except Unavailable:
                pass
            except Exception as err:  # noqa: BLE001
                self.store.failed(err)
        await self.fallback.athrottled(key, rate, window)

    def succeeded(self, key: tuple) -> None:
        if self._factors.get(key, 1.0) >= 1.0:  # the steady state costs no round trip
            return
        if self.store.available():
            try:
                self._factors[key] = float(self.store.call(SUCCEEDED, _keys(key)[:1]))
                return
            except Unavailable:
                pass
            except Exception as err:  # noqa: BLE001
                self.store.failed(err)
        self.fallback.succeeded(key)

    async def asucceeded(self, key: tuple) -> None:
        if self._factors.get(key, 1.0) >= 1.0:
            return
        if self.store.available():
            try:
                self._factors[key] = float(await self.store.acall(SUCCEEDED, _keys(key)[:1]))
                return
            except Unavailable:
                pass
            except Exception as err:  # noqa: BLE001
                self.store.failed(err)
        await self.fallback.asucceeded(key)

    def late(self, key: tuple, due_ago: float, seconds: float) -> None:
        if self.store.available():
            try:
                self.store.call(LATE, _keys(key), [due_ago, seconds])
                return
            except Unavailable:
                pass
            except Exception as err:  # noqa: BLE001
                self.store.failed(err)
        self.fallback.late(key, due_ago, seconds)

    async def alate(self, key: tuple, due_ago: float, seconds: float) -> None:
        if self.store.available():
            try:
                await self.store.acall(LATE, _keys(key), [due_ago, seconds])
                return
            except Unavailable:
                pass
            except Exception as err:  # noqa: BLE001
                self.store.failed(err)
        await self.fallback.alate(key, due_ago, seconds)

    def factor(self, key: tuple) -> float:
        return self._factors.get(key, 1.0) if self.store.available() else self.fallback.factor(key)

    def clear(self) -> None:
        self._factors.clear()
        self.fallback.clear()

    def _reserved(self, key: tuple, answer: Any) -> float:
        delay, factor = (float(x) for x in answer)
        self._factors[key] = factor
        return delay
