"""Several worker processes sharing one app's quota: 1, 4, 8 processes x N creates each.

Each worker is a separate OS process with its own hook (``worker.py``), as Airflow workers are. They start
together (every worker reports ``ready``, then all get ``go`` at once) and each makes its creates through
``run_many``. Reported per (pacing, workers): the aggregate successful rate divided by the quota, the errors
that reached the workers, the share of requests the emulator throttled, and the slowest worker's time over
the median worker's time.

``pacing="host"`` batches share one pacing directory (one machine). ``"redis"`` and ``"process"`` batches
give every worker a pacing directory and temp directory of its own, as if each ran on a machine of its own:
``redis`` then shares the quota through one ``redis-server`` (started by ``run.py`` on loopback), ``process``
through nothing but the throttling answers.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import clients as cl
from harness import ROOT, HarnessError, stats_delta
from quota import QUOTA

WORKER = Path(__file__).resolve().with_name("worker.py")


#: Which batches run, in this order: (pacing, separate machines?).
PACINGS = (("host", False), ("redis", True), ("process", True))


def _machine_env(env: dict, apart: bool) -> dict:
    """The worker's environment: with ``apart``, a temp and pacing directory of its own (another machine)."""
    if not apart:
        return env
    own = tempfile.mkdtemp(prefix="dtcal-bench-machine-", dir=env.get("TMPDIR"))
    return {**env, "TMPDIR": own, "AIRFLOW_DTCAL_PACER_DIR": os.path.join(own, "pacer")}


def _batch(
    admin: Any, env: dict, conn_id: str, workers: int, creates: int, pacing: str, apart: bool = False
) -> dict:
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), conn_id, str(creates), pacing],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_machine_env(env, apart),
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
        "separate_machines": apart,
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
        "fallback_warnings": sum(r.get("warnings", 0) for r in reports),
    }


def workers(
    admin: Any,
    base_url: str,
    app_secret: str,
    env: dict,
    counts: dict[str, list[int]],
    creates: int,
    latency: float,
    redis_conn_id: str,
) -> dict:
    """Every (pacing, workers) batch on a fresh app, at ``latency`` seconds per answer, quota on."""
    admin.set_qps_limit(QUOTA)
    admin.set_latency(latency)
    batches = []
    try:
        for pacing, apart in PACINGS:
            for n in counts[pacing]:
                conn_id = f"bench_workers_{pacing}_{n}"
                app_env = {
                    **env,
                    f"AIRFLOW_CONN_{conn_id.upper()}": cl.connection_json(
                        base_url,
                        f"bench-workers-{pacing}-{n}",
                        app_secret,
                        extra={"pacing_redis_conn_id": redis_conn_id},
                    ),
                }
                batches.append(_batch(admin, app_env, conn_id, n, creates, pacing, apart))
    finally:
        admin.set_qps_limit(None)
        admin.set_latency(0.0)
    return {"latency_ms": round(latency * 1000), "creates_per_worker": creates, "batches": batches}


def window_sweep(
    admin: Any,
    base_url: str,
    app_secret: str,
    env: dict,
    workers: int,
    creates: int,
    latency: float,
    windows: list[float],
    redis_conn_id: str,
) -> dict:
    """``workers`` processes, each as on a machine of its own, pacing through Redis with each window: the
    throttled share says how much margin over DingTalk's one second the jitter of this set-up needs."""
    admin.set_qps_limit(QUOTA)
    admin.set_latency(latency)
    batches = []
    try:
        for window in windows:
            conn_id = f"bench_window_{str(window).replace('.', '_')}"
            extra = {"pacing_redis_conn_id": redis_conn_id, "pacing_window": window}
            app_env = {
                **env,
                f"AIRFLOW_CONN_{conn_id.upper()}": cl.connection_json(
                    base_url, f"bench-window-{window}", app_secret, extra=extra
                ),
            }
            batch = _batch(admin, app_env, conn_id, workers, creates, "redis", apart=True)
            batches.append({**batch, "window": window})
    finally:
        admin.set_qps_limit(None)
        admin.set_latency(0.0)
    return {"latency_ms": round(latency * 1000), "batches": batches}
