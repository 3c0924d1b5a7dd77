"""The connection form (both mechanisms) and the hook's test_connection, against an emulator with fixed apps."""

from __future__ import annotations

import json
import sys
import types
import warnings
from pathlib import Path

import airflow
import jsonschema
import pytest

from airflow_dtcal.get_provider_info import get_provider_info
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.testing import DingTalkEmulator

AIRFLOW_DIR = Path(airflow.__file__).parent
EXTRA_FIELDS = {"timeout", "max_attempts", "rate_limit"}


def connection_type() -> dict:
    [conn_type] = get_provider_info()["connection-types"]
    return conn_type


@pytest.fixture(scope="module")
def apps_emulator():
    """An emulator that accepts only one app's credentials."""
    with DingTalkEmulator(qps_limit=None, apps={"good-key": "good-secret-123"}) as emulator:
        yield emulator


# ------------------------------------------------------------------------------------ provider info


def test_provider_info_matches_airflows_schema():
    schema = json.loads((AIRFLOW_DIR / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)
    conn_type = connection_type()
    assert conn_type["connection-type"] == DingTalkCalendarHook.conn_type == "dingtalk_calendar"
    assert conn_type["hook-class-name"] == "airflow_dtcal.hooks.calendar.DingTalkCalendarHook"
    assert conn_type["hook-name"] == DingTalkCalendarHook.hook_name


def test_provider_info_declares_the_connection_fields_and_form_behaviour():
    conn_type = connection_type()
    fields = conn_type["conn-fields"]
    assert set(fields) == EXTRA_FIELDS
    for field in fields.values():
        assert field["label"] and field["description"] and "null" in field["schema"]["type"]
    behaviour = conn_type["ui-field-behaviour"]
    assert behaviour["hidden-fields"] == ["schema", "port"]
    assert behaviour["relabeling"] == {
        "login": "App Key (Client ID)",
        "password": "App Secret (Client Secret)",
        "host": "API host",
    }
    assert set(behaviour["placeholders"]) == {"login", "password", "host"}


def test_airflow_builds_the_form_from_provider_info_without_the_hook_methods():
    """Airflow 3.2+: ProvidersManager reads conn-fields / ui-field-behaviour and never calls the hook's methods."""
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hook_info = manager.hooks["dingtalk_calendar"]
        behaviours = manager.field_behaviours
        widgets = manager.connection_form_widgets
    assert hook_info.hook_class_name == "airflow_dtcal.hooks.calendar.DingTalkCalendarHook"
    assert hook_info.connection_testable is True
    assert not [w for w in caught if "DingTalkCalendarHook" in str(w.message)]  # no deprecation path taken

    assert behaviours["dingtalk_calendar"]["hidden_fields"] == ["schema", "port"]
    assert behaviours["dingtalk_calendar"]["relabeling"]["password"] == "App Secret (Client Secret)"
    ours = {k: v for k, v in widgets.items() if k.startswith("extra__dingtalk_calendar__")}
    assert {w.field_name for w in ours.values()} == EXTRA_FIELDS
    assert ours["extra__dingtalk_calendar__rate_limit"].field["schema"]["title"] == "Calls per second per API"
    assert not any(w.is_sensitive for w in ours.values())


# ------------------------------------------------------------------------------------ hook methods (3.0-3.1)


def test_hook_ui_field_behaviour_agrees_with_provider_info():
    schema = json.loads((AIRFLOW_DIR / "customized_form_field_behaviours.schema.json").read_text())
    behaviour = DingTalkCalendarHook.get_ui_field_behaviour()
    jsonschema.validate(behaviour, schema)
    declared = connection_type()["ui-field-behaviour"]
    assert behaviour["hidden_fields"] == declared["hidden-fields"]
    assert behaviour["relabeling"] == declared["relabeling"]
    assert declared["placeholders"].items() <= behaviour["placeholders"].items()
    # The hook's extra placeholders are for its own extra fields.
    assert set(behaviour["placeholders"]) - set(declared["placeholders"]) <= EXTRA_FIELDS


def test_hook_form_widgets_match_the_declared_fields(monkeypatch):
    """Airflow 3.0-3.1 call get_connection_form_widgets(). flask-appbuilder and wtforms are not installed with
    Airflow 3.3, so they are stood in for by minimal modules here (the real ones are not what is tested)."""

    class StringField:
        def __init__(self, label, widget=None):
            self.label, self.widget = label, widget

    fieldwidgets = types.ModuleType("flask_appbuilder.fieldwidgets")
    fieldwidgets.BS3TextFieldWidget = type("BS3TextFieldWidget", (), {})
    babel = types.ModuleType("flask_babel")
    babel.lazy_gettext = str
    wtforms = types.ModuleType("wtforms")
    wtforms.StringField = StringField
    monkeypatch.setitem(sys.modules, "flask_appbuilder", types.ModuleType("flask_appbuilder"))
    monkeypatch.setitem(sys.modules, "flask_appbuilder.fieldwidgets", fieldwidgets)
    monkeypatch.setitem(sys.modules, "flask_babel", babel)
    monkeypatch.setitem(sys.modules, "wtforms", wtforms)

    widgets = DingTalkCalendarHook.get_connection_form_widgets()

    declared = connection_type()["conn-fields"]
    assert set(widgets) == set(declared)
    for name, widget in widgets.items():
        assert isinstance(widget, StringField)
        assert isinstance(widget.widget, fieldwidgets.BS3TextFieldWidget)
        assert widget.label == declared[name]["label"]


# ------------------------------------------------------------------------------------ test_connection


def use_connection(monkeypatch, conn_id: str, emulator, key: str | None, secret: str | None) -> None:
    conn = {"conn_type": "dingtalk_calendar", "host": emulator.base_url}
    conn.update({k: v for k, v in (("login", key), ("password", secret)) if v is not None})
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def test_test_connection_succeeds_with_good_credentials(apps_emulator, monkeypatch):
    use_connection(monkeypatch, "dtcal_ui_good", apps_emulator, "good-key", "good-secret-123")
    before = apps_emulator.stats()["calls"]["GetAccessToken"]

    ok, message = DingTalkCalendarHook("dtcal_ui_good").test_connection()

    assert ok is True
    assert "good-key" in message and "7200" in message
    assert "good-secret-123" not in message
    assert apps_emulator.stats()["calls"]["GetAccessToken"] == before + 1


@pytest.mark.parametrize(
    ("key", "secret"), [("good-key", "wrong-secret-456"), ("other-key", "good-secret-123")]
)
def test_test_connection_fails_with_the_reason_for_bad_credentials(apps_emulator, monkeypatch, key, secret):
    use_connection(monkeypatch, "dtcal_ui_bad", apps_emulator, key, secret)
    before = apps_emulator.stats()["calls"]["GetAccessToken"]

    ok, message = DingTalkCalendarHook("dtcal_ui_bad").test_connection()

    assert ok is False
    assert "invalidClientIdOrSecret" in message and "400" in message
    assert secret not in message
    assert apps_emulator.stats()["calls"]["GetAccessToken"] == before + 1  # bad credentials are not retried


def test_test_connection_reports_missing_credentials_without_a_request(apps_emulator, monkeypatch):
    use_connection(monkeypatch, "dtcal_ui_empty", apps_emulator, "good-key", None)
    before = apps_emulator.stats()["calls"]["GetAccessToken"]

    ok, message = DingTalkCalendarHook("dtcal_ui_empty").test_connection()

    assert ok is False and "password (App Secret)" in message
    assert apps_emulator.stats()["calls"]["GetAccessToken"] == before


@pytest.mark.parametrize(("secret", "expected"), [("good-secret-123", True), ("wrong-secret-456", False)])
def test_the_test_button_path(apps_emulator, monkeypatch, secret, expected):
    """What the API server's POST /connections/test does: a transient connection exported as a URI."""
    from airflow.models.connection import Connection

    conn = Connection(
        conn_id="dtcal_ui_button",
        conn_type="dingtalk_calendar",
        host=apps_emulator.base_url,
        login="good-key",
        password=secret,
    )
    monkeypatch.setenv("AIRFLOW_CONN_DTCAL_UI_BUTTON", conn.get_uri())

    ok, message = conn.test_connection()

    assert ok is expected, message
    assert secret not in message
