"""Test set-up: a throwaway Airflow home with a sqlite database, migrated once per session.

The environment is set before anything imports Airflow. Two DAG bundles are configured: the project's
``dags/`` (the example DAGs) and ``tests/dags/`` (DAGs written for the tests), so ``dag.test()`` can run
DAGs from either. The emulator fixture ``dtcal_emulator`` comes from the package's own pytest plugin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="dtcal-airflow-home-"))

os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}"
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {},
        },
        {
            "name": "dtcal-tests",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(ROOT / "tests" / "dags")},
        },
    ]
)
os.environ.pop("AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT", None)


#: Tests of what does not touch Airflow: the pure layers, the emulator and the hook's HTTP behaviour (the
#: hook's only Airflow parts, the connection lookup and its form, are covered by the tests left out here).
#: ``make test`` runs them on the newest Airflow; the matrix of older lines leaves them out (they cannot
#: differ between lines, and CI time is bounded). ``tests/test_layers.py`` proves the pure layers import
#: no Airflow.
AIRFLOW_FREE = (
    "tests/core/",
    "tests/planning/",
    "tests/export/",
    "tests/testing/emulator/",
    "tests/hooks/",
    "tests/test_layers.py",
    "tests/test_benchmarks_smoke.py",
)
TOUCHES_AIRFLOW = ("tests/hooks/test_connection_form.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that run a real Airflow (a migrated metadata database, ``dag.test()``, ``airflow dags test``)
    are marked ``airflow``: ``pytest -m "not airflow"`` runs the fast ones alone. Tests of code that imports
    no Airflow are marked ``airflow_free`` (see :data:`AIRFLOW_FREE`)."""
    for item in items:
        uses_db = "airflow_db" in getattr(item, "fixturenames", ())
        if uses_db:
            item.add_marker(pytest.mark.airflow)
        path = Path(str(item.fspath)).resolve().relative_to(ROOT).as_posix()
        if not uses_db and path.startswith(AIRFLOW_FREE) and not path.startswith(TOUCHES_AIRFLOW):
            item.add_marker(pytest.mark.airflow_free)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the sqlite metadata database once (about 4 s); tests that run DAGs depend on it."""
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, env=os.environ.copy()
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return AIRFLOW_HOME


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    """Each test starts without cached DingTalk tokens (the cache is per process, like in a worker)."""
    if "airflow_dtcal.hooks.calendar" in sys.modules:
        sys.modules["airflow_dtcal.hooks.calendar"].clear_token_cache()
    yield


@pytest.fixture
def hook(dtcal_emulator):
    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

    return DingTalkCalendarHook()
