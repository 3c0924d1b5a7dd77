"""Several worker processes sharing one app's quota: 1, 4, 8 processes x N creates each.

Each worker is a separate OS process with its own hook (``worker.py``), as Airflow workers are. They start
together (every worker reports ``ready``, then all get ``go`` at once) and each makes its creates through
``run_many``. Reported per (pacing, workers): the aggregate successful rate divided by the quota, the errors
that reached the workers, the share of requests the emulator throttled, and the slowest worker's time over
the median worker's time.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import clients as cl
from harness import ROOT, HarnessError, stats_delta
from quota import QUOTA

WORKER = Path(__file__).resolve().with_name("worker.py")


def _batch(admin: Any, env: dict, conn_id: str, workers: int, creates: int, pacing: str) -> dict:
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), conn_id, str(creates), pacing],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for _ in range(workers)
    ]
    try:
        for proc in procs:
            line = proc.stdout.readline().strip()
            if line != "ready":
                raise HarnessError(f"worker did not start: {line!r} {proc.stderr.read()[-2000:]}")
        before = admin.stats()
        started = time.perf_counter()
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        reports = []
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            if proc.returncode != 0:
                raise HarnessError(f"worker exited {proc.returncode}: {err.strip()[-2000:]}")
            reports.append(json.loads(out.strip().splitlines()[-1]))
        wall = time.perf_counter() - started
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    delta = stats_delta(before, admin.stats())
    times = [r["elapsed_s"] for r in reports]
    ok = sum(r["ok"] for r in reports)
    slowest = max(times)
    sent = delta["calls"]["CreateEvent"]
    throttled = delta["throttled"]["CreateEvent"]
    return {
        "workers": workers,
        "creates_per_worker": creates,
        "pacing": pacing,
        "ok": ok,
        "errors_surfaced": sum(r["errors"] for r in reports),
        "error_samples": [s for r in reports for s in r["error_samples"]][:3],
        "slowest_worker_s": round(slowest, 3),
        "median_worker_s": round(statistics.median(times), 3),
        "slowest_over_median": round(slowest / statistics.median(times), 3),
        "wall_s": round(wall, 3),
        "optimum_s": workers * creates / QUOTA,
        "aggregate_per_s": round(ok / slowest, 2),
        "aggregate_over_quota": round(ok / slowest / QUOTA, 3),
        "requests_sent": sent,
        "throttled": throttled,
        "throttled_share": round(throttled / sent, 4) if sent else 0.0,
        "worker_times_s": [round(t, 3) for t in times],
    }


def workers(
    admin: Any, base_url: str, app_secret: str, env: dict, counts: list[int], creates: int, latency: float
) -> dict:
    """Every (pacing, workers) batch on a fresh app, at ``latency`` seconds per answer, quota on."""
    admin.set_qps_limit(QUOTA)
    admin.set_latency(latency)
    batches = []
    try:
        for pacing in ("host", "process"):
            for n in counts:
                conn_id = f"bench_workers_{pacing}_{n}"
                app_env = {
                    **env,
                    f"AIRFLOW_CONN_{conn_id.upper()}": cl.connection_json(
                        base_url, f"bench-workers-{pacing}-{n}", app_secret
                    ),
                }
                batches.append(_batch(admin, app_env, conn_id, n, creates, pacing))
    finally:
        admin.set_qps_limit(None)
        admin.set_latency(0.0)
    return {"latency_ms": round(latency * 1000), "creates_per_worker": creates, "batches": batches}
