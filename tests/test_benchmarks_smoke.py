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


def _results(hook_cpu: float, tokens: int = 1) -> dict:
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
        "tokens": {"calls": 100, "token_fetches": tokens},
        "bulk": {"error": "RuntimeError: boom"},
    }


def test_full_mode_judges_targets(bench):
    rows = bench._rows(_results(hook_cpu=500.0), judged=True)
    verdicts = {row["Measure"]: row.get("Result") for row in rows}
    # Per-call CPU is information only: never judged, whatever the ratio.
    assert verdicts["1 CPU/call, hook vs requests"] is None
    assert verdicts["1 CPU/call, hook vs sdk"] is None
    assert verdicts["5 token fetches, 1 process, 100 calls"] == "PASS"
    assert bench._rows(_results(hook_cpu=500.0, tokens=3), judged=True)[-1]["Result"] == "FAIL"
    assert verdicts["2 bulk"] == "error"
    table = bench.harness.render_table(rows)
    assert table.splitlines()[0].startswith("| Measure")
    assert len({len(line) for line in table.splitlines()}) == 1  # every line the same width


def test_quick_mode_never_judges_timings(bench):
    rows = bench._rows(_results(hook_cpu=5000.0, tokens=3), judged=False)
    assert not any(row.get("Result") in ("PASS", "FAIL") for row in rows)


def test_stats_delta(bench):
    before = {"calls": {"CreateEvent": 2, "AddAttendee": 1}, "token_fetches": 1}
    after = {"calls": {"CreateEvent": 5, "AddAttendee": 1}, "token_fetches": 2}
    assert bench.harness.stats_delta(before, after) == {
        "calls": {"CreateEvent": 3, "AddAttendee": 0},
        "token_fetches": 1,
    }
