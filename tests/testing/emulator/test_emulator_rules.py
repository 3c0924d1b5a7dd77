"""The emulator's rules (tokens, auth, throttling, validation, visibility, idempotency) over real HTTP."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable

import pytest
import requests

from airflow_dtcal.testing import DingTalkEmulator

from .conftest import Api, assert_error, event_body, timed

# ----------------------------------------------------------------------------------------------- tokens


@pytest.mark.dtcal_emulator(token_ttl=0.8)
def test_token_is_reused_and_extended_while_valid_then_expires(emu: DingTalkEmulator) -> None:
    api = Api(emu.base_url)
    first = api.get_token().json()
    assert first["expireIn"] == 1  # fractional TTLs are rounded up in expireIn
    time.sleep(0.5)
    second = api.get_token().json()
    assert second["accessToken"] == first["accessToken"]
    time.sleep(0.5)  # 1.0 s after the first fetch, 0.5 s after the renewal: still valid
    api.token = second["accessToken"]
    assert api.list_events("org").status_code == 200
    time.sleep(0.9)
    assert_error(api.list_events("org"), 400, "InvalidAuthentication", "不合法的access_token")
    third = api.get_token().json()
    assert third["accessToken"] != first["accessToken"]
    stats = emu.stats()
    assert stats["tokens_issued"] == 2 and stats["token_fetches"] == 3


def test_default_token_lifetime_and_per_app_tokens(emu: DingTalkEmulator) -> None:
    a = Api(emu.base_url, "app-a", "s").get_token().json()
    b = Api(emu.base_url, "app-b", "s").get_token().json()
    assert a["expireIn"] == 7200 and b["expireIn"] == 7200
    assert a["accessToken"] != b["accessToken"]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"appKey": "k"},
        {"appSecret": "s"},
        {"appKey": "", "appSecret": "s"},
        {"appKey": "k", "appSecret": ""},
    ],
)
def test_missing_or_empty_credentials_are_rejected(emu: DingTalkEmulator, payload: dict) -> None:
    resp = requests.post(f"{emu.base_url}/v1.0/oauth2/accessToken", json=payload, timeout=5)
    assert_error(resp, 400, "invalidClientIdOrSecret")


def test_configured_apps_accept_only_their_credentials() -> None:
    with DingTalkEmulator(qps_limit=None, apps={"key-1": "secret-1"}) as strict:
        api = Api(strict.base_url)
        assert api.get_token("key-1", "secret-1").status_code == 200
        assert_error(api.get_token("key-1", "wrong"), 400, "invalidClientIdOrSecret")
        assert_error(api.get_token("key-2", "secret-1"), 400, "invalidClientIdOrSecret")
        assert strict.stats()["tokens_issued"] == 1


def test_missing_token_header_even_if_sent_another_way(emu: DingTalkEmulator, api: Api) -> None:
    token = api.token
    assert_error(api.list_events("org", token=None), 400, "AuthenticationFailed.MissingParameter")
    assert_error(
        api.list_events("org", token=None, params={"access_token": token}),
        400,
        "AuthenticationFailed.MissingParameter",
    )
    resp = api.list_events("org", token=None, headers={"Authorization": f"Bearer {token}"})
    assert_error(resp, 400, "AuthenticationFailed.MissingParameter")


def test_unknown_token_and_revoked_tokens(emu: DingTalkEmulator, api: Api) -> None:
    assert_error(api.list_events("org", token="forged"), 400, "InvalidAuthentication")
    old = api.token
    assert api.list_events("org").status_code == 200
    emu.revoke_tokens()
    assert_error(api.list_events("org"), 400, "InvalidAuthentication")
    assert api.login() != old
    assert api.list_events("org").status_code == 200


@pytest.mark.dtcal_emulator(qps_limit=1)
def test_auth_is_checked_before_throttling_and_validation(emu: DingTalkEmulator, api: Api) -> None:
    assert_error(api.create("org", {"summary": ""}, token=None), 400, "AuthenticationFailed.MissingParameter")
    assert_error(api.create("org", {"summary": ""}, token="bad"), 400, "InvalidAuthentication")
    assert_error(api.create("org", {"summary": ""}), 400, "invalidParameter")  # first accepted call
    assert_error(api.create("org", {"summary": ""}), 403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi")


def test_request_log_never_holds_the_token(emu: DingTalkEmulator, api: Api) -> None:
    api.create("org", event_body(), client_token="ct-1")
    record = emu.requests()[-1]
    assert record["operation"] == "CreateEvent" and record["method"] == "POST"
    assert record["path"] == "/v1.0/calendar/users/org/calendars/primary/events"
    assert record["body"]["summary"] == "Standup"
    assert record["client_token"] == "ct-1" and record["has_token"] is True
    assert record["status"] == 200
    assert "x-acs-dingtalk-access-token" not in record["headers"]
    assert all(name == name.lower() for name in record["headers"])
    assert api.token not in json.dumps(emu.requests())


# ----------------------------------------------------------------------------------------------- throttling


@pytest.mark.dtcal_emulator(qps_limit=5)
def test_throttling_per_app_and_operation_with_sliding_window(emu: DingTalkEmulator, api: Api) -> None:
    statuses = [api.list_events("org").status_code for _ in range(8)]
    assert statuses == [200] * 5 + [403] * 3
    assert_error(api.list_events("org"), 403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi")
    # another operation and another app have their own windows
    assert api.get("org", "missing").status_code == 404
    other = Api(emu.base_url, "app-2", "secret")
    other.login()
    assert other.list_events("org").status_code == 200
    assert emu.stats()["throttled"]["ListEvents"] == 4
    time.sleep(1.05)  # throttled calls did not extend the window
    assert api.list_events("org").status_code == 200


@pytest.mark.dtcal_emulator(qps_limit=2)
def test_token_endpoint_is_not_throttled_and_limit_can_be_disabled(emu: DingTalkEmulator, api: Api) -> None:
    assert [api.get_token().status_code for _ in range(6)] == [200] * 6
    emu.set_qps_limit(None)
    assert all(api.list_events("org").status_code == 200 for _ in range(30))
    emu.set_qps_limit(2)
    assert [api.list_events("org").status_code for _ in range(3)] == [200, 200, 403]


def test_latency_is_added_to_api_calls_but_not_admin(emu: DingTalkEmulator, api: Api) -> None:
    emu.set_latency(0.25)
    began = time.perf_counter()
    assert api.list_events("org").status_code == 200
    assert time.perf_counter() - began >= 0.25
    began = time.perf_counter()
    emu.stats()
    requests.get(f"{emu.base_url}/_emulator/stats", timeout=5)
    assert time.perf_counter() - began < 0.2


# ----------------------------------------------------------------------------------------------- validation


def _drop(*keys: str) -> Callable[[dict], None]:
    def apply(body: dict) -> None:
        for key in keys:
            body.pop(key, None)

    return apply


def _set(path: str, value: object) -> Callable[[dict], None]:
    def apply(body: dict) -> None:
        *parents, last = path.split(".")
        target = body
        for name in parents:
            target = target.setdefault(name, {})
        target[last] = value

    return apply


WEEKLY = {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": "monday"}, "range": {"type": "noEnd"}}

BAD_BODIES = [
    ("no summary", _drop("summary"), "summary"),
    ("empty summary", _set("summary", "  "), "summary"),
    ("long summary", _set("summary", "x" * 2049), "2048"),
    ("long description", _set("description", "x" * 5001), "5000"),
    ("no start", _drop("start"), "start"),
    ("no end", _drop("end"), "end"),
    ("date and dateTime", _set("start.date", "2025-09-20"), "start"),
    ("no timeZone", _set("start.timeZone", None), "start.timeZone"),
    (
        "bad zone",
        lambda b: (_set("start.timeZone", "Mars/Olympus")(b), _set("end.timeZone", "Mars/Olympus")(b)),
        "IANA",
    ),
    (
        "offset as zone",
        lambda b: (_set("start.timeZone", "+08:00")(b), _set("end.timeZone", "+08:00")(b)),
        "timeZone",
    ),
    ("bad dateTime", _set("start.dateTime", "2025/09/20 10:00"), "start.dateTime"),
    ("end before start", _set("end.dateTime", "2025-09-20T09:00:00+08:00"), "after"),
    ("end equals start", _set("end.dateTime", "2025-09-20T10:00:00+08:00"), "after"),
    ("zone mismatch", _set("end.timeZone", "Europe/Berlin"), "end.timeZone"),
    ("isAllDay on timed", _set("isAllDay", True), "isAllDay"),
    ("isAllDay not bool", _set("isAllDay", "false"), "isAllDay"),
    ("mixed forms", _set("end", {"date": "2025-09-21"}), "both"),
    (
        "pattern type",
        _set("recurrence", {"pattern": {"type": "yearly"}, "range": {"type": "noEnd"}}),
        "pattern.type",
    ),
    ("no range", _set("recurrence", {"pattern": WEEKLY["pattern"]}), "recurrence.range"),
    (
        "interval 0",
        _set("recurrence", {**WEEKLY, "pattern": {**WEEKLY["pattern"], "interval": 0}}),
        "interval",
    ),
    (
        "interval str",
        _set("recurrence", {**WEEKLY, "pattern": {**WEEKLY["pattern"], "interval": "2"}}),
        "interval",
    ),
    (
        "days as list",
        _set("recurrence", {**WEEKLY, "pattern": {**WEEKLY["pattern"], "daysOfWeek": ["monday"]}}),
        "daysOfWeek",
    ),
    (
        "days capital",
        _set("recurrence", {**WEEKLY, "pattern": {**WEEKLY["pattern"], "daysOfWeek": "Monday"}}),
        "daysOfWeek",
    ),
    (
        "weekly no days",
        _set("recurrence", {"pattern": {"type": "weekly"}, "range": {"type": "noEnd"}}),
        "daysOfWeek",
    ),
    (
        "monthly no day",
        _set("recurrence", {"pattern": {"type": "absoluteMonthly"}, "range": {"type": "noEnd"}}),
        "dayOfMonth",
    ),
    (
        "dayOfMonth 32",
        _set(
            "recurrence",
            {"pattern": {"type": "absoluteMonthly", "dayOfMonth": 32}, "range": {"type": "noEnd"}},
        ),
        "dayOfMonth",
    ),
    (
        "relative no index",
        _set(
            "recurrence",
            {"pattern": {"type": "relativeMonthly", "daysOfWeek": "monday"}, "range": {"type": "noEnd"}},
        ),
        "index",
    ),
    (
        "relative bad index",
        _set(
            "recurrence",
            {
                "pattern": {"type": "relativeMonthly", "daysOfWeek": "friday", "index": "fifth"},
                "range": {"type": "noEnd"},
            },
        ),
        "index",
    ),
    ("range type", _set("recurrence", {**WEEKLY, "range": {"type": "forever"}}), "range.type"),
    (
        "endDate and count",
        _set(
            "recurrence",
            {
                **WEEKLY,
                "range": {"type": "endDate", "endDate": "2025-12-01T00:00Z", "numberOfOccurrences": 3},
            },
        ),
        "not both",
    ),
    (
        "numbered no count",
        _set("recurrence", {**WEEKLY, "range": {"type": "numbered"}}),
        "numberOfOccurrences",
    ),
    ("reminder method", _set("reminders", [{"method": "sms", "minutes": 5}]), "reminders[0].method"),
    (
        "reminder minutes str",
        _set("reminders", [{"method": "dingtalk", "minutes": "15"}]),
        "reminders[0].minutes",
    ),
    (
        "reminder minutes neg",
        _set("reminders", [{"method": "dingtalk", "minutes": -1}]),
        "reminders[0].minutes",
    ),
    ("attendee id empty", _set("attendees", [{"id": "", "isOptional": False}]), "attendees[0].id"),
    ("attendee id number", _set("attendees", [{"id": 12}]), "attendees[0].id"),
    ("501 attendees", _set("attendees", [{"id": f"u{i}"} for i in range(501)]), "500"),
    ("meeting type", _set("onlineMeetingInfo", {"type": "zoom"}), "onlineMeetingInfo"),
    ("extra values", _set("extra", {"noPushNotification": True}), "extra"),
]


@pytest.mark.parametrize("mutate,needle", [pytest.param(m, n, id=i) for i, m, n in BAD_BODIES])
def test_create_event_validation(emu: DingTalkEmulator, api: Api, mutate: Callable, needle: str) -> None:
    body = copy.deepcopy(event_body())
    mutate(body)
    assert_error(api.create("org", body), 400, "invalidParameter", needle)
    assert emu.events() == []
    assert emu.stats()["applied"]["CreateEvent"] == 0


ALL_DAY_BAD = [
    ("bad date format", {"start": {"date": "2025-9-1"}, "end": {"date": "2025-09-02"}}, "start.date"),
    ("impossible date", {"start": {"date": "2025-02-30"}, "end": {"date": "2025-03-02"}}, "start.date"),
    (
        "date with zone",
        {"start": {"date": "2025-09-01", "timeZone": "UTC"}, "end": {"date": "2025-09-02"}},
        "start",
    ),
    ("same day end", {"start": {"date": "2025-09-01"}, "end": {"date": "2025-09-01"}}, "exclusive"),
    (
        "isAllDay false",
        {"isAllDay": False, "start": {"date": "2025-09-01"}, "end": {"date": "2025-09-02"}},
        "isAllDay",
    ),
]


@pytest.mark.parametrize("fields,needle", [pytest.param(f, n, id=i) for i, f, n in ALL_DAY_BAD])
def test_all_day_validation(api: Api, fields: dict, needle: str) -> None:
    assert_error(api.create("org", {"summary": "Day", **fields}), 400, "invalidParameter", needle)


GOOD_RECURRENCES = [
    {"pattern": {"type": "daily", "interval": 2}, "range": {"type": "numbered", "numberOfOccurrences": 5}},
    {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": "monday,friday"}, "range": {"type": "noEnd"}},
    {"pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31}, "range": {"type": "noEnd"}},
    {
        "pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": "tuesday", "index": "last"},
        "range": {"type": "endDate", "endDate": "2026-09-01T00:00Z"},
    },
    {"pattern": {"type": "absoluteYearly", "interval": 1}, "range": {"type": "noEnd"}},
]


@pytest.mark.parametrize("recurrence", GOOD_RECURRENCES, ids=lambda r: r["pattern"]["type"])
def test_valid_recurrences_are_stored(emu: DingTalkEmulator, api: Api, recurrence: dict) -> None:
    resp = api.create("org", event_body(recurrence=recurrence))
    assert resp.status_code == 200, resp.text
    assert resp.json()["recurrence"] == recurrence
    assert emu.event(resp.json()["id"])["recurrence"] == recurrence


def test_time_forms_and_default_reminders(emu: DingTalkEmulator, api: Api) -> None:
    utc = api.create(
        "org", {"summary": "UTC", **timed("2025-09-20T02:00:00Z", "2025-09-20T03:00:00Z", "UTC")}
    )
    assert utc.status_code == 200, utc.text
    assert utc.json()["reminders"] == [{"method": "dingtalk", "minutes": "15"}]
    naive = api.create("org", {"summary": "Local", **timed("2025-09-20T10:00:00", "2025-09-20T11:00:00")})
    assert naive.status_code == 200, naive.text
    day = api.create(
        "org",
        {"summary": "Day", "isAllDay": True, "start": {"date": "2025-09-01"}, "end": {"date": "2025-09-02"}},
    )
    assert day.status_code == 200 and day.json()["isAllDay"] is True
    assert day.json()["reminders"] == [{"method": "dingtalk", "minutes": "900"}]
    none = api.create("org", event_body(reminders=[]))
    assert none.json()["reminders"] == []
    assert emu.event(none.json()["id"])["reminders"] == []


def test_other_validation_rules(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.new_event(attendees=[{"id": "alice"}])
    assert_error(api.respond("alice", event_id, "maybe"), 400, "invalidParameter", "responseStatus")
    assert_error(api.call("POST", "alice", "events", event_id, "respond", json={}), 400, "invalidParameter")
    assert_error(api.add("org", event_id, []), 400, "invalidParameter", "attendeesToAdd")
    assert_error(api.add("org", event_id, [f"u{i}" for i in range(501)]), 400, "invalidParameter", "500")
    assert_error(api.remove("org", event_id, [f"u{i}" for i in range(501)]), 400, "invalidParameter", "500")
    assert_error(api.remove("org", event_id, ["org"]), 400, "invalidParameter", "organizer")
    for params, needle in [
        ({"maxResults": "0"}, "maxResults"),
        ({"maxResults": "501"}, "maxResults"),
        ({"maxResults": "ten"}, "maxResults"),
    ]:
        assert_error(api.list_attendees("org", event_id, params=params), 400, "invalidParameter", needle)
    assert api.list_attendees("org", event_id, params={"maxResults": "500"}).status_code == 200
    assert_error(
        api.get("org", event_id, params={"maxAttendees": "501"}), 400, "invalidParameter", "maxAttendees"
    )
    for params, needle in [
        ({"maxResults": "101"}, "maxResults"),
        ({"maxAttendees": "101"}, "maxAttendees"),
        ({"timeMin": "yesterday"}, "timeMin"),
        ({"timeMin": "2025-01-01T00:00:00Z", "timeMax": "2026-01-03T00:00:00Z"}, "one year"),
        ({"timeMin": "2025-02-01T00:00:00Z", "timeMax": "2025-01-01T00:00:00Z"}, "after"),
        ({"showDeleted": "yes"}, "showDeleted"),
        ({"nextToken": "garbage!"}, "nextToken"),
    ]:
        assert_error(api.list_events("org", params=params), 400, "invalidParameter", needle)
    for value in ("true", "True", "false", "False"):
        assert api.list_events("org", params={"showDeleted": value}).status_code == 200
    raw = api.session.post(
        api.url("org", "events"),
        data=b"{not json",
        headers={"x-acs-dingtalk-access-token": api.token, "Content-Type": "application/json"},
        timeout=5,
    )
    assert_error(raw, 400, "invalidParameter", "JSON")


def test_patch_event_rules(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.new_event(attendees=[{"id": "alice"}], location={"displayName": "A"})
    assert_error(api.patch("org", event_id, {"summary": "x"}), 400, "invalidParameter", "id")
    assert_error(api.patch("org", event_id, {"id": "other", "summary": "x"}), 400, "invalidParameter", "id")
    assert_error(
        api.patch(
            "org",
            event_id,
            {"id": event_id, "end": {"dateTime": "2025-09-20T09:00:00+08:00", "timeZone": "Asia/Shanghai"}},
        ),
        400,
        "invalidParameter",
        "after",
    )
    api.respond("alice", event_id, "accepted")
    ok = api.patch(
        "org",
        event_id,
        {"id": event_id, "summary": "Renamed", "attendees": [{"id": "alice"}, {"id": "carol"}]},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["summary"] == "Renamed" and ok.json()["location"] == {"displayName": "A"}
    statuses = {a["id"]: a["responseStatus"] for a in emu.attendees(event_id)}
    assert statuses == {"org": "accepted", "alice": "accepted", "carol": "needsAction"}


# ----------------------------------------------------------------------------------------------- events and attendees


def test_organizer_is_an_accepted_attendee_and_self_flags(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.new_event(attendees=[{"id": "alice", "isOptional": True}, {"id": "org"}, {"id": "alice"}])
    as_alice = api.list_attendees("alice", event_id).json()
    assert as_alice["attendees"] == [
        {
            "id": "org",
            "displayName": "User org",
            "responseStatus": "accepted",
            "isOptional": False,
            "self": False,
        },
        {
            "id": "alice",
            "displayName": "User alice",
            "responseStatus": "needsAction",
            "isOptional": True,
            "self": True,
        },
    ]
    assert "nextToken" not in as_alice
    event = api.get("org", event_id).json()
    assert event["organizer"] == {
        "id": "org",
        "displayName": "User org",
        "responseStatus": "accepted",
        "self": True,
    }
    assert event["status"] == "confirmed"


def test_list_attendees_pagination_is_stable_and_opaque(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.new_event()
    ids = [f"member-{i:03d}" for i in range(250)]
    assert api.add("org", event_id, ids).status_code == 200
    first = api.list_attendees("org", event_id).json()
    assert len(first["attendees"]) == 100 and first["nextToken"]
    collected = [a["id"] for a in first["attendees"]]
    token = first["nextToken"]
    while token:
        page = api.list_attendees("org", event_id, params={"maxResults": 70, "nextToken": token}).json()
        collected += [a["id"] for a in page["attendees"]]
        token = page.get("nextToken")
    assert collected == ["org", *ids]
    other = api.new_event()
    assert_error(
        api.list_attendees("org", other, params={"nextToken": first["nextToken"]}),
        400,
        "invalidParameter",
        "nextToken",
    )


def test_adding_present_attendee_changes_nothing(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.new_event(attendees=[{"id": "alice"}])
    api.respond("alice", event_id, "tentative")
    before = emu.event(event_id)
    assert api.add("org", event_id, ["alice", "org"]).status_code == 200
    after = emu.event(event_id)
    assert after["attendees"] == before["attendees"]
    assert after["attendees"][1]["responseStatus"] == "tentative"


def test_attendee_limit_per_event(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.new_event()
    for batch in range(9):
        ids = [f"b{batch}-{i}" for i in range(500)]
        assert api.add("org", event_id, ids).status_code == 200
    assert len(emu.attendees(event_id)) == 4501
    assert_error(api.add("org", event_id, [f"last-{i}" for i in range(500)]), 400, "invalidParameter", "5000")
    assert api.add("org", event_id, [f"last-{i}" for i in range(499)]).status_code == 200
    assert len(emu.attendees(event_id)) == 5000
    assert_error(api.add("org", event_id, ["one-too-many"]), 400, "invalidParameter", "5000")


def test_visibility_and_permissions(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.new_event(attendees=[{"id": "alice"}])
    # strangers cannot see it
    assert_error(api.get("mallory", event_id), 404, "instanceNotExist")
    assert_error(api.list_attendees("mallory", event_id), 404, "instanceNotExist")
    assert_error(api.respond("mallory", event_id, "accepted"), 404, "instanceNotExist")
    assert_error(api.patch("mallory", event_id, {"id": event_id, "summary": "x"}), 404, "instanceNotExist")
    assert api.list_events("mallory").json()["events"] == []
    # attendees can read and respond, not change
    assert api.get("alice", event_id).status_code == 200
    assert [e["id"] for e in api.list_events("alice").json()["events"]] == [event_id]
    no = "Forbidden.AccessDenied.NoPermission"
    assert_error(api.patch("alice", event_id, {"id": event_id, "summary": "x"}), 403, no)
    assert_error(api.add("alice", event_id, ["bob"]), 403, no)
    assert_error(api.remove("alice", event_id, ["org"]), 403, no)
    assert emu.event(event_id)["summary"] == "Standup"
    # unknown events
    for resp in (
        api.get("org", "nope"),
        api.patch("org", "nope", {"id": "nope", "summary": "x"}),
        api.delete("org", "nope"),
        api.add("org", "nope", ["x"]),
        api.list_attendees("org", "nope"),
        api.remove("org", "nope", ["x"]),
        api.respond("org", "nope", "accepted"),
    ):
        assert_error(resp, 404, "instanceNotExist")


def test_delete_by_attendee_only_leaves_their_calendar(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.new_event(attendees=[{"id": "alice"}, {"id": "bob"}])
    resp = api.delete("alice", event_id)
    assert resp.status_code == 200 and resp.content == b""
    assert emu.event(event_id)["status"] == "confirmed"
    assert [a["id"] for a in emu.attendees(event_id)] == ["org", "bob"]
    assert_error(api.get("alice", event_id), 404, "instanceNotExist")
    assert api.get("bob", event_id).status_code == 200


def test_delete_by_organizer_cancels_for_everyone(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.new_event(attendees=[{"id": "alice"}])
    keep = api.new_event()
    assert api.delete("org", event_id, params={"pushNotification": "false"}).status_code == 200
    assert emu.event(event_id)["status"] == "cancelled"
    for user in ("org", "alice"):
        assert_error(api.get(user, event_id), 404, "instanceNotExist")
        assert [e["id"] for e in api.list_events(user).json()["events"]] == ([keep] if user == "org" else [])
    shown = {
        e["id"]: e["status"] for e in api.list_events("org", params={"showDeleted": "true"}).json()["events"]
    }
    assert shown == {event_id: "cancelled", keep: "confirmed"}
    assert_error(api.delete("org", event_id), 404, "instanceNotExist")
    assert_error(api.add("org", event_id, ["x"]), 404, "instanceNotExist")


def test_body_less_operations_answer_200_with_empty_body(api: Api) -> None:
    event_id = api.new_event(attendees=[{"id": "alice"}])
    for resp in (
        api.add("org", event_id, ["bob"]),
        api.remove("org", event_id, ["bob"]),
        api.respond("alice", event_id, "declined"),
        api.delete("org", event_id),
    ):
        assert resp.status_code == 200 and resp.content == b""
        assert resp.headers["Content-Length"] == "0"


def test_list_events_window_pagination_and_sync_token(emu: DingTalkEmulator, api: Api) -> None:
    ids = {}
    for day in (1, 2, 3, 10):
        body = {
            "summary": f"D{day}",
            **timed(f"2025-09-{day:02d}T10:00:00+08:00", f"2025-09-{day:02d}T11:00:00+08:00"),
        }
        ids[day] = api.create("org", body).json()["id"]
    all_day = api.create(
        "org", {"summary": "AD", "start": {"date": "2025-09-02"}, "end": {"date": "2025-09-03"}}
    ).json()["id"]
    window = {"timeMin": "2025-09-01T12:00:00+08:00", "timeMax": "2025-09-05T00:00:00+08:00"}
    listed = api.list_events("org", params=window).json()
    assert [e["id"] for e in listed["events"]] == [ids[2], ids[3], all_day]
    page1 = api.list_events("org", params={**window, "maxResults": "2"}).json()
    assert len(page1["events"]) == 2 and "syncToken" not in page1
    page2 = api.list_events(
        "org", params={**window, "maxResults": "2", "nextToken": page1["nextToken"]}
    ).json()
    assert [e["id"] for e in page2["events"]] == [all_day] and "nextToken" not in page2
    assert "syncToken" not in page2  # never with timeMax
    sync = api.list_events("org", params={"timeMin": window["timeMin"]}).json()["syncToken"]
    assert api.patch("org", ids[10], {"id": ids[10], "summary": "moved"}).status_code == 200
    changed = api.list_events("org", params={"syncToken": sync}).json()
    assert [e["summary"] for e in changed["events"]] == ["moved"]


def test_path_segments_are_split_before_decoding(emu: DingTalkEmulator, api: Api) -> None:
    resp = api.create("team/lead", event_body())
    assert resp.status_code == 200, resp.text
    assert emu.events()[0]["organizer"]["id"] == "team/lead"
    assert emu.requests()[-1]["path"] == "/v1.0/calendar/users/team%2Flead/calendars/primary/events"
    assert api.create("张三", event_body()).json()["organizer"]["id"] == "张三"
    # "..%2Fx" is one event-id segment, so this is GetEvent on an unknown event, not another route
    raw = api.session.get(
        f"{api.base_url}/v1.0/calendar/users/org/calendars/primary/events/..%2Fx",
        headers={"x-acs-dingtalk-access-token": api.token},
        timeout=5,
    )
    assert_error(raw, 404, "instanceNotExist")
    assert emu.requests()[-1]["operation"] == "GetEvent"
    unknown = api.session.get(f"{api.base_url}/v1.0/calendar/users/org/calendars/primary/nothing", timeout=5)
    assert_error(unknown, 404, "InvalidAction.NotFound")
    assert emu.requests()[-1]["operation"] is None


# ----------------------------------------------------------------------------------------------- idempotency


def test_client_token_replays_create(emu: DingTalkEmulator, api: Api) -> None:
    first = api.create("org", event_body(), client_token="op-1")
    second = api.create("org", event_body(summary="different body"), client_token="op-1")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(emu.events()) == 1 and emu.events()[0]["summary"] == "Standup"
    stats = emu.stats()
    assert stats["applied"]["CreateEvent"] == 1 and stats["replayed"]["CreateEvent"] == 1
    # without the header each write applies
    api.create("org", event_body())
    api.create("org", event_body())
    assert len(emu.events()) == 3


def test_client_token_is_scoped_by_app_and_operation(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.create("org", event_body(), client_token="shared").json()["id"]
    assert api.add("org", event_id, ["alice"], client_token="shared").status_code == 200
    assert "alice" in [a["id"] for a in emu.attendees(event_id)]
    other = Api(emu.base_url, "app-2", "s2")
    other.login()
    other_id = other.create("org", event_body(), client_token="shared").json()["id"]
    assert other_id != event_id and len(emu.events()) == 2


def test_only_successful_writes_are_remembered(emu: DingTalkEmulator, api: Api) -> None:
    assert api.create("org", {"summary": "no times"}, client_token="retry-me").status_code == 400
    ok = api.create("org", event_body(), client_token="retry-me")
    assert ok.status_code == 200 and len(emu.events()) == 1


def test_replayed_writes_change_nothing(emu: DingTalkEmulator, api: Api) -> None:
    event_id = api.new_event(attendees=[{"id": "alice"}])
    assert api.respond("alice", event_id, "accepted", client_token="r1").status_code == 200
    assert api.respond("alice", event_id, "declined", client_token="r2").status_code == 200
    assert api.respond("alice", event_id, "accepted", client_token="r1").status_code == 200
    assert {a["id"]: a["responseStatus"] for a in emu.attendees(event_id)}["alice"] == "declined"
    assert api.delete("org", event_id, client_token="d1").status_code == 200
    assert api.delete("org", event_id, client_token="d1").status_code == 200  # replay, not 404
    assert_error(api.delete("org", event_id), 404, "instanceNotExist")
    stats = emu.stats()
    assert stats["replayed"]["RespondEvent"] == 1 and stats["replayed"]["DeleteEvent"] == 1
    assert stats["applied"]["DeleteEvent"] == 1


# ----------------------------------------------------------------------------------------------- reset and stats


@pytest.mark.dtcal_emulator(qps_limit=50)
def test_reset_clears_state_but_keeps_config(emu: DingTalkEmulator, api: Api) -> None:
    api.new_event()
    emu.fail_next(count=5)
    assert emu.events() and emu.requests() and emu.faults()
    emu.reset()
    assert emu.events() == [] and emu.requests() == [] and emu.faults() == []
    assert emu.stats()["calls"]["CreateEvent"] == 0 and emu.stats()["tokens_issued"] == 0
    assert_error(api.list_events("org"), 400, "InvalidAuthentication")  # tokens are gone too
    assert emu.config()["qps_limit"] == 50


def test_stats_count_calls_and_errors(emu: DingTalkEmulator, api: Api) -> None:
    api.new_event()
    api.get("org", "missing")
    api.list_events("org")
    stats = emu.stats()
    assert stats["calls"]["GetAccessToken"] == 1
    assert stats["calls"]["CreateEvent"] == 1 and stats["applied"]["CreateEvent"] == 1
    assert stats["calls"]["GetEvent"] == 1 and stats["errors"]["GetEvent"] == 1
    assert stats["calls"]["ListEvents"] == 1 and stats["applied"]["ListEvents"] == 0


# ----------------------------------------------------------------------------------------------- concurrency


def test_concurrent_writes_with_one_client_token_apply_once(emu: DingTalkEmulator, api: Api) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def create(i: int) -> tuple[int, str]:
        client = Api(emu.base_url)
        client.token = api.token
        resp = client.create("org", event_body(summary=f"S{i}"), client_token="same" if i % 2 else None)
        client.close()
        return resp.status_code, resp.json()["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(create, range(40)))
    assert {status for status, _ in results} == {200}
    same_ids = {event_id for i, (_, event_id) in enumerate(results) if i % 2}
    assert len(same_ids) == 1
    assert len(emu.events()) == 21  # 20 without a client token + 1 for the shared token
    stats = emu.stats()
    assert stats["applied"]["CreateEvent"] == 21 and stats["replayed"]["CreateEvent"] == 19


def test_closing_the_emulator_drops_keep_alive_connections() -> None:
    with DingTalkEmulator(qps_limit=None) as local:
        client = Api(local.base_url)
        client.login()
        assert client.list_events("org").status_code == 200
    with pytest.raises(requests.ConnectionError):
        client.list_events("org", timeout=2)
