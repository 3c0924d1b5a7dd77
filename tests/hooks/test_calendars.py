"""Calendars, subscribed calendars and sharing (ACLs) through the hook, against the emulator over real HTTP,
sync and async; bad input refused before any request."""

from __future__ import annotations

import asyncio

import pytest

from airflow_dtcal.exceptions import (
    DingTalkAPIError,
    DingTalkInvalidArgumentError,
    DingTalkNotFoundError,
    DingTalkPermissionError,
)
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

OWNER = "union-owner"


def _ops(emu) -> list[str]:
    return [r["operation"] for r in emu.requests() if r["operation"] != "GetAccessToken"]


def test_share_a_primary_calendar_list_and_revoke(dtcal_emulator, hook: DingTalkCalendarHook):
    acl = hook.add_acl(OWNER, "union-a", "reader", send_msg=False)
    assert acl["privilege"] == "reader" and acl["scope"] == {"scopeType": "user", "userId": "union-a"}
    hook.add_acl(OWNER, "union-b", "writer")
    acls = hook.list_acls(OWNER)
    assert [(a["scope"]["userId"], a["privilege"]) for a in acls] == [
        ("union-a", "reader"),
        ("union-b", "writer"),
    ]
    hook.delete_acl(OWNER, acl["aclId"])
    assert [a["scope"]["userId"] for a in hook.list_acls(OWNER)] == ["union-b"]
    with pytest.raises(DingTalkNotFoundError):
        hook.delete_acl(OWNER, acl["aclId"])
    sent = [r for r in dtcal_emulator.requests() if r["operation"] == "CreateAcls"]
    assert sent[0]["path"] == f"/v1.0/calendar/users/{OWNER}/calendars/primary/acls"
    assert sent[0]["body"] == {
        "privilege": "reader",
        "scope": {"scopeType": "user", "userId": "union-a"},
        "sendMsg": False,
    }


def test_sharer_limit_is_dingtalks_error(dtcal_emulator):
    hook = DingTalkCalendarHook(rate_limit=0)  # 500 grants: no pacing needed on loopback
    hook.run_many(lambda i: hook.add_acl(OWNER, f"p{i}", "free_busy_reader"), range(500))
    with pytest.raises(DingTalkAPIError) as caught:
        hook.add_acl(OWNER, "one-more", "reader")
    assert caught.value.code == "shareExceedLimit"
    assert len(hook.list_acls(OWNER)) == 500


def test_subscribed_calendar_lifecycle(dtcal_emulator, hook: DingTalkCalendarHook):
    cid = hook.create_subscribed_calendar(
        OWNER,
        "Data team",
        description="on call",
        managers=["union-lead"],
        subscribe_scope={"unionIds": ["union-a"]},
    )
    got = hook.get_subscribed_calendar(OWNER, cid)
    assert got["name"] == "Data team" and got["managers"] == ["union-lead"] and got["author"] == OWNER
    hook.update_subscribed_calendar(
        "union-lead", cid, description="rota", subscribe_scope={"unionIds": ["union-a", "union-c"]}
    )
    assert hook.get_subscribed_calendar(OWNER, cid)["description"] == "rota"
    hook.subscribe_calendar("union-c", cid)
    mine = {c["id"]: c for c in hook.list_calendars("union-c")}
    assert mine["primary"]["type"] == "primary" and mine[cid]["type"] == "subscribed"
    with pytest.raises(DingTalkPermissionError):
        hook.subscribe_calendar("union-stranger", cid)
    with pytest.raises(DingTalkNotFoundError):
        hook.get_subscribed_calendar("union-stranger", cid)
    hook.add_acl("union-lead", "union-d", "writer", calendar_id=cid)
    assert {c["id"]: c["type"] for c in hook.list_calendars("union-d")}[cid] == "shared"
    hook.unsubscribe_calendar("union-c", cid)
    assert cid not in {c["id"] for c in hook.list_calendars("union-c")}
    with pytest.raises(DingTalkPermissionError):
        hook.delete_subscribed_calendar("union-lead", cid)  # a manager may not delete it
    hook.delete_subscribed_calendar(OWNER, cid)
    with pytest.raises(DingTalkNotFoundError):
        hook.get_subscribed_calendar(OWNER, cid)


def test_async_twins_against_the_emulator(dtcal_emulator):
    async def run() -> tuple:
        hook = DingTalkCalendarHook()
        try:
            cid = await hook.acreate_subscribed_calendar(OWNER, "Async team")
            await hook.aupdate_subscribed_calendar(OWNER, cid, name="Renamed")
            acl = await hook.aadd_acl(OWNER, "union-a", "title_reader", calendar_id=cid)
            acls = await hook.alist_acls(OWNER, calendar_id=cid)
            calendars = await hook.alist_calendars(OWNER)
            got = await hook.aget_subscribed_calendar(OWNER, cid)
            await hook.adelete_acl(OWNER, acl["aclId"], calendar_id=cid)
            await hook.asubscribe_calendar(OWNER, cid)
            await hook.aunsubscribe_calendar(OWNER, cid)
            await hook.adelete_subscribed_calendar(OWNER, cid)
            return cid, acls, calendars, got
        finally:
            await hook.aclose()

    cid, acls, calendars, got = asyncio.run(run())
    assert [a["privilege"] for a in acls] == ["title_reader"]
    assert cid in {c["id"] for c in calendars} and got["name"] == "Renamed"
    assert _ops(dtcal_emulator)[-4:] == [
        "DeleteAcl",
        "SubscribeCalendar",
        "UnsubscribeCalendar",
        "DeleteSubscribedCalendar",
    ]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda h: h.add_acl(OWNER, "x", "owner"), "privilege"),
        (lambda h: h.add_acl(OWNER, "", "reader"), "grantee_id"),
        (lambda h: h.add_acl(OWNER, "x", "reader", send_msg="yes"), "send_msg"),
        (lambda h: h.add_acl(OWNER, "x", "reader", calendar_id=".."), "calendar_id"),
        (lambda h: h.create_subscribed_calendar(OWNER, ""), "name"),
        (lambda h: h.create_subscribed_calendar(OWNER, "x" * 129), "name"),
        (lambda h: h.create_subscribed_calendar(OWNER, "t", description="d" * 1025), "description"),
        (
            lambda h: h.create_subscribed_calendar(OWNER, "t", subscribe_scope={"groups": []}),
            "subscribe_scope",
        ),
        (lambda h: h.create_subscribed_calendar(OWNER, "t", managers="lead"), "managers"),
        (lambda h: h.update_subscribed_calendar(OWNER, "cid"), "changes"),
        (lambda h: h.delete_acl(OWNER, ""), "acl_id"),
    ],
)
def test_bad_input_is_refused_before_any_request(dtcal_emulator, hook, call, field):
    with pytest.raises(DingTalkInvalidArgumentError) as caught:
        call(hook)
    assert field in str(caught.value)
    assert dtcal_emulator.requests() == []


def test_named_methods_and_call_api_retry_through_the_same_machinery(dtcal_emulator):
    hook = DingTalkCalendarHook(backoff_initial=0.01, backoff_max=0.05)
    dtcal_emulator.add_fault("fail", operation="CreateAcls")
    dtcal_emulator.add_fault("reset_after", operation="CreateAcls")  # applied, the answer lost: retried
    hook.add_acl(OWNER, "union-a", "reader")
    dtcal_emulator.add_fault(
        "fail", operation="ListAcls", status=429, code="Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"
    )
    answer = hook.call_api("ListAcls", {"userId": OWNER, "calendarId": "primary"})
    assert [a["scope"]["userId"] for a in answer["acls"]] == ["union-a"]  # one grant, whatever the retries
    assert hook.calls_spent["CreateAcls"] == 3 and hook.calls_spent["ListAcls"] == 2
