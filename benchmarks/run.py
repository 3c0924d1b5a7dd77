"""Side-by-side benchmark of the airflow-dtcal hook against the alternatives and DingTalk's own limits.

    .venv/bin/python benchmarks/run.py           # full run (a few minutes), writes results/latest.json
    .venv/bin/python benchmarks/run.py --quick   # smoke check of the harness (< 1 min), results/quick.json

The emulator (``dtcal-emulator``) runs in its own process; this process is the client whose CPU is measured.
Timings are medians of repeated rounds, with the clients interleaved round-robin inside each round, and
comparisons are ratios. The run exits 0 whatever the timings are (the table says pass or fail) and
non-zero only when the harness itself breaks: a client errors, the emulator does not start, and so on.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # imported from elsewhere (the smoke test); as a script it is already there
    sys.path.insert(0, str(HERE))

import clients as cl  # noqa: E402
import exporting  # noqa: E402
import harness  # noqa: E402
import measures  # noqa: E402
import quota  # noqa: E402
import report  # noqa: E402
import watching  # noqa: E402
import workers  # noqa: E402

RESULTS = HERE / "results"
APP_SECRET = "dtcal-bench-secret"
REDIS_CONN_ID = "bench_redis"

#: Counts per mode. Quick mode only proves the harness works end to end; its timings mean nothing.
PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "rounds": 10,
        "iterations": 10,
        "warmup": 10,
        "bulk_reps": 3,
        "latencies": [0.050, 0.150],
        "creates": 200,
        "responds": 500,
        "respond_latencies": [0.150],  # at 50 ms a sequential loop already runs at ~18 calls/s
        "sync_events": 20,
        "sync_attendees": 5000,
        "worker_counts": {"host": [1, 4, 8], "redis": [4, 8], "process": [1, 4, 8]},
        "worker_creates": 50,
        "worker_latency": 0.150,
        "parse_runs": 7,
        "parse_cold_runs": 3,
        "probe_warmup": True,
        "task_runs": 5,
        "task_latency": 0.150,
        "token_threads": 4,
        "token_iterations": 25,
        "export_sizes": [500, 5000],
        "export_reps": 2,
        "export_latency": 0.150,
        "export_state_calendars": [1000, 5000],
        "watch_polls": 10,
        "watch_poll_interval": 1.0,
        "watch_calendars": 2,
        "watch_writes": 20,
        "watch_budgets": [None, 3000, 1000],
        "gather_runs": 5,
        "gather_creates": 200,
        "gather_latencies": [0.150, 0.050],
        "window_workers": 8,
        "window_creates": 50,
        "windows": [1.0, 1.02, 1.05, 1.1],
    },
    "quick": {
        "rounds": 2,
        "iterations": 3,
        "warmup": 2,
        "bulk_reps": 1,
        "latencies": [0.010],
        "creates": 12,
        "responds": 12,
        "respond_latencies": [0.010],
        "sync_events": 2,
        "sync_attendees": 600,
        "worker_counts": {"host": [2], "redis": [2], "process": [2]},
        "worker_creates": 5,
        "worker_latency": 0.010,
        "parse_runs": 1,
        "parse_cold_runs": 1,
        "probe_warmup": False,
        "task_runs": 1,
        "task_latency": 0.010,
        "token_threads": 2,
        "token_iterations": 3,
        "export_sizes": [50, 500],
        "export_reps": 1,
        "export_latency": 0.010,
        "export_state_calendars": [100, 500],
        "watch_polls": 2,
        "watch_poll_interval": 0.4,
        "watch_calendars": 2,
        "watch_writes": 3,
        "watch_budgets": [None, 3000],
        "gather_runs": 2,
        "gather_creates": 12,
        "gather_latencies": [0.010],
        "window_workers": 2,
        "window_creates": 5,
        "windows": [1.0, 1.1],
    },
}

# Per-call client CPU is reported as information only: no user feels 0.3 ms next to a 100-250 ms round trip,
# and chasing it once led the hook to bypass requests' public API (which silently disabled users' mocks).
TARGETS = {
    "bulk_calls": 10,
    "peak_ratio": 1.2,
    "gather_ratio": 1.15,
    "sync_ratio": 1.3,
    "workers_aggregate": {"host": 0.85, "redis": 0.9, "process": 0.8},
    "workers_errors": 0,
    "workers_throttled_share": {"host": 0.05, "redis": 0.05, "process": None},
    "workers_slowest_over_median": 1.5,
    "gather_of_quota": 0.9,
    "gather_throttled_share": 0.01,
    "window_throttled_share": 0.02,
    "parse_ms": 10.0,  # issue 18: every operator, transfer and sensor module, installed, over airflow.sdk
    "token_fetches": 1,
    "export_peak_ratio": 1.5,
    "watch_calls_per_calendar_per_poll": 1,
    "watch_state_bytes": 256 * 1024,  # a Variable's cap (airflow_dtcal.state.variables.MAX_STATE_BYTES)
}

MEASURES = [
    "per_call",
    "bulk",
    "quota",
    "workers",
    "gather_runs",
    "window",
    "dag_parse",
    "task_costs",
    "tokens",
    "export",
    "watch",
]


def _environment(base_url: str) -> dict[str, str]:
    """Airflow connections for every client, as ``AIRFLOW_CONN_*`` variables (no metadata database)."""
    env = {}
    for conn_id, app_key in (
        ("bench_hook", "bench-hook"),
        ("bench_bulk", "bench-bulk"),
        ("bench_task", "bench-task"),
        ("bench_token", "bench-token"),
        ("bench_export", "bench-export"),
        ("bench_watch", "bench-watch"),
    ):
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = cl.connection_json(base_url, app_key, APP_SECRET)
    env["AIRFLOW_CONN_BENCH_HTTP"] = json.dumps({"conn_type": "http", "host": base_url})
    return env


def _make_clients(base_url: str):
    def make() -> list:
        return [
            cl.HookClient("bench_hook", rate_limit=0),  # pacing off: only the client's own cost counts
            cl.RequestsClient(base_url, "bench-requests", APP_SECRET),
            cl.SdkClient(base_url, "bench-sdk", APP_SECRET),
            cl.HttpHookClient("bench_http", "bench-httphook", APP_SECRET),
        ]

    return make


# --------------------------------------------------------------------------------------------- the table


def _verdict(ok: bool | None, judged: bool) -> str:
    if ok is None:
        return "error"
    if not judged:
        return "(quick)"
    return "PASS" if ok else "FAIL"


def _outcome(r: dict) -> str:
    """Elapsed time, successes, errors surfaced and server-side throttles of one client's run."""
    text = f"{r['elapsed_s']:.1f} s, {r['ok']}/{r['calls']} ok"
    if r["errors_surfaced"]:
        text += f", {r['errors_surfaced']} errors"
    if r["throttled"]:
        text += f", {r['throttled']} throttled"
    return text


def _ratio(r: dict) -> str:
    """Elapsed ÷ optimum, shown only when every call succeeded (failing fast is not finishing sooner)."""
    return f"{r['ratio_to_optimum']:.2f}" if r["ok"] == r["calls"] and not r["errors_surfaced"] else "-"


CREATE_CLIENTS = (
    ("hook_sequential", "hook, sequential"),
    ("hook_run_many", "hook, run_many (8 in flight)"),
    ("hook_gather", "hook, acreate_event gathered"),
    ("hook_gather_process", "hook, gathered, pacing=process"),
    ("sdk_sequential", "SDK, sequential loop"),
    ("sdk_threads", "SDK, 8 threads"),
    ("sdk_threads_retry", "SDK, 8 threads + its retry"),
)


def _quota_rows(q: dict, judged: bool) -> list[dict]:
    rows: list[dict] = []
    ms = q["latency_ms"]
    c = q["creates"]
    n = c["hook_sequential"]["calls"]
    for key, label in CREATE_CLIENTS:
        r = c[key]
        row = {"Measure": f"3 {ms} ms: {n} creates, {label}", "Value": _outcome(r), "Ratio": _ratio(r)}
        if key == "hook_gather":
            ok = (
                r["errors_surfaced"] == 0
                and r["ok"] == r["calls"]
                and r["ratio_to_optimum"] <= TARGETS["gather_ratio"]
            )
            row["Ratio"] = f"{r['ratio_to_optimum']:.2f}"
            row["Target"] = f"≤ {TARGETS['gather_ratio']:.2f}, 0 errors"
            row["Result"] = _verdict(ok, judged)
        else:
            row["Target"] = "(info)"
        rows.append(row)
    for key, label in (("hook_sequential", "hook, sequential"), ("hook_run_many", "hook, run_many")):
        if "responds" not in q:
            break
        r = q["responds"][key]
        rows.append(
            {
                "Measure": f"3 {ms} ms: {r['calls']} responds, {label}",
                "Value": _outcome(r),
                "Ratio": _ratio(r),
                "Target": "(info)",
            }
        )
    s = q["sync"]
    ok = s["errors_surfaced"] == 0 and s["ratio_to_optimum"] <= TARGETS["sync_ratio"]
    rows.append(
        {
            "Measure": f"3 {ms} ms: sync {s['events']} × {s['attendees_per_event']:,}, run_many",
            "Value": _outcome(s),
            "Ratio": f"{s['ratio_to_optimum']:.2f}",
            "Target": f"≤ {TARGETS['sync_ratio']:.1f}, 0 errors",
            "Result": _verdict(ok, judged),
        }
    )
    return rows


def _workers_rows(w: dict, judged: bool) -> list[dict]:
    rows = []
    t = TARGETS
    for b in w["batches"]:
        misses = []
        aggregate = t["workers_aggregate"][b["pacing"]]
        throttled = t["workers_throttled_share"][b["pacing"]]
        if b["aggregate_over_quota"] < aggregate:
            misses.append("rate")
        if b["errors_surfaced"] > t["workers_errors"]:
            misses.append("errors")
        if throttled is not None and b["throttled_share"] > throttled:
            misses.append("throttled")
        if b["slowest_over_median"] > t["workers_slowest_over_median"]:
            misses.append("slowest")
        result = _verdict(not misses, judged)
        if misses and judged:
            result += f" ({', '.join(misses)})"
        rows.append(
            {
                "Measure": f"4 {w['latency_ms']} ms: {b['workers']} procs × {b['creates_per_worker']}, "
                f"pacing={b['pacing']}" + (", 1 machine each" if b.get("separate_machines") else ""),
                "Value": f"{b['aggregate_per_s']:.1f}/s, {b['errors_surfaced']} errors, "
                f"{b['throttled_share']:.1%} throttled, slowest÷median {b['slowest_over_median']:.2f}",
                "Ratio": f"{b['aggregate_over_quota']:.2f}",
                "Target": f"≥ {aggregate:.2f}, 0, "
                + (f"≤ {throttled:.0%}" if throttled is not None else "(info)")
                + f", ≤ {t['workers_slowest_over_median']:.1f}",
                "Result": result,
            }
        )
    return rows


def _rows(results: dict, judged: bool) -> list[dict]:
    rows: list[dict] = []
    us = "{:.0f} µs".format

    def failed(key: str, title: str) -> bool:
        m = results.get(key)
        if m is not None and "error" in m:
            rows.append({"Measure": title, "Result": "error"})
            return True
        return m is None

    if not failed("per_call", "1 per-call cost"):
        m1 = results["per_call"]
        c = m1["clients"]
        for kind, key in (("CPU", "cpu"), ("wall", "wall")):
            for alt in ("requests", "sdk", "httphook"):
                ratio = m1["ratios"][alt][key]["median"]
                rows.append(
                    {
                        "Measure": f"1 {kind}/call, hook vs {alt}",
                        "Value": f"{us(c['hook'][f'{key}_us_per_call']['median'])} vs "
                        f"{us(c[alt][f'{key}_us_per_call']['median'])}",
                        "Ratio": f"{ratio:.2f}",
                        "Target": "(info)",
                    }
                )

    if not failed("bulk", "2 bulk"):
        m2 = results["bulk"]
        for label, key in (("AddAttendee", "add_calls"), ("ListAttendees", "list_calls")):
            rows.append(
                {
                    "Measure": f"2 bulk 5,000: {label} calls",
                    "Value": str(m2[key]),
                    "Target": f"= {TARGETS['bulk_calls']}",
                    "Result": _verdict(m2[key] == TARGETS["bulk_calls"], judged),
                }
            )
        kib = m2["peak_iter_5000_bytes"] / 1024
        rows.append(
            {
                "Measure": "2 peak memory iter 5,000 vs 500",
                "Value": f"{kib:.0f} / {m2['peak_iter_500_bytes'] / 1024:.0f} KiB",
                "Ratio": f"{m2['peak_ratio_5000_vs_500']:.2f}",
                "Target": f"≤ {TARGETS['peak_ratio']:.1f}",
                "Result": _verdict(m2["peak_ratio_5000_vs_500"] <= TARGETS["peak_ratio"], judged),
            }
        )

    if not failed("quota", "3 under the quota"):
        for q in results["quota"]:
            rows.extend(_quota_rows(q, judged))

    if not failed("workers", "4 worker processes"):
        rows.extend(_workers_rows(results["workers"], judged))

    if not failed("gather_runs", "4b gathered creates, consecutive runs"):
        rows.extend(_gather_rows(results["gather_runs"], judged))
    if not failed("window", "4c pacing window with one clock"):
        rows.extend(_window_rows(results["window"]))

    if not failed("dag_parse", "5 DAG-parse import"):
        m4 = results["dag_parse"]
        ours = m4["ours_ms"]["median"]
        rows.append(
            {
                "Measure": f"5 DAG-parse import over airflow.sdk ({len(m4['modules'])} modules)",
                "Value": f"{ours:.1f} ms",
                "Target": f"≤ {TARGETS['parse_ms']:.0f} ms",
                "Result": _verdict(ours <= TARGETS["parse_ms"], judged),
            }
        )
        for label, spread_ms in m4["reference_ms"].items():
            rows.append(
                {
                    "Measure": f"5 same, Airflow's {label}",
                    "Value": f"{spread_ms['median']:.1f} ms",
                    "Target": "(info)",
                }
            )
        rows.append(
            {
                "Measure": "5 ours, no byte-code cache",
                "Value": f"{m4['ours_compiled_from_source_ms']['median']:.1f} ms",
                "Target": "(info)",
            }
        )

    if not failed("task_costs", "6 per-task fixed costs"):
        m7 = results["task_costs"]
        for key, label in (
            ("operator_module_ms", "import operator module"),
            ("hook_module_ms", "import hook module (at execute)"),
            ("connection_lookup_ms", "connection lookup (env var)"),
            ("token_fetch_ms", f"token fetch ({m7['latency_ms']} ms latency)"),
        ):
            rows.append(
                {
                    "Measure": f"6 per task: {label}",
                    "Value": f"{m7[key]['median']:.1f} ms",
                    "Target": "(info)",
                }
            )

    if not failed("tokens", "7 token fetches"):
        m5 = results["tokens"]
        rows.append(
            {
                "Measure": f"7 token fetches, 1 process, {m5['calls']} calls",
                "Value": str(m5["token_fetches"]),
                "Target": f"= {TARGETS['token_fetches']}",
                "Result": _verdict(m5["token_fetches"] == TARGETS["token_fetches"], judged),
            }
        )

    if not failed("export", "8 export operator"):
        rows.extend(_export_rows(results["export"], judged))
    if not failed("watch", "9 change trigger"):
        rows.extend(_watch_rows(results["watch"], judged))
    return rows


def _gather_rows(m: dict, judged: bool) -> list[dict]:
    rows = []
    for series in m["series"]:
        runs = series["runs"]
        ok = all(
            r["of_quota"] >= TARGETS["gather_of_quota"]
            and r["throttled_share"] <= TARGETS["gather_throttled_share"]
            and r["errors_surfaced"] == 0
            for r in runs
        )
        rows.append(
            {
                "Measure": f"4b {series['latency_ms']} ms: {len(runs)} runs × {series['creates']} gathered "
                f"creates, pacing={series['pacing']}",
                "Value": "of quota "
                + " ".join(f"{r['of_quota']:.2f}" for r in runs)
                + "; throttled "
                + " ".join(str(r["throttled"]) for r in runs),
                "Ratio": f"{min(r['of_quota'] for r in runs):.2f}",
                "Target": f"each ≥ {TARGETS['gather_of_quota']:.2f}, ≤ {TARGETS['gather_throttled_share']:.0%}",
                "Result": _verdict(ok, judged),
            }
        )
    return rows


def _window_rows(m: dict) -> list[dict]:
    return [
        {
            "Measure": f"4c {m['latency_ms']} ms: {b['workers']} procs × {b['creates_per_worker']}, "
            f"pacing=redis, pacing_window={b['window']:g} s",
            "Value": f"{b['aggregate_per_s']:.1f}/s, {b['throttled_share']:.1%} throttled, "
            f"{b['errors_surfaced']} errors",
            "Ratio": f"{b['aggregate_over_quota']:.2f}",
            "Target": f"(info; ≤ {TARGETS['window_throttled_share']:.0%} throttled wanted)",
        }
        for b in m["batches"]
    ]


FORMAT_LABELS = {"jsonl": "JSON Lines", "jsonl+parquet": "JSON Lines + Parquet"}


def _export_rows(m: dict, judged: bool) -> list[dict]:
    rows = []
    small, large = m["sizes"]
    for name, f in m["formats"].items():
        label = FORMAT_LABELS.get(name, name)
        rows.append(
            {
                "Measure": f"8 export peak memory {large:,} vs {small:,} events, {label}",
                "Value": f"{f['peak_large_bytes'] / 1024:.0f} / {f['peak_small_bytes'] / 1024:.0f} KiB",
                "Ratio": f"{f['peak_ratio']:.2f}",
                "Target": f"≤ {TARGETS['export_peak_ratio']:.1f}",
                "Result": _verdict(f["peak_ratio"] <= TARGETS["export_peak_ratio"], judged),
            }
        )
        ok = f["calls_small"] == f["calls_optimum_small"] and f["calls_large"] == f["calls_optimum_large"]
        rows.append(
            {
                "Measure": f"8 export calls {large:,} / {small:,} events, {label}",
                "Value": f"{f['calls_large']} / {f['calls_small']}",
                "Target": f"= {f['calls_optimum_large']} / {f['calls_optimum_small']} (N/100 pages)",
                "Result": _verdict(ok, judged),
            }
        )
    held = m["held_in_a_list_bytes"]
    large_peak = max(f["peak_large_bytes"] for f in m["formats"].values())
    rows.append(
        {
            "Measure": f"8 for comparison: the {large:,} / {small:,} events held in a list",
            "Value": f"{held[str(large)] / 1024:.0f} / {held[str(small)] / 1024:.0f} KiB "
            f"({held[str(large)] / large_peak:.1f} × the export's peak)",
            "Ratio": f"{held[str(large)] / held[str(small)]:.2f}",
            "Target": "(info)",
        }
    )
    for name, r in m["timed"].items():
        rows.append(
            {
                "Measure": f"8 export {r['events']:,} at {r['latency_ms']} ms, {FORMAT_LABELS.get(name, name)}",
                "Value": f"{r['wall_s']:.1f} s, {r['calls_total']} calls "
                f"(quota optimum {r['quota_optimum_s']:.1f} s, pages × latency {r['sequential_floor_s']:.1f} s)",
                "Ratio": f"{r['ratio_to_quota_optimum']:.2f}",
                "Target": "(info)",
            }
        )
    for count, st in m.get("state", {}).get("calendars", {}).items():
        rows.append(
            {
                "Measure": f"8 export watermark, {int(count):,} calendars (one record per interval)",
                "Value": f"{st['record_jsonl_bytes'] / 1024:,.0f} KiB JSON Lines + "
                f"{st['record_parquet_bytes'] / 1024:,.0f} KiB Parquet per interval "
                f"({st['bytes_per_calendar']:.0f} B/calendar, {st['token_chars']}-char tokens), "
                f"read back in {st['read_start_points_s'] * 1000:.0f} ms",
                "Target": "(info) same size every day",
            }
        )
        rows.append(
            {
                "Measure": f"8 for comparison: the old Variable watermark, {int(count):,} calendars",
                "Value": f"{st['old_variable_bytes_full'] / 1024:,.0f} KiB after 31 days; past 256 KiB "
                f"on day {st['old_variable_day_over_limit']}",
                "Target": "(info)",
            }
        )
    return rows


def _hourly_safety_polls() -> int:
    from airflow_dtcal.planning import budget
    from airflow_dtcal.triggers.watch import POLL_INTERVAL

    return budget.poll_plan(POLL_INTERVAL["stream"], None, 1)[1]


def _watch_rows(m: dict, judged: bool) -> list[dict]:
    rows = []
    month = m["standard_month_calls"]
    for p in m["plans"]:
        budget = "no call_budget" if p["call_budget"] is None else f"call_budget={p['call_budget']:,}"
        rows.append(
            {
                "Measure": f"9 watch 1 calendar, poll, poll_interval={p['poll_interval']:g} s, {budget}",
                "Value": f"every {p['interval_s']:.0f} s: {p['calls']:,} calls / 30 days "
                f"({p['calls'] / month:.0%} of {month:,})",
                "Target": "(info)",
            }
        )
    s = m["stream"]
    rows.append(
        {
            "Measure": "9 watch 1 calendar, stream",
            "Value": f"{_hourly_safety_polls():,} calls / 30 days of hourly safety polls + 1 per burst of "
            f"changes to it; 1 Stream message per write in the org (of {m['standard_month_stream_messages']:,} "
            "a month)",
            "Target": "(info)",
        }
    )
    p = m["poll"]
    per = p["calls_per_calendar_per_poll"]
    rows.append(
        {
            "Measure": f"9 watch poll measured: {p['calendars']} calendars × {p['polls']} polls, no change",
            "Value": f"{per:.2f} calls per calendar per poll ({p['poll_calls']} calls; "
            f"first listing {p['first_listing_calls']})",
            "Target": f"= {TARGETS['watch_calls_per_calendar_per_poll']}",
            "Result": _verdict(per == TARGETS["watch_calls_per_calendar_per_poll"], judged),
        }
    )
    most = 1 + s["writes"]  # the first listing, then at most one read per notice
    ok = s["events_fired"] == s["writes"] == s["distinct_events_fired"] and s["trigger_calls"] <= most
    rows.append(
        {
            "Measure": f"9 watch stream measured: {s['writes']} writes",
            "Value": f"{s['events_fired']} TriggerEvents, {s['trigger_calls']} API calls",
            "Target": f"= {s['writes']}, ≤ {most}",
            "Result": _verdict(ok, judged),
        }
    )
    for st in m.get("state", []):
        case = "DingTalk-sized tokens" if not st["page_chars"] else "worst case: 1,024-char token + page"
        ok = st["largest_bytes"] < TARGETS["watch_state_bytes"]
        rows.append(
            {
                "Measure": f"9 watch state, {st['calendars']:,} calendars, {st['events']:,} events x 8 fields, "
                f"{case}",
                "Value": f"{st['total_bytes'] / 1024:,.0f} KiB in {st['variables']} Variables, largest "
                f"{st['largest_bytes'] / 1024:.0f} KiB (save {st['save_s']:.1f} s, load {st['load_s']:.1f} s)",
                "Target": f"each < {TARGETS['watch_state_bytes'] // 1024} KiB",
                "Result": _verdict(ok, judged),
            }
        )
    return rows


# --------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small counts: a smoke check of the harness only"
    )
    parser.add_argument("--output", type=Path, help="where to write the JSON (default results/latest.json)")
    parser.add_argument(
        "--only",
        action="append",
        choices=MEASURES,
        help="run only these measures (repeatable; for investigating, the full table needs all)",
    )
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    profile = PROFILES[mode]
    output = args.output or RESULTS / ("quick.json" if args.quick else "latest.json")
    wanted = set(args.only or MEASURES)

    # A throwaway AIRFLOW_HOME: the run must not depend on (or write to) the user's Airflow set-up.
    airflow_home = tempfile.mkdtemp(prefix="dtcal-bench-airflow-")
    os.environ["AIRFLOW_HOME"] = airflow_home
    # A private temp directory for this run and its worker processes, so the host-wide pacer files
    # (``$TMPDIR/airflow-dtcal-pacer-<uid>``) are this run's alone: any other process of the same user that
    # calls ``clear_token_cache()`` (the pytest plugin does, before every test) deletes every pacer file in the
    # shared directory, which would wipe this run's pacing state mid-measure. See docs/benchmarks.md.
    private_tmp = tempfile.mkdtemp(prefix="dtcal-bench-tmp-")
    os.environ["TMPDIR"] = private_tmp
    tempfile.tempdir = private_tmp
    started = time.perf_counter()
    machine = harness.machine_info()
    results: dict[str, Any] = {}
    broken: list[str] = []
    print(f"airflow-dtcal benchmark ({mode} mode) on {machine['cpu_model']}, {machine['cpus_usable']} CPUs")

    from airflow_dtcal.testing.redis_server import RedisServer

    redis_server = RedisServer().start()  # pacing="redis": one redis-server on loopback for the whole run
    os.environ[f"AIRFLOW_CONN_{REDIS_CONN_ID.upper()}"] = redis_server.connection_json()
    print(f"redis-server: {redis_server.url} (pid {redis_server.process.pid})")
    with redis_server, harness.EmulatorProcess("--qps-limit", "0") as emulator:
        os.environ.update(_environment(emulator.base_url))
        child_env = dict(os.environ)
        harness.quiet_logging()
        from airflow_dtcal.testing.emulator import EmulatorAdmin

        admin = EmulatorAdmin(emulator.base_url)
        admin.set_qps_limit(None)
        print(f"emulator: {emulator.base_url} (pid {emulator.process.pid})")

        steps = [
            (
                "per_call",
                "1 per-call client cost",
                lambda: measures.per_call_cost(
                    _make_clients(emulator.base_url),
                    admin,
                    profile["rounds"],
                    profile["iterations"],
                    profile["warmup"],
                ),
            ),
            (
                "bulk",
                "2 bulk 5,000 attendees",
                lambda: measures.bulk(admin, "bench_bulk", profile["bulk_reps"]),
            ),
            (
                "quota",
                "3 under the quota at " + " and ".join(f"{x * 1000:g} ms" for x in profile["latencies"]),
                lambda: [
                    quota.at_latency(quota.Context(admin, emulator.base_url, APP_SECRET, latency), profile)
                    for latency in profile["latencies"]
                ],
            ),
            (
                "workers",
                "4 worker processes sharing one app",
                lambda: workers.workers(
                    admin,
                    emulator.base_url,
                    APP_SECRET,
                    child_env,
                    profile["worker_counts"],
                    profile["worker_creates"],
                    profile["worker_latency"],
                    REDIS_CONN_ID,
                ),
            ),
            (
                "gather_runs",
                "4b one task's gathered creates, consecutive runs",
                lambda: quota.gather_runs(
                    quota.Context(admin, emulator.base_url, APP_SECRET, 0.0),
                    profile["gather_latencies"],
                    profile["gather_runs"],
                    profile["gather_creates"],
                    REDIS_CONN_ID,
                ),
            ),
            (
                "window",
                "4c the pacing window on one shared clock (Redis)",
                lambda: workers.window_sweep(
                    admin,
                    emulator.base_url,
                    APP_SECRET,
                    child_env,
                    profile["window_workers"],
                    profile["window_creates"],
                    profile["worker_latency"],
                    profile["windows"],
                    REDIS_CONN_ID,
                ),
            ),
            (
                "dag_parse",
                "5 DAG-parse import cost",
                lambda: measures.dag_parse_cost(
                    profile["parse_runs"], profile["parse_cold_runs"], child_env, profile["probe_warmup"]
                ),
            ),
            (
                "task_costs",
                "6 per-task fixed costs",
                lambda: measures.task_costs(
                    admin,
                    child_env,
                    "bench_task",
                    profile["task_runs"],
                    profile["task_latency"],
                    profile["probe_warmup"],
                ),
            ),
            (
                "tokens",
                "7 token fetches per process",
                lambda: measures.token_fetches(
                    admin, child_env, profile["token_threads"], profile["token_iterations"]
                ),
            ),
            (
                "export",
                "8 export operator, memory and calls",
                lambda: exporting.export(
                    admin,
                    "bench_export",
                    tuple(profile["export_sizes"]),
                    profile["export_latency"],
                    profile["export_reps"],
                    tuple(profile["export_state_calendars"]),
                ),
            ),
            (
                "watch",
                "9 change trigger, what watching costs",
                lambda: watching.watching(
                    admin,
                    "bench_watch",
                    profile["watch_polls"],
                    profile["watch_poll_interval"],
                    profile["watch_calendars"],
                    profile["watch_writes"],
                    profile["watch_budgets"],
                ),
            ),
        ]
        for key, title, step in steps:
            if key not in wanted:
                continue
            t = time.perf_counter()
            print(f"  {title} ...", end="", flush=True)
            try:
                results[key] = step()
                print(f" {time.perf_counter() - t:.1f}s", flush=True)
            except Exception as err:  # the harness broke: record it, carry on, exit non-zero at the end
                print(" ERROR", flush=True)
                traceback.print_exc()
                results[key] = {"error": f"{type(err).__name__}: {err}"}
                broken.append(key)

    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    rows = _rows(results, judged=not args.quick)
    table = harness.render_table(rows)
    elapsed = time.perf_counter() - started
    print()
    print(table)
    print()
    failed = [r["Measure"] for r in rows if str(r.get("Result", "")).startswith("FAIL")]
    if args.quick:
        print(f"Quick mode: a smoke check of the harness; timings are not judged. Run took {elapsed:.0f}s.")
    else:
        missed = f"{len(failed)} target(s) missed" + (f": {', '.join(failed)}" if failed else "")
        print(f"{missed}. Run took {elapsed:.0f}s.")

    document = {
        "mode": mode,
        "profile": profile,
        "targets": TARGETS,
        "machine": machine,
        "elapsed_s": round(elapsed, 1),
        "results": results,
        "table": rows,
        "harness_errors": broken,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"results written to {output}")
    if not args.quick and args.output is None and wanted == set(MEASURES) and not broken:
        report.update(document)  # the table and machine line of docs/benchmarks.md
        print("docs/benchmarks.md's table updated")
    for scratch in (airflow_home, private_tmp):
        shutil.rmtree(scratch, ignore_errors=True)
    if broken:
        print(f"harness errors in: {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
