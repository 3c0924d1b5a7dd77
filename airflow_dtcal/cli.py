"""``airflow-dtcal``: the provider's command line (run it where the Airflow connections are, e.g. a worker).

    airflow-dtcal month [--conn-id dingtalk_calendar_default] [--month 2026-12] [--json]

prints the DingTalk calls the connection's app spent this month (China time), of its ``monthly_budget``,
and each DAG's share: deployment-wide with ``pacing="redis"``, else this machine's count.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator


def _month(text: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise argparse.ArgumentTypeError(f"must be YYYY-MM (got {text!r})")
    return text


@contextlib.contextmanager
def _output_to_stderr() -> Iterator[None]:
    """Everything written to stdout meanwhile (Airflow's log lines, at file-descriptor level) goes to stderr,
    so stdout holds only the command's answer (``--json | jq`` works)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="airflow-dtcal", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    month = commands.add_parser("month", help="the DingTalk calls spent this month, per DAG")
    month.add_argument("--conn-id", default="dingtalk_calendar_default", help="the DingTalk connection id")
    month.add_argument("--month", type=_month, help="YYYY-MM, China time (default: this month)")
    month.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)

    with _output_to_stderr():
        from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
        from airflow_dtcal.hooks.limiter import month_usage

        hook = DingTalkCalendarHook(args.conn_id)
        settings = hook.settings
        usage, store = month_usage(hook, settings, args.month)
    if args.json:
        document = {
            "connection": args.conn_id,
            "store": store,
            "month": usage.month,
            "calls": usage.total,
            "monthly_budget": settings.monthly_budget or None,
            "by_dag": dict(sorted(usage.by_dag.items(), key=lambda kv: -kv[1])),
        }
        print(json.dumps(document, indent=2))
        return 0
    budget = f" of {settings.monthly_budget:,} (monthly_budget)" if settings.monthly_budget else ""
    scope = "the deployment (Redis)" if store == "redis" else "this machine"
    print(f"{usage.month} (China time), {scope}: {usage.total:,} DingTalk calls{budget}")
    for dag, calls in sorted(usage.by_dag.items(), key=lambda kv: -kv[1]):
        print(f"  {calls:>8,}  {dag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
