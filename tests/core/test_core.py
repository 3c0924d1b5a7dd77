"""The pure core (no I/O): settings, calls, answers, paging, retry policy, pacing, exceptions."""

from __future__ import annotations

import gzip
import pickle

import pytest

from airflow_dtcal import exceptions
from airflow_dtcal.core import answers, calls, retry
from airflow_dtcal.core.calls import derive_client_token
from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.core.ids import normalize_attendees
from airflow_dtcal.core.paging import Pager
from airflow_dtcal.core.settings import resolve_settings
from airflow_dtcal.exceptions import (
    DingTalkAnswerError,
    DingTalkConfigurationError,
    DingTalkRateLimitError,
    DingTalkTransportError,
)


def settings(extras=None, **overrides):
    return resolve_settings(
        conn_id="c",
        host="http://127.0.0.1:9",
        schema=None,
        port=None,
        login="key",
        password="secret",
        extras=extras or {},
        overrides=overrides,
    )


def test_settings_read_both_extra_key_forms_and_keep_fractional_rates():
    s = settings({"extra__dingtalk_calendar__max_attempts": "3", "rate_limit": "2.5", "backoff_max": 4})
    assert (s.max_attempts, s.rate_limit, s.backoff_max) == (3, 2.5, 4.0)
    assert settings({"timeout": 7}, timeout=9).timeout == 9.0
    assert "secret" not in repr(s)


@pytest.mark.parametrize(
    "extras",
    [
        {"backoff_initial": "nan"},
        {"backoff_max": "inf"},
        {"timeout": "-1"},
        {"max_attempts": 2.5},
        {"max_attempts": True},
        {"rate_limit": "fast"},
        {"verify": 5},
    ],
)
def test_unusable_settings_name_the_setting(extras):
    (name,) = extras
    with pytest.raises(DingTalkConfigurationError, match=name):
        settings(extras)


def test_backoff_never_exceeds_its_cap_whatever_the_server_asks():
    s = settings(backoff_initial=0.5, backoff_max=20)
    throttled = DingTalkRateLimitError("ListAttendees", 403, "x", None, retry_after=100000)
    assert retry.backoff(s, 1, throttled) <= 20
    assert retry.backoff(s, 60, None) <= 20
    for header in ("100000", "inf", "-inf", "nan", "-1", "soon"):
        hint = answers.retry_after({"Retry-After": header})
        assert hint is None or hint == 100000
    assert 0.5 <= retry.backoff(s, 1, DingTalkRateLimitError("op", 403, "x", None, retry_after=0.5)) <= 0.75


def test_only_the_calls_own_failures_are_retried():
    server_down = exceptions.DingTalkServerError("CreateEvent", 503, None, None)
    token_down = exceptions.DingTalkServerError("GetAccessToken", 503, None, None)
    assert retry.is_retryable(server_down, "CreateEvent")
    assert not retry.is_retryable(token_down, "CreateEvent")  # the token fetch already ran its own retries
    assert not retry.is_retryable(
        DingTalkTransportError("CreateEvent", "tls", retryable=False), "CreateEvent"
    )
    assert not retry.is_retryable(ValueError("x"), "CreateEvent")


def test_ids_are_one_segment_and_dot_segments_are_refused():
    assert calls.event_path("a/b", "primary", "x?y#z") == (
        "/v1.0/calendar/users/a%2Fb/calendars/primary/events/x%3Fy%23z"
    )
    for bad in (".", ".."):
        with pytest.raises(InvalidArgumentError, match="must not be '.' or '..'"):
            calls.event_path("org", "primary", bad)


def test_client_tokens_are_header_safe():
    assert calls.client_token("abc-123") == "abc-123"
    assert len(calls.client_token(None)) == 32
    for bad in ("a\r\nb", "", "has space", "x" * 129, 5):
        with pytest.raises(InvalidArgumentError, match="client_token"):
            calls.client_token(bad)


def test_set_inputs_give_the_same_token_whatever_the_hash_seed():
    ids = {f"user-{i}" for i in range(50)}
    assert [a["id"] for a in normalize_attendees(ids)] == sorted(ids)
    assert derive_client_token(ids) == derive_client_token(sorted(ids)) == derive_client_token(frozenset(ids))


def test_bodies_with_nan_are_refused_before_sending():
    call = calls.Call("PatchEvent", "PUT", "/x", body={"n": float("nan")})
    with pytest.raises(InvalidArgumentError, match="not plain JSON"):
        call.json_body()


def test_the_body_reader_caps_decompressed_size():
    reader = answers.BodyReader("op", 1000, "gzip")
    bomb = gzip.compress(b"0" * 10_000_000)
    with pytest.raises(DingTalkAnswerError, match="max_answer_bytes=1,000"):
        reader.feed(bomb)
    small = answers.BodyReader("op", 1000, "gzip")
    small.feed(gzip.compress(b'{"a": 1}'))
    assert small.content() == b'{"a": 1}'
    with pytest.raises(DingTalkAnswerError, match="corrupt"):
        answers.BodyReader("op", 1000, "deflate").feed(b"not deflate")
    with pytest.raises(DingTalkAnswerError, match="unsupported encoding 'br'"):
        answers.BodyReader("op", 1000, "br")


def test_error_answers_map_to_types_and_bound_server_text():
    error = answers.api_error("op", 400, {}, {"code": "x", "message": "m" * 5000 + "\x00", "requestid": "r"})
    assert isinstance(error, exceptions.DingTalkInvalidParameterError)
    assert len(error.message) <= answers.MAX_TEXT and "\x00" not in error.message
    legacy = answers.api_error("op", 200, {}, {"errcode": 90018, "errmsg": "qps limit"})
    assert legacy.code == "90018" and legacy.message == "qps limit"


def test_pages_end_on_repeats_caps_and_oversize():
    call = calls.list_attendees("org", "e", "primary", 2)
    pager = Pager(call, max_pages=10)
    assert pager.accept({"attendees": [{"id": "a"}], "nextToken": "t1"}) == [{"id": "a"}]
    assert pager.next_call().params == {"maxResults": 2, "nextToken": "t1"}
    with pytest.raises(DingTalkAnswerError, match="repeated"):
        pager.accept({"attendees": [], "nextToken": "t1"})
    with pytest.raises(DingTalkAnswerError, match="3 attendees; 2 were asked"):
        Pager(call, 10).accept({"attendees": [{"id": "a"}, {"id": "b"}, {"id": "c"}]})
    capped = Pager(call, max_pages=1)
    with pytest.raises(DingTalkAnswerError, match="max_pages=1"):
        capped.accept({"attendees": [], "nextToken": "more"})


@pytest.mark.parametrize(
    "error",
    [
        DingTalkTransportError("GetEvent", "connection refused", retryable=False),
        exceptions.DingTalkNotFoundError("GetEvent", 404, "instanceNotExist", "gone", "r1"),
        DingTalkAnswerError("ListAttendees", 200, None, "no 'attendees' list"),
        DingTalkRateLimitError(
            "CreateEvent", 403, "Forbidden.AccessDenied.QpsLimitForApi", None, retry_after=1
        ),
    ],
)
def test_every_error_survives_pickling(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)
    assert copy.retryable == error.retryable and copy.operation == error.operation
