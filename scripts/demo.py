"""`make demo`: run the example DAG in a real Airflow against the local DingTalk emulator.

1. starts ``dtcal-emulator`` on a free loopback port (its own process);
2. makes a throwaway AIRFLOW_HOME with a sqlite database (``airflow db migrate``);
3. runs ``airflow dags test dingtalk_event_attendees`` with the connection pointing at the emulator;
4. prints a short summary read back from the emulator (the event, each attendee and their response);
5. reads the run's and the tasks' states back from Airflow's metadata database; stops the emulator; exits
   non-zero if the run or any task did not succeed.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DAG_ID = "dingtalk_event_attendees"
# Demo credentials: the emulator accepts any non-empty App Key / App Secret.
APP_KEY, APP_SECRET = "demo-app-key", "demo-app-secret-not-a-real-one"


def start_emulator() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [str(BIN / "dtcal-emulator"), "--port", "0", "--qps-limit", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        if "listening on" in line:
            return proc, line.strip().rsplit(" ", 1)[-1]
    proc.kill()
    raise SystemExit("The emulator did not start (dtcal-emulator printed no URL).")


def main() -> int:
    from airflow_dtcal.testing import EmulatorAdmin

    home = Path(tempfile.mkdtemp(prefix="dtcal-demo-airflow-"))
    database = home / "airflow.db"
    emulator, base_url = start_emulator()
    print(f"DingTalk emulator: {base_url}")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{database}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT": json.dumps(
            {"conn_type": "dingtalk_calendar", "login": APP_KEY, "password": APP_SECRET, "host": base_url}
        ),
    }
    log_dir = ROOT / ".demo"  # kept after the run (git-ignored); the Airflow home is thrown away
    log_dir.mkdir(exist_ok=True)
    log_path = log_dir / "dags-test.log"
    try:
        print(f"Airflow home (throwaway): {home}")
        migrate = subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True
        )
        if migrate.returncode != 0:
            print(migrate.stdout[-2000:], migrate.stderr[-2000:])
            print("airflow db migrate failed")
            return 1
        print(f"Running: airflow dags test {DAG_ID}  (full log: {log_path})")
        with open(log_path, "w") as log:
            run = subprocess.run(
                [str(BIN / "airflow"), "dags", "test", DAG_ID], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        run_state, states = read_back_states(database)
        failed = (
            run.returncode != 0
            or run_state != "success"
            or not states
            or any(s != "success" for s in states.values())
        )
        print()
        print(f"DAG run: {run_state}. Tasks:")
        for task_id, state in states.items():
            print(f"  {task_id:<18} {state}")
        summarize(EmulatorAdmin(base_url))
        if failed:
            print("\nThe DAG run FAILED. Last lines of the log:")
            print("\n".join(log_path.read_text().splitlines()[-40:]))
            return 1
        print("\nDemo OK: the DAG ran end to end against the emulator.")
        return 0
    finally:
        emulator.terminate()
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
        shutil.rmtree(home, ignore_errors=True)


def read_back_states(database: Path) -> tuple[str, dict[str, str]]:
    """The DAG run's state and each task's, read from Airflow's sqlite metadata database.

    The ``dag_run`` and ``task_instance`` tables have these columns on every Airflow 3 line, whereas the
    ``dags test`` log lines differ between lines and the CLI's ``dags list-runs`` needs a parsed DAG in the
    ``dag`` table, which ``dags test`` does not write on Airflow 3.0."""
    with closing(sqlite3.connect(database)) as db:
        runs = db.execute("SELECT run_id, state FROM dag_run WHERE dag_id = ?", (DAG_ID,)).fetchall()
        if len(runs) != 1:
            return f"{len(runs)} runs", {}
        run_id, run_state = runs[0]
        tasks = db.execute(
            "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ? AND run_id = ?"
            " ORDER BY start_date",
            (DAG_ID, run_id),
        ).fetchall()
    states = {
        (task_id if index < 0 else f"{task_id}[{index}]"): str(state) for task_id, index, state in tasks
    }
    return str(run_state), states


def summarize(admin) -> None:
    events = admin.events()
    stats = admin.stats()
    print()
    if not events:
        print("The emulator holds no event.")
        return
    for event in events:
        start = event["start"].get("dateTime") or event["start"].get("date")
        end = event["end"].get("dateTime") or event["end"].get("date")
        print(f"Event {event['id']}")
        print(f"  summary   {event['summary']}")
        print(f"  when      {start} -> {end} ({event['start'].get('timeZone', 'all day')})")
        print(f"  organizer {event['organizer']['id']}")
        print("  attendees:")
        for attendee in admin.attendees(event["id"]):
            role = " (organizer)" if attendee["id"] == event["organizer"]["id"] else ""
            print(f"    {attendee['id']:<20} {attendee['responseStatus']}{role}")
    calls = {op: n for op, n in stats["calls"].items() if n}
    print(f"API calls seen by the emulator: {calls}")


if __name__ == "__main__":
    sys.exit(main())
