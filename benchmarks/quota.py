"""Wall time under DingTalk's quota (20 calls/s per app and API) at a given round-trip latency.

Three workloads, each run by several clients one after another, every client on an app of its own (its own
quota window on the emulator and its own pacer state in the hook), so no client inherits another's waits:

* ``creates``: N CreateEvent calls: the hook sequentially, through ``run_many`` (threads), as ``acreate_event``
  coroutines gathered on one hook (with ``pacing="host"``, the default, and ``"process"``); the official SDK sequentially, on 8 threads, and on 8 threads with its
  own retry on the throttling code.
* ``responds``: N RespondEvent calls (one per attendee of one event): the hook sequentially and via
  ``run_many``.
* ``sync``: E events brought to A attendees each, the way ``SyncAttendeesOperator`` does it (list the
  current attendees, add the missing ones in chunks of 500), the events processed through ``run_many``.

The **optimum** of a workload is its busiest API's calls divided by the quota (20 per second): no client can
finish sooner without being throttled. Each result is the elapsed time divided by that optimum.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import clients as cl
from harness import HarnessError, stats_delta

QUOTA = 20  # DingTalk's documented calls per second per app and API (standard edition)
THREADS = 8  # the hook's default max_in_flight; the SDK's threaded loops get as many threads
ORGANIZER = "bench-organizer"

Outcome = tuple[
    float, int, list[str]
]  # (elapsed seconds, calls that succeeded, errors that reached the caller)


class Context:
    """What every workload needs: the emulator's admin client and URL, and the secret of the bench apps."""

    def __init__(self, admin: Any, base_url: str, app_secret: str, latency: float) -> None:
        self.admin = admin
        self.base_url = base_url
        self.app_secret = app_secret
        self.latency = latency
        self.extra: dict | None = None  # connection extras of the apps made from here on

    def app(self, name: str) -> str:
        """A fresh app for one client: its connection id (an ``AIRFLOW_CONN_*`` variable is set for it)."""
        ms = round(self.latency * 1000)
        conn_id = f"bench_{name}_{ms}ms"
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = cl.connection_json(
            self.base_url, f"bench-{name}-{ms}ms", self.app_secret, extra=self.extra
        )
        return conn_id

    def hook(self, name: str, **kwargs: Any):
        from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

        hook = DingTalkCalendarHook(self.app(name), **kwargs)
        hook.get_access_token()  # a per-task fixed cost, measured on its own; not part of this wall time
        return hook

    def sdk(self, name: str, *, retry: bool = False) -> cl.SdkClient:
        ms = round(self.latency * 1000)
        return cl.SdkClient(self.base_url, f"bench-{name}-{ms}ms", self.app_secret, retry=retry)


def _measure(
    ctx: Context, operation: str, calls: int, optimum_calls: int, run: Callable[[], Outcome]
) -> dict:
    """Run one client's workload; its outcome with the emulator's view of the same interval."""
    before = ctx.admin.stats()
    elapsed, ok, errors = run()
    delta = stats_delta(before, ctx.admin.stats())
    optimum = optimum_calls / QUOTA
    return {
        "calls": calls,
        "ok": ok,
        "errors_surfaced": len(errors),
        "error_samples": errors[:3],
        "elapsed_s": round(elapsed, 3),
        "optimum_s": optimum,
        "ratio_to_optimum": round(elapsed / optimum, 3),
        "requests_sent": delta["calls"][operation],
        "throttled": delta["throttled"][operation],
        "requests_by_operation": {op: n for op, n in delta["calls"].items() if n},
    }


def _without_attendees(summary: str) -> dict:
    body = {**cl.event_body(), "summary": summary}
    del body["attendees"]
    return body


def _described(err: BaseException) -> str:
    return f"{type(err).__name__}: {getattr(err, 'code', None) or err}"[:300]


# --------------------------------------------------------------------------------------------- drivers


def _sequential(step: Callable[[int], Any], n: int, errors_of: tuple) -> Outcome:
    ok, errors = 0, []
    start = time.perf_counter()
    for index in range(n):
        try:
            step(index)
            ok += 1
        except errors_of as err:
            errors.append(_described(err))
    return time.perf_counter() - start, ok, errors


def _run_many(hook: Any, step: Callable[[int], Any], n: int) -> Outcome:
    """Through ``hook.run_many`` with its default ``max_in_flight``; each item's error is recorded, not raised,
    so one failure does not hide the rest."""
    from airflow_dtcal.exceptions import DingTalkError

    errors: list[str] = []

    def one(index: int) -> bool:
        try:
            step(index)
            return True
        except DingTalkError as err:
            errors.append(_described(err))
            return False

    start = time.perf_counter()
    done = hook.run_many(one, range(n))
    return time.perf_counter() - start, sum(done), errors


def _threads(steps: list[Callable[[int], Any]], n: int, errors_of: tuple) -> Outcome:
    """One thread per step function (one SDK client each), pulling indices from a shared counter."""
    counter = itertools.count()
    lock = threading.Lock()
    ok, errors, broken = [0], [], []

    def work(step: Callable[[int], Any]) -> None:
        try:
            while (index := next(counter)) < n:
                try:
                    step(index)
                    with lock:
                        ok[0] += 1
                except errors_of as err:
                    with lock:
                        errors.append(_described(err))
        except BaseException as err:  # a bug in the harness: re-raised below
            broken.append(err)

    threads = [threading.Thread(target=work, args=(s,), name=f"bench-sdk-{i}") for i, s in enumerate(steps)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if broken:
        raise HarnessError(f"an SDK worker failed: {broken[0]!r}") from broken[0]
    return time.perf_counter() - start, ok[0], errors


# --------------------------------------------------------------------------------------------- creates


def creates(ctx: Context, n: int) -> dict:
    """N CreateEvent calls per client; optimum N / 20 s."""
    from Tea.exceptions import TeaException

    from airflow_dtcal.exceptions import DingTalkError

    body = cl.event_body()
    results: dict[str, dict] = {}

    hook = ctx.hook("create-seq")
    results["hook_sequential"] = _measure(
        ctx,
        "CreateEvent",
        n,
        n,
        lambda: _sequential(lambda i: hook.create_event(ORGANIZER, body), n, (DingTalkError,)),
    )

    hook = ctx.hook("create-many")
    results["hook_run_many"] = _measure(
        ctx, "CreateEvent", n, n, lambda: _run_many(hook, lambda i: hook.create_event(ORGANIZER, body), n)
    )

    def gathered(hook: Any) -> Outcome:
        return _gathered(hook, n, body)

    gather_hook = ctx.hook("create-gather")
    results["hook_gather"] = _measure(ctx, "CreateEvent", n, n, lambda: gathered(gather_hook))
    # the same with each process pacing alone (no shared file): tells the pacer's storage from its rule
    gather_hook = ctx.hook("create-gather-process", pacing="process")
    results["hook_gather_process"] = _measure(ctx, "CreateEvent", n, n, lambda: gathered(gather_hook))

    sdk = ctx.sdk("create-sdk-seq")
    results["sdk_sequential"] = _measure(
        ctx, "CreateEvent", n, n, lambda: _sequential(lambda i: sdk.create(ORGANIZER), n, (TeaException,))
    )
    for name, retry in (("sdk_threads", False), ("sdk_threads_retry", True)):
        pool = [ctx.sdk(f"create-{name}", retry=retry) for _ in range(THREADS)]
        steps = [lambda i, c=c: c.create(ORGANIZER) for c in pool]
        results[name] = _measure(ctx, "CreateEvent", n, n, lambda s=steps: _threads(s, n, (TeaException,)))
    return results


def _gathered(hook: Any, n: int, body: dict) -> Outcome:
    """``n`` ``acreate_event`` coroutines gathered on one hook, as one async task would run them."""
    from airflow_dtcal.exceptions import DingTalkError

    async def main() -> Outcome:
        await hook.get_async_client()
        start = time.perf_counter()
        answers = await asyncio.gather(
            *(hook.acreate_event(ORGANIZER, body) for _ in range(n)), return_exceptions=True
        )
        elapsed = time.perf_counter() - start
        await hook.aclose()
        errors = [a for a in answers if isinstance(a, BaseException)]
        unexpected = [e for e in errors if not isinstance(e, DingTalkError)]
        if unexpected:
            raise HarnessError(f"acreate_event raised {unexpected[0]!r}") from unexpected[0]
        return elapsed, n - len(errors), [_described(e) for e in errors]

    return asyncio.run(main())


def gather_runs(ctx: Context, latencies: list[float], runs: int, n: int, redis_conn_id: str) -> dict:
    """One task's ``n`` gathered creates, ``runs`` times in a row, with ``pacing="host"`` and ``"redis"``:
    is throughput steady from run to run? Each run on a fresh app (fresh quota window and pacer state)."""
    body = cl.event_body()
    series = []
    ctx.extra = {"pacing_redis_conn_id": redis_conn_id}
    ctx.admin.set_qps_limit(QUOTA)
    try:
        for latency in latencies:
            ctx.latency = latency
            ctx.admin.set_latency(latency)
            for pacing in ("host", "redis"):
                results = []
                for i in range(runs):
                    hook = ctx.hook(f"gather-{pacing}-{i}", pacing=pacing)
                    r = _measure(ctx, "CreateEvent", n, n, lambda h=hook: _gathered(h, n, body))
                    r["of_quota"] = round(n / QUOTA / r["elapsed_s"], 3)
                    r["throttled_share"] = round(r["throttled"] / max(1, r["requests_sent"]), 4)
                    results.append(r)
                series.append(
                    {"latency_ms": round(latency * 1000), "pacing": pacing, "creates": n, "runs": results}
                )
    finally:
        ctx.admin.set_qps_limit(None)
        ctx.admin.set_latency(0.0)
    return {"series": series}


# --------------------------------------------------------------------------------------------- responds


def responds(ctx: Context, n: int) -> dict:
    """N RespondEvent calls (each attendee of one event answers once) per client; optimum N / 20 s."""
    from airflow_dtcal.exceptions import DingTalkError

    setup = ctx.hook("respond-setup")
    attendees = [f"resp-{i:04d}" for i in range(n)]
    body = _without_attendees("respond")
    event_id = setup.create_event(ORGANIZER, body)["id"]
    for start in range(0, n, 500):
        setup.add_attendees(ORGANIZER, event_id, attendees[start : start + 500])

    results: dict[str, dict] = {}
    hook = ctx.hook("respond-seq")
    results["hook_sequential"] = _measure(
        ctx,
        "RespondEvent",
        n,
        n,
        lambda: _sequential(
            lambda i: hook.respond_event(attendees[i], event_id, "accepted"), n, (DingTalkError,)
        ),
    )
    hook = ctx.hook("respond-many")
    results["hook_run_many"] = _measure(
        ctx,
        "RespondEvent",
        n,
        n,
        lambda: _run_many(hook, lambda i: hook.respond_event(attendees[i], event_id, "tentative"), n),
    )
    return results


# --------------------------------------------------------------------------------------------- sync


def sync(ctx: Context, events: int, attendees: int) -> dict:
    """``events`` events brought to ``attendees`` attendees each (the organizer counts as one), the way
    ``SyncAttendeesOperator`` does it, the events through ``run_many``; optimum: AddAttendee calls / 20 s."""
    setup = ctx.hook("sync-setup")
    body = _without_attendees("sync")
    event_ids = setup.run_many(lambda i: setup.create_event(ORGANIZER, body)["id"], range(events))
    wanted = [f"sync-{i:04d}" for i in range(attendees - 1)]  # + the organizer = ``attendees``
    chunks = -(-len(wanted) // 500)
    hook = ctx.hook("sync")

    def sync_one(event_id: str) -> None:
        present = {a["id"] for a in hook.iter_attendees(ORGANIZER, event_id)}
        missing = [a for a in wanted if a not in present]
        if missing:
            hook.add_attendees(ORGANIZER, event_id, missing)

    result = _measure(  # "calls" here are events synced: one ListAttendees + ``chunks`` AddAttendee each
        ctx,
        "AddAttendee",
        events,
        events * chunks,
        lambda: _run_many(hook, lambda i: sync_one(event_ids[i]), events),
    )
    counts = {len(setup.list_attendees(ORGANIZER, e)) for e in event_ids[:3]}
    if counts != {attendees}:
        raise HarnessError(f"sync: events hold {counts} attendees, expected {attendees}")
    result.update({"events": events, "attendees_per_event": attendees, "add_calls_per_event": chunks})
    return result


# --------------------------------------------------------------------------------------------- all


def at_latency(ctx: Context, profile: dict) -> dict:
    """Every workload at ``ctx.latency`` seconds per answer, the quota switched on for the duration."""
    ctx.admin.set_qps_limit(QUOTA)
    ctx.admin.set_latency(ctx.latency)
    try:
        result: dict[str, Any] = {"latency_ms": round(ctx.latency * 1000)}
        result["creates"] = creates(ctx, profile["creates"])
        if ctx.latency in profile["respond_latencies"]:
            result["responds"] = responds(ctx, profile["responds"])
        result["sync"] = sync(ctx, profile["sync_events"], profile["sync_attendees"])
        return result
    finally:
        ctx.admin.set_qps_limit(None)
        ctx.admin.set_latency(0.0)
