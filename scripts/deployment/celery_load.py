"""``make test-deployment EXECUTOR=celery``: the load that proves one DingTalk quota and one monthly budget are
shared by every machine of a Celery deployment (``pacing="redis"``).

After the example DAGs ran, ``dtcal_deploy_load`` (dags_celery/) runs :data:`PARTS` mapped tasks, each
gathering :data:`CREATES` ``acreate_event`` calls on one hook, on the two Celery workers at once (each worker
as if on a machine of its own: deployment.WORKERS). Then, from the emulator's own records:

* every task succeeded, and both workers ran load tasks (the task instances' hostnames);
* from the first to the last create the emulator saw, the app got >= :data:`MIN_OF_QUOTA` of its 20/s quota,
  and <= :data:`MAX_THROTTLED` of the attempts were throttled (403 QpsLimitForAppkeyAndApi);
* no worker fell back to its host files (Redis answered throughout);
* the month's count in the Redis ledger (``airflow-dtcal month --json``) equals the calendar calls the
  emulator counted for the deployment's app, and the load DAG's share equals its creates.

The budget is compared while no Airflow call is in flight (the examples and the load are done, the watches
not started yet), so the two counts must agree exactly.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter

from deployment import APP_KEY, BIN, WORKERS, Deployment
from services import DeploymentError, tail, wait_until

from airflow_dtcal.testing import EmulatorAdmin

LOAD_DAG = "dtcal_deploy_load"
LOAD_ORGANIZER = "union-load-organizer"
PARTS, CREATES = 4, 110  # 440 creates: 22 s at the quota
QUOTA = 20  # the emulator's (and DingTalk's) calls per second per app and API
MIN_OF_QUOTA, MAX_THROTTLED = 0.9, 0.02
FALLBACK = "did not answer"  # the Redis pacer's warning when it falls back to host files
TIMEOUT = 240.0


def run_load(deployment: Deployment) -> dict:
    """Run the load DAG to its end; then read the month's count and the emulator's, with nothing in flight."""
    api = deployment.api
    print(
        f"The load ({PARTS} tasks x {CREATES} gathered creates, pacing=redis, {len(WORKERS)} Celery workers):"
    )
    api.unpause(LOAD_DAG)
    conf = {"organizer": LOAD_ORGANIZER, "parts": PARTS, "creates": CREATES}
    began = time.monotonic()
    run_id = api.trigger(LOAD_DAG, None, conf)
    services = [deployment.service(n) for n in ("api-server", "scheduler", *WORKERS)]
    state = wait_until(
        f"{LOAD_DAG} to finish",
        lambda: (s := api.dag_run(LOAD_DAG, run_id)["state"]) in ("success", "failed") and s,
        timeout=TIMEOUT,
        services=services,
        logs=[deployment.service(n).log_path for n in ("scheduler", *WORKERS)],
    )
    seconds = time.monotonic() - began
    if state != "success":
        lines = []
        for ti in api.task_instances(LOAD_DAG, run_id):
            lines.append(f"  {ti['task_id']}[{ti['map_index']}]: {ti['state']} on {ti['hostname']}")
            if ti["state"] != "success" and ti["try_number"]:
                log = api.task_log(LOAD_DAG, run_id, ti["task_id"], ti["try_number"], ti["map_index"])
                lines.append("    " + "\n    ".join(log.splitlines()[-20:]))
        worker_logs = "\n".join(f"--- {n} ---\n{tail(deployment.service(n).log_path, 15)}" for n in WORKERS)
        raise DeploymentError(f"{LOAD_DAG} {state}:\n" + "\n".join(lines) + "\n" + worker_logs)
    print(f"  {LOAD_DAG}: success after {seconds:.0f}s")
    return {"run_id": run_id, "seconds": seconds, "budget": _budget_snapshot(deployment)}


def month_counts(deployment: Deployment) -> dict:
    """``airflow-dtcal month --json`` as an operator of the deployment runs it (the connections of its env)."""
    result = subprocess.run(
        [str(BIN / "airflow-dtcal"), "month", "--json"],
        env=deployment.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise DeploymentError(f"airflow-dtcal month failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise DeploymentError(
            f"airflow-dtcal month --json printed more than JSON:\n{result.stdout[-2000:]}"
        ) from None


def _budget_snapshot(deployment: Deployment) -> dict:
    """The ledger's month and the emulator's count of the app's calls, read ledger-emulator-ledger until the
    ledger stood still around the emulator's read (a call in flight would show between the two)."""
    admin = EmulatorAdmin(deployment.emulator_url)

    def read() -> dict | None:
        before = month_counts(deployment)
        counted = admin.stats()["counted_by_app"].get(APP_KEY, 0)
        after = month_counts(deployment)
        return {"ledger": after, "emulator": counted} if before["calls"] == after["calls"] else None

    return wait_until("the month's count to stand still", read, timeout=60, interval=1)


def check_load(deployment: Deployment, outcome: dict) -> list[str]:
    api, admin = deployment.api, EmulatorAdmin(deployment.emulator_url)
    run_id = outcome["run_id"]
    tis = api.task_instances(LOAD_DAG, run_id)
    mapped = [ti for ti in tis if ti["task_id"] == "create_events"]
    assert len(mapped) == PARTS and all(ti["state"] == "success" for ti in tis), [
        (ti["task_id"], ti["map_index"], ti["state"]) for ti in tis
    ]
    assert [api.xcom(LOAD_DAG, run_id, "create_events", i)["created"] for i in range(PARTS)] == [
        CREATES
    ] * PARTS
    hosts = Counter(ti["hostname"] for ti in mapped)
    assert set(hosts) == set(WORKERS), f"load tasks per worker: {dict(hosts)}, expected both of {WORKERS}"

    attempts = [
        r
        for r in admin.requests()
        if r["operation"] == "CreateEvent" and f"/users/{LOAD_ORGANIZER}/" in r["path"]
    ]
    statuses = Counter(r["status"] for r in attempts)
    created = sorted(r["received"] for r in attempts if r["status"] == 200)
    throttled = statuses[403]
    assert len(created) == PARTS * CREATES and set(statuses) <= {200, 403}, dict(statuses)
    events = [e for e in admin.events() if e["organizer"]["id"] == LOAD_ORGANIZER]
    assert len(events) == PARTS * CREATES, len(events)
    span = created[-1] - created[0]
    rate = (len(created) - 1) / span
    share = throttled / len(attempts)
    figures = (
        f"{len(created)} creates in {span:.1f}s (first to last the emulator saw): {rate:.2f}/s = "
        f"{rate / QUOTA:.3f} of the {QUOTA}/s quota; {throttled} of {len(attempts)} attempts throttled "
        f"({share:.2%})"
    )
    print(f"  load: {figures}; tasks per worker {dict(hosts)}")

    fell_back = [n for n in WORKERS if FALLBACK in deployment.service(n).log_text()]
    task_logs = [
        p for p in (deployment.workdir / "airflow-home" / "logs").rglob("*.log") if LOAD_DAG in str(p)
    ]
    fell_back += [str(p) for p in task_logs if FALLBACK in p.read_text(errors="replace")]
    assert task_logs and not fell_back, f"pacing fell back to host files in {fell_back}"

    budget = outcome["budget"]
    ledger, counted = budget["ledger"], budget["emulator"]
    assert ledger["store"] == "redis", ledger
    assert ledger["calls"] == counted, (
        f"the month's ledger counts {ledger['calls']} calls, the emulator counted {counted} for the app: {ledger}"
    )
    assert ledger["by_dag"].get(LOAD_DAG) == len(created), (ledger["by_dag"], len(created))
    print(f"  the month's ledger: {ledger['calls']} calls, the emulator's count for the app: {counted}")
    # The rate last, so that a run that misses it still showed that everything else held.
    assert rate / QUOTA >= MIN_OF_QUOTA, f"the load got less than {MIN_OF_QUOTA} of the quota: {figures}"
    assert share <= MAX_THROTTLED, f"more than {MAX_THROTTLED:.0%} of the attempts were throttled: {figures}"
    return [
        f"{LOAD_DAG}: {PARTS} tasks of {CREATES} gathered creates succeeded, on both workers {dict(hosts)}",
        f"{LOAD_DAG}: {figures}",
        f"pacing=redis throughout: no worker and none of the {len(task_logs)} load task logs fell back to host files",
        f"the month's ledger in Redis (airflow-dtcal month) counts {ledger['calls']} calls, exactly the calendar "
        f"calls the emulator counted for the app; {LOAD_DAG}'s share: {ledger['by_dag'][LOAD_DAG]} (its creates)",
        f"the load ran {outcome['seconds']:.0f}s (trigger to success)",
    ]


def check_machines(deployment: Deployment) -> list[str]:
    """No file in the workers' own directories (HOME, TMPDIR, AIRFLOW_HOME, working dir) holds the secret."""
    from deployment import APP_SECRET

    files = [p for n in WORKERS for p in deployment.machine_dir(n).rglob("*") if p.is_file()]
    leaks = [str(p) for p in files if APP_SECRET in p.read_text(errors="replace")]
    assert not leaks, f"the app secret appears in {leaks}"
    return [f"the app secret appears in none of the {len(files)} files of the workers' machine directories"]
