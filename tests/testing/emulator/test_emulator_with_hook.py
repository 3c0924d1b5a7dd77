"""The emulator's check-in lists and Stream gateway as the provider's hook uses them (over real HTTP): the
hook's ``iter_sign_ins`` and ``open_stream_connection`` agree with what the emulator serves."""

from __future__ import annotations

import json

import pendulum
import pytest

from airflow_dtcal.exceptions import DingTalkAPIError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.planning.events import build_event
from airflow_dtcal.testing import DingTalkEmulator
from tests.testing.emulator.conftest import Api
from tests.testing.emulator.wsclient import WsClient

ORG = "org-1"
START = pendulum.datetime(2026, 3, 9, 10, tz="Asia/Shanghai")


def _meeting(hook: DingTalkCalendarHook) -> str:
    body = build_event(summary="Training", start=START, end=START.add(hours=1), attendees=["alice", "bob"])
    return hook.create_event(ORG, body)["id"]


def test_hook_reads_the_check_in_lists(dtcal_emulator: DingTalkEmulator) -> None:
    hook = DingTalkCalendarHook()
    event_id = _meeting(hook)
    api = Api(dtcal_emulator.base_url, dtcal_emulator.app_key, dtcal_emulator.app_secret)
    api.login()
    try:
        assert api.call("POST", "alice", "events", event_id, "signin", data=b"").status_code == 200
        assert api.call("POST", "bob", "events", event_id, "signOut", data=b"").status_code == 200
    finally:
        api.close()
    signed = list(hook.iter_sign_ins(ORG, event_id, page_size=1))
    assert [u["userId"] for u in signed] == ["alice"] and isinstance(signed[0]["checkInTime"], int)
    waiting = list(hook.iter_sign_ins(ORG, event_id, status="not_yet_sign_in", page_size=1))
    assert [u["userId"] for u in waiting] == [ORG, "bob"]  # two pages of one
    out = list(hook.iter_sign_ins(ORG, event_id, status="sign_out"))
    assert [(u["userId"], type(u["checkOutTime"])) for u in out] == [("bob", int)]
    not_out = list(hook.iter_sign_ins(ORG, event_id, status="not_yet_sign_out"))
    assert [u["userId"] for u in not_out] == [ORG, "alice"]


def test_hook_opens_a_stream_connection_that_receives_its_writes(dtcal_emulator: DingTalkEmulator) -> None:
    hook = DingTalkCalendarHook()
    opened = hook.open_stream_connection()
    assert opened["endpoint"].startswith(f"ws://127.0.0.1:{dtcal_emulator.port}/")
    client = WsClient(opened["endpoint"], opened["ticket"])
    try:
        assert client.status == 101
        event_id = _meeting(hook)
        message = client.read_json()
        data = json.loads(message["data"])
        assert (data["calendarEventId"], data["changeType"]) == (event_id, "create")
        assert sorted(data["unionIdList"]) == ["alice", "bob", ORG]
        client.ack(message)
        (acked,) = dtcal_emulator.wait_for_stream_acks(1)
        assert acked["messageId"] == message["headers"]["messageId"]
    finally:
        client.close()
    logged = json.dumps(dtcal_emulator.requests())
    assert dtcal_emulator.app_secret not in logged and opened["ticket"] not in logged


def test_hook_gets_a_typed_error_for_refused_stream_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    with DingTalkEmulator(qps_limit=None, apps={"the-key": "the-secret"}) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT", emu.connection_json("the-key", "wrong"))
        with pytest.raises(DingTalkAPIError) as caught:
            DingTalkCalendarHook().open_stream_connection()
        assert caught.value.status == 401
        assert "wrong" not in str(caught.value)
