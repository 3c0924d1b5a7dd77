"""The escape hatch: the documented operation table is the SDK's, every row the emulator serves routes to
itself, and ``call_api``/``acall_api`` send any row over the hook's request machinery (against the emulator
over real HTTP), refusing bad input before any request."""

from __future__ import annotations

import asyncio
import inspect
import re

import pytest
from alibabacloud_dingtalk.calendar_1_0.client import Client as SdkCalendarClient
from alibabacloud_dingtalk.rooms_1_0.client import Client as SdkRoomsClient

from airflow_dtcal.core.operations import OPERATIONS, build_call
from airflow_dtcal.exceptions import DingTalkInvalidArgumentError, DingTalkNotFoundError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.planning.events import build_event
from airflow_dtcal.testing.emulator.contract import OPERATIONS as SERVED
from airflow_dtcal.testing.emulator.routes import route

ORG = "union-org"


def _sdk_rows() -> dict[str, tuple[str, str, bool]]:
    """``{action: (method, path template with wire names, takes x-client-token)}`` read from the SDK."""
    out = {}
    for client in (SdkCalendarClient, SdkRoomsClient):
        for name, function in inspect.getmembers(client, inspect.isfunction):
            if not name.endswith("_with_options") or name.endswith("_async"):
                continue
            source = inspect.getsource(function)
            action = re.search(r"action='(\w+)'", source)
            method = re.search(r"method='(\w+)'", source)
            path = re.search(r"pathname=f?'([^']+)'", source)
            if not (action and method and path):
                continue
            wire = re.sub(
                r"\{(\w+)\}",
                lambda m: "{" + re.sub(r"_(\w)", lambda c: c.group(1).upper(), m.group(1)) + "}",
                path.group(1),
            )
            out[action.group(1)] = (method.group(1), wire, "x-client-token" in source)
    return out


def test_every_row_is_the_sdks_operation():
    sdk = _sdk_rows()
    for row in OPERATIONS.values():
        assert row.name in sdk, row.name
        method, path, token = sdk[row.name]
        assert (row.method, row.path, row.client_token) == (method, path, token), row.name


def test_every_calendar_operation_of_the_sdk_is_a_row_or_needs_a_user_token():
    missing = {name for name, (_m, path, _t) in _sdk_rows().items() if "/calendar/" in path} - set(OPERATIONS)
    assert all(name.endswith("ByMe") for name in missing), missing


def test_every_row_the_emulator_serves_routes_to_itself():
    served = [row for row in OPERATIONS.values() if row.name in SERVED]
    assert len(served) >= 30
    for row in served:
        path = re.sub(r"\{(\w+)\}", lambda m: f"x-{m.group(1)}", row.path)
        assert route(row.method, path)[0] == row.name


def test_call_api_sends_any_row_sync_and_async(dtcal_emulator, hook: DingTalkCalendarHook):
    created = hook.create_event(
        ORG, build_event(summary="Hatch", start="2026-12-01T10:00:00+08:00", end="2026-12-01T11:00:00+08:00")
    )
    ids = {"userId": ORG, "calendarId": "primary", "eventId": created["id"]}
    got = hook.call_api("GetEvent", ids, {"maxAttendees": 10})
    assert got["id"] == created["id"]
    assert hook.call_api(
        "CreateAcls",
        {"userId": ORG, "calendarId": "primary"},
        body={"privilege": "reader", "scope": {"scopeType": "user", "userId": "u1"}},
    )["aclId"]
    assert hook.call_api("CancelEvent", ids, {"scope": "all"}, client_token="cancel-1") == {"result": True}
    listed = hook.call_api("ListEvents", {"userId": ORG, "calendarId": "primary"}, {"showDeleted": True})
    assert [e["status"] for e in listed["events"]] == ["cancelled"]

    async def run():
        try:
            return await hook.acall_api("ListAcls", {"userId": ORG, "calendarId": "primary"})
        finally:
            await hook.aclose()

    assert [a["scope"]["userId"] for a in asyncio.run(run())["acls"]] == ["u1"]
    log = [r for r in dtcal_emulator.requests() if r["operation"] != "GetAccessToken"]
    cancel = next(r for r in log if r["operation"] == "CancelEvent")
    assert cancel["client_token"] == "cancel-1" and cancel["query"] == {"scope": "all"}
    assert next(r for r in log if r["operation"] == "ListEvents")["query"]["showDeleted"] == "true"
    assert hook.calls_spent["CancelEvent"] == 1 and hook.quota_calls_spent == len(log)


def test_a_row_dingtalk_does_not_serve_here_fails_typed(dtcal_emulator, hook):
    with pytest.raises(DingTalkNotFoundError):
        hook.call_api("ListCategories")


@pytest.mark.parametrize(
    ("args", "kwargs", "named"),
    [
        (("NoSuchOperation",), {}, "operation"),
        (("GetEvent", {"userId": "u", "calendarId": "primary"}), {}, "eventId"),
        (("ListAcls", {"userId": "u", "calendarId": "primary", "eventId": "e"}), {}, "eventId"),
        (("ListAcls", {"userId": "u", "calendarId": ".."}), {}, "path_params.calendarId"),
        (("ListAcls", {"userId": "u", "calendarId": "primary"}, {"x": [1]}), {}, "query.x"),
        (("ListAcls", {"userId": "u", "calendarId": "primary"}, None, {"a": 1}), {}, "body"),
        (
            ("CreateAcls", {"userId": "u", "calendarId": "primary"}, None, {"a": float("nan")}),
            {},
            "CreateAcls",
        ),
        (
            ("CreateAcls", {"userId": "u", "calendarId": "primary"}, None, {}),
            {"client_token": "k"},
            "client_token",
        ),
        (
            ("CancelEvent", {"userId": "u", "calendarId": "primary", "eventId": "e"}),
            {"client_token": "a b"},
            "client_token",
        ),
    ],
)
def test_bad_input_is_refused_before_any_request(dtcal_emulator, hook, args, kwargs, named):
    with pytest.raises(DingTalkInvalidArgumentError) as caught:
        hook.call_api(*args, **kwargs)
    assert named in str(caught.value)
    assert dtcal_emulator.requests() == []


def test_build_call_percent_encodes_each_segment():
    call = build_call("DeleteAcl", {"userId": "a/b", "calendarId": "primary", "aclId": "x?y"})
    assert call.path == "/v1.0/calendar/users/a%2Fb/calendars/primary/acls/x%3Fy"
    assert call.expect == "none" and call.client_token is None
