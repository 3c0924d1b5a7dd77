"""ChangeStream against a misbehaving WebSocket server on 127.0.0.1 (real sockets, bounded in bytes and time).

The emulator's gateway behaves; this server does not: garbage frames, an oversized frame, a connection
closed before any frame. The connection-open call is a stub here (the hook's real one is tested against the
emulator in test_change_trigger_emulator.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from types import SimpleNamespace

import pytest
from websockets.asyncio.server import serve

from airflow_dtcal.hooks import stream as stream_module
from airflow_dtcal.hooks.stream import ChangeStream
from tests.bounded_work import assert_bounded

WAIT = 30.0  # a guard against a hung test, not a measurement


def frame(kind: str, message_id: str, topic: str, data: dict) -> str:
    headers = {"messageId": message_id, "topic": topic, "contentType": "application/json"}
    if kind == "EVENT":
        headers.update(eventType=topic, eventId=f"evt-{message_id}", eventBornTime="1763900000000")
    return json.dumps({"specVersion": "1.0", "type": kind, "headers": headers, "data": json.dumps(data)})


REPLY = "wait for the client's reply"


class Gateway:
    """Plays one script per connection (frames to send; ``None``: close; ``REPLY``: wait for the client's
    next reply) and records what the client sends back."""

    def __init__(self, scripts: list[list[str | None]]) -> None:
        self.scripts = scripts
        self.replies: list[dict] = []
        self.tickets: list[str] = []
        self.opened = 0

    async def handler(self, connection) -> None:
        self.tickets.append(connection.request.path.split("ticket=", 1)[1])
        script = self.scripts.pop(0) if self.scripts else []
        try:
            for item in script:
                if item is None:
                    await connection.close()
                    return
                if item == REPLY:
                    self.replies.append(json.loads(await connection.recv()))
                else:
                    await connection.send(item)
            async for reply in connection:
                self.replies.append(json.loads(reply))
        except Exception:  # the client closed the connection
            pass


class OpenStub:
    """Stands in for the hook's aopen_stream_connection (a fresh ticket per connection) and its settings (a
    connection to an emulator on 127.0.0.1, so the gateway's loopback endpoint is the connection's own host)."""

    def __init__(self, port: int, endpoint: str | None = None, suffix: str = "") -> None:
        self.port = port
        self.endpoint = endpoint or f"ws://127.0.0.1:{port}/connect"
        self.suffix = suffix
        self.calls = 0

    async def aopen_stream_connection(self, topics=("calendar_event_change",)) -> dict:
        self.calls += 1
        return {"endpoint": self.endpoint, "ticket": f"ticket/{self.calls}+x"}

    async def asettings(self):
        return SimpleNamespace(base_url=f"http://127.0.0.1:{self.port}", stream_host_suffix=self.suffix)


def test_the_client_skips_garbage_answers_pings_and_reconnects_after_an_oversized_frame():
    gateway = Gateway(
        [
            [None],  # closed before any frame: counted as a failure, then a new connection
            [
                "not json",
                json.dumps([1, 2, 3]),
                frame("SYSTEM", "ping-1", "ping", {"opaque": "p"}),
                REPLY,
                frame("EVENT", "m1", "calendar_event_change", {"calendarEventId": "e1"}),
                REPLY,
                "x" * 10_000,  # larger than max_frame_bytes: the client closes (1009) and comes back
            ],
            [frame("EVENT", "m2", "calendar_event_change", {"calendarEventId": "e2"}), REPLY],
        ]
    )

    async def main():
        async with serve(gateway.handler, "127.0.0.1", 0, max_size=64 * 1024) as server:
            port = server.sockets[0].getsockname()[1]
            stub = OpenStub(port)
            stream = ChangeStream(stub, max_frame_bytes=4096, max_backoff=2.0)
            received = []

            async def consume():
                async for message in stream.messages():
                    received.append(message)
                    await stream.ack(message)
                    if len(received) == 2:
                        return

            await asyncio.wait_for(consume(), WAIT)
            await stream.close()
            await asyncio.sleep(0.2)  # let the server read the last ack before it shuts down
            return received, stub.calls, stream.connections

    received, opens, connections = asyncio.run(main())
    assert [(m.message_id, m.event_id, m.data) for m in received] == [
        ("m1", "evt-m1", {"calendarEventId": "e1"}),
        ("m2", "evt-m2", {"calendarEventId": "e2"}),
    ]
    assert opens == connections == 3  # each connection opened with a ticket of its own
    assert gateway.tickets == ["ticket%2F1%2Bx", "ticket%2F2%2Bx", "ticket%2F3%2Bx"]
    pong = next(r for r in gateway.replies if r["headers"]["messageId"] == "ping-1")
    assert pong["code"] == 200 and json.loads(pong["data"]) == {"opaque": "p"}
    acks = [r["headers"]["messageId"] for r in gateway.replies if r["headers"]["messageId"] != "ping-1"]
    assert acks == ["m1", "m2"]
    assert all(
        json.loads(r["data"]) == {"status": "SUCCESS"}
        for r in gateway.replies
        if r["headers"]["messageId"] in acks
    )


def test_an_event_whose_data_is_garbage_is_acknowledged_and_dropped_not_yielded():
    bad = json.dumps(
        {"type": "EVENT", "headers": {"messageId": "bad-1", "topic": "calendar_event_change"}, "data": "{{{"}
    )
    gateway = Gateway([[bad, frame("EVENT", "m1", "calendar_event_change", {"calendarEventId": "e1"})]])

    async def main():
        async with serve(gateway.handler, "127.0.0.1", 0) as server:
            stream = ChangeStream(OpenStub(server.sockets[0].getsockname()[1]))
            messages = stream.messages()
            first = await asyncio.wait_for(anext(messages), WAIT)
            await stream.ack(first)
            await messages.aclose()
            await asyncio.sleep(0.2)
            return first

    first = asyncio.run(main())
    assert first.message_id == "m1"
    assert [r["headers"]["messageId"] for r in gateway.replies] == ["bad-1", "m1"]


def test_hostile_frames_at_the_cap_cost_the_stream_about_what_valid_json_does():
    # Four unusable 256 KiB frames in a row, then a usable EVENT, received over a WebSocket; measured in a
    # child process against four valid-JSON frames of the same size (a 256 KiB frame once blocked the
    # event loop 717 s).
    assert_bounded("stream", 256 * 1024, ["escaped-quotes", "quotes", "open-brackets", "empty-pairs"])


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def quiet_logger(name: str) -> tuple[logging.Logger, Recorder]:
    logger = logging.getLogger(f"tests.stream.{name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    recorder = Recorder()
    logger.addHandler(recorder)
    return logger, recorder


async def _attempts(stream: ChangeStream, stub: OpenStub, count: int) -> None:
    """Iterate the stream until it opened ``count`` connections (each fails), then stop it."""
    consumer = asyncio.ensure_future(anext(stream.messages()))
    try:
        while stub.calls < count:
            assert not consumer.done(), consumer
            await asyncio.sleep(0.05)
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        await stream.close()


def test_a_redirect_during_the_handshake_is_not_followed():
    """The gateway's own endpoint answers the handshake with 302 to another address (here a listener that
    counts connections): the client does not go there, it logs the redirect and tries again later."""
    touched: list[int] = []

    async def main():
        async def count(reader, writer):
            touched.append(1)
            writer.close()

        trap = await asyncio.start_server(count, "127.0.0.1", 0)
        trap_port = trap.sockets[0].getsockname()[1]

        async def handler(connection) -> None:  # never reached: every handshake is redirected
            await connection.close()

        async with serve(
            handler, "127.0.0.1", 0, process_request=lambda c, r: _redirect(c, trap_port)
        ) as server:
            port = server.sockets[0].getsockname()[1]
            stub = OpenStub(port)
            logger, recorder = quiet_logger("redirect")
            stream = ChangeStream(stub, max_backoff=0.2, logger=logger)
            await asyncio.wait_for(_attempts(stream, stub, 3), WAIT)
        trap.close()
        await trap.wait_closed()
        return recorder.lines, stream.connections

    lines, connections = asyncio.run(main())
    assert touched == [] and connections == 0
    refusals = [line for line in lines if "HTTP 302: a redirect, not followed" in line]
    assert len(refusals) >= 2, lines
    assert not any("ticket" in line for line in lines)


def _redirect(connection, trap_port: int):
    response = connection.respond(302, "moved\n")
    response.headers["Location"] = f"ws://127.0.0.1:{trap_port}/steal"
    return response


@pytest.mark.parametrize(
    "endpoint",
    [
        "wss://169.254.169.254/connect",  # link-local (cloud metadata)
        "wss://10.20.30.40/connect",  # private
        "wss://[fd00::1]/connect",
        "ws://127.0.0.2:443/connect",  # loopback, but not the connection's own host
        "wss://wss-open-connection.dingtalk.com.attacker.example/connect",
    ],
)
def test_an_endpoint_the_connection_never_named_is_refused_before_any_connection(endpoint, monkeypatch):
    looked_up: list[str] = []

    async def resolve(host, port):  # any lookup would be recorded (and would answer a private address)
        looked_up.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port))]

    monkeypatch.setattr(stream_module, "resolve", resolve)

    async def main():
        stub = OpenStub(9, endpoint=endpoint)
        logger, recorder = quiet_logger("refused")
        stream = ChangeStream(stub, max_backoff=0.2, logger=logger)
        await asyncio.wait_for(_attempts(stream, stub, 2), WAIT)
        return recorder.lines, stream.connections

    lines, connections = asyncio.run(main())
    assert connections == 0 and looked_up == []
    assert any("opening a Stream connection failed" in line and "endpoint" in line for line in lines), lines


def test_a_named_host_that_resolves_to_a_private_address_is_refused(monkeypatch):
    """DingTalk's Stream host, or one under the configured suffix, answered by DNS with a private address
    (a hostile network): refused, never connected."""
    looked_up: list[str] = []

    async def resolve(host, port):
        looked_up.append(host)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1", port, 0, 0)),
        ]

    monkeypatch.setattr(stream_module, "resolve", resolve)

    async def main():
        stub = OpenStub(9, endpoint="wss://gw.stream.example.com/connect", suffix=".stream.example.com")
        logger, recorder = quiet_logger("dns")
        stream = ChangeStream(stub, max_backoff=0.2, logger=logger)
        await asyncio.wait_for(_attempts(stream, stub, 2), WAIT)
        return recorder.lines, stream.connections

    lines, connections = asyncio.run(main())
    assert connections == 0 and looked_up[:2] == ["gw.stream.example.com"] * 2
    assert any("resolves to no public address (10.0.0.5, fe80::1)" in line for line in lines), lines


def test_a_large_frame_is_parsed_off_the_event_loop(monkeypatch):
    """A frame of about 200 KiB is parsed in a thread (the loop goes on serving other triggers); a small
    one on the loop itself."""
    threads: dict[str, int] = {}
    real = stream_module.parse_frame

    def probe(raw):
        frame = real(raw)
        threads[frame.message_id] = threading.get_ident()
        return frame

    monkeypatch.setattr(stream_module, "parse_frame", probe)
    big = frame("EVENT", "big", "calendar_event_change", {"calendarEventId": "e1", "note": "x" * 200_000})
    gateway = Gateway([[frame("EVENT", "small", "calendar_event_change", {"calendarEventId": "e0"}), big]])

    async def main():
        async with serve(gateway.handler, "127.0.0.1", 0, max_size=None) as server:
            stream = ChangeStream(OpenStub(server.sockets[0].getsockname()[1]))
            messages = stream.messages()
            got = [await asyncio.wait_for(anext(messages), WAIT) for _ in range(2)]
            await messages.aclose()
            return got, threading.get_ident()

    got, loop_thread = asyncio.run(main())
    assert [m.message_id for m in got] == ["small", "big"]
    assert len(got[1].data["note"]) == 200_000
    assert threads["small"] == loop_thread and threads["big"] != loop_thread
