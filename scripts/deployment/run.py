"""`make test-deployment`: the example DAGs in a real Airflow deployment, as users run one.

1. starts PostgreSQL (a throwaway cluster), the DingTalk emulator (``dtcal-emulator``), then ``airflow
   api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` with the LocalExecutor, each in its own
   process group, everything under a temporary directory and on free ports of 127.0.0.1;
2. through the REST API: creates the ``dingtalk_calendar`` pool, unpauses and triggers every example DAG;
   answers the sprint-retro invitation as its attendees would, once the deferrable sensor has checked;
3. waits for the runs and checks every task succeeded, the sensor deferred and resumed through the
   triggerer, event ids crossed process boundaries through XCom, and the emulator holds exactly the
   intended events and attendees;
4. stops everything it started (also on failure, Ctrl-C or SIGTERM). The logs stay in .deployment/logs/.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from checks import check_deferral, check_emulator_state, check_runs, check_secret_absent
from deployment import ROOT, Deployment
from responder import RetroResponder
from scenarios import POOL, POOL_SLOTS, RUNS
from services import DeploymentError, tail, wait_until

LOG_DIR = ROOT / ".deployment" / "logs"  # kept after the run (git-ignored)
RUNS_TIMEOUT = 300.0


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens in CI logs too
    signal.signal(signal.SIGTERM, _exit_on_signal)  # `finally` below also runs when we are terminated
    signal.signal(signal.SIGHUP, _exit_on_signal)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="dtcal-deployment-"))
    workdir.chmod(0o755)  # PostgreSQL runs as its own account when we are root
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    deployment = Deployment(workdir, LOG_DIR)
    print(f"Deployment directory (throwaway): {workdir}; logs: {LOG_DIR}")
    try:
        deployment.start()
        print(f"Deployment up in {time.monotonic() - started:.0f}s")
        run_ids = trigger_all(deployment)
        wait_for_runs(deployment, run_ids)
        print("Checking the results...")
        for line in [
            *check_emulator_state(deployment),
            *check_runs(deployment, run_ids),
            *check_deferral(deployment, run_ids),
            *check_secret_absent(deployment),
        ]:
            print(f"  ok  {line}")
        print(f"\nDeployment test PASSED in {time.monotonic() - started:.0f}s.")
        return 0
    except (DeploymentError, AssertionError) as err:
        print(f"\nDeployment test FAILED: {err}")
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted.")
        return 130
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        print("Stopping everything that was started...")
        deployment.stop()
        task_logs = workdir / "airflow-home" / "logs"
        if task_logs.is_dir():
            shutil.copytree(task_logs, LOG_DIR / "airflow", dirs_exist_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"Stopped after {time.monotonic() - started:.0f}s in all.")


def _exit_on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def trigger_all(deployment: Deployment) -> dict[str, str]:
    """Wait until the dag-processor has parsed dags/, then create the pool, unpause and trigger each DAG."""
    api = deployment.api
    wanted = {run.dag_id for run in RUNS}

    def parsed() -> bool:
        errors = api.import_errors()
        if errors:
            raise DeploymentError(f"the dag-processor reported import errors: {errors}")
        return wanted <= api.dag_ids()

    wait_until(
        "the dag-processor to parse every example DAG",
        parsed,
        timeout=180,
        interval=1,
        services=[deployment.service("dag-processor"), deployment.service("api-server")],
        logs=[deployment.service("dag-processor").log_path],
    )
    extra = api.dag_ids() - wanted
    if extra:
        raise DeploymentError(f"dags/ holds DAGs this check does not know how to run: {sorted(extra)}")
    api.set_pool(POOL, POOL_SLOTS, "DingTalk Calendar API: 20 calls/s per app")
    print(f"Pool {POOL} ({POOL_SLOTS} slots) created; unpausing and triggering {len(RUNS)} DAGs")
    run_ids = {}
    for run in RUNS:
        api.unpause(run.dag_id)
        run_ids[run.dag_id] = api.trigger(run.dag_id, run.logical_date)
        print(f"  {run.dag_id}: {run_ids[run.dag_id]}")
    return run_ids


def wait_for_runs(deployment: Deployment, run_ids: dict[str, str]) -> None:
    """Poll the runs until all finished; meanwhile the retro's attendees answer at the right moment."""
    api = deployment.api
    responder = RetroResponder(deployment.emulator_url, RUNS_TIMEOUT)
    responder.start()
    airflow = [deployment.service(n) for n in ("api-server", "scheduler", "dag-processor", "triggerer")]
    states: dict[str, str] = {}
    started = time.monotonic()

    def finished() -> bool:
        responder.check()
        for dag_id, run_id in run_ids.items():
            if states.get(dag_id) not in ("success", "failed"):
                states[dag_id] = api.dag_run(dag_id, run_id)["state"]
                if states[dag_id] in ("success", "failed"):
                    print(f"  {dag_id}: {states[dag_id]} after {time.monotonic() - started:.0f}s")
        return all(state in ("success", "failed") for state in states.values())

    try:
        wait_until("the DAG runs to finish", finished, timeout=RUNS_TIMEOUT, interval=0.5, services=airflow)
    except DeploymentError as err:
        raise DeploymentError(f"{err}\nRun states: {states}\n{describe_tasks(deployment, run_ids)}") from None
    finally:
        responder.stop()
    failed = [dag_id for dag_id, state in states.items() if state != "success"]
    if failed:
        raise DeploymentError(f"DAG runs failed: {failed}\n{describe_tasks(deployment, run_ids)}")


def describe_tasks(deployment: Deployment, run_ids: dict[str, str]) -> str:
    """Each task's state, and the log of every task that did not succeed (for failure messages)."""
    api, lines = deployment.api, []
    for dag_id, run_id in run_ids.items():
        for ti in api.task_instances(dag_id, run_id):
            lines.append(f"  {dag_id}.{ti['task_id']}[{ti['map_index']}]: {ti['state']}")
            if ti["state"] not in ("success", None) and ti["try_number"]:
                log = api.task_log(dag_id, run_id, ti["task_id"], ti["try_number"], ti["map_index"])
                lines.append("    " + "\n    ".join(log.splitlines()[-30:]))
    for name in ("triggerer", "scheduler"):  # the scheduler's log has the LocalExecutor's task output too
        lines.append(f"--- last lines of the {name} log ---\n{tail(deployment.service(name).log_path, 25)}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
