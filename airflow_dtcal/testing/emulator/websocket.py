"""The WebSocket protocol (RFC 6455), server side, on a plain socket: the opening handshake and framing.

Bounded like the HTTP server: a message (one frame or a fragmented one) is at most ``max_message`` bytes,
a frame must arrive whole within ``frame_timeout`` seconds of its first byte, and a send must be taken by
the client within ``write_timeout``. Client frames must be masked; control frames are at most 125 bytes
and unfragmented; text must be UTF-8. A broken rule raises :class:`ProtocolError` with the close code to
answer with. No extensions (compression) and no subprotocols are negotiated.
"""

from __future__ import annotations

import base64
import hashlib
import select
import socket
import struct
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CONTROL_OPS = (OP_CLOSE, OP_PING, OP_PONG)
MAX_CONTROL_PAYLOAD = 125
CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_PROTOCOL, CLOSE_UNSUPPORTED = 1000, 1001, 1002, 1003
CLOSE_BAD_DATA, CLOSE_TOO_BIG = 1007, 1009


class HandshakeError(Exception):
    """The upgrade request is not a WebSocket opening handshake (answered with HTTP 400)."""


class ProtocolError(Exception):
    """The peer broke the protocol; the connection is closed with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def check_handshake(method: str, headers: dict[str, str]) -> str:
    """The ``Sec-WebSocket-Key`` of a valid opening handshake (``headers`` with lower-case names)."""
    if method != "GET":
        raise HandshakeError("the WebSocket opening handshake must be a GET request")
    if headers.get("upgrade", "").strip().lower() != "websocket":
        raise HandshakeError("Upgrade: websocket is required")
    if "upgrade" not in [token.strip().lower() for token in headers.get("connection", "").split(",")]:
        raise HandshakeError("Connection: Upgrade is required")
    if headers.get("sec-websocket-version", "").strip() != "13":
        raise HandshakeError("Sec-WebSocket-Version: 13 is required")
    key = headers.get("sec-websocket-key", "").strip()
    try:
        ok = len(base64.b64decode(key.encode("ascii"), validate=True)) == 16
    except (ValueError, UnicodeError):
        ok = False
    if not ok:
        raise HandshakeError("Sec-WebSocket-Key must be 16 random bytes in base64")
    return key


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame (servers never mask)."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


class WebSocket:
    """One server-side WebSocket after the handshake; a single thread reads and writes it."""

    def __init__(
        self, sock: socket.socket, *, max_message: int, frame_timeout: float, write_timeout: float
    ) -> None:
        self.sock = sock
        self.max_message = max_message
        self.frame_timeout = frame_timeout
        self.write_timeout = write_timeout
        self.close_sent = False

    # ---- sending

    def _send(self, opcode: int, payload: bytes) -> None:
        self.sock.settimeout(self.write_timeout)
        self.sock.sendall(encode_frame(opcode, payload))

    def send_text(self, text: str) -> None:
        self._send(OP_TEXT, text.encode("utf-8"))

    def send_pong(self, payload: bytes) -> None:
        self._send(OP_PONG, payload)

    def send_close(self, code: int, reason: str = "") -> None:
        if self.close_sent:
            return
        self.close_sent = True
        self._send(OP_CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[: MAX_CONTROL_PAYLOAD - 2])

    # ---- receiving

    def _recv_exact(self, count: int, deadline: float) -> bytes:
        chunks, left = [], count
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProtocolError(CLOSE_PROTOCOL, "the frame did not arrive in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(min(left, 65536))
            except TimeoutError:
                raise ProtocolError(CLOSE_PROTOCOL, "the frame did not arrive in time") from None
            if not chunk:
                raise ConnectionResetError("the client closed the connection")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _read_frame(self, deadline: float) -> tuple[bool, int, bytes]:
        first, second = self._recv_exact(2, deadline)
        fin, opcode, masked, size = bool(first & 0x80), first & 0x0F, bool(second & 0x80), second & 0x7F
        if first & 0x70:
            raise ProtocolError(CLOSE_PROTOCOL, "reserved bits set without a negotiated extension")
        if opcode not in (OP_CONTINUATION, OP_TEXT, OP_BINARY, *CONTROL_OPS):
            raise ProtocolError(CLOSE_PROTOCOL, f"unknown opcode {opcode}")
        if not masked:
            raise ProtocolError(CLOSE_PROTOCOL, "client frames must be masked")
        if opcode in CONTROL_OPS and (size > MAX_CONTROL_PAYLOAD or not fin):
            raise ProtocolError(CLOSE_PROTOCOL, "control frames must be final and at most 125 bytes")
        if size == 126:
            (size,) = struct.unpack("!H", self._recv_exact(2, deadline))
        elif size == 127:
            (size,) = struct.unpack("!Q", self._recv_exact(8, deadline))
        if size > self.max_message:
            raise ProtocolError(CLOSE_TOO_BIG, f"frames are limited to {self.max_message} bytes")
        mask = self._recv_exact(4, deadline)
        data = self._recv_exact(size, deadline)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        return fin, opcode, payload

    def receive(self, wait: float) -> tuple[str, bytes] | None:
        """The next message or control frame, ``(kind, payload)`` with kind ``text``, ``ping`` (already
        answered with a pong), ``pong`` or ``close``; None if nothing started to arrive within ``wait``."""
        readable, _w, _x = select.select([self.sock], [], [], wait)
        if not readable:
            return None
        deadline = time.monotonic() + self.frame_timeout
        parts: list[bytes] = []
        size = 0
        while True:
            fin, opcode, payload = self._read_frame(deadline)
            if opcode in (OP_PING, OP_PONG):  # control frames may come between the fragments of a message
                if opcode == OP_PING:
                    self.send_pong(payload)
                if parts:
                    continue
                return ("ping" if opcode == OP_PING else "pong"), payload
            if opcode == OP_CLOSE:
                return "close", payload
            if opcode == OP_BINARY:
                raise ProtocolError(CLOSE_UNSUPPORTED, "only text messages (JSON) are accepted")
            if (opcode == OP_CONTINUATION) != bool(parts):
                raise ProtocolError(CLOSE_PROTOCOL, "unexpected continuation frame")
            size += len(payload)
            if size > self.max_message:
                raise ProtocolError(CLOSE_TOO_BIG, f"messages are limited to {self.max_message} bytes")
            parts.append(payload)
            if fin:
                return "text", b"".join(parts)
