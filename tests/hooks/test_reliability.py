"""Reliability against the emulator's fault injection over real HTTP.

Transient faults on any step of the seed flow end with the right final state and no duplicate; permanent
faults fail fast, once; a revoked token is fetched again once; retries are capped, logged and secret-free;
a bounded randomized soak ends with every flow correct.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from airflow_dtcal.exceptions import (
    DingTalkAuthError,
    DingTalkInvalidParameterError,
    DingTalkNotFoundError,
    DingTalkPermissionError,
    DingTalkQuotaExceededError,
    DingTalkRateLimitError,
    DingTalkServerError,
)
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.planning.events import build_event

ORGANIZER = "org"
GUESTS = ["alice", "bob", "carol"]
FLOW_OPERATIONS = [
    "GetAccessToken",
    "CreateEvent",
    "AddAttendee",
    "ListAttendees",
    "RespondEvent",
    "RemoveAttendee",
]


def hook(**kwargs) -> DingTalkCalendarHook:
    options = {"backoff_initial": 0.01, "backoff_max": 0.05, "rate_limit": 0, "timeout": 0.5}
    options.update(kwargs)
    return DingTalkCalendarHook(**options)


def seed_flow(h: DingTalkCalendarHook, n: int = 0) -> str:
    """The tutorial flow: create, add, list, respond, remove. Returns the event id."""
    event = build_event(
        summary=f"Flow {n}", start="2026-12-01T10:00:00+08:00", end="2026-12-01T11:00:00+08:00"
    )
    event_id = h.create_event(ORGANIZER, event)["id"]
    h.add_attendees(ORGANIZER, event_id, GUESTS)
    listed = h.list_attendees(ORGANIZER, event_id)
    assert {a["id"] for a in listed} == {ORGANIZER, *GUESTS}
    h.respond_event("alice", event_id, "accepted")
    h.remove_attendees(ORGANIZER, event_id, ["carol"])
    return event_id


def assert_flow_state(emulator, event_id: str, summary: str = "Flow 0") -> None:
    event = emulator.event(event_id)
    assert event is not None and event["summary"] == summary
    final = {a["id"]: a["responseStatus"] for a in emulator.attendees(event_id)}
    assert final == {ORGANIZER: "accepted", "alice": "accepted", "bob": "needsAction"}


TRANSIENT_FAULTS = {
    "503": lambda emu, op: emu.fail_next(status=503, code="ServiceUnavailable", operation=op),
    "500 unknownError": lambda emu, op: emu.fail_next(status=500, code="unknownError", operation=op),
    "429": lambda emu, op: emu.fail_next(status=429, code="TooManyRequests", operation=op),
    "throttled per app": lambda emu, op: emu.fail_next(
        status=403, code="Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", operation=op
    ),
    "throttled global": lambda emu, op: emu.fail_next(
        status=403, code="Forbidden.AccessDenied.QpsLimitForApi", operation=op
    ),
    "reset before acting": lambda emu, op: emu.reset_before(operation=op),
    "reset after acting": lambda emu, op: emu.reset_after(operation=op),
    "delay past the timeout": lambda emu, op: emu.delay_next(seconds=0.8, operation=op),
    "html page": lambda emu, op: emu.html_next(status=502, operation=op),
    "ban json": lambda emu, op: emu.deny_next(wait=0, operation=op),
}


@pytest.mark.parametrize("operation", FLOW_OPERATIONS)
@pytest.mark.parametrize("fault", list(TRANSIENT_FAULTS))
def test_transient_fault_completes_the_flow_without_duplicates(dtcal_emulator, fault, operation):
    TRANSIENT_FAULTS[fault](dtcal_emulator, operation)
    event_id = seed_flow(hook())
    assert_flow_state(dtcal_emulator, event_id)
    stats = dtcal_emulator.stats()
    assert len(dtcal_emulator.events()) == 1
    assert stats["applied"]["CreateEvent"] == 1
    assert stats["applied"]["AddAttendee"] == 1 and stats["applied"]["RemoveAttendee"] == 1
    assert stats["faulted"][operation] == 1
    assert dtcal_emulator.faults() == []  # the fault was met
    if operation != "GetAccessToken":
        assert stats["calls"][operation] >= 2  # the faulted call was retried


@pytest.mark.parametrize(
    "status, code, error",
    [
        (400, "invalidParameter", DingTalkInvalidParameterError),
        (403, "Forbidden.AccessDenied.AccessTokenPermissionDenied", DingTalkPermissionError),
        (404, "instanceNotExist", DingTalkNotFoundError),
        (403, "Forbidden.AccessDenied.ApiCountLimitForOrg", DingTalkQuotaExceededError),
    ],
)
@pytest.mark.parametrize("operation", ["CreateEvent", "AddAttendee", "RespondEvent"])
def test_permanent_faults_fail_fast_once(dtcal_emulator, status, code, error, operation):
    dtcal_emulator.fail_next(count=5, status=status, code=code, operation=operation)
    with pytest.raises(error) as caught:
        seed_flow(hook())
    assert caught.value.code == code and caught.value.status == status
    assert dtcal_emulator.stats()["calls"][operation] == 1


def test_retries_are_capped_by_attempts(dtcal_emulator):
    dtcal_emulator.fail_next(count=50, status=503, operation="GetEvent")
    with pytest.raises(DingTalkServerError):
        hook(max_attempts=3).get_event(ORGANIZER, "e1")
    assert dtcal_emulator.stats()["calls"]["GetEvent"] == 3


def test_a_throttled_request_takes_more_tries_than_other_failures(dtcal_emulator):
    """Throttles are how pacers learn that the quota is shared (pacing="process" meets them by design): a
    request DingTalk keeps throttling gets max_throttled_attempts tries, any other failure max_attempts;
    max_attempts=1 retries nothing."""
    throttle = {"status": 403, "code": "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"}
    quick = {"backoff_initial": 0.01, "backoff_max": 0.01}  # DingTalk's one-second hint is capped here
    dtcal_emulator.fail_next(count=50, operation="GetEvent", **throttle)
    with pytest.raises(DingTalkRateLimitError):
        hook(max_attempts=2, max_throttled_attempts=4, **quick).get_event(ORGANIZER, "e1")
    assert dtcal_emulator.stats()["calls"]["GetEvent"] == 4
    dtcal_emulator.reset()
    dtcal_emulator.fail_next(count=50, operation="GetEvent", **throttle)
    with pytest.raises(DingTalkRateLimitError):
        hook(max_attempts=1, max_throttled_attempts=4, **quick).get_event(ORGANIZER, "e1")
    assert dtcal_emulator.stats()["calls"]["GetEvent"] == 1
    dtcal_emulator.reset()
    dtcal_emulator.fail_next(count=50, operation="GetEvent", **throttle)
    with pytest.raises(DingTalkRateLimitError):
        hook(**quick).get_event(ORGANIZER, "e1")
    assert dtcal_emulator.stats()["calls"]["GetEvent"] == 8  # the default max_throttled_attempts
    dtcal_emulator.reset()
    dtcal_emulator.fail_next(count=3, operation="GetEvent", **throttle)  # three throttles, then 503s
    dtcal_emulator.fail_next(count=50, operation="GetEvent", status=503)
    with pytest.raises(DingTalkServerError):
        hook(max_attempts=3, **quick).get_event(ORGANIZER, "e1")
    assert dtcal_emulator.stats()["calls"]["GetEvent"] == 4  # past max_attempts once it is not a throttle


def test_a_failing_token_endpoint_is_not_retried_twice_over(dtcal_emulator):
    dtcal_emulator.fail_next(count=50, status=503, operation="GetAccessToken")
    with pytest.raises(DingTalkServerError):
        hook(max_attempts=3).get_event(ORGANIZER, "e1")
    calls = dtcal_emulator.stats()["calls"]
    assert calls["GetAccessToken"] == 3 and calls["GetEvent"] == 0


def test_retries_are_capped_by_the_deadline(dtcal_emulator):
    dtcal_emulator.fail_next(count=50, status=503, operation="GetEvent")
    started = time.monotonic()
    with pytest.raises(DingTalkServerError):
        hook(max_attempts=100, backoff_initial=0.1, backoff_max=0.1, retry_deadline=0.5).get_event(
            ORGANIZER, "e1"
        )
    assert time.monotonic() - started < 2.0
    assert 2 <= dtcal_emulator.stats()["calls"]["GetEvent"] < 10


def test_a_wait_hint_is_honoured(dtcal_emulator):
    dtcal_emulator.deny_next(wait=1, operation="GetEvent")
    dtcal_emulator.fail_next(status=404, code="instanceNotExist", operation="GetEvent")
    started = time.monotonic()
    with pytest.raises(DingTalkNotFoundError):
        hook(backoff_initial=0.01, backoff_max=5).get_event(ORGANIZER, "e1")
    assert time.monotonic() - started >= 1.0


def test_a_retry_after_header_is_honoured(dtcal_emulator):
    dtcal_emulator.fail_next(status=503, retry_after=1, operation="GetEvent")
    dtcal_emulator.fail_next(status=404, code="instanceNotExist", operation="GetEvent")
    started = time.monotonic()
    with pytest.raises(DingTalkNotFoundError):
        hook(backoff_initial=0.01, backoff_max=5).get_event(ORGANIZER, "e1")
    assert time.monotonic() - started >= 1.0
    assert dtcal_emulator.stats()["calls"]["GetEvent"] == 2


def test_throttling_waits_about_a_second_as_dingtalk_advises(dtcal_emulator):
    dtcal_emulator.fail_next(
        status=403, code="Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", operation="GetEvent"
    )
    dtcal_emulator.fail_next(status=404, code="instanceNotExist", operation="GetEvent")
    started = time.monotonic()
    with pytest.raises(DingTalkNotFoundError):
        hook(backoff_initial=0.01, backoff_max=5).get_event(ORGANIZER, "e1")
    assert time.monotonic() - started >= 1.0


def test_a_revoked_token_is_fetched_again_once(dtcal_emulator):
    h = hook()
    event_id = h.create_event(ORGANIZER, build_event(summary="x", start="2026-12-01"))["id"]
    dtcal_emulator.revoke_tokens()
    h.add_attendees(ORGANIZER, event_id, ["alice"])
    stats = dtcal_emulator.stats()
    assert stats["token_fetches"] == 2
    assert stats["calls"]["AddAttendee"] == 2 and stats["applied"]["AddAttendee"] == 1


def test_a_token_rejected_twice_is_not_fetched_forever(dtcal_emulator):
    h = hook()
    h.get_access_token()
    dtcal_emulator.fail_next(count=5, status=400, code="InvalidAuthentication", operation="GetEvent")
    with pytest.raises(DingTalkAuthError):
        h.get_event(ORGANIZER, "e1")
    stats = dtcal_emulator.stats()
    assert stats["calls"]["GetEvent"] == 2 and stats["token_fetches"] == 2


def test_concurrent_calls_fetch_the_token_once(dtcal_emulator):
    dtcal_emulator.set_latency(0.05)
    h = hook()
    errors = []

    def call():
        try:
            h.list_events(ORGANIZER)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert dtcal_emulator.stats()["token_fetches"] == 1
    assert dtcal_emulator.stats()["calls"]["ListEvents"] == 8


def test_the_token_is_renewed_before_it_expires(dtcal_emulator):
    dtcal_emulator.set_token_ttl(2)
    h = hook()
    first = h.get_access_token()
    assert h.get_access_token() == first
    time.sleep(1.9)  # past expireIn minus the safety margin (10%)
    h.get_access_token()
    assert dtcal_emulator.stats()["token_fetches"] == 2


def test_retries_are_logged_with_operation_code_and_attempt_but_no_secret(dtcal_emulator, capsys):
    h = hook()
    token = h.get_access_token()
    dtcal_emulator.fail_next(
        count=2, status=403, code="Forbidden.AccessDenied.QpsLimitForApi", operation="ListEvents"
    )
    h.list_events(ORGANIZER)
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if "retrying in" in line]
    assert len(warnings) == 2
    # a throttled request may take max_throttled_attempts (8) tries
    assert (
        "DingTalk ListEvents attempt 1/8" in warnings[0] and "DingTalk ListEvents attempt 2/8" in warnings[1]
    )
    assert all("QpsLimitForApi" in line and "warning" in line.lower() for line in warnings)
    assert token not in out and dtcal_emulator.app_secret not in out


def test_the_token_is_registered_with_the_secret_masker(dtcal_emulator):
    from tests.airflow_compat import redact

    token = hook().get_access_token()
    assert redact(f"token={token}") == "token=***"
    assert redact(dtcal_emulator.app_secret) == "***"


def test_the_hook_paces_itself_instead_of_burning_retries(dtcal_emulator):
    dtcal_emulator.set_qps_limit(10)
    h = hook(rate_limit=10)
    h.get_access_token()
    started = time.monotonic()
    for _ in range(25):
        h.list_events(ORGANIZER)
    elapsed = time.monotonic() - started
    stats = dtcal_emulator.stats()
    assert stats["throttled"]["ListEvents"] == 0
    assert stats["calls"]["ListEvents"] == 25
    assert elapsed >= 2.0  # 25 calls at 10 per (1.05 s) window


def test_soak_randomized_faults(dtcal_emulator):
    """300 seed flows, about 10% of requests faulted (fixed seed): every flow ends correct, no duplicates."""
    rng = random.Random(20261122)
    kinds = [k for k in TRANSIENT_FAULTS if k != "delay past the timeout"] * 4 + ["delay past the timeout"]
    h = hook(timeout=0.3)
    ops = FLOW_OPERATIONS[1:]
    started = time.monotonic()
    event_ids = []
    injected = 0
    for n in range(300):
        for op in ops:
            if rng.random() < 0.10:
                fault = rng.choice(kinds)
                if fault == "delay past the timeout":
                    dtcal_emulator.delay_next(seconds=0.4, operation=op)
                else:
                    TRANSIENT_FAULTS[fault](dtcal_emulator, op)
                injected += 1
        event_ids.append(seed_flow(h, n))
        dtcal_emulator.clear_faults()  # faults aimed at a step the flow skipped do not leak into the next
    elapsed = time.monotonic() - started
    stats = dtcal_emulator.stats()
    assert injected >= 120  # about 10% of 1,500 requests
    assert sum(stats["faulted"].values()) >= 100
    assert len(set(event_ids)) == 300 and len(dtcal_emulator.events()) == 300
    assert stats["applied"]["CreateEvent"] == 300
    for n, event_id in enumerate(event_ids):
        assert_flow_state(dtcal_emulator, event_id, f"Flow {n}")
    assert elapsed < 120
