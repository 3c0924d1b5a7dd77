"""The official SDK drives the emulator's calendar, subscription and ACL endpoints: its wire format (paths
pasted unencoded, camelCase bodies, the answers its models read) is the reference."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from alibabacloud_dingtalk.calendar_1_0 import models as cm
from Tea.exceptions import TeaException

from airflow_dtcal.testing import DingTalkEmulator
from tests.testing.emulator.test_sdk_conformance import _h, sdk  # noqa: F401 - the SDK fixture

AUTHOR = "author-union-id"


def _code(err: BaseException) -> str | None:
    """DingTalk's error code of an SDK failure: operations without a request model (GetSubscribedCalendar,
    say) wrap the TeaException in the SDK's UnretryableException."""
    inner = getattr(err, "inner_exception", None) or getattr(err, "ex", None) or err
    return getattr(inner, "code", None) or getattr(err, "code", None)


def test_subscribed_calendar_lifecycle_via_sdk(emu: DingTalkEmulator, sdk: SimpleNamespace) -> None:  # noqa: F811
    created = sdk.cal.create_subscribed_calendar_with_options(
        AUTHOR,
        cm.CreateSubscribedCalendarRequest(
            name="Data team",
            description="Who is on call",
            managers=["lead-union-id"],
            subscribe_scope=cm.CreateSubscribedCalendarRequestSubscribeScope(union_ids=["member-union-id"]),
        ),
        _h(cm.CreateSubscribedCalendarHeaders, sdk),
        sdk.rt,
    )
    cid = created.body.calendar_id
    assert cid
    got = sdk.cal.get_subscribed_calendar_with_options(
        AUTHOR, cid, _h(cm.GetSubscribedCalendarHeaders, sdk), sdk.rt
    )
    assert (
        got.body.name == "Data team" and got.body.author == AUTHOR and got.body.managers == ["lead-union-id"]
    )
    assert got.body.subscribe_scope.union_ids == ["member-union-id"]
    updated = sdk.cal.update_subscribed_calendars_with_options(  # this one takes the calendar id first
        cid,
        "lead-union-id",
        cm.UpdateSubscribedCalendarsRequest(description="Rota"),
        _h(cm.UpdateSubscribedCalendarsHeaders, sdk),
        sdk.rt,
    )
    assert updated.body.result is True
    sdk.cal.subscribe_calendar_with_options(
        "member-union-id", cid, _h(cm.SubscribeCalendarHeaders, sdk), sdk.rt
    )
    listed = sdk.cal.list_calendars_with_options("member-union-id", _h(cm.ListCalendarsHeaders, sdk), sdk.rt)
    by_id = {c.id: c for c in listed.body.response.calendars}
    assert by_id["primary"].type == "primary" and by_id["primary"].privilege == "owner"
    assert by_id[cid].type == "subscribed" and by_id[cid].summary == "Data team" and by_id[cid].e_tag
    assert by_id[cid].description == "Rota" and by_id[cid].time_zone == "Asia/Shanghai"
    with pytest.raises(TeaException) as caught:
        sdk.cal.subscribe_calendar_with_options("stranger", cid, _h(cm.SubscribeCalendarHeaders, sdk), sdk.rt)
    assert caught.value.code == "Forbidden.AccessDenied.NoPermission"
    gone = sdk.cal.unsubscribe_calendar_with_options(
        "member-union-id", cid, _h(cm.UnsubscribeCalendarHeaders, sdk), sdk.rt
    )
    assert gone.body.result is True
    deleted = sdk.cal.delete_subscribed_calendar_with_options(
        AUTHOR, cid, _h(cm.DeleteSubscribedCalendarHeaders, sdk), sdk.rt
    )
    assert deleted.body.result is True
    with pytest.raises(Exception) as caught:  # noqa: B017 - TeaException, wrapped by this SDK operation
        sdk.cal.get_subscribed_calendar_with_options(
            AUTHOR, cid, _h(cm.GetSubscribedCalendarHeaders, sdk), sdk.rt
        )
    assert _code(caught.value) == "calendarNotExist"


def test_acls_via_sdk(emu: DingTalkEmulator, sdk: SimpleNamespace) -> None:  # noqa: F811
    def share(user: str, privilege: str) -> cm.CreateAclsResponse:
        return sdk.cal.create_acls_with_options(
            AUTHOR,
            "primary",
            cm.CreateAclsRequest(
                privilege=privilege,
                scope=cm.CreateAclsRequestScope(scope_type="user", user_id=user),
                send_msg=False,
            ),
            _h(cm.CreateAclsHeaders, sdk),
            sdk.rt,
        )

    first = share("reader-union-id", "reader")
    assert first.body.acl_id and first.body.privilege == "reader"
    assert first.body.scope.scope_type == "user" and first.body.scope.user_id == "reader-union-id"
    share("writer-union-id", "writer")
    listed = sdk.cal.list_acls_with_options(AUTHOR, "primary", _h(cm.ListAclsHeaders, sdk), sdk.rt)
    assert [(a.scope.user_id, a.privilege) for a in listed.body.acls] == [
        ("reader-union-id", "reader"),
        ("writer-union-id", "writer"),
    ]
    deleted = sdk.cal.delete_acl_with_options(
        AUTHOR, "primary", first.body.acl_id, _h(cm.DeleteAclHeaders, sdk), sdk.rt
    )
    assert deleted.status_code == 200
    listed = sdk.cal.list_acls_with_options(AUTHOR, "primary", _h(cm.ListAclsHeaders, sdk), sdk.rt)
    assert [a.scope.user_id for a in listed.body.acls] == ["writer-union-id"]
    with pytest.raises(TeaException) as caught:
        share("someone", "owner")
    assert caught.value.code == "invalidParameter"
    for i in range(499):
        share(f"p{i}", "free_busy_reader")
    with pytest.raises(TeaException) as caught:
        share("one-too-many", "reader")
    assert caught.value.code == "shareExceedLimit"
