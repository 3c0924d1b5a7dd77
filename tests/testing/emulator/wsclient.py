"""A minimal WebSocket client on a raw socket, for driving the emulator's Stream gateway byte by byte.

Loopback only, every read bounded in time and size. It speaks just enough RFC 6455 for the tests: the
opening handshake, masked client frames (or deliberately broken ones) and reading server frames.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import time
from typing import Any
from urllib.parse import urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA
MAX_READ = 1024 * 1024


def frame(opcode: int, payload: bytes, *, masked: bool = True, fin: bool = True) -> bytes:
    size = len(payload)
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if masked else 0
    if size < 126:
        header = struct.pack("!BB", first, mask_bit | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, size)
    if not masked:
        return header + payload
    mask = os.urandom(4)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class WsClient:
    def __init__(self, endpoint: str, ticket: str | None, timeout: float = 5.0) -> None:
        parts = urlsplit(endpoint)
        assert parts.hostname == "127.0.0.1", endpoint  # loopback only
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.timeout = timeout
        self.buffer = b""
        key = base64.b64encode(os.urandom(16)).decode()
        target = parts.path + (f"?ticket={ticket}" if ticket is not None else "")
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        head = self._read_until(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        self.head = head.decode("latin-1")
        self.body = b""
        if self.status == 101:
            expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
            assert f"Sec-WebSocket-Accept: {expected}" in self.head, self.head
        else:
            length = int(self.head.lower().split("content-length:")[1].split("\r\n")[0])
            self.body = self._read_exact(length)

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("nothing arrived in time")
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        self.buffer += chunk
        assert len(self.buffer) < MAX_READ

    def _read_until(self, marker: bytes) -> bytes:
        deadline = time.monotonic() + self.timeout
        while marker not in self.buffer:
            self._fill(deadline)
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _read_exact(self, count: int, deadline: float | None = None) -> bytes:
        deadline = deadline or time.monotonic() + self.timeout
        while len(self.buffer) < count:
            self._fill(deadline)
        out, self.buffer = self.buffer[:count], self.buffer[count:]
        return out

    def error(self) -> dict:
        return json.loads(self.body)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_json(self, obj: Any) -> None:
        self.send_raw(frame(OP_TEXT, json.dumps(obj).encode()))

    def read_frame(self, timeout: float | None = None) -> tuple[int, bytes]:
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        first, second = self._read_exact(2, deadline)
        assert not second & 0x80, "server frames are never masked"
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", self._read_exact(2, deadline))
        elif size == 127:
            (size,) = struct.unpack("!Q", self._read_exact(8, deadline))
        assert first & 0x80, "the emulator sends final frames only"
        return first & 0x0F, self._read_exact(size, deadline)

    def read_json(self, timeout: float | None = None) -> dict:
        """The next text message (pings from the server are not expected here)."""
        opcode, payload = self.read_frame(timeout)
        assert opcode == OP_TEXT, (opcode, payload)
        return json.loads(payload)

    def read_close(self, timeout: float | None = None) -> int:
        """The close code of the next frame, which must be a close frame (text frames before it skipped)."""
        while True:
            opcode, payload = self.read_frame(timeout)
            if opcode == OP_CLOSE:
                return struct.unpack("!H", payload[:2])[0]

    def ack(self, message: dict, status: str = "SUCCESS", code: int = 200) -> None:
        self.send_json(
            {
                "code": code,
                "headers": {"contentType": "application/json", "messageId": message["headers"]["messageId"]},
                "message": "OK",
                "data": json.dumps({"status": status}),
            }
        )

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
