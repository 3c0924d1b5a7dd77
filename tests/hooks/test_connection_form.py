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
from tests.airflow_compat import AIRFLOW_V_3_2_PLUS

AIRFLOW_DIR = Path(airflow.__file__).parent
EXTRA_FIELDS = {
    "timeout", "connect_timeout", "max_attempts", "max_throttled_attempts", "backoff_initial", "backoff_max",
    "retry_deadline",
    "rate_limit", "pacing", "pacing_redis_conn_id", "pacing_window", "monthly_budget", "max_in_flight",
    "max_answer_bytes", "max_pages", "verify", "legacy_host", "stream_host_suffix",
}  # fmt: skip


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


needs_provider_info_form = pytest.mark.skipif(
    not AIRFLOW_V_3_2_PLUS,
    reason="needs Airflow 3.2+: conn-fields / ui-field-behaviour in provider info "
    "(3.0-3.1 call the hook's form methods: see the fab test below)",
)
needs_hook_method_form = pytest.mark.skipif(
    AIRFLOW_V_3_2_PLUS,
    reason="Airflow 3.0-3.1 only: from 3.2 Airflow builds the form from conn-fields in provider info "
    "and no longer calls get_connection_form_widgets()",
)


@pytest.fixture
def fresh_providers_manager():
    """ProvidersManager is a process-wide singleton whose form widgets depend on who built them first (the UI
    service builds them with stand-ins for flask-appbuilder); start from scratch and leave it so."""
    from airflow.providers_manager import ProvidersManager

    ProvidersManager()._cleanup()
    yield ProvidersManager()
    ProvidersManager()._cleanup()


def test_the_ui_gets_the_connection_form(fresh_providers_manager):
    """What the UI's connection form is built from (GET /ui/connections/hook_meta), on every Airflow line."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    HookMetaService.hook_meta_data.cache_clear()

    [meta] = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "dingtalk_calendar"]
    assert meta.hook_name == "DingTalk Calendar"
    fields = meta.standard_fields
    assert fields.url_schema.hidden and fields.port.hidden
    assert (fields.login.title, fields.password.title, fields.host.title) == (
        "App Key (Client ID)",
        "App Secret (Client Secret)",
        "API host",
    )
    assert not (fields.login.hidden or fields.password.hidden or fields.host.hidden)
    assert fields.login.placeholder == "dingxxxxxxxxxxxxxxxx"
    declared = connection_type()["conn-fields"]
    extras = {name: field["schema"]["title"] for name, field in meta.extra_fields.items()}
    assert extras == {name: field["label"] for name, field in declared.items()}


@needs_hook_method_form
def test_airflow_builds_the_form_from_the_hook_methods_with_fab(fresh_providers_manager):
    """Airflow 3.0-3.1 with apache-airflow-providers-fab: real flask-appbuilder and wtforms fields."""
    pytest.importorskip("flask_appbuilder", reason="needs apache-airflow-providers-fab (airflow-dtcal[fab])")
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from wtforms import StringField

    manager = fresh_providers_manager
    behaviours = manager.field_behaviours["dingtalk_calendar"]
    widgets = manager.connection_form_widgets
    own = DingTalkCalendarHook.get_ui_field_behaviour()
    assert behaviours["hidden_fields"] == own["hidden_fields"]
    assert behaviours["relabeling"] == own["relabeling"]
    # Airflow files the extra fields' placeholders under their form names.
    prefixed = {
        (f"extra__dingtalk_calendar__{k}" if k in EXTRA_FIELDS else k): v
        for k, v in own["placeholders"].items()
    }
    assert behaviours["placeholders"] == prefixed
    ours = {k: v for k, v in widgets.items() if k.startswith("extra__dingtalk_calendar__")}
    declared = connection_type()["conn-fields"]
    assert {w.field_name for w in ours.values()} == set(declared)
    for widget in ours.values():
        assert widget.field.field_class is StringField
        assert str(widget.field.args[0]) == declared[widget.field_name]["label"]
        assert isinstance(widget.field.kwargs["widget"], BS3TextFieldWidget)
        assert not widget.is_sensitive


@needs_provider_info_form
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
        def __init__(self, label, description="", widget=None):
            self.label, self.description, self.widget = label, description, widget

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
        assert widget.description == declared[name]["description"]  # one table, both forms


def test_every_setting_is_a_field_with_true_help_text():
    from airflow_dtcal.core.settings import DEFAULTS, MIN_PACING_WINDOW, PACING_SCOPES

    declared = connection_type()["conn-fields"]
    assert set(DEFAULTS) | {"legacy_host", "stream_host_suffix"} == set(declared) == EXTRA_FIELDS
    rate = declared["rate_limit"]["description"]
    assert "one process" not in rate and "'host' pacing every process of the machine" in rate
    assert DEFAULTS["pacing"] == "host" and "'host' (default)" in declared["pacing"]["description"]
    assert declared["pacing"]["schema"]["enum"] == [*PACING_SCOPES, None]
    assert (
        declared["max_in_flight"]["schema"]["maximum"] == 64
        and "at most 64" in declared["max_in_flight"]["description"]
    )
    assert f"{MIN_PACING_WINDOW:g} to 2" in declared["pacing_window"]["description"]
    for name, default in DEFAULTS.items():  # each help text states the real default
        text = declared[name]["description"]
        shown = {True: "true", 0.0: "0", 4 * 1024 * 1024: "4194304"}.get(
            default, f"{default:g}" if isinstance(default, float) else str(default)
        )
        assert f"default {shown}" in text or f"{shown} (default)" in text or f"'{shown}' (default)" in text, (
            name,
            text,
        )


# ------------------------------------------------------------------------------------ test_connection


def test_test_connection_checks_the_contacts_permission_when_a_legacy_host_is_set(apps_emulator, monkeypatch):
    conn = {"conn_type": "dingtalk_calendar", "host": apps_emulator.base_url, "login": "good-key",
            "password": "good-secret-123", "extra": {"legacy_host": apps_emulator.base_url}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_DTCAL_UI_LEGACY", json.dumps(conn))
    before = apps_emulator.stats()["calls"].get("GetUser", 0)
    ok, message = DingTalkCalendarHook("dtcal_ui_legacy").test_connection()
    assert ok is True and "contacts lookup" in message and "allowed" in message
    assert apps_emulator.stats()["calls"]["GetUser"] == before + 1

    apps_emulator.fail_next(status=200, code="60011", message="no permission", operation="GetUser")
    ok, message = DingTalkCalendarHook("dtcal_ui_legacy").test_connection()
    assert ok is False and "contacts lookup" in message and "60011" in message, message
    assert "good-secret-123" not in message


def test_test_connection_makes_no_legacy_call_without_a_legacy_host(apps_emulator, monkeypatch):
    use_connection(monkeypatch, "dtcal_ui_nolegacy", apps_emulator, "good-key", "good-secret-123")
    before = apps_emulator.stats()["calls"].get("GetUser", 0)
    ok, message = DingTalkCalendarHook("dtcal_ui_nolegacy").test_connection()
    assert ok is True and "contacts" not in message
    assert apps_emulator.stats()["calls"].get("GetUser", 0) == before


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
