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
from importlib.metadata import version
from pathlib import Path

from airflow_api import AirflowAPI
from postgres import start_postgres
from redis_service import start_redis
from services import DeploymentError, Service, free_port, tail, wait_until
from walkthrough import DEPLOYMENT_ONLY, Walkthrough, fill

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The emulator accepts any non-empty App Key / App Secret; the secret must never show up in Airflow's output.
APP_KEY, APP_SECRET = "deploy-app-key", "deploy-app-secret-" + secrets.token_hex(8)
# Two triggerers (each runs at most two triggers, so the three watches of the event-driven example are
# shared between them, as in a deployment with more than one triggerer). Airflow 3.0 and 3.1 run one, with
# its default capacity: they hand the oldest asset-watcher triggers to every triggerer that asks, whoever
# runs them already (Trigger.get_sorted_triggers of 3.0.6 and 3.1.8; 3.2 assigns them like the other
# triggers), so with two each watch moves back and forth and a watch beyond one triggerer's capacity never runs.
AIRFLOW_LINE = tuple(int(part) for part in version("apache-airflow").split(".")[:2])
ONE_TRIGGERER = AIRFLOW_LINE < (3, 2)
TRIGGERERS = ("triggerer",) if ONE_TRIGGERER else ("triggerer", "triggerer-2")
AIRFLOW_SERVICES = ("api-server", "scheduler", "dag-processor", *TRIGGERERS)
TRIGGERER_CAPACITY = None if ONE_TRIGGERER else 2
#: DAGs of the deployment check itself (two more watches of the same DingTalk app), beside dags/.
DEPLOYMENT_DAGS = Path(__file__).resolve().parent / "dags"
#: EXECUTOR=celery: two Celery workers, each as if on a machine of its own (own HOME, TMPDIR, working and
#: Airflow directories, so no host pacer file is shared; the task logs go to one shared folder, as with a
#: shared drive), 2 task processes each; and the load DAG that keeps both busy (celery_load.py).
WORKERS = ("worker-a", "worker-b")
WORKER_CONCURRENCY = 2
CELERY_DAGS = Path(__file__).resolve().parent / "dags_celery"
MACHINE_MODULE = Path(__file__).resolve().parent / "machine"  # [core] hostname_callable of the workers


@dataclass
class Deployment:
    workdir: Path
    log_dir: Path
    services: list[Service] = field(default_factory=list)  # in start order; stopped in reverse
    env: dict[str, str] = field(default_factory=dict)
    emulator_url: str = ""
    api: AirflowAPI | None = None
    # Called with the emulator's URL once it is up, before Airflow starts: docs/deploy.md's placeholders it
    # fills, and settings for Airflow's processes (each in walkthrough.DEPLOYMENT_ONLY).
    before_airflow: Callable[[str], tuple[dict[str, str], dict[str, str]]] | None = None
    executor: str = "local"  # or "celery" (Redis as broker and the DingTalk pacer's store)
    redis_port: int = 0
    # Ids of the triggerer jobs seen running (Airflow 3.0's REST API lists running jobs only, 3.3 all).
    triggerer_jobs: set[int] = field(default_factory=set)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        walkthrough = Walkthrough()  # docs/deploy.md: the steps this deployment follows
        values = {"<db password>": secrets.token_urlsafe(16)}
        print("Starting PostgreSQL; the role and database of docs/deploy.md, step 2...")
        values["<db host>"], port = start_postgres(
            self.workdir,
            self.log_dir,
            self.services,
            [fill(statement, values) for statement in walkthrough.database_sql()],
        )
        values["<db port>"] = str(port)
        print(f"  postgresql://airflow@127.0.0.1:{port}/airflow")
        if self.executor == "celery":
            print("Starting Redis (redis-server)...")
            self.redis_port = start_redis(self.workdir, self.log_dir, self.services)
            print(f"  redis://127.0.0.1:{self.redis_port}")
        print("Starting the DingTalk emulator (dtcal-emulator)...")
        self.emulator_url = self._start_emulator()
        print(f"  {self.emulator_url}")
        api_port = free_port()
        values.update(
            {
                "<airflow home>": str(self.workdir / "airflow-home"),
                "<dags folder>": str(ROOT / "dags"),
                "<listen address>": "127.0.0.1",
                "<airflow host>": "127.0.0.1",
                "<api port>": str(api_port),
                "<random secret 1>": secrets.token_urlsafe(32),
                "<random secret 2>": secrets.token_urlsafe(32),
                "<admin password>": secrets.token_urlsafe(16),
                "<app key>": APP_KEY,
                "<app secret>": APP_SECRET,
                "<export destination>": f"file://{self.workdir / 'export'}",
            }
        )
        extra: dict[str, str] = {}
        if self.before_airflow is not None:
            placeholders, extra = self.before_airflow(self.emulator_url)
            values.update(placeholders)
        settings = {key: fill(value, values) for key, value in walkthrough.settings().items()}
        self.env = self._airflow_env(settings, extra, values["<admin password>"])
        if self.executor == "celery":
            self.env.update(self._celery_env(settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]))
        print("Airflow's settings: docs/deploy.md's step 3, and " + ", ".join(DEPLOYMENT_ONLY))
        documented = walkthrough.commands("airflow")
        for command in ("db migrate", *sorted({n.removesuffix("-2") for n in AIRFLOW_SERVICES})):
            if ["airflow", *command.split()] not in documented:
                raise DeploymentError(f"docs/deploy.md's step 5 does not say `airflow {command}` as written")
        print("Migrating Airflow's metadata database (airflow db migrate)...")
        self.airflow_command(["db", "migrate"], "db-migrate.log", timeout=300)
        executor = "CeleryExecutor" if self.executor == "celery" else "LocalExecutor"
        print("Starting airflow " + ", ".join(AIRFLOW_SERVICES) + f" ({executor})...")
        for name in AIRFLOW_SERVICES:
            command = "triggerer" if name.startswith("triggerer") else name
            argv = [str(BIN / "airflow"), command]  # the api-server's host and port: from the settings
            if command in ("scheduler", "triggerer"):
                # Their log servers listen on every interface; the API server reads the log files directly.
                argv += ["--skip-serve-logs"]
            if command == "triggerer" and TRIGGERER_CAPACITY is not None:
                argv += ["--capacity", str(TRIGGERER_CAPACITY)]
            self.services.append(Service(name, argv, self.log_dir / f"{name}.log", env=self.env).start())
        admin = settings["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(":")[0]
        self.api = AirflowAPI(settings["AIRFLOW__API__BASE_URL"], admin, values["<admin password>"])
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
        if self.executor == "celery":
            self._start_workers()

    def note_triggerer_jobs(self) -> set[int]:
        """Remember the triggerer jobs running now; every one seen so far."""
        self.triggerer_jobs |= {job["id"] for job in self.api.jobs("TriggererJob")}
        return self.triggerer_jobs

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

    def _airflow_env(
        self, settings: dict[str, str], extra: dict[str, str], admin_password: str
    ) -> dict[str, str]:
        """docs/deploy.md's settings (step 3) and password file (step 4), and what this deployment sets
        beyond them (``DEPLOYMENT_ONLY``, each named in the document): the environment of every service."""
        home = Path(settings["AIRFLOW_HOME"])
        home.mkdir()
        users = settings["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(",")
        passwords = Path(settings["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
        passwords.write_text(json.dumps({users[0].split(":")[0]: admin_password}))
        passwords.chmod(0o600)
        connection = json.loads(settings["AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT"])
        only = {
            "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT": json.dumps({**connection, "host": self.emulator_url}),
            # Runs only when triggered, with known logical dates.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
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
                    *self._celery_bundles(),
                ]
            ),
            # A killed triggerer's triggers move to a live one once its heartbeat is this old (default 30 s).
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
            "AIRFLOW__API__WORKERS": "1",
            **extra,
        }
        if set(only) != set(DEPLOYMENT_ONLY):
            raise DeploymentError(
                f"settings beyond docs/deploy.md: {sorted(only)}, declared {sorted(DEPLOYMENT_ONLY)}"
            )
        # Nothing inherited from the caller's Airflow set-up: this deployment is configured here alone.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DTCAL_"))}
        return {**inherited, **settings, **only}

    # ---------------------------------------------------------------- EXECUTOR=celery

    def _celery_bundles(self) -> list[dict]:
        if self.executor != "celery":
            return []
        classpath = "airflow.dag_processing.bundles.local.LocalDagBundle"
        return [{"name": "deployment-load", "classpath": classpath, "kwargs": {"path": str(CELERY_DAGS)}}]

    def _celery_env(self, db_url: str) -> dict[str, str]:
        """CeleryExecutor settings, over docs/deploy.md's LocalExecutor: Redis db 0 is the broker, PostgreSQL keeps the results; the DingTalk
        connection paces through Redis db 1 (the ``redis_default`` connection)."""
        redis_url = f"redis://127.0.0.1:{self.redis_port}"
        dingtalk = json.loads(self.env["AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT"])
        dingtalk["extra"] = {"pacing": "redis"}  # pacing_redis_conn_id: redis_default (the default)
        return {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",  # docs/deploy.md, "More than one machine"
            "AIRFLOW__CELERY__BROKER_URL": f"{redis_url}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{db_url}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            "AIRFLOW_CONN_REDIS_DEFAULT": f"{redis_url}/1",
            "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT": json.dumps(dingtalk),
        }

    def machine_dir(self, name: str) -> Path:
        return self.workdir / "machines" / name

    def _start_workers(self) -> None:
        """``airflow celery worker`` twice, each with a machine's own directories and name."""
        print(
            "Starting " + " and ".join(WORKERS) + " (airflow celery worker, each as if on its own machine)..."
        )
        shared_logs = self.workdir / "airflow-home" / "logs"
        for name in WORKERS:
            machine = self.machine_dir(name)
            for sub in ("home", "tmp", "work", "airflow-home"):
                (machine / sub).mkdir(parents=True)
            env = {
                **self.env,
                "HOME": str(machine / "home"),
                "TMPDIR": str(machine / "tmp"),  # the host pacer's files would live here
                "AIRFLOW_HOME": str(machine / "airflow-home"),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(shared_logs),
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "dtcal_machine.hostname",
                "DTCAL_MACHINE": name,
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(MACHINE_MODULE), os.environ.get("PYTHONPATH")) if p
                ),
            }
            env.pop("AIRFLOW_DTCAL_PACER_DIR", None)
            argv = [
                str(BIN / "airflow"),
                "celery",
                "worker",
                "--celery-hostname", f"{name}@%h",
                "--concurrency", str(WORKER_CONCURRENCY),
                "--skip-serve-logs",  # the API server reads the shared log folder
            ]  # fmt: skip
            service = Service(name, argv, self.log_dir / f"{name}.log", env=env, cwd=machine / "work")
            self.services.append(service.start())
        workers = [self.service(n) for n in WORKERS]
        for service in workers:
            wait_until(
                f"{service.name} to be ready",
                lambda s=service: " ready." in s.log_text(),
                timeout=120,
                services=workers,
                logs=[service.log_path],
            )
        print("  both workers ready")

    def airflow_command(self, args: list[str], log_name: str, timeout: float = 120) -> str:
        """Run ``airflow args...`` with every service's environment; its output (also in ``log_name``)."""
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
        return log_path.read_text(errors="replace")
