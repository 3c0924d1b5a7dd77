"""Measure 8: ``ExportEventsOperator`` streaming N events into a ``file://`` destination.

The operator's ``execute()`` is called directly with the context Airflow would give (a data interval and a
task instance that takes the ``dingtalk_calls`` XCom), as ``tests/test_export_operator.py`` does. Events are
seeded into the emulator through its admin API (seeding is not a DingTalk call), each with a few attendees,
all inside the data interval, so one full-mode run exports every one of them.

* memory: peak Python allocation (``tracemalloc``) of an export of N_small vs N_large events, after a warm-up
  export has done the one-time imports (the hook, the storage layer, pyarrow); no latency, no quota.
* for comparison, the peak of the same events listed into one Python list (``list(hook.iter_events(...))``):
  what an export that collected its rows before writing would hold at the least.
* calls: the calls the emulator counted against the monthly quota for each export, against the optimum of
  one ListEvents call per 100 events (``ceil(N / 100)``: attendees come inside the listed events).
* wall time: the large export again at the given latency with the quota (20 calls/s) on, against the
  quota's optimum (calls / 20 s) and against sequential paging's floor (pages x latency).
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import shutil
import tempfile
import time
import tracemalloc
import types
from pathlib import Path
from typing import Any

from harness import HarnessError, stats_delta

QUOTA = 20
PAGE = 100  # events per ListEvents page (DingTalk's maximum)
ATTENDEES = 4  # per event, besides the organizer: well under the 100 listed inline
DAY = dt.datetime(2026, 3, 9, tzinfo=dt.timezone.utc)


def _seed(admin: Any, owner: str, count: int) -> None:
    """``count`` events organized by ``owner``, spread over one day (the data interval), in chunks."""
    chunk = 500
    for first in range(0, count, chunk):
        events = []
        for i in range(first, min(first + chunk, count)):
            start = DAY + dt.timedelta(seconds=(i * 86_400 // count))
            events.append(
                {
                    "organizer": owner,
                    "summary": f"bench export {i}",
                    "start": {"dateTime": start.isoformat(), "timeZone": "UTC"},
                    "end": {"dateTime": (start + dt.timedelta(minutes=30)).isoformat(), "timeZone": "UTC"},
                    "attendees": [{"id": f"{owner}-guest-{(i + k) % 50:02d}"} for k in range(ATTENDEES)],
                }
            )
        admin.seed_events(events)


def _execute(conn_id: str, owner: str, root: Path, formats: list[str]) -> tuple[dict, dict]:
    """One export run: the operator's result and the ``dingtalk_calls`` XCom it pushed."""
    from airflow_dtcal.transfers.export import ExportEventsOperator

    pushed: dict = {}
    op = ExportEventsOperator(
        task_id="bench_export",
        dingtalk_conn_id=conn_id,
        calendars=[owner],
        destination=f"file://{root}",
        formats=formats,
    )
    ti = types.SimpleNamespace(
        dag_id="dtcal_bench_export",
        task_id=op.task_id,
        run_id=f"bench__{time.monotonic_ns()}",
        map_index=-1,
        try_number=1,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
    )
    context = {"ti": ti, "data_interval_start": DAY, "data_interval_end": DAY + dt.timedelta(days=1)}
    result = op.execute(context)
    return result, pushed


def _traced(run: Any) -> tuple[Any, int]:
    """(what ``run()`` returned, peak bytes Python allocated above the starting point while it ran)."""
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        value = run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return value, peak - start


def _one(admin: Any, conn_id: str, owner: str, count: int, formats: list[str], trace: bool) -> dict:
    root = Path(tempfile.mkdtemp(prefix="dtcal-bench-export-"))
    try:
        before = admin.stats()
        t = time.perf_counter()
        if trace:
            (result, pushed), peak = _traced(lambda: _execute(conn_id, owner, root, formats))
        else:
            (result, pushed), peak = _execute(conn_id, owner, root, formats), None
        wall = time.perf_counter() - t
        delta = stats_delta(before, admin.stats())
        files = sorted(str(p.relative_to(root)) for p in root.rglob("part-0.*"))
        size = sum(p.stat().st_size for p in root.rglob("part-0.*"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = result["rows"]
    if rows["events"] != count or rows["attendees"] != count * (ATTENDEES + 1):
        raise HarnessError(f"export of {count} events wrote {rows}; expected {count} events")
    expected_files = {
        f"{t}/{result['partition']}/part-0.{f}" for t in ("events", "attendees") for f in formats
    }
    if set(files) != expected_files:
        raise HarnessError(f"export wrote {files}; expected {sorted(expected_files)}")
    calls = {op: n for op, n in delta["counted"].items() if n}
    return {
        "events": count,
        "formats": formats,
        "rows": rows,
        "peak_bytes": peak,
        "wall_s": wall,
        "bytes_written": size,
        "calls_counted": calls,
        "calls_total": delta["counted_total"],
        "calls_optimum": math.ceil(count / PAGE),
        "operator_reported": {k: v for k, v in pushed["dingtalk_calls"]["by_operation"].items()},
        "errors": sum(delta["errors"].values()),
    }


def export(admin: Any, conn_id: str, sizes: tuple[int, int], latency: float, reps: int) -> dict:
    """Measure 8 (see the module doc). ``sizes`` = (small, large) event counts."""
    small, large = sizes
    owners = {n: f"union-bench-export-{n}" for n in (small, large)}
    for n, owner in owners.items():
        _seed(admin, owner, n)
    # warm-up: imports (hook, ObjectStoragePath, fsspec, pyarrow), the token, the connection
    _one(admin, conn_id, owners[small], small, ["jsonl", "parquet"], trace=False)
    result: dict[str, Any] = {"sizes": [small, large], "attendees_per_event": ATTENDEES + 1, "formats": {}}
    for formats in (["jsonl"], ["jsonl", "parquet"]):
        name = "+".join(formats)
        runs: dict[int, list[dict]] = {small: [], large: []}
        for _ in range(reps):
            for n in (small, large):
                runs[n].append(_one(admin, conn_id, owners[n], n, formats, trace=True))
        ratios = [b["peak_bytes"] / a["peak_bytes"] for a, b in zip(runs[small], runs[large], strict=True)]
        result["formats"][name] = {
            "runs": runs,
            "peak_small_bytes": max(r["peak_bytes"] for r in runs[small]),
            "peak_large_bytes": max(r["peak_bytes"] for r in runs[large]),
            "peak_ratio": max(ratios),  # the worst repetition
            "calls_small": max(r["calls_total"] for r in runs[small]),
            "calls_large": max(r["calls_total"] for r in runs[large]),
            "calls_optimum_small": math.ceil(small / PAGE),
            "calls_optimum_large": math.ceil(large / PAGE),
        }
    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

    hook = DingTalkCalendarHook(dingtalk_conn_id=conn_id)
    window = {"time_min": DAY.isoformat(), "time_max": (DAY + dt.timedelta(days=1)).isoformat()}
    held = {}
    for n in (small, large):
        events, peak = _traced(lambda o=owners[n]: list(hook.iter_events(o, **window)))
        if len(events) != n:
            raise HarnessError(f"listed {len(events)} events of {n}")
        del events
        held[n] = peak
    result["held_in_a_list_bytes"] = {str(n): held[n] for n in (small, large)}
    admin.set_qps_limit(QUOTA)
    admin.set_latency(latency)
    try:
        timed = {}
        for formats in (["jsonl"], ["jsonl", "parquet"]):
            r = _one(admin, conn_id, owners[large], large, formats, trace=False)
            pages = r["calls_counted"].get("ListEvents", 0)
            r["latency_ms"] = round(latency * 1000)
            r["quota_optimum_s"] = r["calls_total"] / QUOTA
            r["ratio_to_quota_optimum"] = r["wall_s"] / r["quota_optimum_s"]
            r["sequential_floor_s"] = pages * latency
            timed["+".join(formats)] = r
    finally:
        admin.set_qps_limit(None)
        admin.set_latency(0.0)
    result["timed"] = timed
    return result
