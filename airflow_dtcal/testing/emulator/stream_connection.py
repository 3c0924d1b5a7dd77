"""One Stream connection: the WebSocket upgrade of ``GET /gateway/connect?ticket=...`` and the loop that
pushes messages to the client and reads its acks, on the HTTP server's thread for that connection.

The loop wakes every :data:`POLL_SECONDS`: it sends the EVENT frames due (``stream.due``) and any SYSTEM
frame the admin queued (ping, disconnect), then reads what the client sent (acks, pings, close). After a
SYSTEM ``disconnect`` the server closes the connection :data:`DISCONNECT_GRACE` seconds later unless the
client closes first. The admin ``drop`` control cuts the TCP connection without a close frame.
"""

from __future__ import annotations

import collections
import json
import secrets
import socket
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

from airflow_dtcal.testing.emulator import stream
from airflow_dtcal.testing.emulator.errors import ApiError, error_body
from airflow_dtcal.testing.emulator.messages import Reply, parse_json_body
from airflow_dtcal.testing.emulator.websocket import (
    CLOSE_BAD_DATA,
    CLOSE_NORMAL,
    HandshakeError,
    ProtocolError,
    WebSocket,
    accept_key,
    check_handshake,
)

POLL_SECONDS = 0.05
DISCONNECT_GRACE = 2.0  # seconds between a SYSTEM disconnect and the server closing the connection
MAX_MESSAGE_BYTES = 64 * 1024  # a client reply (an ack) is a few hundred bytes
MAX_SYSTEM_QUEUE = 100
MAX_PINGS_AWAITED = 100


def is_upgrade_path(path: str) -> bool:
    return path.partition("?")[0] == stream.WEBSOCKET_PATH


class StreamConnection:
    """An open WebSocket of one app; ``stream.py`` reads ``id``, ``serial`` (the order connections opened
    in), ``app``, ``topics`` and ``pings``."""

    def __init__(self, state: Any, sock: socket.socket, app: str, topics: set[str]) -> None:
        self.state = state
        self.sock = sock
        self.id = uuid.uuid4().hex
        self.serial = 0  # set when it opens
        self.app = app
        self.topics = topics
        self.pings: dict[str, float] = {}  # messageId of a SYSTEM ping -> when it was sent
        self.system: collections.deque = collections.deque(maxlen=MAX_SYSTEM_QUEUE)  # frames to send
        self.close_at: float | None = None
        self.opened = time.time()
        self.frames_sent = 0
        self.replies = 0

    def describe(self) -> dict:
        return {
            "connectionId": self.id,
            "app": self.app,
            "topics": sorted(self.topics),
            "opened": self.opened,
            "framesSent": self.frames_sent,
            "replies": self.replies,
            "closing": self.close_at is not None,
        }

    # ---- admin controls (caller holds state.lock, except drop)

    def queue_ping(self) -> None:
        frame = stream.system_frame(self, "ping", {"opaque": secrets.token_hex(8)})
        if len(self.pings) < MAX_PINGS_AWAITED:
            self.pings[frame["headers"]["messageId"]] = time.monotonic()
        self.system.append(frame)

    def queue_disconnect(self) -> None:
        self.system.append(stream.system_frame(self, "disconnect", {"reason": "the emulator asked"}))
        if self.close_at is None:
            self.close_at = time.monotonic() + DISCONNECT_GRACE

    def drop(self) -> None:
        """Cut the TCP connection at once: no close frame (as a network failure would)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ---- the loop

    def serve(self, ws: WebSocket) -> None:
        with self.state.lock:
            self.state.stream_counts["connections_opened"] += 1
            self.serial = self.state.stream_counts["connections_opened"]
            self.state.stream_connections[self.id] = self
        try:
            self._loop(ws)
        except ProtocolError as err:
            try:
                ws.send_close(err.code, err.reason)
            except OSError:
                pass
        except OSError:
            pass  # the client went away or was dropped
        finally:
            with self.state.lock:
                self.state.stream_connections.pop(self.id, None)

    def _loop(self, ws: WebSocket) -> None:
        while True:
            with self.state.lock:
                frames = list(self.system)
                self.system.clear()
                counts = self.state.stream_counts
                for frame in frames:
                    counts["pings_sent" if frame["headers"]["topic"] == "ping" else "disconnects_sent"] += 1
                frames += stream.due(self.state, self)
                closing = self.close_at is not None and time.monotonic() >= self.close_at
            for frame in frames:
                ws.send_text(json.dumps(frame, ensure_ascii=False))
                self.frames_sent += 1
            if closing:
                ws.send_close(CLOSE_NORMAL, "disconnect")
                return
            received = ws.receive(POLL_SECONDS)
            if received is None:
                continue
            kind, payload = received
            if kind == "close":
                ws.send_close(CLOSE_NORMAL if len(payload) < 2 else int.from_bytes(payload[:2], "big"))
                return
            if kind == "text":
                self._reply(payload)

    def _reply(self, payload: bytes) -> None:
        try:
            reply = parse_json_body(payload)
        except ApiError:  # not UTF-8 or not JSON
            raise ProtocolError(CLOSE_BAD_DATA, "messages must be JSON text") from None
        self.replies += 1
        with self.state.lock:
            stream.record_reply(self.state, self, reply)


def _refuse(handler: Any, status: int, code: str, message: str) -> None:
    handler._write(Reply(status, error_body(code, message)), close=True)


def serve_upgrade(handler: Any) -> None:
    """Answer ``GET /gateway/connect?ticket=`` on the HTTP handler: 101 and the Stream loop, or an error."""
    handler.close_connection = True
    headers = {name.lower(): value for name, value in handler.headers.items()}
    try:
        key = check_handshake(handler.command, headers)
    except HandshakeError as exc:
        _refuse(handler, 400, "invalidRequest", str(exc))
        return
    query = dict(parse_qsl(handler.path.partition("?")[2]))
    state = handler.server.state
    with state.lock:
        record = stream.redeem_ticket(state, query.get("ticket", ""))
    if record is None:
        _refuse(handler, 401, "invalidTicket", "ticket is missing, unknown, used or expired; open again")
        return
    handler.answered = True
    handler.connection.settimeout(handler.server.write_timeout)
    handler.send_response(101)
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept_key(key))
    handler.end_headers()
    server = handler.server
    ws = WebSocket(
        handler.connection,
        max_message=MAX_MESSAGE_BYTES,
        frame_timeout=server.request_timeout,
        write_timeout=server.write_timeout,
    )
    StreamConnection(state, handler.connection, record["app"], record["topics"]).serve(ws)
