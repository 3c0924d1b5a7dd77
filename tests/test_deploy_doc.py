"""docs/deploy.md and the deployment harness (scripts/deployment/) say the same: the harness reads the
document's steps through walkthrough.py, so here, without a deployment, that it finds every step, that it
fills every placeholder, and that what it sets beyond the document is named there."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.helpers import ROOT

_spec = importlib.util.spec_from_file_location(
    "dtcal_deploy_walkthrough", ROOT / "scripts" / "deployment" / "walkthrough.py"
)
walkthrough = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = walkthrough  # its dataclass looks itself up there
_spec.loader.exec_module(walkthrough)

DOC = walkthrough.Walkthrough()


def test_the_database_step_creates_a_role_and_a_database_it_owns():
    assert DOC.database_sql() == [
        "CREATE ROLE airflow LOGIN PASSWORD '<db password>'",
        "CREATE DATABASE airflow OWNER airflow ENCODING 'UTF8'",
    ]


def test_the_settings_a_newcomer_needs_are_in_the_one_settings_file():
    settings = DOC.settings()
    assert settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
    assert settings["AIRFLOW__API_AUTH__JWT_ISSUER"]  # Airflow 3.0 with PyJWT 2.11+ cannot log in without
    assert settings["AIRFLOW__CORE__TEST_CONNECTION"] == "Enabled"
    assert settings["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert int(settings["AIRFLOW__CORE__PARALLELISM"]) <= 8
    assert settings["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith("<airflow home>/")
    assert settings["AIRFLOW__API__HOST"] == "<listen address>"
    for name in ("DTCAL_ALL_HANDS_ORGANIZER", "DTCAL_ALL_HANDS_EVENT_ID", "DTCAL_EXPORT_DESTINATION"):
        assert name in settings, name


def test_every_placeholder_of_the_walkthrough_is_one_the_harness_fills_and_explains():
    in_blocks = {p for b in DOC.blocks for line in b.lines for p in walkthrough.PLACEHOLDER.findall(line)}
    assert in_blocks == set(walkthrough.PLACEHOLDERS)
    assert DOC.placeholders() <= set(walkthrough.PLACEHOLDERS)
    table = DOC.text.split("| Placeholder |", 1)[1].split("\n\n", 1)[0]
    unexplained = [p for p in walkthrough.PLACEHOLDERS if f"`{p}`" not in table and p != "<admin password>"]
    assert not unexplained, unexplained


def test_what_the_harness_sets_beyond_the_document_is_named_in_it():
    section = DOC.text.split("## What `make test-deployment` does", 1)[1]
    missing = [key for key in walkthrough.DEPLOYMENT_ONLY if f"`{key}" not in section]
    assert not missing, missing
    # It overrides no setting of the document but the connection (which gets the emulator's URL).
    assert set(walkthrough.DEPLOYMENT_ONLY) & set(DOC.settings()) == {
        "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT"
    }


def test_the_commands_the_harness_runs_are_in_the_document_as_written():
    commands = DOC.commands("airflow")
    for service in ("api-server", "scheduler", "dag-processor", "triggerer"):
        assert ["airflow", service] in commands, service
    assert ["airflow", "db", "migrate"] in commands
    [pool] = DOC.commands("airflow", "pools", "set")
    assert pool[3:5] == ["dingtalk_calendar", "4"]
    assert DOC.commands("airflow", "connections", "test") == [
        ["airflow", "connections", "test", "dingtalk_calendar_default"]
    ]


def test_a_placeholder_the_harness_does_not_know_fails_it():
    with pytest.raises(ValueError, match="<db name>"):
        walkthrough.fill("postgresql://<db host>/<db name>", {"<db host>": "127.0.0.1"})
    assert walkthrough.fill("<db host>:<db port>", {"<db host>": "h", "<db port>": "1"}) == "h:1"


def test_a_settings_line_that_is_not_key_equals_value_fails_the_harness():
    text = "```bash\n# /etc/airflow/airflow.env\nexport AIRFLOW_HOME=/srv/airflow\n```\n"
    with pytest.raises(ValueError, match="not a KEY=value line"):
        walkthrough.Walkthrough(text).settings()
