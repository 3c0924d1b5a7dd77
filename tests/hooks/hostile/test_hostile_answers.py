"""Hostile or broken answers, from a misbehaving server on loopback, through both transports.

Every answer is bounded in size (after decompression) and time, checked for shape, and every failure is a
typed DingTalkError, never a raw AttributeError / RecursionError / ValueError, and never with the token in it.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time

import pytest

from airflow_dtcal.exceptions import (
    DingTalkAnswerError,
    DingTalkBannedError,
    DingTalkError,
    DingTalkTransportError,
)
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from tests.bounded_work import MiB, assert_bounded
from tests.hooks.hostile.server import TOKEN, HostileServer, drip, endless, gzip_bomb, json_answer

MODES = ["sync", "async"]


@pytest.fixture
def server(monkeypatch):
    hostile = HostileServer()
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT", hostile.connection_json())
    yield hostile
    hostile.close()


def hook(**kwargs) -> DingTalkCalendarHook:
    options = {"max_attempts": 1, "rate_limit": 0, "timeout": 5}
    options.update(kwargs)
    return DingTalkCalendarHook(**options)


def list_attendees(mode: str, h: DingTalkCalendarHook) -> list[dict]:
    if mode == "sync":
        return h.list_attendees("org", "e1")

    async def run() -> list[dict]:
        try:
            return await h.alist_attendees("org", "e1")
        finally:
            await h.aclose()

    return asyncio.run(run())


def token(mode: str, h: DingTalkCalendarHook) -> str:
    if mode == "sync":
        return h.get_access_token()

    async def run() -> str:
        try:
            return await h.aget_access_token()
        finally:
            await h.aclose()

    return asyncio.run(run())


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunked", [False, True], ids=["2GiB-content-length", "endless-chunked"])
def test_a_huge_or_endless_body_is_cut_at_the_size_cap(server, mode, chunked):
    server.behaviour = endless(chunked)
    before = peak_rss_mib()
    with pytest.raises(DingTalkAnswerError, match="larger than max_answer_bytes=1,048,576"):
        list_attendees(mode, hook(max_answer_bytes=1024 * 1024))
    assert peak_rss_mib() - before < 200  # the old client held the whole body (GBs)


@pytest.mark.parametrize("mode", MODES)
def test_a_gzip_bomb_is_refused_after_the_cap_not_inflated_whole(server, mode):
    server.behaviour = gzip_bomb(256 * 1024 * 1024)
    assert server.behaviour.compressed_size < 1024 * 1024  # a small body that inflates 256 MiB
    before = peak_rss_mib()
    with pytest.raises(DingTalkAnswerError, match="larger than max_answer_bytes"):
        list_attendees(mode, hook())
    assert peak_rss_mib() - before < 100


@pytest.mark.parametrize("mode", MODES)
def test_a_body_dripping_one_byte_a_second_is_bounded_by_the_attempt_deadline(server, mode):
    server.behaviour = drip(0.5)  # 217 bytes: 108 s in all, each byte well within the read timeout
    started = time.monotonic()
    with pytest.raises(DingTalkTransportError, match="took longer than timeout=2s"):
        list_attendees(mode, hook(timeout=2))
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("mode", MODES)
def test_next_tokens_that_never_end_stop_at_the_page_cap(server, mode):
    pages = iter(range(10**6))
    server.behaviour = lambda sock: json_answer(
        json.dumps({"attendees": [{"id": "a"}], "nextToken": f"t{next(pages)}"})
    )(sock)
    with pytest.raises(DingTalkAnswerError, match="still more pages after max_pages=5"):
        list_attendees(mode, hook(max_pages=5))
    assert len([p for p in server.paths if "/attendees" in p]) == 5


@pytest.mark.parametrize("mode", MODES)
def test_a_repeated_next_token_stops_paging(server, mode):
    server.behaviour = json_answer(json.dumps({"attendees": [{"id": "a"}], "nextToken": "same"}))
    with pytest.raises(DingTalkAnswerError, match="nextToken repeated after 2 pages"):
        list_attendees(mode, hook())


@pytest.mark.parametrize("mode", MODES)
def test_a_page_larger_than_asked_for_is_refused(server, mode):
    people = [{"id": f"p{i}", "responseStatus": "accepted"} for i in range(501)]
    server.behaviour = json_answer(json.dumps({"attendees": people}))
    with pytest.raises(DingTalkAnswerError, match="a page holds 501 attendees; 500 were asked for"):
        list_attendees(mode, hook())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "body, words",
    [
        ("", "answered nothing where an object was expected"),
        ("null", "answered nothing where an object was expected"),
        ("{}", "no 'attendees' list"),
        ('{"attendees": null}', "no 'attendees' list"),
        ("[1, 2]", "answered a JSON list"),
        ("42", "answered a JSON int"),
        ('{"attendees": [42]}', r"attendees\[0\] is not an object with an id"),
        ('{"attendees": [{"id": "a"}], "nextToken": 7}', "nextToken is not a string"),
        ("[" * 100 + "]" * 100, "nests deeper than"),
        ("[" * 100000 + "]" * 100000, "nests deeper than|instead of JSON"),
    ],
    ids=["empty", "null", "no-key", "null-list", "list", "number", "item", "token-type", "deep", "deeper"],
)
def test_answers_of_the_wrong_shape_are_typed_errors(server, mode, body, words):
    server.behaviour = json_answer(body)
    with pytest.raises(DingTalkError, match=words) as caught:
        list_attendees(mode, hook())
    assert isinstance(caught.value, (DingTalkAnswerError, DingTalkBannedError))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "answer",
    [
        {"accessToken": TOKEN + "\r\nx-injected: 1", "expireIn": 7200},
        {"accessToken": "", "expireIn": 7200},
        {"accessToken": ["not", "a", "string"]},
        {"accessToken": TOKEN, "expireIn": "soon"},
        {"accessToken": TOKEN, "expireIn": {"s": 1}},
    ],
    ids=["crlf", "empty", "list", "text-lifetime", "object-lifetime"],
)
def test_unusable_tokens_are_typed_errors_that_never_show_the_token(server, mode, answer):
    server.token_answer = json_answer(json.dumps(answer))
    with pytest.raises(DingTalkAnswerError) as caught:
        token(mode, hook())
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("mode", MODES)
def test_a_nan_lifetime_is_not_json_and_an_infinite_one_is_clamped(server, mode):
    server.token_answer = json_answer('{"accessToken": "' + TOKEN + '", "expireIn": NaN}')
    with pytest.raises(DingTalkBannedError, match="instead of JSON") as caught:
        token(mode, hook())
    assert TOKEN not in str(caught.value)

    from airflow_dtcal.core.pacing import TOKENS

    server.token_answer = json_answer('{"accessToken": "' + TOKEN + '", "expireIn": 1e999}')
    assert token(mode, hook()) == TOKEN
    (entry,) = TOKENS._tokens.values()
    assert entry[1] - time.monotonic() <= 7200


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_is_obeyed_only_up_to_backoff_max(server, mode):
    for hint in ("100000", "inf", "nan", "-5"):
        server.behaviour = json_answer(
            json.dumps({"code": "ServiceUnavailable", "message": "busy", "requestid": "r"}), status=503
        )
        server.behaviour = _with_header(server.behaviour, f"Retry-After: {hint}")
        started = time.monotonic()
        with pytest.raises(DingTalkError, match="busy"):
            list_attendees(mode, hook(max_attempts=3, backoff_initial=0.05, backoff_max=0.2))
        assert time.monotonic() - started < 3, hint  # two waits of at most backoff_max each


def _with_header(send, header: str):
    def patched(sock):
        class Capture:
            data = b""

            def sendall(self, data):
                self.data += data

        capture = Capture()
        send(capture)
        head, _, body = capture.data.partition(b"\r\n\r\n")
        sock.sendall(head + b"\r\n" + header.encode() + b"\r\n\r\n" + body)

    return patched


def _drain(mode: str, h: DingTalkCalendarHook, method: str, *args, **kwargs) -> list:
    """Every item of one of the hook's page iterators (``method``), through the sync or the async twin."""
    if mode == "sync":
        return list(getattr(h, method)(*args, **kwargs))

    async def run() -> list:
        try:
            return [item async for item in getattr(h, "a" + method)(*args, **kwargs)]
        finally:
            await h.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "body, words",
    [
        ('{"events": [], "syncToken": 42}', "syncToken is not a printable string"),
        ('{"events": [], "syncToken": "a b"}', "syncToken is not a printable string"),
        ('{"events": [{"summary": "no id"}]}', r"events\[0\] is not an object with an id"),
        ('{"items": []}', "no 'events' list"),
    ],
    ids=["token-type", "token-space", "event-without-id", "no-events"],
)
def test_change_pages_of_the_wrong_shape_are_typed_errors(server, mode, body, words):
    server.behaviour = json_answer(body)
    with pytest.raises(DingTalkAnswerError, match=words):
        _drain(mode, hook(), "iter_event_changes", "org")


@pytest.mark.parametrize("mode", MODES)
def test_sign_in_pages_need_a_user_id_per_person(server, mode):
    server.behaviour = json_answer(json.dumps({"users": [{"userId": "u1"}, {"displayName": "nobody"}]}))
    with pytest.raises(DingTalkAnswerError, match=r"users\[1\] is not an object with an userId"):
        _drain(mode, hook(), "iter_sign_ins", "org", "e1")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "answer, words",
    [
        ({"endpoint": "http://example.test/connect", "ticket": "t"}, "no ws:// or wss:// endpoint"),
        ({"endpoint": "wss://example.test/connect"}, "no usable ticket"),
        ({"endpoint": "wss://example.test/connect", "ticket": "t\r\nx: 1"}, "no usable ticket"),
        ({"endpoint": ["wss://x"], "ticket": "t"}, "no ws:// or wss:// endpoint"),
    ],
    ids=["http-endpoint", "no-ticket", "crlf-ticket", "list-endpoint"],
)
def test_stream_open_answers_of_the_wrong_shape_are_typed_errors(server, mode, answer, words):
    server.behaviour = json_answer(json.dumps(answer))
    h = hook()
    with pytest.raises(DingTalkAnswerError, match=words) as caught:
        if mode == "sync":
            h.open_stream_connection()
        else:

            async def run() -> dict:
                try:
                    return await h.aopen_stream_connection()
                finally:
                    await h.aclose()

            asyncio.run(run())
    assert "hostile-secret" not in str(caught.value)
    sent = json.loads(server.bodies[-1])
    assert sent["clientSecret"] == "hostile-secret"  # the protocol puts it in the body, and only there
    assert "hostile-secret" not in server.paths[-1]


@pytest.mark.parametrize("mode", MODES)
def test_hostile_json_up_to_the_answer_cap_costs_about_what_valid_json_does(mode):
    # An HTTP call with timeout=2 once took 35.6 s on a 64 KiB answer (the pre-scan was quadratic); at the
    # 4 MiB cap it would have taken hours. Measured in a child process, against valid JSON of the same size.
    assert_bounded(mode, 4 * MiB, ["escaped-quotes", "quotes", "open-brackets", "empty-pairs", "nested-33"])
