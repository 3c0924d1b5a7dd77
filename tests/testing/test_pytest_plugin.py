"""The pytest plugin: fixtures, isolation between tests, the marker, and laziness."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

INNER_TESTS = """
import json
import os

import pytest
import requests

CONN = "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT"


def _create(emu):
    token = requests.post(
        emu.base_url + "/v1.0/oauth2/accessToken",
        json={"appKey": emu.app_key, "appSecret": emu.app_secret},
        timeout=5,
    ).json()["accessToken"]
    body = {
        "summary": "x",
        "start": {"date": "2025-01-01"},
        "end": {"date": "2025-01-02"},
    }
    resp = requests.post(
        emu.base_url + "/v1.0/calendar/users/u/calendars/primary/events",
        json=body,
        headers={"x-acs-dingtalk-access-token": token},
        timeout=5,
    )
    assert resp.status_code == 200, resp.text


def test_a_connection_and_state(dtcal_emulator):
    conn = json.loads(os.environ[CONN])
    assert conn == {
        "conn_type": "dingtalk_calendar",
        "login": "dtcal-test-key",
        "password": "dtcal-test-secret",
        "host": dtcal_emulator.base_url,
    }
    assert (dtcal_emulator.app_key, dtcal_emulator.app_secret) == ("dtcal-test-key", "dtcal-test-secret")
    _create(dtcal_emulator)
    dtcal_emulator.fail_next(count=5)
    dtcal_emulator.set_latency(0.5)
    dtcal_emulator.set_monthly_quota(1)
    dtcal_emulator.set_stream_delivery(9, 0.5)
    assert len(dtcal_emulator.events()) == 1


def test_b_state_was_reset(dtcal_emulator):
    assert dtcal_emulator.events() == []
    assert dtcal_emulator.faults() == []
    assert dtcal_emulator.config() == {
        "qps_limit": None, "latency": 0.0, "token_ttl": 7200, "monthly_quota": None,
        "sync_token_ttl": 604800.0, "stream_ticket_ttl": 90.0, "stream_redelivery_delay": 60.0,
        "stream_seed": 0, "stream_duplicate_rate": 0.0,
    }
    assert dtcal_emulator.stats()["counted_total"] == 0


@pytest.mark.dtcal_emulator(qps_limit=7, latency=0.01, token_ttl=60, monthly_quota=3)
def test_c_marker(dtcal_emulator):
    config = dtcal_emulator.config()
    assert {k: config[k] for k in ("qps_limit", "latency", "token_ttl", "monthly_quota")} == {
        "qps_limit": 7, "latency": 0.01, "token_ttl": 60, "monthly_quota": 3,
    }


def test_d_one_server_per_session(dtcal_emulator_server, dtcal_emulator):
    assert dtcal_emulator is dtcal_emulator_server
    assert dtcal_emulator.config()["qps_limit"] is None


def test_e_env_is_restored():
    assert CONN not in os.environ
"""


def _run_pytest(folder: Path, source: str, *args: str) -> subprocess.CompletedProcess:
    """Run a separate pytest session (the plugin is loaded from its entry point, as for any user)."""
    (folder / "test_inner.py").write_text(textwrap.dedent(source))
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(folder),
            *args,
            "test_inner.py",
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_fixtures_isolate_tests(tmp_path: Path) -> None:
    proc = _run_pytest(tmp_path, INNER_TESTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 passed" in proc.stdout


def test_bad_marker_arguments_are_a_usage_error(tmp_path: Path) -> None:
    proc = _run_pytest(
        tmp_path,
        """
        import pytest

        @pytest.mark.dtcal_emulator(qps=3)
        def test_bad(dtcal_emulator):
            pass
        """,
    )
    assert proc.returncode != 0
    assert "dtcal_emulator accepts keyword arguments" in proc.stdout + proc.stderr


def test_plugin_is_lazy(tmp_path: Path) -> None:
    proc = _run_pytest(
        tmp_path,
        """
        import sys
        import threading

        def test_nothing_started():
            assert "airflow_dtcal.testing.pytest_plugin" in sys.modules
            assert "airflow_dtcal.testing.emulator" not in sys.modules
            assert not [t for t in threading.enumerate() if t.name.startswith("dtcal-emulator")]
        """,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_emulator_and_plugin_import_only_the_standard_library_and_pytest() -> None:
    import ast

    import airflow_dtcal.testing as testing

    folder = Path(testing.__file__).parent
    allowed = set(sys.stdlib_module_names) | {"pytest", "airflow_dtcal"}
    files = sorted(folder.glob("emulator/*.py")) + [folder / "pytest_plugin.py", folder / "__init__.py"]
    assert len(files) > 10  # the emulator is a package of small rooms
    for path in files:
        name = path.name
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [node.module]
            else:
                continue
            for module in roots:
                assert module.split(".")[0] in allowed, (name, module)
                if module.startswith("airflow_dtcal"):
                    assert module.startswith("airflow_dtcal.testing"), (name, module)
    code = (
        "import sys, airflow_dtcal.testing.pytest_plugin, airflow_dtcal.testing.emulator;"
        "bad = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'));"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_users_hook_tests_start_without_the_previous_tests_token(tmp_path: Path) -> None:
    """The hook caches tokens per process; the fixture forgets them, so each test counts its own calls."""
    proc = _run_pytest(
        tmp_path,
        """
        import pytest

        from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

        EVENT = {"summary": "x", "start": {"date": "2026-01-05"}, "end": {"date": "2026-01-06"}}

        @pytest.mark.parametrize("n", [1, 2, 3])
        def test_one_create(dtcal_emulator, n):
            DingTalkCalendarHook().create_event("org", EVENT)
            statuses = [r["status"] for r in dtcal_emulator.requests()]
            assert statuses == [200, 200], statuses  # a fresh token, then the create: no rejected call
            assert dtcal_emulator.stats()["token_fetches"] == 1
        """,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout
