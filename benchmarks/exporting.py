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
* the incremental watermark's size (:func:`state_size`): two incremental runs (a first full listing, then a
  delta) of 1,000 and 5,000 calendars, each run's record (the ``calendars`` table beside the data, JSON
  Lines and Parquet) in bytes and per calendar, the time a run takes to read its start points back, and,
  for comparison, what the old single-Variable watermark (31 intervals x 2 tokens x calendars) held for
  the same tokens against Airflow's 256 KiB.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import math
import os
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
        f"{t}/{result['partition']}/part-0.{f}" for t in ("events", "attendees", "calendars") for f in formats
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


def export(
    admin: Any, conn_id: str, sizes: tuple[int, int], latency: float, reps: int, state_calendars: tuple = ()
) -> dict:
    """Measure 8 (see the module doc). ``sizes`` = (small, large) event counts; ``state_calendars``: the
    numbers of calendars whose incremental watermark is measured."""
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
    result["state"] = state_size(admin, conn_id, tuple(state_calendars))
    return result


OLD_KEEP_INTERVALS = 31  # what the old Variable watermark kept, per calendar: 2 tokens per interval
VARIABLE_LIMIT = 256 * 1024


def _unpaced_conn(conn_id: str) -> str:
    """A copy of ``conn_id``'s connection without the client's 20 calls/s pacing (thousands of calendars are
    thousands of calls, and what is measured here is bytes, not time)."""
    conn = json.loads(os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"])
    conn["extra"] = {**conn.get("extra", {}), "rate_limit": 0}
    unpaced = f"{conn_id}_unpaced"
    os.environ[f"AIRFLOW_CONN_{unpaced.upper()}"] = json.dumps(conn)
    return unpaced


def _incremental(conn_id: str, owners: list[str], root: Path, day: dt.datetime) -> dict:
    from airflow_dtcal.transfers.export import ExportEventsOperator

    op = ExportEventsOperator(
        task_id="bench_export_state",
        dingtalk_conn_id=conn_id,
        calendars=owners,
        destination=f"file://{root}",
        mode="incremental",
        attendees=False,
        formats=["jsonl", "parquet"],
    )
    ti = types.SimpleNamespace(
        dag_id="dtcal_bench_export_state",
        task_id=op.task_id,
        run_id=f"bench__{time.monotonic_ns()}",
        map_index=-1,
        try_number=1,
        xcom_push=lambda key, value: None,
    )
    return op.execute({"ti": ti, "data_interval_start": day, "data_interval_end": day + dt.timedelta(days=1)})


def state_size(admin: Any, conn_id: str, counts: tuple[int, ...]) -> dict:
    """The incremental watermark's size at each number of calendars (see the module doc)."""
    from airflow_dtcal.state import watermarks

    unpaced = _unpaced_conn(conn_id)
    out: dict[str, Any] = {"variable_limit_bytes": VARIABLE_LIMIT, "calendars": {}}
    for count in counts:
        owners = [f"union-bench-state-{count}-{n:05d}" for n in range(count)]
        root = Path(tempfile.mkdtemp(prefix="dtcal-bench-state-"))
        try:
            before = admin.stats()
            runs = [_incremental(unpaced, owners, root, DAY + dt.timedelta(days=d)) for d in range(2)]
            calls = stats_delta(before, admin.stats())["counted_total"]
            modes = [r["mode"] for r in runs]
            if modes != ["full", "incremental"] or len(runs[1]["calendars"]) != count:
                raise HarnessError(f"state-size runs of {count} calendars: modes {modes}")
            record = root / "calendars" / runs[1]["partition"]
            jsonl = (record / "part-0.jsonl").stat().st_size
            parquet = (record / "part-0.parquet").stat().st_size
            lines = [json.loads(line) for line in (record / "part-0.jsonl").read_text().splitlines()]
            token = max(len(line["ended_at"]) for line in lines)
            t = time.perf_counter()
            starts = watermarks.load_start_points(
                root, DAY + dt.timedelta(days=2), owners, "2026-03-11T00:00:00Z"
            )
            read_s = time.perf_counter() - t
            if sum(1 for s in starts.values() if s.token) != count:
                raise HarnessError("the start points did not continue every calendar")
            old = {
                "version": 1,
                "intervals": {
                    f"2026-01-{i + 1:02d}T00:00:00+00:00": {
                        "started_from": dict.fromkeys(owners, "t" * token),
                        "ended_at": dict.fromkeys(owners, "t" * token),
                    }
                    for i in range(OLD_KEEP_INTERVALS)
                },
            }
            per_day_old = len(json.dumps(old, separators=(",", ":"))) / OLD_KEEP_INTERVALS
        finally:
            shutil.rmtree(root, ignore_errors=True)
        out["calendars"][str(count)] = {
            "record_jsonl_bytes": jsonl,
            "record_parquet_bytes": parquet,
            "bytes_per_calendar": jsonl / count,
            "token_chars": token,
            "read_start_points_s": read_s,
            "calls": calls,
            "old_variable_bytes_full": int(per_day_old * OLD_KEEP_INTERVALS),
            "old_variable_day_over_limit": math.ceil(VARIABLE_LIMIT / per_day_old),
        }
    return out
