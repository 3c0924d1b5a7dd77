"""Plumbing for the benchmark: the emulator in its own process, machine facts, statistics, the table."""

from __future__ import annotations

import datetime as dt
import os
import platform
import queue
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
URL_LINE = re.compile(r"dtcal-emulator listening on (http://\S+)")


class HarnessError(RuntimeError):
    """The benchmark itself broke (not a slow result): the run exits non-zero."""


# --------------------------------------------------------------------------------------------- emulator


class EmulatorProcess:
    """``dtcal-emulator --port 0`` in a child process; the URL is read from its first line of output."""

    def __init__(self, *args: str, start_timeout: float = 30.0) -> None:
        command = self._command() + ["--host", "127.0.0.1", "--port", "0", *args]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=ROOT
        )
        lines: queue.Queue = queue.Queue()

        def pump() -> None:  # every line, then None at EOF; keeps the pipe drained for the whole run
            for line in self.process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + start_timeout
        seen: list[str] = []
        while True:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                self.close()
                raise HarnessError(
                    f"dtcal-emulator gave no URL within {start_timeout:g}s: {seen[-5:]}"
                ) from None
            if line is None:
                self.close()
                raise HarnessError(
                    f"dtcal-emulator exited ({self.process.poll()}) before listening: {seen[-5:]}"
                )
            match = URL_LINE.search(line)
            if match:
                break
            seen.append(line.rstrip())
        self.base_url = match.group(1)
        self.port = int(self.base_url.rsplit(":", 1)[1])

    @staticmethod
    def _command() -> list[str]:
        script = Path(sys.executable).with_name("dtcal-emulator")
        if script.exists():
            return [str(script)]
        found = shutil.which("dtcal-emulator")
        if found:
            return [found]
        return [sys.executable, "-m", "airflow_dtcal.testing.emulator"]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def stats_delta(before: dict, after: dict) -> dict:
    """Per-counter differences of two ``EmulatorAdmin.stats()`` snapshots."""
    delta: dict[str, Any] = {}
    for key, value in after.items():
        if isinstance(value, dict):
            old = before.get(key, {})
            delta[key] = {op: count - old.get(op, 0) for op, count in value.items()}
        else:
            delta[key] = value - before.get(key, 0)
    return delta


# --------------------------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def machine_info() -> dict:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    memory = None
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    packages = (
        "airflow-dtcal",
        "apache-airflow",
        "apache-airflow-task-sdk",
        "apache-airflow-providers-http",
        "alibabacloud-dingtalk",
        "alibabacloud-tea-openapi",
        "alibabacloud-tea",
        "requests",
        "urllib3",
        "tenacity",
    )
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "memory_gib": memory,
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": {name: _version(name) for name in packages},
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_tracked_changes": bool(status) if status is not None else None,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# --------------------------------------------------------------------------------------------- statistics


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> dict:
    """Median, quartiles and extremes of repeated rounds (kept in the JSON to judge the noise)."""
    ordered = sorted(values)
    if len(ordered) >= 4:
        q1, _, q3 = statistics.quantiles(ordered, n=4)
    else:
        q1, q3 = ordered[0], ordered[-1]
    return {
        "median": median(ordered),
        "q1": float(q1),
        "q3": float(q3),
        "min": float(ordered[0]),
        "max": float(ordered[-1]),
        "n": len(ordered),
    }


# --------------------------------------------------------------------------------------------- the table


COLUMNS = ("Measure", "Value", "Ratio", "Target", "Result")


def render_table(rows: list[dict]) -> str:
    """Rows are dicts with the column names as keys (missing cells print as '-')."""
    cells = [
        [str(row.get(col, "") if row.get(col) is not None else "-") or "-" for col in COLUMNS] for row in rows
    ]
    widths = [max(len(col), *(len(line[i]) for line in cells)) for i, col in enumerate(COLUMNS)]

    def fmt(values: Sequence[str]) -> str:
        first = values[0].ljust(widths[0])
        rest = [
            v.rjust(w) if i == 2 else v.ljust(w)
            for i, (v, w) in enumerate(zip(values[1:], widths[1:], strict=True), 1)
        ]
        return "| " + " | ".join([first, *rest]) + " |"

    line = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(COLUMNS), line, *(fmt(c) for c in cells)])


# --------------------------------------------------------------------------------------------- logging


def quiet_logging() -> None:
    """Log the way an Airflow task does (JSON lines at INFO), but into /dev/null instead of the supervisor.

    The hooks' log calls still cost what they cost in a task; only the output is thrown away.
    """
    from airflow.sdk.log import configure_logging

    excepthook = sys.excepthook
    sink = open(os.devnull, "wb", buffering=0)  # noqa: SIM115 - lives as long as the process
    configure_logging(json_output=True, output=sink, sending_to_supervisor=True)
    sys.excepthook = excepthook  # Airflow routes uncaught errors to the log; a broken run must show them
