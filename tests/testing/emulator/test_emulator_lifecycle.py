"""The emulator's lifecycle endpoints over plain HTTP: PatchEvent (organizer only), CancelEvent (cancelled but
still visible in GetEvent), TransferEvent; and the rules they share with the older endpoints."""

from __future__ import annotations

from airflow_dtcal.testing import DingTalkEmulator
from tests.testing.emulator.conftest import Api, assert_error, timed


def cancel(api: Api, user: str, event_id: str, **kw) -> object:
    return api.call("POST", user, "events", event_id, "cancel", **kw)


def transfer(api: Api, user: str, event_id: str, body: dict, **kw) -> object:
    return api.call("POST", user, "events", event_id, "transfer", json=body, **kw)


def test_only_the_organizer_may_patch(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.new_event(attendees=[{"id": "alice"}])
    assert_error(
        api.patch("alice", event_id, {"id": event_id, "summary": "Mine now"}),
        403,
        "Forbidden.AccessDenied.NoPermission",
        "organizer",
    )
    assert_error(api.patch("stranger", event_id, {"id": event_id, "summary": "x"}), 404, "instanceNotExist")
    moved = timed("2025-09-21T10:00:00+08:00", "2025-09-21T11:00:00+08:00")
    resp = api.patch("org", event_id, {"id": event_id, "summary": "Moved", **moved})
    assert resp.status_code == 200 and resp.json()["start"] == moved["start"]
    assert emu.event(event_id)["summary"] == "Moved"


def test_cancel_keeps_the_event_visible_with_status_cancelled(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.new_event(attendees=[{"id": "alice"}])
    keep = api.new_event()
    assert_error(cancel(api, "alice", event_id), 403, "Forbidden.AccessDenied.NoPermission")
    resp = cancel(api, "org", event_id, params={"scope": "all"})
    assert resp.status_code == 200 and resp.json() == {"result": True}
    for user in ("org", "alice"):
        got = api.get(user, event_id)
        assert got.status_code == 200 and got.json()["status"] == "cancelled"
    listed = [e["id"] for e in api.list_events("org").json()["events"]]
    assert listed == [keep]
    shown = api.list_events("org", params={"showDeleted": "true"}).json()["events"]
    assert {e["id"]: e["status"] for e in shown} == {event_id: "cancelled", keep: "confirmed"}
    # Cancelled: no more changes, but cancelling again succeeds and the organizer may still delete it.
    assert_error(
        api.patch("org", event_id, {"id": event_id, "summary": "x"}), 400, "invalidParameter", "cancelled"
    )
    assert_error(api.add("org", event_id, ["bob"]), 400, "invalidParameter", "cancelled")
    assert cancel(api, "org", event_id).status_code == 200
    assert api.delete("org", event_id).status_code == 200
    assert_error(api.get("org", event_id), 404, "instanceNotExist")
    assert_error(cancel(api, "org", event_id), 404, "instanceNotExist")
    assert emu.stats()["applied"]["CancelEvent"] == 2


def test_transfer_hands_the_event_to_the_new_organizer(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.new_event(attendees=[{"id": "alice"}, {"id": "bob"}])
    assert_error(
        transfer(api, "alice", event_id, {"newOrganizerId": "bob"}),
        403,
        "Forbidden.AccessDenied.NoPermission",
    )
    assert_error(transfer(api, "org", event_id, {}), 400, "invalidParameter", "newOrganizerId")
    assert_error(transfer(api, "org", event_id, {"newOrganizerId": "org"}), 400, "invalidParameter")
    assert_error(
        transfer(api, "org", event_id, {"newOrganizerId": "bob", "isExitCalendar": "yes"}),
        400,
        "invalidParameter",
        "isExitCalendar",
    )
    resp = transfer(api, "org", event_id, {"newOrganizerId": "bob", "needNotifyViaO2O": True})
    assert resp.status_code == 200 and resp.json() == {"result": True}
    got = api.get("bob", event_id).json()
    assert got["organizer"]["id"] == "bob" and got["organizer"]["self"] is True
    assert [a["id"] for a in emu.attendees(event_id)] == ["bob", "org", "alice"]
    assert_error(
        api.patch("org", event_id, {"id": event_id, "summary": "x"}),
        403,
        "Forbidden.AccessDenied.NoPermission",
    )
    assert api.patch("bob", event_id, {"id": event_id, "summary": "Bob's"}).status_code == 200
    # Handed on again, and this time the old organizer leaves the event.
    assert (
        transfer(api, "bob", event_id, {"newOrganizerId": "carol", "isExitCalendar": True}).status_code == 200
    )
    assert [a["id"] for a in emu.attendees(event_id)] == ["carol", "org", "alice"]
    assert_error(api.get("bob", event_id), 404, "instanceNotExist")


# --------------------------------------------------------------------------------------------- ListEventsView


def view(api: Api, user: str, tmin: str, tmax: str, **params) -> object:
    return api.call("GET", user, "eventsview", params={"timeMin": tmin, "timeMax": tmax, **params})


def _series(api: Api, recurrence: dict, start: str, end: str, **extra) -> str:
    resp = api.create("org", {"summary": "Series", **timed(start, end), "recurrence": recurrence, **extra})
    assert resp.status_code == 200, resp.text
    return resp.json()["id"]


def test_view_expands_a_weekly_series_in_its_own_zone(emu: DingTalkEmulator, api: Api) -> None:
    series = _series(
        api,
        {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": "monday,wednesday"},
            "range": {"type": "numbered", "numberOfOccurrences": 5},
        },
        "2026-03-02T23:30:00+08:00",  # Monday late evening in Shanghai: Monday 15:30 UTC
        "2026-03-03T00:30:00+08:00",
        attendees=[{"id": "alice"}],
    )
    single = api.new_event()  # 2025-09-20: outside the window
    resp = view(api, "alice", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")
    assert resp.status_code == 200, resp.text
    items = resp.json()["events"]
    assert [e["start"]["dateTime"] for e in items] == [
        "2026-03-02T23:30:00+08:00",
        "2026-03-04T23:30:00+08:00",
        "2026-03-09T23:30:00+08:00",
        "2026-03-11T23:30:00+08:00",
        "2026-03-16T23:30:00+08:00",
    ]
    assert {e["seriesMasterId"] for e in items} == {series}
    assert items[1]["id"] == f"{series}_20260304T153000Z"
    assert items[1]["originStart"] == {"dateTime": "2026-03-04T23:30:00+08:00"}
    assert items[1]["end"] == {"dateTime": "2026-03-05T00:30:00+08:00", "timeZone": "Asia/Shanghai"}
    assert single not in {e["id"] for e in items}
    # A window in the middle of the series; an occurrence that overlaps its start is included.
    middle = view(api, "org", "2026-03-09T16:00:00Z", "2026-03-12T00:00:00Z").json()["events"]
    assert [e["originStart"]["dateTime"] for e in middle] == [
        "2026-03-09T23:30:00+08:00",
        "2026-03-11T23:30:00+08:00",
    ]
    # ListEvents lists the series once, as stored.
    plain = api.list_events(
        "org", params={"timeMin": "2026-03-01T00:00:00Z", "timeMax": "2026-04-01T00:00:00Z"}
    )
    assert [e["id"] for e in plain.json()["events"]] == [series]


def test_view_patterns_ranges_and_paging(api: Api) -> None:
    monthly = _series(
        api,
        {
            "pattern": {"type": "relativeMonthly", "interval": 1, "index": "last", "daysOfWeek": "friday"},
            "range": {"type": "endDate", "endDate": "2026-06-01T00:00Z"},
        },
        "2026-01-30T10:00:00+08:00",
        "2026-01-30T11:00:00+08:00",
    )
    daily = _series(
        api,
        {"pattern": {"type": "daily", "interval": 2}, "range": {"type": "noEnd"}},
        "2026-01-01T09:00:00+08:00",
        "2026-01-01T09:15:00+08:00",
    )
    resp = view(api, "org", "2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z", maxResults="100")
    items = resp.json()["events"]
    lasts = [e["start"]["dateTime"][:10] for e in items if e["seriesMasterId"] == monthly]
    assert lasts == ["2026-01-30", "2026-02-27", "2026-03-27", "2026-04-24", "2026-05-29"]
    assert len(items) == 91 + 5 and "nextToken" not in resp.json()  # every other day for 181 days
    seen, token = [], None
    while True:
        params = {"maxResults": "5", **({"nextToken": token} if token else {})}
        page = view(api, "org", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", **params).json()
        seen.extend(e["id"] for e in page["events"])
        token = page.get("nextToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) == 16 + 1  # Jan 1, 3, ..., 31 and the last Friday of January
    assert sum(1 for i in seen if i.startswith(daily)) == 16


def test_view_all_day_yearly_and_monthly_days(api: Api) -> None:
    resp = api.create(
        "org",
        {
            "summary": "Anniversary",
            "start": {"date": "2024-02-29"},
            "end": {"date": "2024-03-01"},
            "isAllDay": True,
            "recurrence": {"pattern": {"type": "absoluteYearly", "interval": 1}, "range": {"type": "noEnd"}},
        },
    )
    leap = resp.json()["id"]
    month_end = _series(
        api,
        {"pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31}, "range": {"type": "noEnd"}},
        "2026-01-31T10:00:00+08:00",
        "2026-01-31T11:00:00+08:00",
    )
    items = view(api, "org", "2024-01-01T00:00:00Z", "2024-12-31T00:00:00Z").json()["events"]
    assert [(e["start"], e["end"]) for e in items if e.get("seriesMasterId") == leap] == [
        ({"date": "2024-02-29"}, {"date": "2024-03-01"})
    ]
    items = view(api, "org", "2026-01-01T00:00:00Z", "2026-08-01T00:00:00Z").json()["events"]
    assert [e["start"]["dateTime"][:10] for e in items if e.get("seriesMasterId") == month_end] == [
        "2026-01-31",
        "2026-03-31",
        "2026-05-31",
        "2026-07-31",
    ]
    assert [e["id"] for e in items if e.get("seriesMasterId") == leap] == []  # 2026 has no Feb 29


def test_view_rules(api: Api) -> None:
    assert_error(api.call("GET", "org", "eventsview"), 400, "invalidParameter", "timeMin and timeMax")
    assert_error(
        view(api, "org", "2026-01-01T00:00:00Z", "2027-06-01T00:00:00Z"), 400, "invalidParameter", "one year"
    )
    assert_error(
        view(api, "org", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", maxResults="101"),
        400,
        "invalidParameter",
    )
    assert_error(
        view(api, "org", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", nextToken="bogus"),
        400,
        "invalidParameter",
    )
    event_id = api.new_event()
    assert api.call("POST", "org", "events", event_id, "cancel").status_code == 200
    assert view(api, "org", "2025-09-01T00:00:00Z", "2025-10-01T00:00:00Z").json() == {"events": []}


# --------------------------------------------------------------------------------------------- GetSchedule


def schedule(api: Api, caller: str, body: dict) -> object:
    return api.session.post(
        f"{api.base_url}/v1.0/calendar/users/{caller}/querySchedule",
        json=body,
        headers={"x-acs-dingtalk-access-token": api.token},
        timeout=10,
    )


def test_schedule_lists_busy_and_tentative_times_per_person(emu: DingTalkEmulator, api: Api) -> None:
    monday = timed("2026-03-09T10:00:00+08:00", "2026-03-09T11:00:00+08:00")
    first = api.create("org", {"summary": "A", **monday, "attendees": [{"id": "alice"}, {"id": "bob"}]})
    event_id = first.json()["id"]
    assert api.respond("alice", event_id, "accepted").status_code == 200
    assert api.respond("bob", event_id, "declined").status_code == 200
    daily = {
        "pattern": {"type": "daily", "interval": 1},
        "range": {"type": "numbered", "numberOfOccurrences": 3},
    }
    api.create(
        "carol",
        {
            "summary": "Standup",
            **timed("2026-03-08T09:00:00+08:00", "2026-03-08T09:15:00+08:00"),
            "recurrence": daily,
        },
    )
    api.create("dave", {"summary": "Free", **monday, "freeBusyStatus": "free"})
    body = {
        "userIds": ["org", "alice", "bob", "carol", "dave"],
        "startTime": "2026-03-09T00:00Z",
        "endTime": "2026-03-10T00:00Z",
    }
    resp = schedule(api, "org", body)
    assert resp.status_code == 200, resp.text
    info = {i["userId"]: i["scheduleItems"] for i in resp.json()["scheduleInformation"]}
    assert list(info) == ["org", "alice", "bob", "carol", "dave"]
    assert info["org"] == [{"status": "BUSY", **monday}]
    assert info["alice"] == [{"status": "BUSY", **monday}]
    assert info["bob"] == [] and info["dave"] == []
    assert [i["start"]["dateTime"] for i in info["carol"]] == ["2026-03-09T09:00:00+08:00"]
    assert api.respond("alice", event_id, "tentative").status_code == 200
    info = {i["userId"]: i["scheduleItems"] for i in schedule(api, "org", body).json()["scheduleInformation"]}
    assert info["alice"][0]["status"] == "TENTATIVE"


def test_schedule_rules(api: Api) -> None:
    window = {"startTime": "2026-03-09T00:00Z", "endTime": "2026-03-10T00:00Z"}
    too_many = {"userIds": [f"u{i}" for i in range(21)], **window}
    assert_error(schedule(api, "org", too_many), 400, "invalidParameter", "at most 20")
    assert_error(schedule(api, "org", {"userIds": [], **window}), 400, "invalidParameter", "userIds")
    assert_error(schedule(api, "org", {"userIds": ["a"]}), 400, "invalidParameter", "startTime")
    backwards = {"userIds": ["a"], "startTime": "2026-03-10T00:00Z", "endTime": "2026-03-09T00:00Z"}
    assert_error(schedule(api, "org", backwards), 400, "invalidParameter", "after startTime")
    assert schedule(api, "org", {"userIds": [f"u{i}" for i in range(20)], **window}).status_code == 200
    assert_error(
        api.session.get(f"{api.base_url}/v1.0/calendar/users/org/querySchedule", timeout=10),
        404,
        "InvalidAction.NotFound",
    )


# --------------------------------------------------------------------------------------------- meeting rooms


def add_rooms(api: Api, user: str, event_id: str, rooms: list[str], **kw) -> object:
    body = {"meetingRoomsToAdd": [{"roomId": r} for r in rooms]}
    return api.call("POST", user, "events", event_id, "meetingRooms", json=body, **kw)


def remove_rooms(api: Api, user: str, event_id: str, rooms: list[str]) -> object:
    body = {"meetingRoomsToRemove": [{"roomId": r} for r in rooms]}
    return api.call("POST", user, "events", event_id, "meetingRooms", "batchRemove", json=body)


def rooms_schedule(api: Api, rooms: list[str], start: str, end: str) -> object:
    return api.session.post(
        f"{api.base_url}/v1.0/calendar/users/org/meetingRooms/schedules/query",
        json={"roomIds": rooms, "startTime": start, "endTime": end},
        headers={"x-acs-dingtalk-access-token": api.token},
        timeout=10,
    )


ROOMS = [{"roomId": f"room-{i}", "roomName": f"Room {i}", "roomCapacity": 4 + i} for i in range(1, 8)]


def test_rooms_on_events_at_most_five_and_never_double_booked(emu: DingTalkEmulator, api: Api) -> None:
    assert emu.seed_rooms(ROOMS) == [r["roomId"] for r in ROOMS]
    event_id = api.new_event(attendees=[{"id": "alice"}])
    resp = add_rooms(api, "org", event_id, ["room-1", "room-2"])
    assert resp.status_code == 200 and resp.json() == {"result": True}
    got = api.get("alice", event_id).json()
    assert got["meetingRooms"] == [
        {"roomId": "room-1", "responseStatus": "accepted", "displayName": "Room 1"},
        {"roomId": "room-2", "responseStatus": "accepted", "displayName": "Room 2"},
    ]
    assert add_rooms(api, "org", event_id, ["room-2"]).status_code == 200  # already there: no change
    assert_error(add_rooms(api, "alice", event_id, ["room-3"]), 403, "Forbidden.AccessDenied.NoPermission")
    assert_error(add_rooms(api, "org", event_id, ["nowhere"]), 400, "invalidParameter", "does not exist")
    assert_error(
        add_rooms(api, "org", event_id, ["room-3", "room-4", "room-5", "room-6"]),
        400,
        "invalidParameter",
        "at most 5",
    )
    assert_error(add_rooms(api, "org", event_id, []), 400, "invalidParameter", "meetingRoomsToAdd")
    # Another event at an overlapping time cannot take room-1; at another time it can.
    clash = api.create(
        "bob", {"summary": "Clash", **timed("2025-09-20T10:15:00+08:00", "2025-09-20T11:00:00+08:00")}
    )
    assert_error(
        add_rooms(api, "bob", clash.json()["id"], ["room-1"]), 400, "meetingRoomNotAvailable", "room-1"
    )
    later = api.create(
        "bob", {"summary": "Later", **timed("2025-09-20T10:30:00+08:00", "2025-09-20T11:00:00+08:00")}
    )
    assert add_rooms(api, "bob", later.json()["id"], ["room-3"]).status_code == 200
    # Released, or its event cancelled: the room is free again.
    assert remove_rooms(api, "org", event_id, ["room-1", "room-7"]).status_code == 200
    assert [r["roomId"] for r in api.get("org", event_id).json()["meetingRooms"]] == ["room-2"]
    assert add_rooms(api, "bob", clash.json()["id"], ["room-1"]).status_code == 200
    assert api.call("POST", "org", "events", event_id, "cancel").status_code == 200
    assert add_rooms(api, "bob", clash.json()["id"], ["room-2"]).status_code == 200


def test_a_recurring_booking_blocks_every_occurrence(emu: DingTalkEmulator, api: Api) -> None:
    emu.seed_rooms(ROOMS[:1])
    weekly = {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": "monday"},
        "range": {"type": "noEnd"},
    }
    series = api.create(
        "org",
        {
            "summary": "Weekly",
            **timed("2026-03-02T10:00:00+08:00", "2026-03-02T11:00:00+08:00"),
            "recurrence": weekly,
        },
    )
    assert add_rooms(api, "org", series.json()["id"], ["room-1"]).status_code == 200
    months_later = api.create(
        "bob", {"summary": "One-off", **timed("2026-09-07T10:30:00+08:00", "2026-09-07T11:30:00+08:00")}
    )
    assert_error(add_rooms(api, "bob", months_later.json()["id"], ["room-1"]), 400, "meetingRoomNotAvailable")
    schedule = rooms_schedule(api, ["room-1", "ghost"], "2026-03-01T00:00Z", "2026-03-20T00:00Z").json()
    [room, ghost] = schedule["scheduleInformation"]
    assert [i["start"]["dateTime"] for i in room["scheduleItems"]] == [
        "2026-03-02T10:00:00+08:00",
        "2026-03-09T10:00:00+08:00",
        "2026-03-16T10:00:00+08:00",
    ]
    assert room["scheduleItems"][0]["eventId"] == series.json()["id"]
    assert room["scheduleItems"][0]["organizer"] == {"id": "org"}
    assert ghost == {"roomId": "ghost", "error": "roomNotExist", "scheduleItems": []}
    assert_error(
        rooms_schedule(api, ["room-1"], "2026-03-01T00:00Z", "2026-06-01T00:00Z"),
        400,
        "invalidParameter",
        "90 days",
    )


def test_room_list_pages_with_a_numeric_token(emu: DingTalkEmulator, api: Api) -> None:
    emu.seed_rooms(ROOMS)

    def page(**params):
        return api.session.get(
            f"{api.base_url}/v1.0/rooms/meetingRoomLists",
            params={"unionId": "org", **params},
            headers={"x-acs-dingtalk-access-token": api.token},
            timeout=10,
        )

    first = page(maxResults="5").json()
    assert [r["roomId"] for r in first["result"]] == [f"room-{i}" for i in range(1, 6)]
    assert first["hasMore"] is True and first["nextToken"] == 5
    rest = page(maxResults="5", nextToken="5").json()
    assert [r["roomName"] for r in rest["result"]] == ["Room 6", "Room 7"] and rest["hasMore"] is False
    assert_error(
        api.session.get(
            f"{api.base_url}/v1.0/rooms/meetingRoomLists",
            headers={"x-acs-dingtalk-access-token": api.token},
            timeout=10,
        ),
        400,
        "invalidParameter",
        "unionId",
    )


def test_view_of_a_series_that_never_occurs_ends(api: Api) -> None:
    never = {
        "pattern": {"type": "absoluteMonthly", "interval": 12, "dayOfMonth": 31},
        "range": {"type": "noEnd"},
    }
    _series(api, never, "2026-04-10T10:00:00+08:00", "2026-04-10T11:00:00+08:00")  # every April 31st
    resp = view(api, "org", "2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z")
    assert resp.status_code == 200 and resp.json() == {"events": []}
