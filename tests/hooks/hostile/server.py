"""A small misbehaving DingTalk on loopback: answers the token call properly, then misbehaves on purpose.

Each behaviour is a function that writes a raw HTTP answer to the socket. Everything is bounded: no answer
sends more than ``MAX_BYTES`` or runs longer than ``MAX_SECONDS``, and the server stops with the test.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
import zlib
from collections.abc import Callable

MAX_BYTES = 64 * 1024 * 1024
MAX_SECONDS = 20.0
TOKEN = "hostile-token-0001"


def _head(status: int = 200, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} X"]
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def json_answer(body: bytes | str, status: int = 200) -> Callable[[socket.socket], None]:
    data = body.encode() if isinstance(body, str) else body

    def send(sock: socket.socket) -> None:
        sock.sendall(
            _head(status, {"content-type": "application/json", "content-length": str(len(data))}) + data
        )

    return send


def endless(chunked: bool) -> Callable[[socket.socket], None]:
    """A body that never ends (chunked) or claims 2 GiB: zeros until the client stops reading."""

    def send(sock: socket.socket) -> None:
        if chunked:
            sock.sendall(_head(200, {"content-type": "application/json", "transfer-encoding": "chunked"}))
        else:
            sock.sendall(_head(200, {"content-type": "application/json", "content-length": str(2 * 1024**3)}))
        block = b"[" + b"0," * 32767
        piece = (f"{len(block):x}\r\n".encode() + block + b"\r\n") if chunked else block
        sent, started = 0, time.monotonic()
        while sent < MAX_BYTES and time.monotonic() - started < MAX_SECONDS:
            sock.sendall(piece)
            sent += len(piece)

    return send


def gzip_bomb(inflated: int) -> Callable[[socket.socket], None]:
    """A small gzip body that inflates to ``inflated`` bytes of JSON-looking text."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [compressor.compress(b'{"attendees": ["')]
    block = b"A" * (1024 * 1024)
    for _ in range(inflated // len(block)):
        parts.append(compressor.compress(block))
    parts.append(compressor.compress(b'"]}') + compressor.flush())
    data = b"".join(parts)

    def send(sock: socket.socket) -> None:
        sock.sendall(
            _head(
                200,
                {
                    "content-type": "application/json",
                    "content-encoding": "gzip",
                    "content-length": str(len(data)),
                },
            )
            + data
        )

    send.compressed_size = len(data)  # type: ignore[attr-defined]
    return send


def drip(interval: float = 1.0) -> Callable[[socket.socket], None]:
    """A valid-looking body sent one byte per ``interval`` seconds (each read is fast; the whole is not)."""

    def send(sock: socket.socket) -> None:
        body = b'{"attendees": []}' + b" " * 200
        sock.sendall(_head(200, {"content-type": "application/json", "content-length": str(len(body))}))
        started = time.monotonic()
        for byte in body:
            if time.monotonic() - started > MAX_SECONDS:
                return
            sock.sendall(bytes([byte]))
            time.sleep(interval)

    return send


class HostileServer:
    """``/v1.0/oauth2/accessToken`` answers a token (or ``token_answer``); everything else ``behaviour``."""

    def __init__(self) -> None:
        self.behaviour: Callable[[socket.socket], None] = json_answer("{}")
        self.token_answer: Callable[[socket.socket], None] = json_answer(
            json.dumps({"accessToken": TOKEN, "expireIn": 7200})
        )
        self.paths: list[str] = []
        self.bodies: list[bytes] = []
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock = self.request
                sock.settimeout(MAX_SECONDS)
                try:
                    while True:
                        request = _read_request(sock)
                        if request is None:
                            return
                        head, body = request
                        path = head.split(b" ", 2)[1].decode("latin-1")
                        outer.paths.append(path)
                        outer.bodies.append(body)
                        if path.startswith("/v1.0/oauth2/accessToken"):
                            outer.token_answer(sock)
                        else:
                            outer.behaviour(sock)
                except OSError:
                    return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def connection_json(self, **extra: object) -> str:
        conn = {
            "conn_type": "dingtalk_calendar",
            "login": "k",
            "password": "hostile-secret",
            "host": self.base_url,
        }
        if extra:
            conn["extra"] = extra
        return json.dumps(conn)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _read_request(sock: socket.socket) -> tuple[bytes, bytes] | None:
    """Read one request (headers and a Content-Length body, at most 1 MiB): ``(head, body)``; None when the
    client left."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > 1024 * 1024:
            return None
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < min(length, 1024 * 1024):
        chunk = sock.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return head, rest
