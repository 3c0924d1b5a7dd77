"""pytest plugin (entry point ``dtcal``): fixtures that run the DingTalk Calendar emulator.

* ``dtcal_emulator_server`` (session): one emulator on a free loopback port, started on first use.
* ``dtcal_emulator`` (function): the same emulator, reset to a clean state and default configuration,
  with ``AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT`` pointing at it for the duration of the test.
* ``dtcal_dag_test`` (function): runs a DAG once with ``dag.test()`` against that emulator, in one line:
  ``run = dtcal_dag_test(dag)`` (or a path to the DAG's file). It migrates the metadata database once per
  session and puts the DAG's folder in a DAG bundle, which ``dag.test()`` needs; returns the run's state,
  each task's state and the ``return_value`` XComs (:class:`~airflow_dtcal.testing.dag_runs.DagRunResult`).
* ``dtcal_airflow_db`` (session): the migrated metadata database (``airflow db migrate``, once).

A throwaway Airflow home: when ``AIRFLOW_HOME`` is not set and Airflow is not imported yet as pytest starts,
the plugin points ``AIRFLOW_HOME`` at a temporary directory for the session (a sqlite metadata database,
no example DAGs), so tests never write into ``~/airflow``. Set ``AIRFLOW_HOME`` to use your own.

By default the fixture turns throttling off (``qps_limit=None``) so tests are deterministic; ask for it with
``@pytest.mark.dtcal_emulator(qps_limit=20, latency=0.0, token_ttl=7200, monthly_quota=5000)``.

This module is imported into every pytest run of the environment, so it imports nothing heavy: the
emulator module is only imported when a test asks for a fixture.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from airflow_dtcal.testing.dag_runs import DagRunResult
    from airflow_dtcal.testing.emulator import DingTalkEmulator

CONN_ENV_VAR = "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT"
PACER_DIR_ENV = (
    "AIRFLOW_DTCAL_PACER_DIR"  # airflow_dtcal.core.pacing.DIRECTORY_ENV (not imported: stay cheap)
)
APP_KEY = "dtcal-test-key"
APP_SECRET = "dtcal-test-secret"
_DEFAULTS: dict[str, Any] = {
    "qps_limit": None,
    "latency": 0.0,
    "token_ttl": 7200,
    "monthly_quota": None,
    # emulator.contract's SYNC_TOKEN_TTL, STREAM_TICKET_TTL, STREAM_REDELIVERY_DELAY (not imported: stay cheap)
    "sync_token_ttl": 7 * 86400.0,
    "stream_ticket_ttl": 90.0,
    "stream_redelivery_delay": 60.0,
    "stream_seed": 0,  # STREAM_SEED: which open connection of an app gets each push
    "stream_duplicate_rate": 0.0,  # STREAM_DUPLICATE_RATE: acked pushes pushed once more
}


BUNDLES_ENV = "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"
_THROWAWAY_HOME: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    if "AIRFLOW_HOME" not in os.environ and "airflow" not in sys.modules:
        home = tempfile.mkdtemp(prefix="dtcal-airflow-home-")
        _THROWAWAY_HOME.append(home)
        os.environ["AIRFLOW_HOME"] = home
        os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    config.addinivalue_line(
        "markers",
        "dtcal_emulator(qps_limit=None, latency=0.0, token_ttl=7200, monthly_quota=None, "
        "sync_token_ttl=604800, stream_ticket_ttl=90, stream_redelivery_delay=60, stream_seed=0, "
        "stream_duplicate_rate=0.0): configure the "
        "dtcal_emulator fixture for this test (qps_limit in calls/s per app and API, None = off; latency and "
        "the *_ttl/delay settings in seconds; monthly_quota in calendar calls per month, None = no quota).",
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    while _THROWAWAY_HOME:
        shutil.rmtree(_THROWAWAY_HOME.pop(), ignore_errors=True)


@pytest.fixture(scope="session")
def dtcal_pacer_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A pacing directory of this test session's own: the hook's machine-wide pacer files of one session
    (and of the worker processes its tests start) never mix with another session's on the same machine."""
    return str(tmp_path_factory.mktemp("dtcal-pacer"))


@pytest.fixture(scope="session")
def dtcal_emulator_server() -> Iterator[DingTalkEmulator]:
    """A DingTalk Calendar emulator shared by the whole session (throttling off)."""
    from airflow_dtcal.testing.emulator import DingTalkEmulator

    emulator = DingTalkEmulator(host="127.0.0.1", port=0, qps_limit=None)
    try:
        yield emulator
    finally:
        emulator.close()


@pytest.fixture
def dtcal_emulator(
    dtcal_emulator_server: DingTalkEmulator,
    dtcal_pacer_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[DingTalkEmulator]:
    """A clean emulator, with the default Airflow connection ``dingtalk_calendar_default`` pointing at it."""
    options = dict(_DEFAULTS)
    marker = request.node.get_closest_marker("dtcal_emulator")
    if marker is not None:
        unknown = set(marker.kwargs) - set(_DEFAULTS)
        if unknown or marker.args:
            raise pytest.UsageError(
                f"@pytest.mark.dtcal_emulator accepts keyword arguments {sorted(_DEFAULTS)} only, "
                f"got {sorted(unknown) or marker.args}"
            )
        options.update(marker.kwargs)
    emulator = dtcal_emulator_server
    emulator.wait_idle(10)  # a request delayed by an earlier test's fault must not land in this one
    emulator.reset()
    emulator.set_qps_limit(options["qps_limit"])
    emulator.set_latency(options["latency"])
    emulator.set_token_ttl(options["token_ttl"])
    emulator.set_monthly_quota(options["monthly_quota"])
    emulator.set_sync_token_ttl(options["sync_token_ttl"])
    emulator.set_stream_ticket_ttl(options["stream_ticket_ttl"])
    emulator.set_stream_redelivery_delay(options["stream_redelivery_delay"])
    emulator.set_stream_delivery(options["stream_seed"], options["stream_duplicate_rate"])
    emulator.app_key = APP_KEY
    emulator.app_secret = APP_SECRET
    monkeypatch.setenv(PACER_DIR_ENV, dtcal_pacer_dir)
    _forget_hook_state()  # tokens cached by an earlier test were revoked by the reset
    monkeypatch.setenv(CONN_ENV_VAR, emulator.connection_json(APP_KEY, APP_SECRET))
    yield emulator
    emulator.clear_faults()


def _forget_hook_state() -> None:
    """Clear the hook's process-wide token cache, pacers, the month's call ledger of this session's pacing
    directory and the people cache, if the hook was imported at all."""
    pacing = sys.modules.get("airflow_dtcal.core.pacing")
    if pacing is not None:
        pacing.TOKENS.clear()
        pacing.PACERS.clear()
        pacing.PACERS.host_ledger.clear()
    people = sys.modules.get("airflow_dtcal.planning.people")
    if people is not None:  # userId -> unionId mappings of an earlier test's directory
        people.DIRECTORY.clear()


@pytest.fixture(scope="session")
def dtcal_airflow_db() -> str:
    """The configured metadata database, migrated once per session (``airflow db migrate``, a few seconds)."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return os.environ.get("AIRFLOW_HOME", "")


@pytest.fixture
def dtcal_dag_test(
    dtcal_emulator: DingTalkEmulator,
    dtcal_airflow_db: str,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Callable[..., DagRunResult]:
    """Run a DAG once with ``dag.test()`` against the emulator: ``run = dtcal_dag_test(dag)``.

    Takes a DAG or the path of its file (relative to where pytest started, or its root directory; ``dag_id=`` picks one of
    several), and ``conf=``, ``logical_date=``, ``run_after=`` as ``dag.test()`` does. The DAG's folder is
    made a DAG bundle unless a configured bundle already holds it.
    """
    from airflow_dtcal.testing.dag_runs import bundles_holding, load_dag, run_dag

    def run(
        dag: Any,
        *,
        dag_id: str | None = None,
        conf: dict | None = None,
        logical_date: Any = None,
        run_after: Any = None,
    ) -> DagRunResult:
        if isinstance(dag, str | os.PathLike):
            path = Path(dag)
            if not path.is_absolute():  # from where pytest was started, else from its root directory
                here = request.config.invocation_params.dir / path
                path = here if here.exists() else request.config.rootpath / path
            dag = load_dag(path, dag_id)
        bundles = bundles_holding(Path(dag.fileloc).resolve().parent)
        if bundles is not None:
            monkeypatch.setenv(BUNDLES_ENV, bundles)
        return run_dag(dag, conf=conf, logical_date=logical_date, run_after=run_after)

    return run
