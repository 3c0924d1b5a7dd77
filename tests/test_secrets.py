"""The app secret and the access token never reach logs, XComs, rendered fields, the metadata DB or errors."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
SECRET = "S3cret-app-secret-0f9e8d7c"
KEY = "dingsecrettestkey"


def dags_test(home: Path, dags_folder: Path, dag_id: str, emulator) -> str:
    """``airflow dags test DAG_ID`` in a throwaway home, debug logging on; its whole output."""
    conn = {"conn_type": "dingtalk_calendar", "login": KEY, "password": SECRET, "host": emulator.base_url}
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG",
        "PYTHONUNBUFFERED": "1",  # stdout and stderr reach the one pipe in the order they are written
        "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT": json.dumps(conn),
    }
    env.pop("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", None)
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    # One stream, in the order it was written: the test reads which task a line belongs to from its position.
    run = subprocess.run(
        [airflow, "dags", "test", dag_id],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = run.stdout
    assert run.returncode == 0, output[-3000:]
    return output


def connection_fetches(lines: list[str]) -> int:
    """How often BaseHook.get_connection ran (Airflow logs one "Connection Retrieved" line each time)."""
    return sum("Connection Retrieved 'dingtalk_calendar_default'" in line for line in lines)


@pytest.mark.airflow
def test_example_dag_run_leaks_neither_secret_nor_token(dtcal_emulator):
    """Debug logging on. The token appears nowhere. The app secret appears only where Airflow itself prints
    it: under ``dags test`` Airflow logs each MaskSecret message it sends, value included (every 3.x line at
    debug level; Airflow 3.0 prints debug there by default), and it masks a connection's password each time
    it hands one out. The provider adds no such line: it never re-masks the password and registers the
    token with this process's masker (airflow_dtcal.compat.mask_secret)."""
    probe_home = Path(tempfile.mkdtemp(prefix="dtcal-secret-probe-"))
    home = Path(tempfile.mkdtemp(prefix="dtcal-secret-test-"))
    with ThreadPoolExecutor(2) as pool:  # two Airflow homes, two processes each: side by side
        probe_run = pool.submit(
            dags_test, probe_home, ROOT / "tests" / "dags", "dtcal_secret_probe", dtcal_emulator
        )
        dag_run = pool.submit(dags_test, home, ROOT / "dags", "dingtalk_event_attendees", dtcal_emulator)
        probe, output = probe_run.result().splitlines(), dag_run.result()
    assert "Created DingTalk event" in output and "Fetching a DingTalk access token" in output

    # The same app fetching again while its token is valid gets the same token (DingTalk's rule).
    token = requests.post(
        f"{dtcal_emulator.base_url}/v1.0/oauth2/accessToken",
        json={"appKey": KEY, "appSecret": SECRET},
        timeout=5,
    ).json()["accessToken"]
    assert dtcal_emulator.stats()["token_fetches"] == 3  # the probe's fetch, the DAG run's, and ours

    # The probe's second task passed the token through Airflow's redact(): the masker knew it.
    probe_db = sqlite3.connect(probe_home / "airflow.db")
    [(redacted,)] = probe_db.execute("select value from xcom where task_id = 'token_as_airflow_redacts_it'")
    assert "token=***" in str(redacted)
    assert not [line for line in probe if token in line], "the access token leaked into the probe's output"

    # Airflow's own lines per connection fetch, measured on this Airflow by the probe's first task.
    second_task = next(
        i for i, line in enumerate(probe) if "starting task_id=token_as_airflow_redacts_it" in line
    )
    airflow_only = probe[:second_task]
    assert connection_fetches(airflow_only) == 1
    airflow_lines_per_fetch = sum(SECRET in line for line in airflow_only)

    lines = output.splitlines()
    assert not [line for line in lines if token in line], "the access token leaked into the output"
    secret_lines = [line for line in lines if SECRET in line]
    assert connection_fetches(lines) >= 6  # one per task
    assert len(secret_lines) == airflow_lines_per_fetch * connection_fetches(lines), "\n".join(secret_lines)
    assert all("MaskSecret(value=" in line for line in secret_lines)

    places: dict[str, str] = {}
    for path in [*home.rglob("*"), *probe_home.rglob("*")]:  # logs, if any; not the databases
        if path.is_file() and path.suffix != ".db":
            places[str(path)] = path.read_text(errors="replace")
    db = sqlite3.connect(home / "airflow.db")
    tables = [row[0] for row in db.execute("select name from sqlite_master where type='table'")]
    for table in tables:
        rows = db.execute(f'select * from "{table}"').fetchall()  # noqa: S608 - table names from sqlite itself
        places[f"db:{table}"] = repr(rows)
    xcom_rows = db.execute("select task_id, value from xcom").fetchall()
    assert len(xcom_rows) >= 5  # the XComs were really written and are part of the scan
    assert any("rendered" in t for t in tables)
    for place, text in places.items():
        assert SECRET not in text, f"the app secret leaked into {place}"
        assert token not in text, f"the access token leaked into {place}"
