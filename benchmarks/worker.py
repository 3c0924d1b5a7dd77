"""One worker process of the ``workers`` measure (started by ``workers.py``, not by hand).

    worker.py CONN_ID CREATES PACING

It builds its own hook (``pacing`` as given), fetches its token, prints ``ready`` and waits for a ``go`` line
on stdin, so every worker starts at the same moment whatever its start-up cost. Then it makes CREATES
CreateEvent calls through ``hook.run_many`` (as a bulk task would) and prints one JSON line: its elapsed
time from ``go``, the calls that succeeded, and the errors that reached it.
"""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clients as cl  # noqa: E402
from harness import quiet_logging  # noqa: E402


def main() -> None:
    conn_id, creates, pacing = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    quiet_logging()
    import logging

    from airflow_dtcal.exceptions import DingTalkError
    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

    warnings = []  # the limiter's fallback warnings (Redis or the host files unusable)

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(record.getMessage())

    logging.getLogger("airflow_dtcal.pacing").addHandler(Count(logging.WARNING))
    hook = DingTalkCalendarHook(conn_id, pacing=pacing)
    hook.get_access_token()
    _ = hook.session
    body = cl.event_body()
    errors: list[str] = []

    def create(_index: int) -> bool:
        try:
            hook.create_event("bench-organizer", body)
            return True
        except DingTalkError as err:
            errors.append(f"{type(err).__name__}: {getattr(err, 'code', None) or err}"[:300])
            return False

    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit("worker: expected 'go' on stdin")
    start = time.perf_counter()
    done = hook.run_many(create, range(creates))
    elapsed = time.perf_counter() - start
    report = {
        "elapsed_s": elapsed,
        "ok": sum(done),
        "errors": len(errors),
        "error_samples": errors[:3],
        "calls_spent": hook.calls_spent,
        "warnings": len(warnings),
        "warning_samples": warnings[:2],
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
