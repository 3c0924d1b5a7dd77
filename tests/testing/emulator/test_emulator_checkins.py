"""Check-in over real HTTP: SignIn / SignOut by attendees and the organizer's GetSignInList / GetSignOutList."""

from __future__ import annotations

import time

import pytest

from airflow_dtcal.testing import DingTalkEmulator
from tests.testing.emulator.conftest import Api, assert_error


def sign(api: Api, user: str, event_id: str, what: str = "signin"):
    return api.call("POST", user, "events", event_id, what, data=b"", headers={"Content-Length": "0"})


def listing(api: Api, user: str, event_id: str, what: str = "signin", **params: str):
    return api.call("GET", user, "events", event_id, what, params=params)


@pytest.fixture
def meeting(emu: DingTalkEmulator, api: Api) -> str:
    emu.seed_users([{"userId": "u-alice", "unionId": "alice", "name": "Alice"}])
    event_id = api.new_event("org")
    assert api.add("org", event_id, ["alice", "bob", "carol"]).status_code == 200
    return event_id


def test_attendees_sign_in_once(api: Api, meeting: str) -> None:
    before = int(time.time() * 1000)
    first = sign(api, "alice", meeting)
    assert first.status_code == 200, first.text
    checked = first.json()["checkInTime"]
    assert isinstance(checked, int) and checked >= before
    assert sign(api, "alice", meeting).json() == {"checkInTime": checked}  # the first time is kept
    assert sign(api, "org", meeting).status_code == 200  # the organizer attends too
    assert_error(sign(api, "mallory", meeting), 404, "instanceNotExist")  # not an attendee


def test_sign_in_list_by_type(api: Api, meeting: str) -> None:
    sign(api, "bob", meeting)
    sign(api, "alice", meeting)
    done = listing(api, "org", meeting, maxResults="10", type="sign_in")
    assert done.status_code == 200, done.text
    users = done.json()["users"]
    assert [u["userId"] for u in users] == ["bob", "alice"]  # in check-in order
    assert users[1]["displayName"] == "Alice"
    assert all(isinstance(u["checkInTime"], int) for u in users)
    assert "nextToken" not in done.json()
    waiting = listing(api, "org", meeting, maxResults="10", type="not_yet_sign_in").json()["users"]
    assert [u["userId"] for u in waiting] == ["org", "carol"]
    assert all("checkInTime" not in u for u in waiting)


def test_sign_in_list_pages(api: Api, meeting: str) -> None:
    for user in ("org", "alice", "bob", "carol"):
        sign(api, user, meeting)
    seen, token = [], None
    while True:
        params = {"maxResults": "3", "type": "sign_in", **({"nextToken": token} if token else {})}
        page = listing(api, "org", meeting, **params).json()
        seen += [u["userId"] for u in page["users"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == ["org", "alice", "bob", "carol"]
    other_type = listing(api, "org", meeting, maxResults="3", type="not_yet_sign_in", nextToken="x")
    assert_error(other_type, 400, "invalidParameter", "nextToken")


def test_sign_out_and_its_list(api: Api, meeting: str) -> None:
    out = sign(api, "carol", meeting, "signOut")
    assert out.status_code == 200 and isinstance(out.json()["checkOutTime"], int)
    done = listing(api, "org", meeting, "signOut", maxResults="500", type="sign_out").json()["users"]
    assert [(u["userId"], u["checkOutTime"]) for u in done] == [("carol", out.json()["checkOutTime"])]
    waiting = listing(api, "org", meeting, "signOut", maxResults="1", type="not_yet_sign_out").json()
    assert [u["userId"] for u in waiting["users"]] == ["org"] and waiting["nextToken"]
    wrong = listing(api, "org", meeting, "signOut", maxResults="1", type="sign_in")
    assert_error(wrong, 400, "invalidParameter", "type", "sign_out, not_yet_sign_out")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"type": "sign_in"}, "maxResults is required"),
        ({"type": "sign_in", "maxResults": "0"}, "maxResults must be an integer between 1 and 500"),
        ({"type": "sign_in", "maxResults": "501"}, "maxResults must be an integer between 1 and 500"),
        ({"type": "sign_in", "maxResults": "ten"}, "maxResults"),
        ({"maxResults": "10"}, "type is required and must be one of sign_in, not_yet_sign_in"),
        ({"maxResults": "10", "type": "signed"}, "type"),
    ],
)
def test_sign_in_list_validates_its_query(api: Api, meeting: str, params: dict, field: str) -> None:
    assert_error(listing(api, "org", meeting, **params), 400, "invalidParameter", field)


def test_only_the_organizer_lists_and_cancelled_events_refuse_check_in(api: Api, meeting: str) -> None:
    denied = listing(api, "alice", meeting, maxResults="10", type="sign_in")
    assert_error(denied, 403, "Forbidden.AccessDenied.NoPermission")
    assert api.call("POST", "org", "events", meeting, "cancel", json={}).status_code == 200
    assert_error(sign(api, "alice", meeting), 400, "invalidParameter", "cancelled")
    assert listing(api, "org", meeting, maxResults="10", type="sign_in").status_code == 200


def test_check_in_calls_are_counted_and_are_not_event_changes(
    emu: DingTalkEmulator, api: Api, meeting: str
) -> None:
    token = api.list_events("alice").json()["syncToken"]
    before = emu.stats()["counted"]
    sign(api, "alice", meeting)
    sign(api, "alice", meeting, "signOut")
    listing(api, "org", meeting, maxResults="10", type="sign_in")
    listing(api, "org", meeting, "signOut", maxResults="10", type="sign_out")
    after = emu.stats()["counted"]
    for op in ("SignIn", "SignOut", "GetSignInList", "GetSignOutList"):
        assert after[op] == before[op] + 1, op
    assert api.list_events("alice", params={"syncToken": token}).json()["events"] == []
