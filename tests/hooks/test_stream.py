"""ChangeStream against a misbehaving WebSocket server on 127.0.0.1 (real sockets, bounded in bytes and time).

The emulator's gateway behaves; this server does not: garbage frames, an oversized frame, a connection
closed before any frame. The connection-open call is a stub here (the hook's real one is tested against the
emulator in test_change_trigger_emulator.py).
"""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.server import serve

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
    """Stands in for the hook's aopen_stream_connection: a fresh ticket per connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.calls = 0

    async def aopen_stream_connection(self, topics=("calendar_event_change",)) -> dict:
        self.calls += 1
        return {"endpoint": f"ws://127.0.0.1:{self.port}/connect", "ticket": f"ticket/{self.calls}+x"}


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
