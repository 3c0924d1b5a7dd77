"""Raw HTTP on 127.0.0.1 for tests that misbehave on purpose: every exchange is bounded in bytes and time."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

MAX_REPLY_BYTES = 256 * 1024


class RawReply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> dict:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<RawReply {self.status} {self.headers} {self.body[:200]!r}>"


def connect(base_url: str, timeout: float = 5.0) -> socket.socket:
    parts = urlsplit(base_url)
    assert parts.hostname == "127.0.0.1"  # misbehaving clients stay on loopback
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def read_reply(sock: socket.socket, timeout: float = 5.0) -> RawReply:
    """One HTTP reply (status, headers, Content-Length body), or AssertionError if none comes in time."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock, deadline)
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    assert length <= MAX_REPLY_BYTES
    while len(rest) < length:
        rest += _recv(sock, deadline)
    return RawReply(status, headers, rest[:length])


def _recv(sock: socket.socket, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise AssertionError("no complete reply in time")
    sock.settimeout(remaining)
    try:
        chunk = sock.recv(65536)
    except TimeoutError:
        raise AssertionError("no complete reply in time") from None
    if not chunk:
        raise AssertionError("the connection closed before a complete reply")
    return chunk


def exchange(base_url: str, data: bytes, timeout: float = 5.0) -> RawReply:
    """Send ``data`` as is on a new connection and read one reply."""
    with connect(base_url, timeout) as sock:
        sock.sendall(data)
        return read_reply(sock, timeout)


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes the connection within ``timeout`` seconds (reading and discarding)."""
    deadline = time.monotonic() + timeout
    received = 0
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
        if not chunk:
            return True
        received += len(chunk)
        assert received <= MAX_REPLY_BYTES
    return False


def assert_dingtalk_error(reply: RawReply, status: int, code: str, *message_parts: str) -> dict:
    assert reply.status == status, reply
    assert reply.headers["content-type"].startswith("application/json"), reply
    body = reply.json()
    assert set(body) == {"code", "message", "requestid"}, body
    assert body["code"] == code, body
    for part in message_parts:
        assert part in body["message"], body
    return body
