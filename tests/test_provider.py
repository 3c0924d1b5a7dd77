"""Provider metadata: Airflow discovers the package through its entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_airflow_providers_list_shows_the_provider():
    airflow = str(Path(sys.executable).with_name("airflow"))
    result = subprocess.run(
        [airflow, "providers", "get", "airflow-dtcal", "--output", "json"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    from airflow_dtcal import __version__

    assert "airflow-dtcal" in result.stdout and __version__ in result.stdout


def test_connection_type_is_registered_with_its_hook():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-dtcal" in manager.providers
    hook_info = manager.hooks["dingtalk_calendar"]
    assert hook_info.hook_class_name == "airflow_dtcal.hooks.calendar.DingTalkCalendarHook"
    assert hook_info.connection_id_attribute_name == "dingtalk_conn_id"
    assert hook_info.hook_name == "DingTalk Calendar"


def test_provider_info_lists_every_module_and_each_imports():
    import importlib

    from airflow_dtcal.get_provider_info import get_provider_info

    info = get_provider_info()
    modules = {
        kind: [m for entry in info[kind] for m in entry["python-modules"]]
        for kind in ("hooks", "operators", "sensors", "triggers")
    }
    assert modules["hooks"] == ["airflow_dtcal.hooks.calendar"]
    assert "airflow_dtcal.operators.attendees" in modules["operators"]
    assert [entry["python-module"] for entry in info["transfers"]] == ["airflow_dtcal.transfers.export"]
    for names in [*modules.values(), [entry["python-module"] for entry in info["transfers"]]]:
        for name in names:
            importlib.import_module(name)
