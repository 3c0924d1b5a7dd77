"""Start the deployment: PostgreSQL, the DingTalk emulator and Airflow's four services, as separate processes."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from airflow_api import AirflowAPI
from postgres import start_postgres
from services import DeploymentError, Service, free_port, tail, wait_until

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ADMIN_USER = "deployer"
# The emulator accepts any non-empty App Key / App Secret; the secret must never show up in Airflow's output.
APP_KEY, APP_SECRET = "deploy-app-key", "deploy-app-secret-" + secrets.token_hex(8)
# Two triggerers (each runs at most two triggers, so the three watches of the event-driven example are
# shared between them, as in a deployment with more than one triggerer).
AIRFLOW_SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer", "triggerer-2")
TRIGGERER_CAPACITY = 2
#: DAGs of the deployment check itself (two more watches of the same DingTalk app), beside dags/.
DEPLOYMENT_DAGS = Path(__file__).resolve().parent / "dags"


@dataclass
class Deployment:
    workdir: Path
    log_dir: Path
    services: list[Service] = field(default_factory=list)  # in start order; stopped in reverse
    env: dict[str, str] = field(default_factory=dict)
    emulator_url: str = ""
    api: AirflowAPI | None = None
    # Called with the emulator's URL once it is up, before Airflow starts: environment for Airflow's processes.
    before_airflow: Callable[[str], dict[str, str]] | None = None

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        print("Starting PostgreSQL...")
        db_url = start_postgres(self.workdir, self.log_dir, self.services)
        print(f"  {db_url}")
        print("Starting the DingTalk emulator (dtcal-emulator)...")
        self.emulator_url = self._start_emulator()
        print(f"  {self.emulator_url}")
        api_port = free_port()
        password = secrets.token_urlsafe(16)
        self.env = self._airflow_env(db_url, api_port, password)
        if self.before_airflow is not None:
            self.env.update(self.before_airflow(self.emulator_url))
        print("Migrating Airflow's metadata database (airflow db migrate)...")
        self._airflow_command(["db", "migrate"], "db-migrate.log", timeout=300)
        print("Starting airflow " + ", ".join(AIRFLOW_SERVICES) + " (LocalExecutor)...")
        for name in AIRFLOW_SERVICES:
            command = "triggerer" if name.startswith("triggerer") else name
            argv = [str(BIN / "airflow"), command]
            if name == "api-server":
                argv += ["--host", "127.0.0.1", "--port", str(api_port)]
            if command in ("scheduler", "triggerer"):
                # Their log servers listen on every interface; the API server reads the log files directly.
                argv += ["--skip-serve-logs"]
            if command == "triggerer":
                argv += ["--capacity", str(TRIGGERER_CAPACITY)]
            self.services.append(Service(name, argv, self.log_dir / f"{name}.log", env=self.env).start())
        self.api = AirflowAPI(f"http://127.0.0.1:{api_port}", ADMIN_USER, password)
        airflow = [self.service(n) for n in AIRFLOW_SERVICES]
        wait_until(
            "the API server to answer",
            self.api.health,
            timeout=180,
            services=airflow,
            logs=[self.service("api-server").log_path],
        )
        self.api.log_in()

        def all_healthy() -> bool:
            health = self.api.health()
            return all(
                health[part]["status"] == "healthy" for part in ("scheduler", "triggerer", "dag_processor")
            )

        wait_until(
            "the scheduler, triggerer and dag-processor heartbeats",
            all_healthy,
            timeout=180,
            services=airflow,
            logs=[self.service(n).log_path for n in ("scheduler", "triggerer", "dag-processor")],
        )
        print(f"  API server http://127.0.0.1:{api_port}; all services healthy")

    def stop_service(self, name: str) -> None:
        """Stop one Airflow service (SIGTERM, as a service manager would), e.g. to restart it."""
        service = self.service(name)
        began = time.monotonic()
        service.stop()
        print(f"  stopped {name} ({time.monotonic() - began:.1f}s)")

    def start_service(self, name: str, env: dict[str, str] | None = None) -> None:
        """Start a stopped service again, in a new process, with ``env`` added to its environment."""
        old = self.service(name)
        if old.running:
            raise DeploymentError(f"{name} is still running")
        self.env.update(env or {})
        new = Service(name, old.argv, old.log_path, env=self.env).start()
        self.services[self.services.index(old)] = new
        print(f"  started {name} again (pid {new.process.pid})")

    def kill_service(self, name: str) -> None:
        """SIGKILL one service's whole process group at once (a machine losing power, an OOM kill)."""
        self.service(name).kill()
        print(f"  killed {name} (SIGKILL)")

    def stop(self) -> None:
        for service in reversed(self.services):
            if service.process is not None:
                began = time.monotonic()
                service.stop()
                print(f"  stopped {service.name} ({time.monotonic() - began:.1f}s)")

    # ---------------------------------------------------------------- pieces

    def _start_emulator(self) -> str:
        emulator = Service(
            "emulator",
            [str(BIN / "dtcal-emulator"), "--port", "0", "--qps-limit", "20"],  # DingTalk's own quota
            self.log_dir / "emulator.log",
        )
        self.services.append(emulator.start())
        line = wait_until(
            "the emulator to print its URL",
            lambda: next((x for x in emulator.log_text().splitlines() if "listening on" in x), None),
            timeout=30,
            interval=0.1,
            services=[emulator],
            logs=[emulator.log_path],
        )
        return line.rsplit(" ", 1)[-1]

    def _airflow_env(self, db_url: str, api_port: int, password: str) -> dict[str, str]:
        home = self.workdir / "airflow-home"
        home.mkdir()
        passwords = home / "simple_auth_manager_passwords.json"
        passwords.write_text(json.dumps({ADMIN_USER: password}))
        api_url = f"http://127.0.0.1:{api_port}"
        # Nothing inherited from the caller's Airflow set-up: this deployment is configured here alone.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        return {
            **inherited,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
                [
                    {
                        "name": "dags-folder",
                        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                        "kwargs": {},
                    },
                    {
                        "name": "deployment-watches",
                        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                        "kwargs": {"path": str(DEPLOYMENT_DAGS)},
                    },
                ]
            ),
            # A killed triggerer's triggers move to a live one once its heartbeat is this old (default 30 s).
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",  # at most 4 task processes at once: small machines, CI
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            # One signing key for every process: the scheduler issues the task tokens the API server checks.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            # Runs only when triggered, with known logical dates (a production deployment keeps the default,
            # True: the scheduler then also creates runs on the DAGs' schedules).
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT": json.dumps(
                {
                    "conn_type": "dingtalk_calendar",
                    "login": APP_KEY,
                    "password": APP_SECRET,
                    "host": self.emulator_url,
                }
            ),
        }

    def _airflow_command(self, args: list[str], log_name: str, timeout: float) -> None:
        log_path = self.log_dir / log_name
        with open(log_path, "w") as log:
            try:
                result = subprocess.run(
                    [str(BIN / "airflow"), *args],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                raise DeploymentError(
                    f"airflow {' '.join(args)} took over {timeout:.0f}s:\n{tail(log_path)}"
                ) from None
        if result.returncode != 0:
            raise DeploymentError(f"airflow {' '.join(args)} failed:\n{tail(log_path)}")
