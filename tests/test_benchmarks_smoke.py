"""Cheap checks of the benchmark's reporting logic (the Makefile runs ``benchmarks/run.py --quick`` itself)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("dtcal_bench_run", BENCHMARKS / "run.py")
    module = importlib.util.module_from_spec(spec)
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    try:
        spec.loader.exec_module(module)  # imports its siblings (clients, harness, measures) by bare name
        yield module
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            if name in ("clients", "harness", "measures"):
                del sys.modules[name]


def _run(calls: int, ok: int, elapsed: float, errors: int = 0, throttled: int = 0) -> dict:
    optimum = calls / 20
    return {
        "calls": calls,
        "ok": ok,
        "errors_surfaced": errors,
        "elapsed_s": elapsed,
        "optimum_s": optimum,
        "ratio_to_optimum": elapsed / optimum,
        "throttled": throttled,
    }


def _quota(gather_s: float, sync_s: float) -> dict:
    creates = {key: _run(200, 200, 11.0) for key, _ in CREATE_KEYS}
    creates["hook_gather"] = _run(200, 200, gather_s)
    creates["sdk_threads"] = _run(200, 20, 1.0, errors=180, throttled=180)
    return {
        "latency_ms": 150,
        "creates": creates,
        "responds": {"hook_sequential": _run(500, 500, 78.0), "hook_run_many": _run(500, 500, 26.0)},
        "sync": {
            **_run(20, 20, sync_s),
            "optimum_s": 10.0,
            "ratio_to_optimum": sync_s / 10,
            "events": 20,
            "attendees_per_event": 5000,
        },
    }


def _batch(
    aggregate: float, throttled_share: float = 0.0, slowest: float = 1.1, pacing: str = "host"
) -> dict:
    return {
        "workers": 8,
        "creates_per_worker": 50,
        "pacing": pacing,
        "separate_machines": pacing != "host",
        "errors_surfaced": 0,
        "aggregate_per_s": aggregate * 20,
        "aggregate_over_quota": aggregate,
        "throttled_share": throttled_share,
        "slowest_over_median": slowest,
    }


def _gather_run(of_quota: float, throttled: int) -> dict:
    return {
        "of_quota": of_quota,
        "throttled": throttled,
        "throttled_share": throttled / 200,
        "errors_surfaced": 0,
    }


CREATE_KEYS = (
    ("hook_sequential", ""),
    ("hook_run_many", ""),
    ("hook_gather", ""),
    ("hook_gather_process", ""),
    ("sdk_sequential", ""),
    ("sdk_threads", ""),
    ("sdk_threads_retry", ""),
)


def _results(hook_cpu: float, tokens: int = 1, gather_s: float = 10.5, sync_s: float = 11.0) -> dict:
    spread = {"median": 1.0, "q1": 1.0, "q3": 1.0, "min": 1.0, "max": 1.0, "n": 1}

    def client(cpu: float) -> dict:
        return {"cpu_us_per_call": {**spread, "median": cpu}, "wall_us_per_call": {**spread, "median": cpu}}

    others = {"requests": 600.0, "sdk": 400.0, "httphook": 800.0}
    return {
        "per_call": {
            "clients": {"hook": client(hook_cpu), **{n: client(v) for n, v in others.items()}},
            "ratios": {
                n: {"cpu": {**spread, "median": hook_cpu / v}, "wall": {**spread, "median": hook_cpu / v}}
                for n, v in others.items()
            },
        },
        "quota": [_quota(gather_s, sync_s)],
        "workers": {
            "latency_ms": 150,
            "batches": [
                _batch(0.95),
                _batch(0.95, throttled_share=0.2),
                _batch(0.88, pacing="redis"),
                _batch(0.82, throttled_share=0.3, pacing="process"),  # throttling is information there
                _batch(0.78, pacing="process"),
            ],
        },
        "gather_runs": {
            "series": [
                {
                    "latency_ms": 150,
                    "pacing": "redis",
                    "creates": 200,
                    "runs": [_gather_run(0.95, 0), _gather_run(0.93, 1)],
                },
                {
                    "latency_ms": 150,
                    "pacing": "host",
                    "creates": 200,
                    "runs": [_gather_run(0.95, 0), _gather_run(0.95, 3)],
                },
            ]
        },
        "window": {"latency_ms": 150, "batches": [{**_batch(0.97, 0.03, pacing="redis"), "window": 1.0}]},
        "tokens": {"calls": 100, "token_fetches": tokens},
        "bulk": {"error": "RuntimeError: boom"},
    }


def test_full_mode_judges_targets(bench):
    rows = bench._rows(_results(hook_cpu=500.0), judged=True)
    verdicts = {row["Measure"]: row.get("Result") for row in rows}
    # Per-call CPU is information only: never judged, whatever the ratio.
    assert verdicts["1 CPU/call, hook vs requests"] is None
    assert verdicts["1 CPU/call, hook vs sdk"] is None
    assert verdicts["7 token fetches, 1 process, 100 calls"] == "PASS"
    assert bench._rows(_results(hook_cpu=500.0, tokens=3), judged=True)[-1]["Result"] == "FAIL"
    assert verdicts["2 bulk"] == "error"
    assert verdicts["3 150 ms: 200 creates, hook, acreate_event gathered"] == "PASS"
    assert verdicts["3 150 ms: sync 20 × 5,000, run_many"] == "PASS"
    workers = [row for row in rows if row["Measure"].startswith("4 ")]
    assert [row["Result"] for row in workers] == [
        "PASS",
        "FAIL (throttled)",
        "FAIL (rate)",
        "PASS",
        "FAIL (rate)",
    ]
    assert workers[2]["Measure"].endswith("pacing=redis, 1 machine each")
    gathered = [row["Result"] for row in rows if row["Measure"].startswith("4b ")]
    assert gathered == ["PASS", "FAIL"]  # 3 of 200 throttled is over 1 %
    window = next(row for row in rows if row["Measure"].startswith("4c "))
    assert "pacing_window=1 s" in window["Measure"] and window.get("Result") is None  # information
    table = bench.harness.render_table(rows)
    assert table.splitlines()[0].startswith("| Measure")
    assert len({len(line) for line in table.splitlines()}) == 1  # every line the same width


def test_quota_targets_fail_when_missed(bench):
    rows = bench._rows(_results(hook_cpu=500.0, gather_s=12.0, sync_s=14.0), judged=True)
    verdicts = {row["Measure"]: row.get("Result") for row in rows}
    assert verdicts["3 150 ms: 200 creates, hook, acreate_event gathered"] == "FAIL"  # 1.20 > 1.15
    assert verdicts["3 150 ms: sync 20 × 5,000, run_many"] == "FAIL"  # 1.40 > 1.3
    # a client that fails fast has no ratio: finishing sooner by failing is not finishing
    sdk = next(row for row in rows if row["Measure"] == "3 150 ms: 200 creates, SDK, 8 threads")
    assert sdk["Ratio"] == "-" and "180 errors" in sdk["Value"]


def test_quick_mode_never_judges_timings(bench):
    rows = bench._rows(_results(hook_cpu=5000.0, tokens=3, gather_s=50.0), judged=False)
    assert not any(row.get("Result", "").startswith(("PASS", "FAIL")) for row in rows)


def test_stats_delta(bench):
    before = {"calls": {"CreateEvent": 2, "AddAttendee": 1}, "token_fetches": 1}
    after = {"calls": {"CreateEvent": 5, "AddAttendee": 1}, "token_fetches": 2}
    assert bench.harness.stats_delta(before, after) == {
        "calls": {"CreateEvent": 3, "AddAttendee": 0},
        "token_fetches": 1,
    }
