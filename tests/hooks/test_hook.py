"""DingTalkCalendarHook against the emulator over real HTTP: every method, errors, pages, chunks, tokens."""

from __future__ import annotations

import json

import pytest

from airflow_dtcal.exceptions import (
    DingTalkAuthError,
    DingTalkConfigurationError,
    DingTalkInvalidArgumentError,
    DingTalkInvalidParameterError,
    DingTalkNotFoundError,
    DingTalkPermissionError,
)
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook, resolve_base_url
from airflow_dtcal.planning.events import build_event

ORGANIZER = "union-org"


def fast_hook(**kwargs) -> DingTalkCalendarHook:
    options = {"backoff_initial": 0.01, "backoff_max": 0.05, "rate_limit": 0}
    options.update(kwargs)
    return DingTalkCalendarHook(**options)


def timed_event(**kwargs) -> dict:
    return build_event(
        summary=kwargs.pop("summary", "Data review"),
        start="2026-12-01T10:00:00+08:00",
        end="2026-12-01T11:00:00+08:00",
        timezone="Asia/Shanghai",
        **kwargs,
    )


def test_event_lifecycle_matches_the_contract(dtcal_emulator):
    hook = fast_hook()
    created = hook.create_event(ORGANIZER, timed_event(attendees=["u1", {"id": "u2", "isOptional": True}]))
    event_id = created["id"]
    stored = dtcal_emulator.event(event_id)
    assert stored["summary"] == "Data review"
    assert stored["start"] == {"dateTime": "2026-12-01T10:00:00+08:00", "timeZone": "Asia/Shanghai"}
    assert stored["organizer"]["id"] == ORGANIZER

    create_request = [r for r in dtcal_emulator.requests() if r["operation"] == "CreateEvent"][0]
    assert create_request["method"] == "POST"
    assert create_request["path"] == f"/v1.0/calendar/users/{ORGANIZER}/calendars/primary/events"
    assert create_request["body"]["attendees"] == [
        {"id": "u1", "isOptional": False},
        {"id": "u2", "isOptional": True},
    ]
    assert create_request["has_token"] and create_request["client_token"]
    assert "access_token" not in create_request["query"]

    fetched = hook.get_event(ORGANIZER, event_id)
    assert fetched["id"] == event_id and fetched["summary"] == "Data review"

    patched = hook.patch_event(ORGANIZER, event_id, {"summary": "Data review (moved)"})
    assert patched["summary"] == "Data review (moved)"
    assert dtcal_emulator.event(event_id)["summary"] == "Data review (moved)"

    listed = hook.list_events(
        ORGANIZER, time_min="2026-11-30T00:00:00+08:00", time_max="2026-12-02T00:00:00+08:00"
    )
    assert [e["id"] for e in listed] == [event_id]

    hook.delete_event(ORGANIZER, event_id)
    assert dtcal_emulator.event(event_id)["status"] == "cancelled"
    with pytest.raises(DingTalkNotFoundError) as caught:
        hook.get_event(ORGANIZER, event_id)
    error = caught.value
    assert error.status == 404 and error.code == "instanceNotExist" and error.request_id
    assert error.operation == "GetEvent"


def test_attendee_flow_and_responses(dtcal_emulator):
    hook = fast_hook()
    event_id = hook.create_event(ORGANIZER, timed_event())["id"]
    sent = hook.add_attendees(ORGANIZER, event_id, ["alice", {"id": "bob", "isOptional": True}])
    assert sent == [{"id": "alice", "isOptional": False}, {"id": "bob", "isOptional": True}]
    hook.respond_event("alice", event_id, "accepted")
    hook.respond_event("bob", event_id, "tentative")
    statuses = {a["id"]: a["responseStatus"] for a in hook.list_attendees(ORGANIZER, event_id)}
    assert statuses == {ORGANIZER: "accepted", "alice": "accepted", "bob": "tentative"}
    assert hook.remove_attendees(ORGANIZER, event_id, ["bob"]) == ["bob"]
    assert [a["id"] for a in dtcal_emulator.attendees(event_id)] == [ORGANIZER, "alice"]
    remove = [r for r in dtcal_emulator.requests() if r["operation"] == "RemoveAttendee"][0]
    assert remove["path"].endswith(f"/events/{event_id}/attendees/batchRemove")
    assert remove["body"] == {"attendeesToRemove": [{"id": "bob"}]}
    respond = [r for r in dtcal_emulator.requests() if r["operation"] == "RespondEvent"][0]
    assert respond["path"] == f"/v1.0/calendar/users/alice/calendars/primary/events/{event_id}/respond"
    assert respond["body"] == {"responseStatus": "accepted"}


def test_notification_flags_go_on_the_wire(dtcal_emulator):
    hook = fast_hook()
    event_id = hook.create_event(ORGANIZER, timed_event(chat_notification=False))["id"]
    hook.add_attendees(ORGANIZER, event_id, ["a"], chat_notification=True, push_notification=False)
    bodies = {r["operation"]: r["body"] for r in dtcal_emulator.requests() if r["operation"]}
    assert bodies["CreateEvent"]["extra"] == {"noChatNotification": "true"}
    assert bodies["AddAttendee"]["chatNotification"] is True
    assert bodies["AddAttendee"]["pushNotification"] is False


def test_listing_follows_next_token_across_pages(dtcal_emulator):
    hook = fast_hook()
    event_id = hook.create_event(ORGANIZER, timed_event())["id"]
    hook.add_attendees(ORGANIZER, event_id, [f"user-{i:02d}" for i in range(10)])
    before = dtcal_emulator.stats()["calls"]["ListAttendees"]
    listed = hook.list_attendees(ORGANIZER, event_id, page_size=3)
    assert [a["id"] for a in listed] == [ORGANIZER] + [f"user-{i:02d}" for i in range(10)]
    assert dtcal_emulator.stats()["calls"]["ListAttendees"] - before == 4  # 11 attendees, 3 per page
    pages = [r for r in dtcal_emulator.requests() if r["operation"] == "ListAttendees"]
    assert "nextToken" not in pages[0]["query"] and all("nextToken" in p["query"] for p in pages[1:])
    assert {p["query"]["maxResults"] for p in pages} == {"3"}


def test_listing_streams_pages_lazily(dtcal_emulator):
    hook = fast_hook()
    event_id = hook.create_event(ORGANIZER, timed_event())["id"]
    hook.add_attendees(ORGANIZER, event_id, [f"user-{i}" for i in range(9)])
    before = dtcal_emulator.stats()["calls"]["ListAttendees"]
    stream = hook.iter_attendees(ORGANIZER, event_id, page_size=5)
    first = next(stream)
    assert first["id"] == ORGANIZER
    assert (
        dtcal_emulator.stats()["calls"]["ListAttendees"] - before == 1
    )  # the second page is not fetched yet
    assert len(list(stream)) == 9


def test_more_than_500_attendees_are_chunked_with_their_own_client_tokens(dtcal_emulator, capsys):
    hook = fast_hook()
    event_id = hook.create_event(ORGANIZER, timed_event())["id"]
    people = [f"user-{i:04d}" for i in range(1200)]
    hook.add_attendees(ORGANIZER, event_id, people, client_token="base-token")
    progress = [line for line in capsys.readouterr().out.splitlines() if "attendees of event" in line]
    # The chunks are in flight together, so they complete in any order; progress only grows.
    counts = [int(line.split("Added ")[1].split(" of")[0].replace(",", "")) for line in progress]
    assert counts == sorted(counts) and counts[-1] == 1200 and len(counts) == 3
    adds = [r for r in dtcal_emulator.requests() if r["operation"] == "AddAttendee"]
    assert sorted(len(r["body"]["attendeesToAdd"]) for r in adds) == [200, 500, 500]
    assert len({r["client_token"] for r in adds}) == 3
    assert len(dtcal_emulator.attendees(event_id)) == 1201
    # The same call again (a retried task) replays every chunk and adds nobody twice.
    hook.add_attendees(ORGANIZER, event_id, people, client_token="base-token")
    assert dtcal_emulator.stats()["replayed"]["AddAttendee"] == 3
    hook.remove_attendees(ORGANIZER, event_id, people[:700])
    removes = [r for r in dtcal_emulator.requests() if r["operation"] == "RemoveAttendee"]
    assert sorted(len(r["body"]["attendeesToRemove"]) for r in removes) == [200, 500]
    assert len(dtcal_emulator.attendees(event_id)) == 501


def test_create_with_more_than_500_attendees_adds_the_rest(dtcal_emulator):
    hook = fast_hook()
    people = [f"user-{i:04d}" for i in range(740)]
    created = hook.create_event(ORGANIZER, timed_event(attendees=people))
    create = [r for r in dtcal_emulator.requests() if r["operation"] == "CreateEvent"][0]
    assert len(create["body"]["attendees"]) == 500
    assert len(dtcal_emulator.attendees(created["id"])) == 741


def test_one_token_is_fetched_and_reused(dtcal_emulator):
    hook = fast_hook()
    event_id = hook.create_event(ORGANIZER, timed_event())["id"]
    for _ in range(5):
        hook.get_event(ORGANIZER, event_id)
    other_hook = fast_hook()  # same app in the same process shares the cached token
    other_hook.get_event(ORGANIZER, event_id)
    assert dtcal_emulator.stats()["token_fetches"] == 1
    token_request = [r for r in dtcal_emulator.requests() if r["operation"] == "GetAccessToken"][0]
    assert token_request["path"] == "/v1.0/oauth2/accessToken"
    # the emulator's request log redacts the secret; a non-empty appSecret string was sent
    assert token_request["body"] == {"appKey": dtcal_emulator.app_key, "appSecret": "[redacted]"}
    assert not token_request["has_token"]


def test_ids_are_percent_encoded_path_segments(dtcal_emulator):
    hook = fast_hook()
    with pytest.raises(DingTalkNotFoundError):
        hook.get_event("../../oauth2", "a/b?c")
    request = dtcal_emulator.requests()[-1]
    assert request["operation"] == "GetEvent"
    assert request["path"] == "/v1.0/calendar/users/..%2F..%2Foauth2/calendars/primary/events/a%2Fb%3Fc"


def test_error_codes_map_to_exception_types(dtcal_emulator):
    hook = fast_hook()
    event_id = hook.create_event(ORGANIZER, timed_event(attendees=["alice"]))["id"]
    with pytest.raises(DingTalkPermissionError) as caught:
        hook.add_attendees("alice", event_id, ["mallory"])  # only the organizer may add
    assert caught.value.status == 403
    with pytest.raises(DingTalkNotFoundError):
        hook.respond_event("stranger", event_id, "accepted")
    dtcal_emulator.fail_next(status=400, code="invalidParameter", message="summary is too long")
    with pytest.raises(DingTalkInvalidParameterError, match="summary is too long"):
        hook.get_event(ORGANIZER, event_id)
    # Errors are read from the body too: a 200 that carries {code, message, requestid} is an error.
    dtcal_emulator.fail_next(status=200, code="instanceNotExist", message="gone")
    with pytest.raises(DingTalkNotFoundError):
        hook.get_event(ORGANIZER, event_id)


def test_bad_credentials_raise_an_auth_error(dtcal_emulator, monkeypatch):
    conn = json.loads(dtcal_emulator.connection_json(app_key="", app_secret="x"))
    conn["login"] = "wrong-key"
    conn["password"] = "wrong-secret"
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT", json.dumps(conn))
    dtcal_emulator.fail_next(
        status=400, code="invalidClientIdOrSecret", message="bad", operation="GetAccessToken"
    )
    hook = fast_hook()
    with pytest.raises(DingTalkAuthError) as caught:
        hook.get_event(ORGANIZER, "whatever")
    assert "wrong-secret" not in str(caught.value)
    ok, message = fast_hook().test_connection()
    assert ok, message  # the emulator accepts any non-empty key once the injected fault is spent


def test_invalid_arguments_fail_before_any_request(dtcal_emulator):
    hook = fast_hook()
    cases = [
        lambda: hook.get_event("", "e1"),
        lambda: hook.get_event(ORGANIZER, None),
        lambda: hook.add_attendees(ORGANIZER, "e1", []),
        lambda: hook.add_attendees(ORGANIZER, "e1", ["a", "a"]),
        lambda: hook.add_attendees(ORGANIZER, "e1", [f"u{i}" for i in range(5001)]),
        lambda: hook.remove_attendees(ORGANIZER, "e1", "alice"),
        lambda: hook.respond_event("alice", "e1", "maybe"),
        lambda: hook.create_event(ORGANIZER, {"summary": "no start"}),
        # a dateTime with neither offset nor timeZone: its instant is unknown (core.times' rule)
        lambda: hook.create_event(ORGANIZER, {"summary": "s", "start": {"dateTime": "2026-03-09T10:00:00"}}),
        lambda: hook.create_event(ORGANIZER, {"summary": "s", "start": {"date": "2026-03-09"}, "end": {}}),
        lambda: hook.patch_event(ORGANIZER, "e1", {"end": {"dateTime": "10am", "timeZone": "Asia/Shanghai"}}),
        lambda: hook.list_attendees(ORGANIZER, "e1", page_size=501),
        lambda: hook.add_attendees(ORGANIZER, "e1", ["a"], chunk_size=600),
    ]
    for number, case in enumerate(cases):
        with pytest.raises(DingTalkInvalidArgumentError):
            case()
            pytest.fail(f"case {number} did not raise")
    assert dtcal_emulator.stats()["calls"] == {op: 0 for op in dtcal_emulator.stats()["calls"]}


def test_raw_event_times_are_read_by_the_one_rule_before_any_request(dtcal_emulator):
    hook = fast_hook()
    with pytest.raises(DingTalkInvalidArgumentError, match=r"^event\.start\.dateTime: has no UTC offset"):
        hook.create_event(ORGANIZER, {"summary": "s", "start": {"dateTime": "2026-03-09T10:00:00"}})
    with pytest.raises(DingTalkInvalidArgumentError, match=r"^changes\.end\.timeZone: "):
        hook.patch_event(ORGANIZER, "e1", {"end": {"dateTime": "2026-03-09T10:00:00", "timeZone": "Nowhere"}})
    assert dtcal_emulator.stats()["calls"] == {op: 0 for op in dtcal_emulator.stats()["calls"]}
    body = {
        "summary": "s",
        "start": {"dateTime": "2026-03-09T10:00:00", "timeZone": "Asia/Shanghai"},
        "end": {"dateTime": "2026-03-09T11:00:00", "timeZone": "Asia/Shanghai"},
    }
    assert hook.create_event(ORGANIZER, body)["start"] == body["start"]  # offset-less with its zone: sent


@pytest.mark.parametrize(
    "host, expected",
    [
        (None, "https://api.dingtalk.com"),
        ("api.dingtalk.com", "https://api.dingtalk.com"),
        ("https://api.dingtalk.com/", "https://api.dingtalk.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:9", "http://localhost:9"),
        ("http://[::1]:9", "http://[::1]:9"),
    ],
)
def test_base_url_resolution(host, expected):
    assert resolve_base_url(host) == expected


@pytest.mark.parametrize(
    "host, words",
    [
        ("http://api.dingtalk.com", "only allowed to a loopback"),
        ("http://10.0.0.5:8080", "only allowed to a loopback"),
        ("ftp://api.dingtalk.com", "scheme"),
        ("https://user:pw@api.dingtalk.com", "credentials"),
        ("https://api.dingtalk.com/?access_token=x", "credentials"),
    ],
)
def test_unsafe_hosts_are_refused(host, words):
    with pytest.raises(DingTalkConfigurationError, match=words):
        resolve_base_url(host)


def test_missing_connection_fields_are_named(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT",
        json.dumps({"conn_type": "dingtalk_calendar", "login": "k", "host": "http://127.0.0.1:9"}),
    )
    with pytest.raises(DingTalkConfigurationError, match=r"password \(App Secret\) must be set"):
        DingTalkCalendarHook().get_access_token()


def test_settings_precedence_hook_args_over_extras_over_defaults(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT",
        json.dumps(
            {
                "conn_type": "dingtalk_calendar",
                "login": "k",
                "password": "S3cr3t-value",
                "host": "http://127.0.0.1:9",
                "extra": {"timeout": 7, "max_attempts": 2, "rate_limit": "10"},
            }
        ),
    )
    settings = DingTalkCalendarHook(max_attempts=9).settings
    assert settings.verify is True  # TLS verification is on unless the connection turns it off
    assert (settings.timeout, settings.max_attempts, settings.rate_limit) == (7.0, 9, 10.0)
    assert settings.connect_timeout == 5.0
    assert "S3cr3t-value" not in repr(settings)
    monkeypatch.setenv(
        "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT",
        json.dumps(
            {"conn_type": "dingtalk_calendar", "login": "k", "password": "s", "extra": {"timeout": "soon"}}
        ),
    )
    with pytest.raises(DingTalkConfigurationError, match="timeout: must be a number"):
        DingTalkCalendarHook().settings  # noqa: B018


def test_test_connection_makes_one_attempt(dtcal_emulator):
    dtcal_emulator.fail_next(count=5, status=503, operation="GetAccessToken")
    ok, message = fast_hook().test_connection()
    assert not ok and "503" in message
    assert dtcal_emulator.stats()["calls"]["GetAccessToken"] == 1


def test_prefixed_extras_from_older_connection_forms_are_read(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT",
        json.dumps(
            {
                "conn_type": "dingtalk_calendar",
                "login": "k",
                "password": "s",
                "extra": {"extra__dingtalk_calendar__timeout": "12", "max_attempts": 3},
            }
        ),
    )
    settings = DingTalkCalendarHook().settings
    assert (settings.timeout, settings.max_attempts) == (12.0, 3)


def test_netrc_credentials_apply_as_requests_applies_them(dtcal_emulator, monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password something\n")
    monkeypatch.setenv("NETRC", str(netrc))
    hook = fast_hook()
    event_id = hook.create_event(ORGANIZER, timed_event(attendees=["a"]))["id"]
    hook.respond_event("a", event_id, "accepted")
    assert {a["id"]: a["responseStatus"] for a in hook.list_attendees(ORGANIZER, event_id)}["a"] == "accepted"
    assert all(
        r["headers"].get("authorization", "").startswith("Basic ") for r in dtcal_emulator.requests()[1:]
    )


def test_requests_carry_the_product_headers(dtcal_emulator, monkeypatch):
    monkeypatch.delenv("NETRC", raising=False)
    hook = fast_hook()
    hook.list_events(ORGANIZER)
    request = dtcal_emulator.requests()[-1]
    assert request["headers"]["user-agent"].startswith("airflow-dtcal/")
    assert request["headers"]["accept"] == "application/json"
    assert "authorization" not in request["headers"]
