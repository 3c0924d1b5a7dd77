"""The HTTP server: the standard library's ThreadingHTTPServer, hardened for misbehaving clients.

* Every request must arrive whole within ``request_timeout`` seconds of its first byte (headers and body
  together), and an idle keep-alive connection is closed after ``idle_timeout`` seconds, so a slow or
  stalled client (slowloris) cannot hold a thread forever. A request cut short this way gets 408.
* A body longer than ``max_body_bytes`` is refused with 413 before it is read.
* ``GET /gateway/connect`` upgrades to the Stream WebSocket (``stream_connection.py``), which then holds
  the connection (and its thread) until either side closes it.
* Malformed HTTP (request line, headers, ``Content-Length``, chunked bodies, unknown methods) gets a
  DingTalk-shaped JSON error, never the standard library's HTML page, and the connection is closed.
"""

from __future__ import annotations

import io
import socket
import struct
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from airflow_dtcal.testing.emulator import admin, api, stream_connection
from airflow_dtcal.testing.emulator.errors import error_body
from airflow_dtcal.testing.emulator.messages import Reply, Request
from airflow_dtcal.testing.emulator.state import State

MAX_BODY_BYTES = 1024 * 1024
REQUEST_TIMEOUT = 10.0  # seconds for one whole request, from its first byte
IDLE_TIMEOUT = 60.0  # seconds a keep-alive connection may wait for its next request
WRITE_TIMEOUT = 10.0  # seconds to hand a reply to a client that does not read
DRAIN_BYTES = 64 * 1024  # after refusing a body, read at most this much of it so the client sees the reply
DRAIN_SECONDS = 1.0
METHODS_WITH_BODY = ("POST", "PUT", "PATCH")

#: The ``code`` of protocol-level errors, by HTTP status.
PROTOCOL_CODES = {
    400: "invalidRequest",
    408: "requestTimeout",
    411: "missingContentLength",
    413: "requestEntityTooLarge",
    414: "requestUriTooLong",
    431: "requestHeaderFieldsTooLarge",
    501: "methodNotImplemented",
    505: "httpVersionNotSupported",
}


class DeadlineReader(io.RawIOBase):
    """Reads a connection's socket with two limits: ``idle_timeout`` while waiting for a request's first
    byte, then a deadline ``request_timeout`` after it for the rest of that request."""

    def __init__(self, sock: socket.socket, idle_timeout: float, request_timeout: float) -> None:
        self.sock = sock
        self.idle_timeout = idle_timeout
        self.request_timeout = request_timeout
        self.deadline: float | None = None
        self.timed_out = False

    def next_request(self) -> None:
        self.deadline = None
        self.timed_out = False

    @property
    def request_started(self) -> bool:
        return self.deadline is not None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        timeout = self.idle_timeout if self.deadline is None else self.deadline - time.monotonic()
        if timeout <= 0:
            self.timed_out = True
            raise TimeoutError("the request did not arrive in time")
        self.sock.settimeout(timeout)
        try:
            count = self.sock.recv_into(buffer)
        except TimeoutError:
            self.timed_out = True
            raise
        if count and self.deadline is None:
            self.deadline = time.monotonic() + self.request_timeout
        return count


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dtcal-emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    server: Server

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # replace the plain socket file with one that enforces the deadlines
        self.reader = DeadlineReader(self.connection, self.server.idle_timeout, self.server.request_timeout)
        self.rfile = io.BufferedReader(self.reader)
        self.unread_body = False

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base-class signature
        pass

    def version_string(self) -> str:
        return self.server_version

    def handle_one_request(self) -> None:
        self.reader.next_request()
        self.answered = False
        super().handle_one_request()  # catches TimeoutError and closes the connection
        if self.reader.timed_out and self.reader.request_started and not self.answered:
            self.send_error(408, "The request did not arrive within the time limit")

    # ---- answers

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors as DingTalk-shaped JSON (the standard library would send an HTML page)."""
        if self.request_version == "HTTP/0.9":  # an unparsable request line: answer with a status line anyway
            self.request_version = "HTTP/1.1"
        text = message or HTTPStatus(code).phrase
        self._write(Reply(code, error_body(PROTOCOL_CODES.get(code, "invalidRequest"), text)), close=True)

    def _write(self, reply: Reply, close: bool = False) -> None:
        self.answered = True
        self.connection.settimeout(self.server.write_timeout)
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        if reply.retry_after is not None:
            self.send_header("Retry-After", str(reply.retry_after))
        self.send_header("Content-Length", str(len(reply.body)))
        if close or self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if reply.body and self.command != "HEAD":
            self.wfile.write(reply.body)

    def _refuse(self, status: int, message: str, code: str | None = None) -> None:
        """Answer a request whose body is not read (or not whole) with an error, then close."""
        self.unread_body = True
        self._write(Reply(status, error_body(code or PROTOCOL_CODES[status], message)), close=True)

    # ---- the request body

    def _body_length(self) -> int | None:
        """The declared body length, or None after answering an error (the connection then closes)."""
        if self.headers.get("Transfer-Encoding") is not None:
            message = "chunked request bodies are not supported; send Content-Length"
            self._refuse(400, message, code="invalidParameter")
            return None
        values = [value.strip() for value in self.headers.get_all("Content-Length") or []]
        if not values:
            if self.command in METHODS_WITH_BODY:
                self._refuse(411, f"{self.command} needs a Content-Length header")
                return None
            return 0
        if len(set(values)) > 1 or not values[0].isascii() or not values[0].isdigit():
            self._refuse(400, f"invalid Content-Length {', '.join(values)!r}")
            return None
        length = int(values[0])
        if length > self.server.max_body_bytes:
            limit = self.server.max_body_bytes
            self._refuse(413, f"The request body is {length} bytes; at most {limit} are accepted")
            return None
        return length

    def handle_expect_100(self) -> bool:
        """Refuse an oversized body before the client sends it, instead of inviting it with 100 Continue."""
        length = self._body_length()
        if length is None:
            return False
        return super().handle_expect_100()

    def _read_body(self, length: int) -> bytes | None:
        try:
            body = self.rfile.read(length) if length else b""
        except TimeoutError:
            self._refuse(408, f"The request body ({length} bytes declared) did not arrive in time")
            return None
        if len(body) < length:  # the client closed its side early: nobody is left to answer
            self.close_connection = True
            return None
        return body

    # ---- one request

    def _serve(self) -> None:
        if stream_connection.is_upgrade_path(self.path):  # the Stream WebSocket: held open until closed
            stream_connection.serve_upgrade(self)
            return
        length = self._body_length()
        if length is None:
            return
        body = self._read_body(length)
        if body is None:
            return
        request = Request.from_target(self.command, self.path, self.headers, body)
        state = self.server.state
        state.begin_request()
        try:
            if admin.is_admin_path(request.path):
                reply = admin.handle(state, request, self.server.own_origins)
            else:
                reply = api.handle(state, request)
        except Exception:  # a bug in the emulator: answer 500 rather than drop the connection
            traceback.print_exc()
            reply = Reply(500, error_body("InternalError", "The emulator failed to handle the request."))
        finally:
            state.end_request()
        if reply.reset_before or reply.reset_after:
            self._reset_connection()
            return
        self._write(reply)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    # ---- closing

    def _reset_connection(self) -> None:
        """Abort the TCP connection with an RST (SO_LINGER 0), sending no reply at all."""
        self.close_connection = True
        self.answered = True
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        except OSError:
            pass

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self.unread_body:
                self._drain()

    def _drain(self) -> None:
        """Half-close, then discard a little of the unread body, so closing does not reset the connection
        (an RST would make the client lose the error reply it has not read yet)."""
        sock = self.connection
        try:
            sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + DRAIN_SECONDS
            left = DRAIN_BYTES
            while left > 0 and (remaining := deadline - time.monotonic()) > 0:
                sock.settimeout(remaining)
                chunk = sock.recv(min(left, 16384))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        state: State,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        request_timeout: float = REQUEST_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
        write_timeout: float = WRITE_TIMEOUT,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.state = state
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self.idle_timeout = idle_timeout
        self.write_timeout = write_timeout
        self._open: set = set()
        self._open_lock = threading.Lock()
        super().__init__(address, Handler)
        self.own_origins = own_origins(address[0], self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        with self._open_lock:
            conns = list(self._open)
            self._open.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(
            sys.exc_info()[1], OSError
        ):  # client went away (timeouts, resets): not worth a traceback
            return
        super().handle_error(request, client_address)


def own_origins(host: str, port: int) -> frozenset[str]:
    """The origins a browser would send for pages served by this emulator (loopback names and its host)."""
    hosts = {"127.0.0.1", "localhost", "[::1]"}
    if host not in ("", "0.0.0.0", "::"):
        hosts.add(f"[{host}]" if ":" in host else host.lower())
    return frozenset(f"http://{name}:{port}" for name in hosts)
