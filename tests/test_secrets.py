"""The app secret and the access token never reach logs, XComs, rendered fields, the metadata DB or errors."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SECRET = "S3cret-app-secret-0f9e8d7c"
KEY = "dingsecrettestkey"


def test_example_dag_run_leaks_neither_secret_nor_token(dtcal_emulator):
    home = Path(tempfile.mkdtemp(prefix="dtcal-secret-test-"))
    conn = {
        "conn_type": "dingtalk_calendar",
        "login": KEY,
        "password": SECRET,
        "host": dtcal_emulator.base_url,
    }
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT": json.dumps(conn),
    }
    env.pop("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", None)
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    run = subprocess.run(
        [airflow, "dags", "test", "dingtalk_event_attendees"], env=env, capture_output=True, text=True
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert "Created DingTalk event" in output and "Fetching a DingTalk access token" in output

    # The same app fetching again while its token is valid gets the same token (DingTalk's rule).
    token = requests.post(
        f"{dtcal_emulator.base_url}/v1.0/oauth2/accessToken",
        json={"appKey": KEY, "appSecret": SECRET},
        timeout=5,
    ).json()["accessToken"]
    assert dtcal_emulator.stats()["token_fetches"] == 2  # the DAG run's one fetch, and ours

    places = {"stdout/stderr": output}
    for path in home.rglob("*"):
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
