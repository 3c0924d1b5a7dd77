"""Airflow's REST API (v2) as a user of the deployment calls it: a JWT from the simple auth manager, then JSON."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import requests
from services import DeploymentError

ASSET_EVENT_TRIES = 10


class AirflowAPI:
    """The few REST calls the deployment check needs. Every call has a timeout; errors name the call."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only: never through a proxy from the environment
        self._username, self._password = username, password

    def __repr__(self) -> str:
        return f"AirflowAPI({self.base_url!r}, user={self._username!r})"

    def log_in(self) -> None:
        """``POST /auth/token`` with the user's password (simple auth manager); the JWT goes in every call."""
        answer = self.session.post(
            f"{self.base_url}/auth/token",
            json={"username": self._username, "password": self._password},
            timeout=self.timeout,
        )
        if answer.status_code != 201:
            raise DeploymentError(f"POST /auth/token answered {answer.status_code}: {answer.text[:300]}")
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        answer = self.session.request(method, f"{self.base_url}{path}", timeout=self.timeout, **kwargs)
        if answer.status_code not in ok:
            raise DeploymentError(f"{method} {path} answered {answer.status_code}: {answer.text[:500]}")
        return answer.json() if answer.content else None

    # ---------------------------------------------------------------- reads

    def health(self) -> dict:
        return self.call("GET", "/api/v2/monitor/health")

    def dag_ids(self) -> set[str]:
        return {dag["dag_id"] for dag in self.call("GET", "/api/v2/dags", params={"limit": 100})["dags"]}

    def import_errors(self) -> list[dict]:
        return self.call("GET", "/api/v2/importErrors")["import_errors"]

    def jobs(self, job_type: str) -> list[dict]:
        return self.call("GET", "/api/v2/jobs", params={"job_type": job_type, "limit": 100})["jobs"]

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        return self.call("GET", path, params={"limit": 100})["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        """The task's return value, as stored (JSON)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.call("GET", path, params={"map_index": map_index})["value"]

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]

    def asset_events(self, asset_name: str) -> list[dict]:
        """The events of the asset named ``asset_name``, oldest first."""
        assets = self.call("GET", "/api/v2/assets", params={"name_pattern": asset_name})["assets"]
        [asset] = [a for a in assets if a["name"] == asset_name]
        params = {"asset_id": asset["id"], "limit": 100, "order_by": "timestamp"}
        # Airflow 3.3.2 answers 500 while a run an event created has not started yet (the answer's model
        # wants the run's start_date; seen with the CeleryExecutor, whose runs wait longer): ask again.
        for _ in range(ASSET_EVENT_TRIES - 1):
            try:
                return self.call("GET", "/api/v2/assets/events", params=params)["asset_events"]
            except DeploymentError as err:
                if " answered 500" not in str(err):
                    raise
            time.sleep(1)
        return self.call("GET", "/api/v2/assets/events", params=params)["asset_events"]

    def variables(self) -> dict[str, str]:
        """Every Airflow Variable, key -> value (as stored: text)."""
        found = self.call("GET", "/api/v2/variables", params={"limit": 100})["variables"]
        return {v["key"]: v["value"] for v in found}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """The task's log for one try as plain lines (what the UI shows, trigger output included)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/{try_number}"
        body = self.call("GET", path, params={"map_index": map_index, "full_content": "true"})
        content = body.get("content") or []
        if isinstance(content, str):
            return content
        return "\n".join(
            " ".join(str(part) for part in (item.get("event"), item.get("error_detail") or "") if part)
            if isinstance(item, dict)
            else str(item)
            for item in content
        )

    # ---------------------------------------------------------------- writes

    def set_pool(self, name: str, slots: int, description: str) -> None:
        body = {"name": name, "slots": slots, "description": description, "include_deferred": False}
        self.call("POST", "/api/v2/pools", json=body, ok=(201,))

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def pause(self, dag_id: str) -> None:
        self.call("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": True})

    def reparse(self, dag_id: str) -> None:
        """Ask the dag-processor to parse the DAG's file again now (not at its next interval)."""
        token = self.call("GET", f"/api/v2/dags/{dag_id}")["file_token"]
        self.call("PUT", f"/api/v2/parseDagFile/{token}", ok=(200, 201))

    def trigger(self, dag_id: str, logical_date: str | None, conf: dict | None = None) -> str:
        body = {"logical_date": logical_date, "conf": conf or {}}
        return self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]
