"""The five measures of the benchmark. Each returns a JSON-ready dict; ``run.py`` turns them into the table.

All of them talk to one emulator process (``harness.EmulatorProcess``) and read its counters through
``EmulatorAdmin.stats()`` before and after, so nothing depends on resetting the emulator mid-run.
"""

from __future__ import annotations

import gc
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from typing import Any

import clients as cl
from harness import ROOT, HarnessError, median, spread, stats_delta

ORGANIZER = "bench-organizer"
ADDED = ["att-3", "att-4"]
REMOVED = ["att-4"]
OPS = ("create", "add", "list", "respond", "remove")
QUOTA = 20  # DingTalk's documented calls per second per app and API (standard edition)


# --------------------------------------------------------------------------------------------- 1. per call


def _batch(client: Any, iterations: int) -> tuple[list[float], list[float]]:
    """``iterations`` times the five calls; CPU (process_time) and wall (perf_counter) seconds per op."""
    cpu = [0.0] * 5
    wall = [0.0] * 5
    pt, pc = time.process_time, time.perf_counter
    expected = 1 + len(cl.FIRST_ATTENDEES) + len(ADDED)
    for _ in range(iterations):
        c0, w0 = pt(), pc()
        event_id = client.create(ORGANIZER)
        c1, w1 = pt(), pc()
        client.add(ORGANIZER, event_id, ADDED)
        c2, w2 = pt(), pc()
        attendees = client.list(ORGANIZER, event_id)
        c3, w3 = pt(), pc()
        client.respond(cl.FIRST_ATTENDEES[0], event_id, "accepted")
        c4, w4 = pt(), pc()
        client.remove(ORGANIZER, event_id, REMOVED)
        c5, w5 = pt(), pc()
        for i, (a, b, x, y) in enumerate(
            ((c0, c1, w0, w1), (c1, c2, w1, w2), (c2, c3, w2, w3), (c3, c4, w3, w4), (c4, c5, w4, w5))
        ):
            cpu[i] += b - a
            wall[i] += y - x
        if len(attendees) != expected:
            raise HarnessError(f"{client.name}: listed {len(attendees)} attendees, expected {expected}")
    return cpu, wall


def per_call_cost(make_clients: Any, admin: Any, rounds: int, iterations: int, warmup: int) -> dict:
    """Measure 1: client CPU and wall per call, the clients interleaved round-robin within each round."""
    clients = make_clients()
    names = [c.name for c in clients]
    for client in clients:  # connections open, imports done, caches warm
        _batch(client, warmup)
    before = admin.stats()
    cpu_rounds: dict[str, list[float]] = {n: [] for n in names}
    wall_rounds: dict[str, list[float]] = {n: [] for n in names}
    op_cpu: dict[str, list[list[float]]] = {n: [] for n in names}
    op_wall: dict[str, list[list[float]]] = {n: [] for n in names}
    calls = iterations * len(OPS)
    for r in range(rounds):
        shift = r % len(clients)
        for client in clients[shift:] + clients[:shift]:
            gc.collect()
            cpu, wall = _batch(client, iterations)
            cpu_rounds[client.name].append(sum(cpu) / calls)
            wall_rounds[client.name].append(sum(wall) / calls)
            op_cpu[client.name].append([x / iterations for x in cpu])
            op_wall[client.name].append([x / iterations for x in wall])
    delta = stats_delta(before, admin.stats())
    expected = rounds * iterations * len(clients)
    seen = {op: delta["calls"][op] for op in ("CreateEvent", "AddAttendee", "ListAttendees")}
    errors = sum(delta["errors"].values())
    if errors or any(count != expected for count in seen.values()):
        raise HarnessError(
            f"emulator saw {seen} and {errors} errors; expected {expected} of each and no errors"
        )

    def micro(values: list[float]) -> dict:
        return {k: (v * 1e6 if k != "n" else v) for k, v in spread(values).items()}

    result: dict[str, Any] = {
        "rounds": rounds,
        "iterations_per_round": iterations,
        "calls_per_client_per_round": calls,
        "emulator_calls_seen": seen,
        "clients": {},
        "ratios": {},
    }
    for client in clients:
        n = client.name
        result["clients"][n] = {
            "label": client.label,
            "cpu_us_per_call": micro(cpu_rounds[n]),
            "wall_us_per_call": micro(wall_rounds[n]),
            "cpu_us_per_op": {op: median([row[i] for row in op_cpu[n]]) * 1e6 for i, op in enumerate(OPS)},
            "wall_us_per_op": {op: median([row[i] for row in op_wall[n]]) * 1e6 for i, op in enumerate(OPS)},
        }
    for n in names:
        if n == "hook":
            continue
        result["ratios"][n] = {
            # paired per round: drift during the run hits both sides of each ratio alike
            "cpu": spread([h / o for h, o in zip(cpu_rounds["hook"], cpu_rounds[n], strict=True)]),
            "wall": spread([h / o for h, o in zip(wall_rounds["hook"], wall_rounds[n], strict=True)]),
        }
    return result


# --------------------------------------------------------------------------------------------- 2. bulk


def _peak_while_iterating(make_iterator: Any) -> tuple[int, int]:
    """(peak bytes allocated above the starting point, items seen) while consuming an iterator."""
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        count = 0
        for _ in make_iterator():
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start, count


def _no_attendees(summary: str) -> dict:
    body = cl.event_body()
    del body["attendees"]
    return {**body, "summary": summary}


def bulk(admin: Any, conn_id: str, reps: int) -> dict:
    """Measure 2: 5,000 attendees added and listed back through the hook (calls, wall time, memory)."""
    from airflow_dtcal.core.pacing import PACER_WINDOW
    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

    hook = DingTalkCalendarHook(conn_id)  # settings from the connection and defaults, pacing included
    hook.get_access_token()
    # DingTalk counts the organizer among an event's at most 5,000 attendees: 4,999 added + the organizer.
    big_ids = [f"bulk-{i:04d}" for i in range(4999)]
    small_ids = big_ids[:499]
    runs = []
    for rep in range(reps):
        if rep:
            time.sleep(PACER_WINDOW)  # each rep starts with an empty pacing window, like a fresh task
        big = hook.create_event(ORGANIZER, _no_attendees("bulk 5,000"))["id"]
        small = hook.create_event(ORGANIZER, _no_attendees("bulk 500"))["id"]
        before = admin.stats()
        t = time.perf_counter()
        hook.add_attendees(ORGANIZER, big, big_ids)
        add_wall = time.perf_counter() - t
        middle = admin.stats()
        t = time.perf_counter()
        listed = sum(1 for _ in hook.iter_attendees(ORGANIZER, big))
        list_wall = time.perf_counter() - t
        after = admin.stats()
        hook.add_attendees(ORGANIZER, small, small_ids)
        peak_big, n_big = _peak_while_iterating(lambda b=big: hook.iter_attendees(ORGANIZER, b))
        peak_small, n_small = _peak_while_iterating(lambda s=small: hook.iter_attendees(ORGANIZER, s))
        peak_list, n_list = _peak_while_iterating(lambda b=big: iter(hook.list_attendees(ORGANIZER, b)))
        if (listed, n_big, n_small, n_list) != (5000, 5000, 500, 5000):
            raise HarnessError(
                f"bulk: listed {listed}/{n_big}/{n_small}/{n_list}; expected 5000/5000/500/5000"
            )
        add_delta = stats_delta(before, middle)["calls"]
        list_delta = stats_delta(middle, after)["calls"]
        runs.append(
            {
                "add_calls": add_delta["AddAttendee"],
                "list_calls": list_delta["ListAttendees"],
                "add_wall_s": add_wall,
                "list_wall_s": list_wall,
                "peak_iter_5000_bytes": peak_big,
                "peak_iter_500_bytes": peak_small,
                "peak_list_all_5000_bytes": peak_list,
            }
        )
    peak_ratios = [r["peak_iter_5000_bytes"] / r["peak_iter_500_bytes"] for r in runs]
    return {
        "attendees": 5000,
        "added": len(big_ids),
        "reps": reps,
        "rate_limit": hook.settings.rate_limit,
        "add_calls": max(r["add_calls"] for r in runs),
        "list_calls": max(r["list_calls"] for r in runs),
        "add_wall_s": median([r["add_wall_s"] for r in runs]),
        "list_wall_s": median([r["list_wall_s"] for r in runs]),
        "peak_iter_5000_bytes": median([r["peak_iter_5000_bytes"] for r in runs]),
        "peak_iter_500_bytes": median([r["peak_iter_500_bytes"] for r in runs]),
        "peak_list_all_5000_bytes": median([r["peak_list_all_5000_bytes"] for r in runs]),
        "peak_ratio_5000_vs_500": median(peak_ratios),
        "runs": runs,
    }


# --------------------------------------------------------------------------------------------- task costs

_TASK_PROBE = textwrap.dedent(
    """
    import json, os, sys, time
    pc = time.perf_counter
    t0 = pc()
    from airflow.sdk import BaseOperator
    t1 = pc()
    import airflow_dtcal.operators.calendar
    t2 = pc()
    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
    t3 = pc()
    hook = DingTalkCalendarHook(sys.argv[1])
    settings = hook.settings
    t4 = pc()
    hook.get_access_token()
    t5 = pc()
    print(json.dumps({"airflow_sdk_ms": (t1 - t0) * 1e3, "operator_module_ms": (t2 - t1) * 1e3,
                      "hook_module_ms": (t3 - t2) * 1e3, "connection_lookup_ms": (t4 - t3) * 1e3,
                      "token_fetch_ms": (t5 - t4) * 1e3}))
    """
)


def task_costs(admin: Any, env: dict, conn_id: str, runs: int, latency: float, warmup: bool = True) -> dict:
    """What every task pays once before its first call, each in a fresh interpreter: importing the operator
    module (over ``airflow.sdk``), importing the hook module (done at ``execute``), looking the connection up
    (from an ``AIRFLOW_CONN_*`` variable) and fetching the access token (one round trip at ``latency``)."""
    cache = tempfile.mkdtemp(prefix="dtcal-bench-pycache-")
    probe_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    probe_env["PYTHONPYCACHEPREFIX"] = cache
    admin.set_latency(latency)
    samples = []
    try:
        before = admin.stats()
        first = 0 if warmup else 1
        for i in range(first, runs + 1):  # run 0 writes the byte-code cache and warms the disk cache
            out = subprocess.run(
                [sys.executable, "-c", _TASK_PROBE, conn_id],
                capture_output=True,
                text=True,
                env=probe_env,
                cwd=ROOT,
                timeout=300,
            )
            if out.returncode != 0:
                raise HarnessError(f"task probe failed: {out.stderr.strip()[-2000:]}")
            if i:
                samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
        fetches = stats_delta(before, admin.stats())["token_fetches"]
    finally:
        admin.set_latency(0.0)
        shutil.rmtree(cache, ignore_errors=True)
    if fetches != runs + 1 - first:
        raise HarnessError(
            f"task probe: the emulator saw {fetches} token fetches, expected {runs + 1 - first}"
        )
    keys = (
        "airflow_sdk_ms",
        "operator_module_ms",
        "hook_module_ms",
        "connection_lookup_ms",
        "token_fetch_ms",
    )
    return {
        "runs": runs,
        "latency_ms": round(latency * 1000),
        **{key: spread([s[key] for s in samples]) for key in keys},
    }


# --------------------------------------------------------------------------------------------- 4. DAG parse

_IMPORT_PROBE = textwrap.dedent(
    """
    import importlib, json, sys, time
    t0 = time.perf_counter()
    from airflow.sdk import BaseOperator
    t1 = time.perf_counter()
    before = set(sys.modules)
    for name in sys.argv[1:]:
        importlib.import_module(name)
    t2 = time.perf_counter()
    new = sorted(m for m in set(sys.modules) - before if not m.startswith("airflow_dtcal"))
    where = sys.modules[sys.argv[1]].__file__
    print(json.dumps({"base_ms": (t1 - t0) * 1e3, "ours_ms": (t2 - t1) * 1e3, "file": where,
                      "modules_imported_besides_ours": new}))
    """
)

#: Airflow's own providers' operator modules, measured the same way beside ours.
REFERENCE_MODULES = {
    "standard PythonOperator": ["airflow.providers.standard.operators.python"],
    "http HttpOperator": ["airflow.providers.http.operators.http"],
}


def our_parse_modules() -> list[str]:
    """Every module the provider info lists as operators, transfers or sensors: what DAG files import."""
    from airflow_dtcal.get_provider_info import get_provider_info

    info = get_provider_info()
    names: list[str] = []
    for section in ("operators", "transfers", "sensors"):
        for entry in info.get(section, []):
            names.extend(entry.get("python-modules", [entry.get("python-module")]))
    return [n for n in dict.fromkeys(names) if n]


def installed_copy() -> str:
    """A non-editable install of this package in a fresh directory (its wheel, built and unpacked): what a
    scheduler imports from site-packages, without the editable finder in the way."""
    work = tempfile.mkdtemp(prefix="dtcal-bench-wheel-")
    wheels, target = os.path.join(work, "wheels"), os.path.join(work, "site")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    steps = [
        lambda: [*pip, "wheel", "--no-deps", "-w", wheels, str(ROOT)],
        lambda: [*pip, "install", "--no-deps", "--target", target, *glob.glob(os.path.join(wheels, "*.whl"))],
    ]
    for step in steps:
        out = subprocess.run(step(), capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise HarnessError(f"installing a built wheel failed: {out.stderr.strip()[-2000:]}")
    return target


def _import_probe(
    env: dict, modules: list[str], runs: int, warmup: bool, before_each: Any = None
) -> list[dict]:
    samples = []
    first = 0 if warmup else 1
    for i in range(first, runs + 1):  # run 0 only warms the disk cache (and writes byte-code if allowed)
        if before_each is not None:
            before_each()
        out = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE, *modules],
            capture_output=True,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),  # not the work tree: the installed copy is what gets imported
            timeout=300,
        )
        if out.returncode != 0:
            raise HarnessError(f"import probe failed: {out.stderr.strip()[-2000:]}")
        if i:
            samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return samples


def dag_parse_cost(runs: int, cold_runs: int, env: dict, warmup: bool = True) -> dict:
    """Measure 5: import time over ``airflow.sdk`` of every operator, transfer and sensor module we ship,
    in fresh interpreters, from a non-editable install; beside it the same for Airflow's own providers'
    operator modules (:data:`REFERENCE_MODULES`).

    Headline: with byte-code cached, as on a scheduler importing an installed provider. Byte-code goes to a
    private ``PYTHONPYCACHEPREFIX``. For information, ours again compiled from source on every import.
    """
    site = installed_copy()
    cache = tempfile.mkdtemp(prefix="dtcal-bench-pycache-")
    ours_cache = os.path.join(cache, site.lstrip(os.sep), "airflow_dtcal")
    modules = our_parse_modules()
    try:
        cached_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached_env["PYTHONPYCACHEPREFIX"] = cache
        cached_env["PYTHONPATH"] = site  # before site-packages, so the installed copy wins
        cached = _import_probe(cached_env, modules, runs, warmup)
        if not cached[-1]["file"].startswith(site):
            raise HarnessError(f"the probe imported {cached[-1]['file']}, not the installed copy in {site}")
        references = {
            label: spread([s["ours_ms"] for s in _import_probe(cached_env, names, runs, warmup)])
            for label, names in REFERENCE_MODULES.items()
        }
        cold_env = {**cached_env, "PYTHONDONTWRITEBYTECODE": "1"}
        cold = _import_probe(
            cold_env,
            modules,
            cold_runs,
            warmup,
            before_each=lambda: shutil.rmtree(ours_cache, ignore_errors=True),
        )
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(os.path.dirname(site), ignore_errors=True)
    return {
        "runs": runs,
        "modules": modules,
        "ours_ms": spread([s["ours_ms"] for s in cached]),
        "airflow_sdk_base_ms": spread([s["base_ms"] for s in cached]),
        "reference_ms": references,
        "ours_compiled_from_source_ms": spread([s["ours_ms"] for s in cold]),
        # what importing our modules pulled in beyond airflow.sdk (heavy ones would show up here)
        "modules_imported_besides_ours": cached[-1]["modules_imported_besides_ours"],
    }


# --------------------------------------------------------------------------------------------- 5. tokens

_TOKEN_PROBE = textwrap.dedent(
    """
    import json, os, sys, threading
    sys.path.insert(0, os.environ["DTCAL_BENCH_DIR"])
    import clients as cl
    from harness import quiet_logging
    quiet_logging()
    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

    threads, iterations = int(sys.argv[1]), int(sys.argv[2])
    barrier = threading.Barrier(threads)
    calls, failures = [0], []
    lock = threading.Lock()

    def task():
        try:
            hook = DingTalkCalendarHook("bench_token", rate_limit=0)  # one hook per task, as operators do
            barrier.wait()
            for _ in range(iterations):
                event_id = hook.create_event("bench-organizer", cl.event_body())["id"]
                hook.add_attendees("bench-organizer", event_id, ["att-3", "att-4"])
                hook.list_attendees("bench-organizer", event_id)
                hook.respond_event("att-1", event_id, "accepted")
                hook.remove_attendees("bench-organizer", event_id, ["att-4"])
                with lock:
                    calls[0] += 5
        except Exception as err:
            failures.append(repr(err))

    workers = [threading.Thread(target=task) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(json.dumps({"calls": calls[0], "failures": failures}))
    """
)


def token_fetches(admin: Any, env: dict, threads: int, iterations: int) -> dict:
    """Measure 5: access-token fetches seen by the emulator for one fresh process making many calls."""
    before = admin.stats()
    out = subprocess.run(
        [sys.executable, "-c", _TOKEN_PROBE, str(threads), str(iterations)],
        capture_output=True,
        text=True,
        env={**env, "DTCAL_BENCH_DIR": os.path.dirname(os.path.abspath(__file__))},
        cwd=ROOT,
        timeout=300,
    )
    delta = stats_delta(before, admin.stats())
    if out.returncode != 0:
        raise HarnessError(f"token probe failed: {out.stderr.strip()[-2000:]}")
    report = json.loads(out.stdout.strip().splitlines()[-1])
    if report["failures"]:
        raise HarnessError(f"token probe: {report['failures'][:3]}")
    return {
        "processes": 1,
        "hooks": threads,
        "threads": threads,
        "calls": report["calls"],
        "token_fetches": delta["token_fetches"],
        "tokens_issued": delta["tokens_issued"],
    }
