"""Drive the emulator with the official DingTalk SDK: the SDK's wire format and models are the reference."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from alibabacloud_dingtalk.calendar_1_0 import models as cm
from alibabacloud_dingtalk.calendar_1_0.client import Client as CalendarClient
from alibabacloud_dingtalk.oauth2_1_0 import models as om
from alibabacloud_dingtalk.oauth2_1_0.client import Client as OAuthClient
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_util import models as util_models
from Tea.exceptions import TeaException

from airflow_dtcal.testing import DingTalkEmulator

TZ = "Asia/Shanghai"
ORG = "organizer-union-id"


@pytest.fixture
def sdk(emu: DingTalkEmulator) -> SimpleNamespace:
    config = open_api_models.Config(
        protocol="http", region_id="central", endpoint=emu.base_url.removeprefix("http://")
    )
    ns = SimpleNamespace(
        oauth=OAuthClient(config),
        cal=CalendarClient(config),
        rt=util_models.RuntimeOptions(connect_timeout=5000, read_timeout=10000),
    )
    token = ns.oauth.get_access_token(om.GetAccessTokenRequest(app_key="sdk-app", app_secret="sdk-secret"))
    ns.token = token.body.access_token
    ns.expire_in = token.body.expire_in
    return ns


def _h(cls: type, sdk: SimpleNamespace, **kw: object) -> object:
    return cls(x_acs_dingtalk_access_token=sdk.token, **kw)


def _timed(cls_start: type, cls_end: type, start: str, end: str) -> dict:
    return {"start": cls_start(date_time=start, time_zone=TZ), "end": cls_end(date_time=end, time_zone=TZ)}


def _create_simple(sdk: SimpleNamespace, summary: str, day: int) -> str:
    req = cm.CreateEventRequest(
        summary=summary,
        **_timed(
            cm.CreateEventRequestStart,
            cm.CreateEventRequestEnd,
            f"2025-10-{day:02d}T09:00:00+08:00",
            f"2025-10-{day:02d}T09:30:00+08:00",
        ),
    )
    resp = sdk.cal.create_event_with_options(ORG, "primary", req, _h(cm.CreateEventHeaders, sdk), sdk.rt)
    return resp.body.id


def test_access_token_via_sdk(emu: DingTalkEmulator, sdk: SimpleNamespace) -> None:
    assert sdk.expire_in == 7200
    assert isinstance(sdk.token, str) and len(sdk.token) >= 16
    again = sdk.oauth.get_access_token(om.GetAccessTokenRequest(app_key="sdk-app", app_secret="sdk-secret"))
    assert again.body.access_token == sdk.token
    assert emu.stats()["tokens_issued"] == 1
    assert emu.stats()["token_fetches"] == 2


def test_full_event_lifecycle_via_sdk(emu: DingTalkEmulator, sdk: SimpleNamespace) -> None:
    # -- CreateEvent (timed, recurring, attendees, reminders, location, online meeting)
    create = cm.CreateEventRequest(
        summary="Quarterly review",
        description="Numbers and plans",
        is_all_day=False,
        **_timed(
            cm.CreateEventRequestStart,
            cm.CreateEventRequestEnd,
            "2025-09-22T10:00:00+08:00",
            "2025-09-22T11:00:00+08:00",
        ),
        recurrence=cm.CreateEventRequestRecurrence(
            pattern=cm.CreateEventRequestRecurrencePattern(
                type="weekly", interval=1, days_of_week="monday,wednesday"
            ),
            range=cm.CreateEventRequestRecurrenceRange(type="numbered", number_of_occurrences=10),
        ),
        attendees=[
            cm.CreateEventRequestAttendees(id="alice", is_optional=False),
            cm.CreateEventRequestAttendees(id="bob", is_optional=True),
        ],
        location=cm.CreateEventRequestLocation(display_name="Room 101"),
        reminders=[
            cm.CreateEventRequestReminders(method="dingtalk", minutes=30),
            cm.CreateEventRequestReminders(method="dingtalk", minutes=0),
        ],
        online_meeting_info=cm.CreateEventRequestOnlineMeetingInfo(type="dingtalk"),
        extra={"noChatNotification": "true"},
        ui_configs=[cm.CreateEventRequestUiConfigs(ui_name="deleteEventButton", ui_status="hide")],
        rich_text_description=cm.CreateEventRequestRichTextDescription(text="<b>Numbers</b>"),
    )
    resp = sdk.cal.create_event_with_options(
        ORG, "primary", create, _h(cm.CreateEventHeaders, sdk, x_client_token="create-1"), sdk.rt
    )
    assert resp.status_code == 200
    body = resp.body
    event_id = body.id
    assert event_id and body.summary == "Quarterly review"
    assert body.is_all_day is False
    assert body.start.date_time == "2025-09-22T10:00:00+08:00" and body.start.time_zone == TZ
    assert [(r.method, r.minutes) for r in body.reminders] == [("dingtalk", "30"), ("dingtalk", "0")]
    assert body.recurrence.pattern.days_of_week == "monday,wednesday"
    assert body.recurrence.range.number_of_occurrences == 10
    assert body.location.display_name == "Room 101"
    assert body.online_meeting_info.type == "dingtalk" and body.online_meeting_info.url.startswith("https://")
    assert body.organizer.id == ORG and body.organizer.self_ is True
    assert body.organizer.response_status == "accepted"
    by_id = {a.id: a for a in body.attendees}
    assert set(by_id) == {ORG, "alice", "bob"}
    assert by_id["alice"].response_status == "needsAction" and by_id["alice"].self_ is False
    assert by_id["bob"].is_optional is True
    assert body.ui_configs[0].ui_name == "deleteEventButton"
    assert body.rich_text_description.text == "<b>Numbers</b>"
    assert body.create_time and body.update_time
    state = emu.event(event_id)
    assert state["status"] == "confirmed" and state["organizer"]["id"] == ORG
    assert state["extra"] == {"noChatNotification": "true"}
    assert [a["id"] for a in emu.attendees(event_id)] == [ORG, "alice", "bob"]
    assert emu.requests()[-1]["client_token"] == "create-1"

    # -- CreateEvent (all-day, default reminder)
    all_day = cm.CreateEventRequest(
        summary="Offsite",
        is_all_day=True,
        start=cm.CreateEventRequestStart(date="2025-09-25"),
        end=cm.CreateEventRequestEnd(date="2025-09-26"),
    )
    day_body = sdk.cal.create_event_with_options(
        ORG, "primary", all_day, _h(cm.CreateEventHeaders, sdk), sdk.rt
    ).body
    assert (
        day_body.is_all_day is True
        and day_body.start.date == "2025-09-25"
        and day_body.start.date_time is None
    )
    assert emu.event(day_body.id)["end"] == {"date": "2025-09-26"}
    assert len(emu.events()) == 2

    # -- GetEvent, as organizer and as attendee
    got = sdk.cal.get_event_with_options(
        ORG, "primary", event_id, cm.GetEventRequest(max_attendees=2), _h(cm.GetEventHeaders, sdk), sdk.rt
    ).body
    assert got.id == event_id and got.status == "confirmed"
    assert len(got.attendees) == 2  # maxAttendees caps the list
    assert got.reminders[0].minutes == "30"
    as_alice = sdk.cal.get_event_with_options(
        "alice", "primary", event_id, cm.GetEventRequest(), _h(cm.GetEventHeaders, sdk), sdk.rt
    ).body
    assert as_alice.organizer.self_ is False
    assert [a.id for a in as_alice.attendees if a.self_] == ["alice"]

    # -- PatchEvent (PUT): change summary and reminders, keep the rest
    patch = cm.PatchEventRequest(
        id=event_id,
        summary="Quarterly review (moved)",
        reminders=[cm.PatchEventRequestReminders(method="dingtalk", minutes=10)],
        **_timed(
            cm.PatchEventRequestStart,
            cm.PatchEventRequestEnd,
            "2025-09-22T14:00:00+08:00",
            "2025-09-22T15:00:00+08:00",
        ),
    )
    patched = sdk.cal.patch_event_with_options(
        ORG, "primary", event_id, patch, _h(cm.PatchEventHeaders, sdk, x_client_token="patch-1"), sdk.rt
    ).body
    assert patched.summary == "Quarterly review (moved)"
    assert patched.start.date_time == "2025-09-22T14:00:00+08:00"
    assert [r.minutes for r in patched.reminders] == ["10"]
    assert patched.location.display_name == "Room 101"
    assert emu.event(event_id)["summary"] == "Quarterly review (moved)"
    assert emu.stats()["applied"]["PatchEvent"] == 1

    # -- AddAttendee: 150 more, so ListAttendees needs two pages of 100
    new_ids = [f"user-{i:03d}" for i in range(150)]
    add = cm.AddAttendeeRequest(
        attendees_to_add=[cm.AddAttendeeRequestAttendeesToAdd(id=i, is_optional=False) for i in new_ids],
        chat_notification=False,
        push_notification=False,
    )
    added = sdk.cal.add_attendee_with_options(
        ORG, "primary", event_id, add, _h(cm.AddAttendeeHeaders, sdk), sdk.rt
    )
    assert added.status_code == 200
    assert len(emu.attendees(event_id)) == 153

    # -- ListAttendees with pagination
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = sdk.cal.list_attendees_with_options(
            ORG,
            "primary",
            event_id,
            cm.ListAttendeesRequest(max_results=100, next_token=token),
            _h(cm.ListAttendeesHeaders, sdk),
            sdk.rt,
        ).body
        pages += 1
        seen.extend(a.id for a in page.attendees)
        token = page.next_token
        if not token:
            break
    assert pages == 2
    assert seen == [ORG, "alice", "bob", *new_ids]
    assert all(a["responseStatus"] == "needsAction" for a in emu.attendees(event_id)[3:])

    # -- RespondEvent as an attendee
    responded = sdk.cal.respond_event_with_options(
        "alice",
        "primary",
        event_id,
        cm.RespondEventRequest(response_status="accepted"),
        _h(cm.RespondEventHeaders, sdk),
        sdk.rt,
    )
    assert responded.status_code == 200
    assert {a["id"]: a["responseStatus"] for a in emu.attendees(event_id)}["alice"] == "accepted"

    # -- RemoveAttendee
    remove = cm.RemoveAttendeeRequest(
        attendees_to_remove=[cm.RemoveAttendeeRequestAttendeesToRemove(id=i) for i in new_ids[:50] + ["bob"]]
    )
    removed = sdk.cal.remove_attendee_with_options(
        ORG, "primary", event_id, remove, _h(cm.RemoveAttendeeHeaders, sdk), sdk.rt
    )
    assert removed.status_code == 200
    remaining = [a["id"] for a in emu.attendees(event_id)]
    assert len(remaining) == 102 and "bob" not in remaining and "alice" in remaining

    # -- ListEvents with pagination (Python bools go out as "True"/"False")
    for day in range(1, 4):
        _create_simple(sdk, f"Daily {day}", day)
    listed: list[str] = []
    token = None
    pages = 0
    while True:
        page = sdk.cal.list_events_with_options(
            ORG,
            "primary",
            cm.ListEventsRequest(
                time_min="2025-09-01T00:00:00Z",
                time_max="2025-12-31T00:00:00Z",
                max_results=2,
                show_deleted=False,
                next_token=token,
            ),
            _h(cm.ListEventsHeaders, sdk),
            sdk.rt,
        ).body
        pages += 1
        listed.extend(e.id for e in page.events)
        token = page.next_token
        if not token:
            assert page.sync_token is None  # DingTalk never returns one when timeMax is set
            break
    assert pages == 3 and len(listed) == 5 and event_id in listed
    assert emu.requests()[-1]["query"]["showDeleted"] == "False"

    # -- DeleteEvent, then GetEvent is instanceNotExist and ListEvents hides it unless showDeleted
    deleted = sdk.cal.delete_event_with_options(
        ORG,
        "primary",
        event_id,
        cm.DeleteEventRequest(push_notification=False),
        _h(cm.DeleteEventHeaders, sdk, x_client_token="delete-1"),
        sdk.rt,
    )
    assert deleted.status_code == 200
    assert emu.event(event_id)["status"] == "cancelled"
    with pytest.raises(TeaException) as excinfo:
        sdk.cal.get_event_with_options(
            ORG, "primary", event_id, cm.GetEventRequest(), _h(cm.GetEventHeaders, sdk), sdk.rt
        )
    assert excinfo.value.code == "instanceNotExist"
    assert excinfo.value.data["statusCode"] == 404

    def list_ids(show_deleted: bool) -> dict:
        page = sdk.cal.list_events_with_options(
            ORG,
            "primary",
            cm.ListEventsRequest(show_deleted=show_deleted),
            _h(cm.ListEventsHeaders, sdk),
            sdk.rt,
        ).body
        return {e.id: e.status for e in page.events}

    assert event_id not in list_ids(False)
    assert list_ids(True)[event_id] == "cancelled"

    stats = emu.stats()
    assert stats["applied"]["CreateEvent"] == 5
    assert stats["applied"]["DeleteEvent"] == 1
    assert stats["replayed"]["CreateEvent"] == 0


def test_sdk_raises_tea_exception_for_not_found_and_bad_token(
    emu: DingTalkEmulator, sdk: SimpleNamespace
) -> None:
    with pytest.raises(TeaException) as not_found:
        sdk.cal.get_event_with_options(
            ORG, "primary", "no-such-event", cm.GetEventRequest(), _h(cm.GetEventHeaders, sdk), sdk.rt
        )
    assert not_found.value.code == "instanceNotExist"

    bad = cm.GetEventHeaders(x_acs_dingtalk_access_token="not-a-real-token")
    with pytest.raises(TeaException) as bad_token:
        sdk.cal.get_event_with_options(ORG, "primary", "whatever", cm.GetEventRequest(), bad, sdk.rt)
    assert bad_token.value.code == "InvalidAuthentication"
    assert bad_token.value.data["statusCode"] == 400
    assert "不合法的access_token" in bad_token.value.message

    with pytest.raises(TeaException) as missing:
        sdk.cal.get_event_with_options(
            ORG, "primary", "whatever", cm.GetEventRequest(), cm.GetEventHeaders(), sdk.rt
        )
    assert missing.value.code == "AuthenticationFailed.MissingParameter"


def test_sdk_bad_credentials_and_validation_errors(sdk: SimpleNamespace) -> None:
    strict = DingTalkEmulator(qps_limit=None, apps={"only-app": "only-secret"})
    try:
        config = open_api_models.Config(protocol="http", endpoint=strict.base_url.removeprefix("http://"))
        with pytest.raises(TeaException) as excinfo:
            OAuthClient(config).get_access_token(
                om.GetAccessTokenRequest(app_key="only-app", app_secret="wrong")
            )
        assert excinfo.value.code == "invalidClientIdOrSecret"
    finally:
        strict.close()

    bad = cm.CreateEventRequest(
        summary="Bad recurrence",
        **_timed(
            cm.CreateEventRequestStart,
            cm.CreateEventRequestEnd,
            "2025-09-22T10:00:00+08:00",
            "2025-09-22T11:00:00+08:00",
        ),
        recurrence=cm.CreateEventRequestRecurrence(
            pattern=cm.CreateEventRequestRecurrencePattern(type="weekly", interval=1),
            range=cm.CreateEventRequestRecurrenceRange(type="noEnd"),
        ),
    )
    with pytest.raises(TeaException) as excinfo:
        sdk.cal.create_event_with_options(ORG, "primary", bad, _h(cm.CreateEventHeaders, sdk), sdk.rt)
    assert excinfo.value.code == "invalidParameter"
    assert "daysOfWeek" in excinfo.value.message


def test_sdk_client_token_makes_create_idempotent(emu: DingTalkEmulator, sdk: SimpleNamespace) -> None:
    req = cm.CreateEventRequest(
        summary="Once",
        **_timed(
            cm.CreateEventRequestStart,
            cm.CreateEventRequestEnd,
            "2025-09-22T10:00:00+08:00",
            "2025-09-22T11:00:00+08:00",
        ),
    )
    headers = _h(cm.CreateEventHeaders, sdk, x_client_token="same-key")
    first = sdk.cal.create_event_with_options(ORG, "primary", req, headers, sdk.rt).body
    second = sdk.cal.create_event_with_options(ORG, "primary", req, headers, sdk.rt).body
    assert first.id == second.id
    assert len(emu.events()) == 1
    assert emu.stats()["applied"]["CreateEvent"] == 1 and emu.stats()["replayed"]["CreateEvent"] == 1


@pytest.mark.dtcal_emulator(qps_limit=3)
def test_sdk_sees_throttling_code(emu: DingTalkEmulator, sdk: SimpleNamespace) -> None:
    codes = []
    for _ in range(5):
        try:
            sdk.cal.list_events_with_options(
                ORG, "primary", cm.ListEventsRequest(), _h(cm.ListEventsHeaders, sdk), sdk.rt
            )
            codes.append("ok")
        except TeaException as exc:
            codes.append(exc.code)
            assert exc.data["statusCode"] == 403
    assert codes[:3] == ["ok", "ok", "ok"]
    assert codes[3:] == ["Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"] * 2


# --------------------------------------------------------------------------------------------- lifecycle


def test_cancel_and_transfer_via_sdk(emu: DingTalkEmulator, sdk: SimpleNamespace) -> None:
    event_id = _create_simple(sdk, "Hand-over", 6)
    sdk.cal.add_attendee_with_options(
        ORG,
        "primary",
        event_id,
        cm.AddAttendeeRequest(attendees_to_add=[cm.AddAttendeeRequestAttendeesToAdd(id="alice")]),
        _h(cm.AddAttendeeHeaders, sdk),
        sdk.rt,
    )
    # -- PatchEvent by an attendee is refused: only the organizer may change an event
    with pytest.raises(TeaException) as refused:
        sdk.cal.patch_event_with_options(
            "alice",
            "primary",
            event_id,
            cm.PatchEventRequest(id=event_id, summary="Mine"),
            _h(cm.PatchEventHeaders, sdk),
            sdk.rt,
        )
    assert refused.value.code == "Forbidden.AccessDenied.NoPermission"

    # -- TransferEvent to alice; the old organizer stays an attendee
    moved = sdk.cal.transfer_event_with_options(  # note the SDK's order here: calendar id, then user id
        "primary",
        ORG,
        event_id,
        cm.TransferEventRequest(new_organizer_id="alice", is_exit_calendar=False, need_notify_via_o2o=True),
        _h(cm.TransferEventHeaders, sdk, x_client_token="transfer-1"),
        sdk.rt,
    )
    assert moved.status_code == 200 and moved.body.result is True
    assert emu.requests()[-1]["body"] == {
        "newOrganizerId": "alice",
        "isExitCalendar": False,
        "needNotifyViaO2O": True,
    }
    got = sdk.cal.get_event_with_options(
        ORG, "primary", event_id, cm.GetEventRequest(), _h(cm.GetEventHeaders, sdk), sdk.rt
    ).body
    assert got.organizer.id == "alice" and got.organizer.self_ is False

    # -- CancelEvent by the new organizer: GetEvent still answers, with status cancelled
    cancelled = sdk.cal.cancel_event_with_options(
        "alice",
        "primary",
        event_id,
        cm.CancelEventRequest(scope="all"),
        _h(cm.CancelEventHeaders, sdk, x_client_token="cancel-1"),
        sdk.rt,
    )
    assert cancelled.status_code == 200 and cancelled.body.result is True
    assert emu.requests()[-1]["query"] == {"scope": "all"}
    for user in ("alice", ORG):
        seen = sdk.cal.get_event_with_options(
            user, "primary", event_id, cm.GetEventRequest(), _h(cm.GetEventHeaders, sdk), sdk.rt
        ).body
        assert seen.status == "cancelled"
    stats = emu.stats()
    assert stats["applied"]["TransferEvent"] == 1 and stats["applied"]["CancelEvent"] == 1


def test_list_events_view_via_sdk(emu: DingTalkEmulator, sdk: SimpleNamespace) -> None:
    create = cm.CreateEventRequest(
        summary="Standup",
        **_timed(
            cm.CreateEventRequestStart,
            cm.CreateEventRequestEnd,
            "2025-10-06T09:00:00+08:00",
            "2025-10-06T09:15:00+08:00",
        ),
        recurrence=cm.CreateEventRequestRecurrence(
            pattern=cm.CreateEventRequestRecurrencePattern(type="daily", interval=1),
            range=cm.CreateEventRequestRecurrenceRange(type="numbered", number_of_occurrences=3),
        ),
    )
    series = sdk.cal.create_event_with_options(ORG, "primary", create, _h(cm.CreateEventHeaders, sdk), sdk.rt)
    series_id = series.body.id
    ids, token, pages = [], None, 0
    while True:
        page = sdk.cal.list_events_view_with_options(
            ORG,
            "primary",
            cm.ListEventsViewRequest(
                time_min="2025-10-01T00:00:00Z",
                time_max="2025-10-31T00:00:00Z",
                max_results=2,
                max_attendees=10,
                next_token=token,
            ),
            _h(cm.ListEventsViewHeaders, sdk),
            sdk.rt,
        ).body
        pages += 1
        for event in page.events:
            assert event.series_master_id == series_id and event.summary == "Standup"
            ids.append((event.id, event.start.date_time, event.origin_start.date_time))
        token = page.next_token
        if not token:
            break
    assert pages == 2
    assert [start for _id, start, _origin in ids] == [
        "2025-10-06T09:00:00+08:00",
        "2025-10-07T09:00:00+08:00",
        "2025-10-08T09:00:00+08:00",
    ]
    assert all(start == origin for _id, start, origin in ids) and len({i for i, _s, _o in ids}) == 3
    assert emu.requests()[-1]["query"]["maxResults"] == "2"


def test_list_instances_via_sdk(emu: DingTalkEmulator, sdk: SimpleNamespace) -> None:
    create = cm.CreateEventRequest(
        summary="Retro",
        **_timed(
            cm.CreateEventRequestStart,
            cm.CreateEventRequestEnd,
            "2025-10-06T16:00:00+08:00",
            "2025-10-06T17:00:00+08:00",
        ),
        recurrence=cm.CreateEventRequestRecurrence(
            pattern=cm.CreateEventRequestRecurrencePattern(type="weekly", interval=1, days_of_week="monday"),
            range=cm.CreateEventRequestRecurrenceRange(type="noEnd"),
        ),
    )
    series = sdk.cal.create_event_with_options(ORG, "primary", create, _h(cm.CreateEventHeaders, sdk), sdk.rt)
    series_id = series.body.id
    seen, token, pages = [], None, 0
    while True:
        page = sdk.cal.list_instances_with_options(
            ORG,
            "primary",
            series_id,
            cm.ListInstancesRequest(
                time_min="2025-10-01T00:00Z",  # the SDK's documented format, yyyy-MM-ddTHH:mmZ
                time_max="2025-11-01T00:00Z",
                max_results=3,
                max_attendees=10,
                next_token=token,
            ),
            _h(cm.ListInstancesHeaders, sdk),
            sdk.rt,
        ).body
        pages += 1
        for event in page.events:
            assert event.series_master_id == series_id and event.summary == "Retro"
            assert event.organizer.id == ORG and event.status == "confirmed"
            seen.append((event.id, event.start.date_time))  # the SDK's model has no originStart
        token = page.next_token
        if not token:
            break
    assert pages == 2
    assert [start for _id, start in seen] == [
        "2025-10-06T16:00:00+08:00",
        "2025-10-13T16:00:00+08:00",
        "2025-10-20T16:00:00+08:00",
        "2025-10-27T16:00:00+08:00",
    ]
    assert len({i for i, _s in seen}) == 4
    assert emu.requests()[-1]["path"].endswith(f"/events/{series_id}/instances")


def test_event_extras_via_sdk(emu: DingTalkEmulator, sdk: SimpleNamespace) -> None:
    """GetSignInLink, GetSignOutLink, MeetingRoomRespond and ConvertLegacyEventId (all SDK-only)."""
    event_id = _create_simple(sdk, "Training", 9)
    link_in = sdk.cal.get_sign_in_link_with_options(
        "primary", ORG, event_id, _h(cm.GetSignInLinkHeaders, sdk), sdk.rt
    ).body.sign_in_link
    link_out = sdk.cal.get_sign_out_link_with_options(
        "primary", ORG, event_id, _h(cm.GetSignOutLinkHeaders, sdk), sdk.rt
    ).body.sign_out_link
    assert link_in.startswith("https://") and link_out.startswith("https://") and link_in != link_out

    emu.seed_rooms([{"roomId": "lotus", "roomName": "Lotus"}])
    sdk.cal.add_meeting_rooms_with_options(
        ORG,
        "primary",
        event_id,
        cm.AddMeetingRoomsRequest(
            meeting_rooms_to_add=[cm.AddMeetingRoomsRequestMeetingRoomsToAdd(room_id="lotus")]
        ),
        _h(cm.AddMeetingRoomsHeaders, sdk),
        sdk.rt,
    )
    answer = sdk.cal.meeting_room_respond_with_options(
        "primary",
        ORG,
        event_id,
        "lotus",
        cm.MeetingRoomRespondRequest(response_status="declined"),
        _h(cm.MeetingRoomRespondHeaders, sdk, x_client_token="respond-1"),
        sdk.rt,
    )
    assert answer.body.result is True
    event = sdk.cal.get_event_with_options(
        ORG, "primary", event_id, cm.GetEventRequest(), _h(cm.GetEventHeaders, sdk), sdk.rt
    ).body
    assert [(room.room_id, room.response_status) for room in event.meeting_rooms] == [("lotus", "declined")]
    with pytest.raises(TeaException) as caught:
        sdk.cal.meeting_room_respond_with_options(
            "primary",
            ORG,
            event_id,
            "lotus",
            cm.MeetingRoomRespondRequest(response_status="maybe"),
            _h(cm.MeetingRoomRespondHeaders, sdk),
            sdk.rt,
        )
    assert caught.value.statusCode == 400

    [old_id] = emu.seed_events(
        [
            {
                "organizer": ORG,
                "summary": "From the old API",
                "legacyEventId": "legacy-42",
                "start": {"dateTime": "2025-10-10T09:00:00+08:00", "timeZone": TZ},
                "end": {"dateTime": "2025-10-10T10:00:00+08:00", "timeZone": TZ},
            }
        ]
    )
    converted = sdk.cal.convert_legacy_event_id_with_options(
        ORG,
        cm.ConvertLegacyEventIdRequest(legacy_event_ids=["legacy-42", "legacy-none"]),
        _h(cm.ConvertLegacyEventIdHeaders, sdk),
        sdk.rt,
    ).body
    assert converted.legacy_event_id_map == {"legacy-42": old_id}
    assert emu.stats()["applied"]["MeetingRoomRespond"] == 1


def test_get_schedule_via_sdk(emu: DingTalkEmulator, sdk: SimpleNamespace) -> None:
    _create_simple(sdk, "Busy", 6)
    answer = sdk.cal.get_schedule_with_options(
        ORG,
        cm.GetScheduleRequest(
            user_ids=[ORG, "alice"], start_time="2025-10-06T00:00Z", end_time="2025-10-07T00:00Z"
        ),
        _h(cm.GetScheduleHeaders, sdk),
        sdk.rt,
    ).body
    by_user = {info.user_id: info for info in answer.schedule_information}
    assert by_user["alice"].schedule_items == [] and by_user["alice"].error is None
    [item] = by_user[ORG].schedule_items
    assert item.status == "BUSY"
    assert (item.start.date_time, item.start.time_zone) == ("2025-10-06T09:00:00+08:00", TZ)
    assert item.end.date_time == "2025-10-06T09:30:00+08:00"
    assert emu.requests()[-1]["body"]["userIds"] == [ORG, "alice"]
    with pytest.raises(TeaException) as too_many:
        sdk.cal.get_schedule_with_options(
            ORG,
            cm.GetScheduleRequest(
                user_ids=[f"u{i}" for i in range(21)],
                start_time="2025-10-06T00:00Z",
                end_time="2025-10-07T00:00Z",
            ),
            _h(cm.GetScheduleHeaders, sdk),
            sdk.rt,
        )
    assert too_many.value.code == "invalidParameter"


def test_meeting_rooms_via_sdk(emu: DingTalkEmulator, sdk: SimpleNamespace) -> None:
    from alibabacloud_dingtalk.rooms_1_0 import models as rm
    from alibabacloud_dingtalk.rooms_1_0.client import Client as RoomsClient

    emu.seed_rooms([{"roomId": "lotus", "roomName": "Lotus", "roomCapacity": 8}, {"roomId": "peony"}])
    rooms = RoomsClient(
        open_api_models.Config(
            protocol="http", region_id="central", endpoint=emu.base_url.removeprefix("http://")
        )
    )
    listed = rooms.query_meeting_room_list_with_options(
        rm.QueryMeetingRoomListRequest(union_id=ORG, max_results=1),
        rm.QueryMeetingRoomListHeaders(x_acs_dingtalk_access_token=sdk.token),
        sdk.rt,
    ).body
    assert [(r.room_id, r.room_name, r.room_capacity) for r in listed.result] == [("lotus", "Lotus", 8)]
    assert listed.has_more is True and listed.next_token == 1

    event_id = _create_simple(sdk, "Booked", 6)
    added = sdk.cal.add_meeting_rooms_with_options(
        ORG,
        "primary",
        event_id,
        cm.AddMeetingRoomsRequest(
            meeting_rooms_to_add=[cm.AddMeetingRoomsRequestMeetingRoomsToAdd(room_id="lotus")]
        ),
        _h(cm.AddMeetingRoomsHeaders, sdk, x_client_token="rooms-1"),
        sdk.rt,
    )
    assert added.status_code == 200 and added.body.result is True
    got = sdk.cal.get_event_with_options(
        ORG, "primary", event_id, cm.GetEventRequest(), _h(cm.GetEventHeaders, sdk), sdk.rt
    ).body
    assert [(m.room_id, m.response_status, m.display_name) for m in got.meeting_rooms] == [
        ("lotus", "accepted", "Lotus")
    ]
    other = _create_simple(sdk, "Same time", 6)
    with pytest.raises(TeaException) as taken:
        sdk.cal.add_meeting_rooms_with_options(
            ORG,
            "primary",
            other,
            cm.AddMeetingRoomsRequest(
                meeting_rooms_to_add=[cm.AddMeetingRoomsRequestMeetingRoomsToAdd(room_id="lotus")]
            ),
            _h(cm.AddMeetingRoomsHeaders, sdk),
            sdk.rt,
        )
    assert taken.value.code == "meetingRoomNotAvailable"

    schedule = sdk.cal.get_meeting_rooms_schedule_with_options(
        ORG,
        cm.GetMeetingRoomsScheduleRequest(
            room_ids=["lotus", "peony"], start_time="2025-10-06T00:00Z", end_time="2025-10-07T00:00Z"
        ),
        _h(cm.GetMeetingRoomsScheduleHeaders, sdk),
        sdk.rt,
    ).body
    lotus, peony = schedule.schedule_information
    [item] = lotus.schedule_items
    assert (item.event_id, item.organizer.id, item.status) == (event_id, ORG, "BUSY")
    assert item.start.date_time == "2025-10-06T09:00:00+08:00" and peony.schedule_items == []

    removed = sdk.cal.remove_meeting_rooms_with_options(
        ORG,
        "primary",
        event_id,
        cm.RemoveMeetingRoomsRequest(
            meeting_rooms_to_remove=[cm.RemoveMeetingRoomsRequestMeetingRoomsToRemove(room_id="lotus")]
        ),
        _h(cm.RemoveMeetingRoomsHeaders, sdk),
        sdk.rt,
    )
    assert removed.status_code == 200 and removed.body.result is True
    assert emu.event(event_id).get("meetingRooms") is None


def test_list_events_sync_token_via_sdk(emu: DingTalkEmulator, sdk: SimpleNamespace) -> None:
    first = _create_simple(sdk, "Kept", 1)
    gone = _create_simple(sdk, "Gone", 2)

    def listing(**kw: object) -> object:
        return sdk.cal.list_events_with_options(
            ORG, "primary", cm.ListEventsRequest(**kw), _h(cm.ListEventsHeaders, sdk), sdk.rt
        ).body

    full = listing(max_results=1)
    assert full.next_token and full.sync_token is None  # the last page only
    last = listing(max_results=1, next_token=full.next_token)
    assert last.next_token is None and last.sync_token
    patch = cm.PatchEventRequest(id=first, summary="Kept, moved")
    sdk.cal.patch_event_with_options(ORG, "primary", first, patch, _h(cm.PatchEventHeaders, sdk), sdk.rt)
    sdk.cal.delete_event_with_options(
        ORG, "primary", gone, cm.DeleteEventRequest(), _h(cm.DeleteEventHeaders, sdk), sdk.rt
    )
    changes = listing(sync_token=last.sync_token, show_deleted=True)
    assert [(e.id, e.summary, e.status) for e in changes.events] == [
        (first, "Kept, moved", "confirmed"),
        (gone, "Gone", "cancelled"),
    ]
    assert changes.sync_token and changes.next_token is None
    assert [e.id for e in listing(sync_token=last.sync_token, show_deleted=False).events] == [first]
    assert listing(sync_token=changes.sync_token).events == []
    emu.expire_sync_tokens()
    with pytest.raises(TeaException) as excinfo:
        listing(sync_token=changes.sync_token)
    assert excinfo.value.code == "invalidSyncToken"
    assert excinfo.value.data["statusCode"] == 400


def test_check_in_via_sdk(emu: DingTalkEmulator, sdk: SimpleNamespace) -> None:
    event_id = _create_simple(sdk, "Training", 3)
    add = cm.AddAttendeeRequest(
        attendees_to_add=[
            cm.AddAttendeeRequestAttendeesToAdd(id="alice"),
            cm.AddAttendeeRequestAttendeesToAdd(id="bob"),
        ]
    )
    sdk.cal.add_attendee_with_options(ORG, "primary", event_id, add, _h(cm.AddAttendeeHeaders, sdk), sdk.rt)
    signed = sdk.cal.sign_in_with_options("alice", "primary", event_id, _h(cm.SignInHeaders, sdk), sdk.rt)
    assert isinstance(signed.body.check_in_time, int)
    out = sdk.cal.sign_out_with_options("alice", "primary", event_id, _h(cm.SignOutHeaders, sdk), sdk.rt)
    assert isinstance(out.body.check_out_time, int)

    def sign_ins(kind: str, **kw: object) -> object:
        req = cm.GetSignInListRequest(type=kind, **kw)
        return sdk.cal.get_sign_in_list_with_options(
            ORG, "primary", event_id, req, _h(cm.GetSignInListHeaders, sdk), sdk.rt
        ).body

    done = sign_ins("sign_in", max_results=500)
    assert [(u.user_id, u.check_in_time) for u in done.users] == [("alice", signed.body.check_in_time)]
    assert done.next_token is None
    first = sign_ins("not_yet_sign_in", max_results=1)
    assert [u.user_id for u in first.users] == [ORG] and first.users[0].check_in_time is None
    second = sign_ins("not_yet_sign_in", max_results=1, next_token=first.next_token)
    assert [u.user_id for u in second.users] == ["bob"] and second.next_token is None
    outs = sdk.cal.get_sign_out_list_with_options(
        ORG,
        "primary",
        event_id,
        cm.GetSignOutListRequest(type="sign_out", max_results=10),
        _h(cm.GetSignOutListHeaders, sdk),
        sdk.rt,
    ).body
    assert [(u.user_id, u.check_out_time) for u in outs.users] == [("alice", out.body.check_out_time)]
    with pytest.raises(TeaException) as excinfo:
        sign_ins("sign_in")  # maxResults is required
    assert excinfo.value.code == "invalidParameter" and "maxResults" in excinfo.value.message
    # CheckIn, SignIn's older version, records the same check-in
    checked = sdk.cal.check_in_with_options("bob", "primary", event_id, _h(cm.CheckInHeaders, sdk), sdk.rt)
    assert isinstance(checked.body.check_in_time, int)
    after = sign_ins("sign_in", max_results=500)
    assert {u.user_id: u.check_in_time for u in after.users} == {
        "alice": signed.body.check_in_time,
        "bob": checked.body.check_in_time,
    }
