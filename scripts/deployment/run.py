"""`make test-deployment`: the example DAGs in a real Airflow deployment, as users run one.

1. starts PostgreSQL (a throwaway cluster), the DingTalk emulator (``dtcal-emulator``), then ``airflow
   api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` with the LocalExecutor, each in its own
   process group, everything under a temporary directory and on free ports of 127.0.0.1;
2. through the REST API: creates the ``dingtalk_calendar`` pool, unpauses every example DAG, triggers the
   follow-up DAG, answers the sprint-retro invitation as its attendees would once the deferrable sensor
   has deferred (see responder.py), then triggers the other DAGs;
3. waits for the runs and checks every task succeeded, the sensor deferred and resumed through the
   triggerer, event ids crossed process boundaries through XCom, and the emulator holds exactly the
   intended events and attendees;
4. the event-driven example (watch.py): three watches of one DingTalk app, run by two triggerers (one on
   Airflow 3.0 and 3.1: deployment.TRIGGERERS), each get
   every change they asked for through DingTalk Stream mode (each notice pushed to one connection of the
   app), also across a restart of a triggerer and a SIGKILL of both (at least once, same dedup keys);
5. stops everything it started (also on failure, Ctrl-C or SIGTERM). The logs stay in .deployment/logs/.

``--executor celery`` (``make test-deployment EXECUTOR=celery``) runs the same with Airflow's CeleryExecutor:
Redis (Debian's redis-server) as broker and as the DingTalk pacer's store (``pacing="redis"``), two Celery
workers each as if on a machine of its own, and, between steps 2 and 4, a load of gathered creates on both
workers that must share the app's quota and count every call in one monthly ledger (celery_load.py).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from celery_load import LOAD_DAG, LOAD_ORGANIZER, check_load, check_machines, run_load
from checks import check_deferral, check_emulator_state, check_runs, check_secret_absent
from deployment import ROOT, Deployment
from responder import RetroAttendees
from scenarios import DIRECTORY, FOLLOWUP, POOL, POOL_SLOTS, ROW_COUNTS, RUNS, WATCHES, Run
from services import DeploymentError, tail, wait_until
from walkthrough import Walkthrough
from watch import all_hands_env, check_watch, run_watch

LOG_DIR = ROOT / ".deployment" / "logs"  # kept after the run (git-ignored)
RUNS_TIMEOUT = 300.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executor", choices=("local", "celery"), default="local")
    executor = parser.parse_args(argv).executor
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens in CI logs too
    signal.signal(signal.SIGTERM, _exit_on_signal)  # `finally` below also runs when we are terminated
    signal.signal(signal.SIGHUP, _exit_on_signal)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="dtcal-deployment-"))
    workdir.chmod(0o755)  # PostgreSQL runs as its own account when we are root
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    deployment = Deployment(workdir, LOG_DIR, before_airflow=all_hands_env, executor=executor)
    print(f"Deployment directory (throwaway): {workdir}; logs: {LOG_DIR}")
    try:
        deployment.start()
        print(f"Deployment up in {time.monotonic() - started:.0f}s")
        prepare(deployment)
        run_ids = run_all(deployment)
        load = run_load(deployment) if executor == "celery" else None
        watched = run_watch(deployment)
        run_ids[ROW_COUNTS] = wait_for_row_counts(deployment)
        print("Checking the results...")
        for line in [
            *(check_load(deployment, load) + check_machines(deployment) if load else []),
            *check_emulator_state(deployment, LOAD_ORGANIZER if load else None),
            *check_runs(deployment, run_ids),
            *check_deferral(deployment, run_ids),
            *check_watch(deployment, watched),
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


def prepare(deployment: Deployment) -> None:
    """Wait until the dag-processor has parsed dags/, then create the pool and unpause every DAG."""
    api = deployment.api
    wanted = {run.dag_id for run in RUNS} | set(WATCHES) | {ROW_COUNTS}
    if deployment.executor == "celery":
        wanted.add(LOAD_DAG)

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
    # docs/deploy.md's step 6, as written: the pool, the connection test.
    walkthrough = Walkthrough()
    [pool] = walkthrough.commands("airflow", "pools", "set")
    if pool[3:5] != [POOL, str(POOL_SLOTS)]:
        raise DeploymentError(
            f"docs/deploy.md creates the pool {pool[3:5]}; the examples use {POOL} ({POOL_SLOTS})"
        )
    deployment.airflow_command(pool[1:], "pools-set.log")
    [test] = walkthrough.commands("airflow", "connections", "test")
    output = deployment.airflow_command(test[1:], "connections-test.log")
    if "Connection success!" not in output:
        raise DeploymentError(f"{' '.join(test)} did not report success:\n{output[-2000:]}")
    print(f"  {' '.join(test)}: Connection success!")
    from airflow_dtcal.testing import EmulatorAdmin

    EmulatorAdmin(deployment.emulator_url).seed_users(DIRECTORY)
    for dag_id in [run.dag_id for run in RUNS] + [ROW_COUNTS]:
        api.unpause(dag_id)
    print(
        f"Pool {POOL} ({POOL_SLOTS} slots) created; {len(DIRECTORY)} people in the directory; "
        f"{len(RUNS) + 1} DAGs unpaused"
    )


def trigger(deployment: Deployment, run: Run) -> str:
    conf = {key: value.format(workdir=deployment.workdir) for key, value in run.conf}
    run_id = deployment.api.trigger(run.dag_id, run.logical_date, conf)
    print(f"  triggered {run.dag_id}: {run_id}")
    return run_id


def run_all(deployment: Deployment) -> dict[str, str]:
    """Trigger the follow-up DAG alone until its attendees answered (see responder.py), then the others;
    wait until every run finished."""
    airflow = [deployment.service(n) for n in ("api-server", "scheduler", "dag-processor", "triggerer")]
    attendees = RetroAttendees(
        deployment.emulator_url, deployment.service("scheduler").log_path, RUNS_TIMEOUT
    )
    attendees.start()
    run_ids: dict[str, str] = {}
    states: dict[str, str] = {}
    started = time.monotonic()

    def finished() -> bool:
        attendees.check()
        for dag_id, run_id in run_ids.items():
            if states.get(dag_id) not in ("success", "failed"):
                states[dag_id] = deployment.api.dag_run(dag_id, run_id)["state"]
                if states[dag_id] in ("success", "failed"):
                    print(f"  {dag_id}: {states[dag_id]} after {time.monotonic() - started:.0f}s")
        return attendees.answered and all(state in ("success", "failed") for state in states.values())

    try:
        [followup] = [run for run in RUNS if run.dag_id == FOLLOWUP]
        run_ids[FOLLOWUP] = trigger(deployment, followup)
        wait_until(
            "the retro's attendees to answer",
            lambda: attendees.check() or attendees.answered,
            timeout=120,
            interval=0.2,
            services=airflow,
        )
        deployment.note_triggerer_jobs()  # the one running the sensor's trigger among them
        for run in RUNS:
            if run.dag_id != FOLLOWUP:
                run_ids[run.dag_id] = trigger(deployment, run)
        wait_until("the DAG runs to finish", finished, timeout=RUNS_TIMEOUT, interval=0.5, services=airflow)
    except DeploymentError as err:
        raise DeploymentError(f"{err}\nRun states: {states}\n{describe_tasks(deployment, run_ids)}") from None
    finally:
        attendees.stop()
    failed = [dag_id for dag_id, state in states.items() if state != "success"]
    if failed:
        raise DeploymentError(f"DAG runs failed: {failed}\n{describe_tasks(deployment, run_ids)}")
    return run_ids


def wait_for_row_counts(deployment: Deployment) -> str:
    """The run of the row-count example the export's asset event made (the scheduler, not us, once it runs
    with its job schedule on: see watch.py); its id."""
    api = deployment.api
    airflow = [deployment.service(n) for n in ("api-server", "scheduler", "dag-processor")]

    def finished() -> bool:
        runs = api.dag_runs(ROW_COUNTS)
        return len(runs) >= 1 and all(r["state"] in ("success", "failed") for r in runs)

    wait_until(
        f"{ROW_COUNTS} to run on the export's asset", finished, timeout=120, interval=0.5, services=airflow
    )
    runs = api.dag_runs(ROW_COUNTS)
    if len(runs) != 1 or runs[0]["state"] != "success" or runs[0]["run_type"] != "asset_triggered":
        raise DeploymentError(f"{ROW_COUNTS}: expected one asset-triggered run that succeeded, got {runs}")
    print(f"  {ROW_COUNTS}: {runs[0]['run_type']} run {runs[0]['dag_run_id']} succeeded")
    return runs[0]["dag_run_id"]


def describe_tasks(deployment: Deployment, run_ids: dict[str, str]) -> str:
    """Each task's state, and the log of every task that did not succeed (for failure messages)."""
    api, lines = deployment.api, []
    for dag_id, run_id in run_ids.items():
        for ti in api.task_instances(dag_id, run_id):
            lines.append(f"  {dag_id}.{ti['task_id']}[{ti['map_index']}]: {ti['state']}")
            if ti["state"] not in ("success", None) and ti["try_number"]:
                log = api.task_log(dag_id, run_id, ti["task_id"], ti["try_number"], ti["map_index"])
                lines.append("    " + "\n    ".join(log.splitlines()[-30:]))
    # the scheduler's log has the LocalExecutor's task output too; the workers' logs the CeleryExecutor's
    workers = [s.name for s in deployment.services if s.name.startswith("worker-")]
    for name in ("triggerer", "scheduler", *workers):
        lines.append(f"--- last lines of the {name} log ---\n{tail(deployment.service(name).log_path, 25)}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
