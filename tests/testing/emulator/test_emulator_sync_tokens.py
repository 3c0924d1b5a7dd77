"""ListEvents syncToken deltas over real HTTP: where tokens are issued, what a delta holds (deletions and
removals with showDeleted), paging inside a delta, and invalid or expired tokens."""

from __future__ import annotations

import time

import pytest

from airflow_dtcal.testing import DingTalkEmulator, EmulatorAdmin
from tests.testing.emulator.conftest import Api, assert_error, timed

INVALID = "invalidSyncToken"


def full_listing(api: Api, user: str, **params: str) -> tuple[list[dict], str]:
    """Every event of a full listing (paged) and the syncToken of its last page."""
    events: list[dict] = []
    query = dict(params)
    while True:
        resp = api.list_events(user, params=query)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        events.extend(page["events"])
        if "nextToken" not in page:
            return events, page["syncToken"]
        assert "syncToken" not in page  # the last page only
        query["nextToken"] = page["nextToken"]


def delta(
    api: Api, user: str, token: str, show_deleted: bool = True, **params: str
) -> tuple[list[dict], str]:
    """Every change after ``token`` (paged) and the next syncToken."""
    return full_listing(api, user, syncToken=token, showDeleted="true" if show_deleted else "false", **params)


def test_sync_token_only_on_the_last_page_and_never_with_time_max(api: Api) -> None:
    for day in range(1, 6):
        api.create(
            "org",
            {
                "summary": f"D{day}",
                **timed(f"2025-09-0{day}T10:00:00+08:00", f"2025-09-0{day}T11:00:00+08:00"),
            },
        )
    events, token = full_listing(api, "org", maxResults="2")
    assert len(events) == 5 and token
    windowed = api.list_events(
        "org", params={"timeMin": "2025-09-01T00:00:00+08:00", "timeMax": "2025-09-30T00:00:00+08:00"}
    ).json()
    assert len(windowed["events"]) == 5 and "syncToken" not in windowed
    since = api.list_events("org", params={"timeMin": "2025-09-03T00:00:00+08:00"}).json()
    assert len(since["events"]) == 3 and since["syncToken"]


def test_a_delta_holds_every_change_in_change_order(api: Api) -> None:
    first = api.new_event("org", summary="First")
    _events, token = full_listing(api, "org")
    assert delta(api, "org", token)[0] == []  # nothing changed yet
    second = api.new_event("org", summary="Second")
    assert api.patch("org", first, {"id": first, "summary": "First, moved"}).status_code == 200
    changes, token = delta(api, "org", token)
    assert [(e["id"], e["summary"], e["status"]) for e in changes] == [
        (second, "Second", "confirmed"),
        (first, "First, moved", "confirmed"),
    ]
    assert api.patch("org", second, {"id": second, "summary": "Second, moved"}).status_code == 200
    assert api.patch("org", second, {"id": second, "summary": "Second, again"}).status_code == 200
    changes, _ = delta(api, "org", token)
    assert [e["summary"] for e in changes] == ["Second, again"]  # one entry per event, its latest state


def test_every_write_reaches_the_delta_of_every_affected_user(emu: DingTalkEmulator, api: Api) -> None:
    emu.seed_rooms([{"roomId": "room-1"}])
    event_id = api.new_event("org")
    tokens = {user: full_listing(api, user)[1] for user in ("org", "alice", "bob", "carol")}

    def changed(user: str, show_deleted: bool = True) -> list[tuple[str, str]]:
        changes, tokens[user] = delta(api, user, tokens[user], show_deleted)
        return [(e["id"], e["status"]) for e in changes]

    assert api.add("org", event_id, ["alice", "bob"]).status_code == 200
    assert changed("alice") == changed("bob") == changed("org") == [(event_id, "confirmed")]
    assert changed("carol") == []
    assert api.respond("alice", event_id, "accepted").status_code == 200
    assert changed("bob") == [(event_id, "confirmed")]  # another attendee's response is a change for all
    body = {"meetingRoomsToAdd": [{"roomId": "room-1"}]}
    assert api.call("POST", "org", "events", event_id, "meetingRooms", json=body).status_code == 200
    assert changed("alice") == [(event_id, "confirmed")]
    # bob is removed: his delta has the event as cancelled (with showDeleted), or not at all (without)
    assert api.remove("org", event_id, ["bob"]).status_code == 200
    snapshot = tokens["bob"]
    assert changed("bob", show_deleted=False) == []
    tokens["bob"] = snapshot
    assert changed("bob") == [(event_id, "cancelled")]
    assert changed("org") == [(event_id, "confirmed")]
    # alice deletes it from her own calendar: cancelled for her only
    assert api.delete("alice", event_id).status_code == 200
    assert changed("alice") == [(event_id, "cancelled")]
    assert changed("org") == [(event_id, "confirmed")]
    # transfer to carol, the old organizer leaving: org sees it go, carol sees it come
    transfer = {"newOrganizerId": "carol", "isExitCalendar": True}
    assert api.call("POST", "org", "events", event_id, "transfer", json=transfer).status_code == 200
    assert changed("org") == [(event_id, "cancelled")]
    assert changed("carol") == [(event_id, "confirmed")]
    # the new organizer cancels: cancelled for everyone still on it; bob, gone earlier, hears nothing
    assert api.call("POST", "carol", "events", event_id, "cancel", json={}).status_code == 200
    assert changed("carol") == [(event_id, "cancelled")]
    assert changed("carol", show_deleted=False) == []
    assert changed("bob") == []


def test_an_organizer_delete_is_a_cancelled_entry_only_with_show_deleted(api: Api) -> None:
    event_id = api.new_event("org")
    api.add("org", event_id, ["alice"])
    _events, token = full_listing(api, "alice")
    assert api.delete("org", event_id).status_code == 200
    assert delta(api, "alice", token, show_deleted=False)[0] == []
    changes, _ = delta(api, "alice", token)
    assert [(e["id"], e["status"]) for e in changes] == [(event_id, "cancelled")]


def test_paging_inside_a_delta(api: Api) -> None:
    _events, token = full_listing(api, "org")
    made = [api.new_event("org", summary=f"E{i}") for i in range(5)]
    first = api.list_events("org", params={"syncToken": token, "maxResults": "2"}).json()
    assert [e["id"] for e in first["events"]] == made[:2]
    assert "syncToken" not in first and first["nextToken"]
    # a change made while paging comes in the next delta, not in this one
    assert api.patch("org", made[0], {"id": made[0], "summary": "changed while paging"}).status_code == 200
    later = api.new_event("org", summary="made while paging")
    second = api.list_events("org", params={"nextToken": first["nextToken"], "maxResults": "2"}).json()
    assert [e["id"] for e in second["events"]] == made[2:4]
    third = api.list_events(
        "org", params={"syncToken": token, "nextToken": second["nextToken"], "maxResults": "2"}
    ).json()
    assert [e["id"] for e in third["events"]] == [made[4]]
    assert "nextToken" not in third
    changes, _ = delta(api, "org", third["syncToken"])
    assert [e["id"] for e in changes] == [made[0], later]


def test_sync_token_is_not_combined_with_a_window(api: Api) -> None:
    _events, token = full_listing(api, "org")
    for extra in ({"timeMin": "2025-09-01T00:00:00Z"}, {"timeMax": "2025-09-01T00:00:00Z"}):
        resp = api.list_events("org", params={"syncToken": token, **extra})
        assert_error(resp, 400, "invalidParameter", "timeMin and timeMax cannot be combined with syncToken")
    full_page = api.list_events("org", params={"maxResults": "1"})
    api.new_event("org")
    api.new_event("org")
    next_token = api.list_events("org", params={"maxResults": "1"}).json()["nextToken"]
    assert full_page.status_code == 200
    mixed = api.list_events("org", params={"syncToken": token, "nextToken": next_token})
    assert_error(mixed, 400, "invalidParameter", "nextToken")


@pytest.mark.parametrize(
    "garbled",
    ["garbage", "a.b", "a" * 2000, "eyJ1Ijoib3JnIn0.AAAAAAAAAAAAAAAAAAAAAA", "%%%.%%%"],
)
def test_garbled_tokens_are_invalid(api: Api, garbled: str) -> None:
    assert_error(api.list_events("org", params={"syncToken": garbled}), 400, INVALID, "list again")


def test_a_token_belongs_to_one_user_and_calendar(emu: DingTalkEmulator, api: Api) -> None:
    _events, token = full_listing(api, "org")
    assert_error(api.list_events("alice", params={"syncToken": token}), 400, INVALID)
    other_calendar = api.session.get(
        api.url("org", "events", calendar="team"),
        params={"syncToken": token},
        headers={"x-acs-dingtalk-access-token": api.token},
        timeout=10,
    )
    assert_error(other_calendar, 400, INVALID)
    assert api.list_events("org", params={"syncToken": token}).status_code == 200
    with DingTalkEmulator(qps_limit=None) as other:  # another emulator's token
        foreign = Api(other.base_url)
        foreign.login()
        try:
            assert_error(foreign.list_events("org", params={"syncToken": token}), 400, INVALID)
        finally:
            foreign.close()


def test_expired_tokens_are_invalid(emu: DingTalkEmulator, api: Api) -> None:
    _events, token = full_listing(api, "org")
    emu.expire_sync_tokens()
    body = assert_error(api.list_events("org", params={"syncToken": token}), 400, INVALID)
    assert body["message"] == "syncToken is invalid or expired; list again without syncToken"
    _events, fresh = full_listing(api, "org")
    assert api.list_events("org", params={"syncToken": fresh}).status_code == 200
    time.sleep(0.05)
    emu.set_sync_token_ttl(0.01)  # the token is already older than that
    assert_error(api.list_events("org", params={"syncToken": fresh}), 400, INVALID)
    emu.set_sync_token_ttl(3600)
    assert api.list_events("org", params={"syncToken": fresh}).status_code == 200
    emu.reset()
    api.login()
    assert_error(api.list_events("org", params={"syncToken": fresh}), 400, INVALID)


def test_expiring_tokens_while_paging_a_delta(emu: DingTalkEmulator, api: Api) -> None:
    _events, token = full_listing(api, "org")
    api.new_event("org")
    api.new_event("org")
    first = api.list_events("org", params={"syncToken": token, "maxResults": "1"}).json()
    EmulatorAdmin(emu.base_url).expire_sync_tokens()
    resp = api.list_events("org", params={"nextToken": first["nextToken"], "maxResults": "1"})
    assert_error(resp, 400, INVALID)


def test_sync_calls_count_against_the_quota(emu: DingTalkEmulator, api: Api) -> None:
    _events, token = full_listing(api, "org")
    before = emu.stats()["counted"]["ListEvents"]
    api.list_events("org", params={"syncToken": token})
    api.list_events("org", params={"syncToken": "garbage"})
    assert emu.stats()["counted"]["ListEvents"] == before + 2


def test_a_patch_that_replaces_attendees_reaches_the_removed_ones(api: Api) -> None:
    event_id = api.new_event("org")
    api.add("org", event_id, ["alice", "bob"])
    token = full_listing(api, "bob")[1]
    replaced = api.patch("org", event_id, {"id": event_id, "attendees": [{"id": "alice"}]})
    assert replaced.status_code == 200, replaced.text
    changes, _ = delta(api, "bob", token)
    assert [(e["id"], e["status"]) for e in changes] == [(event_id, "cancelled")]
    assert delta(api, "bob", token, show_deleted=False)[0] == []
