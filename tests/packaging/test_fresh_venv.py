"""The built wheel, not the checkout: a fresh venv with only the wheel, Airflow and pytest runs the README's
DAG with `airflow dags test` against `dtcal-emulator` (as the README's "by hand" block says), and the README's
pytest example in a user project of its own. `make test-wheel` runs this after `make dist`; without a built
wheel (DTCAL_WHEEL) it is skipped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.packaging.readme import ROOT, blocks, user_project

WHEEL = os.environ.get("DTCAL_WHEEL", "")
pytestmark = pytest.mark.skipif(not WHEEL, reason="needs a built wheel: make test-wheel")


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=1200, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("fresh") / "venv"
    _run([sys.executable, "-m", "venv", str(where)])
    python = str(where / "bin" / "python")
    _run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade", "pip"])
    version = os.environ.get("AIRFLOW_VERSION", "3.3.2")
    constraints = ROOT / os.environ.get("CONSTRAINTS", "constraints/airflow-3.3.txt")
    _run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", WHEEL,
         f"apache-airflow=={version}", "pytest", "-c", str(constraints)]
    )  # fmt: skip
    return where


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
    env["HOME"] = str(home)  # nothing of the developer's ~/airflow
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_wheel_is_installed_not_the_checkout(venv):
    out = _run([str(venv / "bin" / "python"), "-c", "import airflow_dtcal; print(airflow_dtcal.__file__)"],
               cwd="/", env=_env(venv.parent))  # fmt: skip
    assert str(venv) in out.stdout and str(ROOT) not in out.stdout
    help_text = _run([str(venv / "bin" / "dtcal-emulator"), "--help"], env=_env(venv.parent)).stdout
    assert "https://github.com/airflow-dtcal/airflow-dtcal/blob/main/docs/emulator.md" in help_text
    assert "see docs/" not in help_text


def test_the_readme_dag_runs_by_hand_against_dtcal_emulator(venv, tmp_path):
    """The README's "by hand" block, on a free port instead of 8765 (the machine may be running one)."""
    project = user_project(tmp_path / "project")
    [by_hand] = [b for b in blocks() if b.kind == "run"]
    port = _free_port()
    script = by_hand.body.replace("8765", str(port))
    env = _env(tmp_path) | {
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    _run([str(venv / "bin" / "airflow"), "db", "migrate"], env=env, cwd=project)
    started = time.monotonic()
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", f"{script}\nstatus=$?\nkill %1\nexit $status"],
        env=env, cwd=project, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert time.monotonic() - started < 900
    assert f"dtcal-emulator listening on http://127.0.0.1:{port}" in result.stdout + result.stderr
    assert "state=success" in (result.stdout + result.stderr).replace(" ", "").replace("'", "")


def test_the_readme_pytest_example_passes_in_a_user_project(venv, tmp_path):
    project = user_project(tmp_path / "project")
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project, env=_env(tmp_path), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
    assert not (tmp_path / "airflow").exists()  # the plugin's throwaway home, not ~/airflow
