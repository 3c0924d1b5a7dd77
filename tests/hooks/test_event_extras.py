"""The SDK-only event extras as named hook methods, against the emulator over real HTTP, sync and async:
GetSignInLink / GetSignOutLink, MeetingRoomRespond and ConvertLegacyEventId; bad input refused before any
request, and untrusted answers checked."""

from __future__ import annotations

import asyncio

import pytest

from airflow_dtcal.exceptions import (
    DingTalkAnswerError,
    DingTalkInvalidArgumentError,
    DingTalkNotFoundError,
    DingTalkPermissionError,
)
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.planning.events import build_event

ORG = "union-org"
WHEN = {"start": "2030-03-04T10:00:00+08:00", "end": "2030-03-04T11:00:00+08:00", "timezone": "Asia/Shanghai"}


@pytest.fixture
def event_id(dtcal_emulator) -> str:
    hook = DingTalkCalendarHook()
    return hook.create_event(ORG, build_event(summary="Training", attendees=["union-ada"], **WHEN))["id"]


def requests_of(emulator, operation: str) -> list[dict]:
    return [r for r in emulator.requests() if r["operation"] == operation]


def test_sign_in_and_sign_out_links(dtcal_emulator, event_id):
    hook = DingTalkCalendarHook()
    link_in = hook.get_sign_in_link(ORG, event_id)
    link_out = hook.get_sign_out_link(ORG, event_id)
    assert link_in.startswith("https://") and event_id in link_in and link_in != link_out
    assert requests_of(dtcal_emulator, "GetSignInLink")[0]["path"].endswith(f"/events/{event_id}/signInLinks")
    assert requests_of(dtcal_emulator, "GetSignOutLink")[0]["path"].endswith(
        f"/events/{event_id}/signOutLinks"
    )

    async def both():
        try:
            return await hook.aget_sign_in_link(ORG, event_id), await hook.aget_sign_out_link(ORG, event_id)
        finally:
            await hook.aclose()

    assert asyncio.run(both()) == (link_in, link_out)
    with pytest.raises(DingTalkPermissionError):
        hook.get_sign_in_link("union-ada", event_id)  # an attendee, not the organizer
    with pytest.raises(DingTalkNotFoundError):
        hook.get_sign_out_link(ORG, "no-such-event")


def answered(flow, answer):
    """Drive a flow to its one call and give it ``answer``: its result, or the error it raises."""
    call = next(flow)
    try:
        flow.send(answer)
    except StopIteration as done:
        return call, done.value
    raise AssertionError("the flow asked for a second call")


@pytest.mark.parametrize(
    "answer",
    [
        {},
        {"signInLink": 7},
        {"signInLink": "javascript:alert(1)"},
        {"signInLink": "https://x/ y"},
        {"signInLink": "https://x/" + "a" * 3000},
        [],
    ],
)
def test_a_sign_in_link_that_is_no_link_is_refused(answer):
    from airflow_dtcal.hooks import checkins

    with pytest.raises(DingTalkAnswerError, match="GetSignInLink"):
        answered(checkins.get_sign_in_link(None, ORG, "e-1"), answer)
    call, link = answered(checkins.get_sign_in_link(None, ORG, "e-1"), {"signInLink": "dingtalk://x?y=1"})
    assert link == "dingtalk://x?y=1" and call.method == "GET"


def test_meeting_room_respond(dtcal_emulator, event_id):
    dtcal_emulator.seed_rooms([{"roomId": "lotus", "roomName": "Lotus"}, {"roomId": "peony"}])
    hook = DingTalkCalendarHook()
    hook.add_meeting_rooms(ORG, event_id, ["lotus"])
    hook.meeting_room_respond(ORG, event_id, "lotus", "declined")
    rooms = {r["roomId"]: r["responseStatus"] for r in hook.get_event(ORG, event_id)["meetingRooms"]}
    assert rooms == {"lotus": "declined"}
    sent = requests_of(dtcal_emulator, "MeetingRoomRespond")[0]
    assert sent["path"].endswith(f"/events/{event_id}/meetingRooms/lotus/respond")
    assert sent["body"] == {"responseStatus": "declined"} and sent["headers"].get("x-client-token")

    async def accept():
        try:
            await hook.ameeting_room_respond(ORG, event_id, "lotus", "tentative")
        finally:
            await hook.aclose()

    asyncio.run(accept())
    rooms = {r["roomId"]: r["responseStatus"] for r in hook.get_event(ORG, event_id)["meetingRooms"]}
    assert rooms == {"lotus": "tentative"}
    with pytest.raises(DingTalkNotFoundError):
        hook.meeting_room_respond(ORG, event_id, "peony", "accepted")  # not booked by this event
    before = len(dtcal_emulator.requests())
    with pytest.raises(DingTalkInvalidArgumentError, match="response_status: must be one of accepted"):
        hook.meeting_room_respond(ORG, event_id, "lotus", "needsAction")
    with pytest.raises(DingTalkInvalidArgumentError, match="room_id"):
        hook.meeting_room_respond(ORG, event_id, "..", "accepted")
    assert len(dtcal_emulator.requests()) == before


def test_convert_legacy_event_ids(dtcal_emulator):
    seeded = dtcal_emulator.seed_events(
        [
            {"organizer": ORG, "summary": f"Old {i}", "legacyEventId": f"legacy-{i}", **_wire(i)}
            for i in range(150)
        ]
    )
    hook = DingTalkCalendarHook()
    wanted = [f"legacy-{i}" for i in range(150)]
    mapping = hook.convert_legacy_event_ids(ORG, [*wanted, "legacy-unknown", "legacy-3"])
    assert mapping == dict(zip(wanted, seeded, strict=True))
    assert list(mapping) == wanted  # in the order asked; the unknown id left out
    sent = requests_of(dtcal_emulator, "ConvertLegacyEventId")
    assert [len(r["body"]["legacyEventIds"]) for r in sent] == [100, 51]  # 100 a call, duplicates once
    assert sent[0]["path"] == f"/v1.0/calendar/users/{ORG}/legacyEventIds/convert"
    assert asyncio.run(hook.aconvert_legacy_event_ids(ORG, ["legacy-7"])) == {"legacy-7": seeded[7]}
    assert hook.convert_legacy_event_ids("union-stranger", ["legacy-1"]) == {}  # not in their calendar
    before = len(dtcal_emulator.requests())
    with pytest.raises(DingTalkInvalidArgumentError, match="legacy_event_ids"):
        hook.convert_legacy_event_ids(ORG, "legacy-1")
    with pytest.raises(DingTalkInvalidArgumentError, match=r"legacy_event_ids\[1\]"):
        hook.convert_legacy_event_ids(ORG, ["legacy-1", " "])
    with pytest.raises(DingTalkInvalidArgumentError, match="at least one"):
        hook.convert_legacy_event_ids(ORG, [])
    assert len(dtcal_emulator.requests()) == before


@pytest.mark.parametrize(
    "answer",
    [
        {"legacyEventIdMap": {"legacy-other": "e-1"}},  # an id not asked for
        {"legacyEventIdMap": {"legacy-1": ""}},
        {"legacyEventIdMap": {"legacy-1": 5}},
        {"legacyEventIdMap": ["e-1"]},
    ],
)
def test_a_legacy_map_that_does_not_answer_the_question_is_refused(answer):
    from airflow_dtcal.hooks import events

    with pytest.raises(DingTalkAnswerError, match="ConvertLegacyEventId"):
        answered(events.convert_legacy_event_ids(None, ORG, ["legacy-1"]), answer)


def _wire(i: int) -> dict:
    day = f"2030-04-{1 + i % 28:02d}"
    return {
        "start": {"dateTime": f"{day}T09:00:00+08:00", "timeZone": "Asia/Shanghai"},
        "end": {"dateTime": f"{day}T10:00:00+08:00", "timeZone": "Asia/Shanghai"},
    }


def test_attendees_sign_in_and_out_and_the_organizer_reads_the_lists(dtcal_emulator, event_id):
    """SignIn, SignOut and CheckIn (SignIn's older version) as the attendee, sync and async; the organizer's
    lists show them."""
    hook = DingTalkCalendarHook()
    signed_in = hook.sign_in("union-ada", event_id)
    assert hook.check_in("union-ada", event_id) == signed_in  # checking in again keeps the first time
    signed_out = hook.sign_out("union-ada", event_id)
    assert isinstance(signed_in, int) and signed_out >= signed_in
    assert requests_of(dtcal_emulator, "CheckIn")[0]["path"].endswith(f"/events/{event_id}/checkIn")

    async def organizer_checks_in():
        try:
            return await hook.acheck_in(ORG, event_id), await hook.asign_out(ORG, event_id)
        finally:
            await hook.aclose()

    org_in, org_out = asyncio.run(organizer_checks_in())
    assert org_out >= org_in
    checked_in = {u["userId"]: u["checkInTime"] for u in hook.iter_sign_ins(ORG, event_id)}
    assert checked_in == {"union-ada": signed_in, ORG: org_in}
    checked_out = {u["userId"] for u in hook.iter_sign_ins(ORG, event_id, status="sign_out")}
    assert checked_out == {"union-ada", ORG}
    with pytest.raises(DingTalkNotFoundError):
        hook.sign_in("union-ada", "no-such-event")
    before = len(dtcal_emulator.requests())
    with pytest.raises(DingTalkInvalidArgumentError, match="event_id"):
        hook.sign_in("union-ada", "")
    assert len(dtcal_emulator.requests()) == before  # refused before any request


@pytest.mark.parametrize(
    "answer", [{}, {"checkInTime": "soon"}, {"checkInTime": True}, {"checkInTime": -1}, []]
)
def test_a_check_in_answer_without_a_time_is_refused(answer):
    from airflow_dtcal.hooks import checkins

    with pytest.raises(DingTalkAnswerError, match="SignIn"):
        answered(checkins.sign_in(None, "union-ada", "e-1"), answer)
    call, when = answered(checkins.check_in(None, "union-ada", "e-1"), {"checkInTime": 1767225600000})
    assert when == 1767225600000 and call.method == "POST" and call.operation == "CheckIn"
