"""Every code block of the README is run or checked here; the README stays a first screen (<= 250 lines)
whose links work outside the repository. The built wheel runs the same blocks in test_fresh_venv.py."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from airflow_dtcal import DOCS_URL, __version__
from tests.packaging.readme import README, REPO_URL, ROOT, blocks, user_project

TEXT = README.read_text(encoding="utf-8")


def test_the_readme_is_a_first_screen_with_absolute_links_that_resolve():
    assert len(TEXT.splitlines()) <= 250
    links = re.findall(r"\]\(([^)]+)\)", TEXT)
    assert links and all(link.startswith("https://") for link in links), links
    for link in links:
        if link.startswith(f"{REPO_URL}/blob/main/"):
            assert (ROOT / link.removeprefix(f"{REPO_URL}/blob/main/").split("#")[0]).is_file(), link
    assert DOCS_URL == f"{REPO_URL}/blob/main/docs/"
    from airflow_dtcal.testing.emulator.cli import REFERENCE_URL

    assert REFERENCE_URL == f"{DOCS_URL}emulator.md"


def test_every_block_is_one_this_module_knows():
    kinds = [(b.lang, b.kind) for b in blocks()]
    assert kinds == [
        ("bash", None),  # install
        ("bash", None),  # the connection
        ("python", "file"),  # the DAG
        ("python", "file"),  # the pytest example
        ("bash", "run"),  # by hand against the emulator
        ("bash", None),  # make demo / make test
        ("", None),  # make demo's output
    ]


def test_the_install_block_names_the_built_wheel_and_the_newest_airflow():
    install = blocks()[0].body
    makefile = (ROOT / "Makefile").read_text()
    newest = re.search(r"^NEWEST_AIRFLOW := (\S+)$", makefile, re.M)[1]
    wheel = f"dist/airflow_dtcal-{__version__}-py3-none-any.whl"
    assert [shlex.split(line.split("#")[0]) for line in install.strip().splitlines()] == [
        ["pip", "install", wheel, f"apache-airflow=={newest}"],
        ["pip", "install", "-e", ".", f"apache-airflow=={newest}"],
    ]


def test_the_connection_block_is_a_dingtalk_connection():
    [line] = blocks()[1].body.strip().splitlines()
    name, _, value = shlex.split(line)[1].partition("=")
    assert name == "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT"
    assert json.loads(value)["conn_type"] == "dingtalk_calendar"


def test_the_make_block_names_the_documented_targets():
    makefile = (ROOT / "Makefile").read_text()
    for line in blocks()[5].body.strip().splitlines():
        make, target = line.split("#")[0].split()
        assert make == "make" and re.search(rf"^{target}:", makefile, re.M), line


def test_the_demo_output_block_is_what_the_demo_prints():
    demo = (ROOT / "scripts" / "demo.py").read_text()
    for line in blocks()[6].body.strip().splitlines()[1:]:
        label = line.split()[0]
        if label.startswith("union-"):
            continue
        assert re.search(rf"['\"]\s*{re.escape(label)}", demo), label


def test_the_readme_dag_and_its_pytest_example_pass_in_a_user_project(tmp_path):
    """The two `file:` blocks, written into a project of their own, pass under plain `pytest` there
    (AIRFLOW_HOME unset: the plugin's throwaway home)."""
    project = user_project(tmp_path / "project")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout


@pytest.mark.parametrize("name", ["dags/team_sync.py"])
def test_the_readme_dag_parses_cheaply(name, tmp_path):
    project = user_project(tmp_path / "project")
    code = (
        f"import runpy, sys\nrunpy.run_path({str(project / name)!r})\n"
        "print(sorted(m for m in ('airflow_dtcal.hooks.calendar', 'requests') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
