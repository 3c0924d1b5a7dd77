"""DingTalk Stream mode: a small async client that receives ``calendar_event_change`` notices.

Stream mode is an outbound long connection (no public URL needed). The protocol, as the official client
(``dingtalk-stream``) speaks it:

1. ``POST /v1.0/gateway/connections/open`` with the app's key and secret: the hook's
   :meth:`~airflow_dtcal.hooks.calendar.DingTalkCalendarHook.aopen_stream_connection`, through its one
   request path, answers ``{"endpoint", "ticket"}`` (the ticket is single use);
2. a WebSocket to ``endpoint?ticket=<ticket>``, only if the endpoint is DingTalk's Stream host (TLS on
   port 443), a host under the connection's ``stream_host_suffix`` extra, or the connection's own loopback
   host (the emulator) (:mod:`airflow_dtcal.core.stream_endpoint`); the host is resolved once, only public
   addresses are accepted (except on the connection's own host), and the TCP connection is opened here, so
   the handshake follows no redirect and goes through no proxy. The server pushes JSON text frames
   ``{"specVersion", "type": "SYSTEM"|"EVENT"|"CALLBACK", "headers": {"messageId", "topic", ...},
   "data": "<JSON string>"}``;
3. the client answers every SYSTEM ``ping`` (code 200, the same data) and acknowledges each EVENT with
   ``{"status": "SUCCESS"}`` (or ``"LATER"``). Unacknowledged messages are delivered again, with the same
   message id, on a later connection; a SYSTEM ``disconnect`` says the server is about to close.

:class:`ChangeStream` yields each notice as a :class:`StreamMessage` and leaves the acknowledgement to its
caller (:meth:`ChangeStream.ack`), so a notice is acknowledged only once the caller has acted on it. It
reconnects after a drop, a ``disconnect`` or a failed open with a capped, jittered backoff; bounds frame
sizes, the handshake time and silent connections (WebSocket keepalive pings); and parses frames
defensively, large ones in a thread (the event loop is never held by a frame): a frame that is not a Stream frame is a :class:`~airflow_dtcal.exceptions.DingTalkAnswerError`,
logged and skipped (never echoed whole). Neither the app secret nor the ticket is ever logged.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket as pysocket
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote_plus, urlsplit

from airflow_dtcal.core import calls
from airflow_dtcal.core.frames import (
    CALENDAR_TOPIC,
    MAX_FRAME_BYTES,
    StreamMessage,
    ack_frame,
    bad_frame,
    event_message,
    parse_frame,
    system_answer,
)
from airflow_dtcal.core.stream_endpoint import Endpoint, check_endpoint, public_address, refused
from airflow_dtcal.exceptions import DingTalkAnswerError, DingTalkError
from airflow_dtcal.hooks.operation import Context, Flow

#: Consecutive unusable frames after which the connection is dropped and opened again.
MAX_BAD_FRAMES = 5
#: Frames (or EVENT data) larger than this are parsed in a thread, not on the event loop.
OFF_LOOP_BYTES = 16 * 1024

log = logging.getLogger(__name__)
# websockets logs the request line (ticket included) at debug level: its logger is kept at WARNING.
_ws_log = logging.getLogger(f"{__name__}.websocket")
_ws_log.setLevel(logging.WARNING)


#: What Stream mode subscribes to unless told otherwise: DingTalk's calendar change event.
CALENDAR_CHANGE_TOPIC = CALENDAR_TOPIC


def open_stream_connection(ctx: Context, topics: Sequence[str] = (CALENDAR_TOPIC,)) -> Flow[dict[str, Any]]:
    """Stream mode's connection-open call: ``{"endpoint": "wss://…", "ticket": "…"}`` for a WebSocket
    that receives this app's events (``topics``). The ticket is single-use; never log it."""
    s = ctx.settings
    return (yield calls.open_stream_connection(s.app_key, s.app_secret, list(topics)))


def backoff(failures: int, ceiling: float) -> float:
    """Seconds before the next connection after ``failures`` failed ones: 1 s doubling up to ``ceiling``,
    with jitter (so many triggerers do not come back at once)."""
    base = min(ceiling, 2.0 ** max(0, min(failures - 1, 30)))
    return base * random.uniform(0.5, 1.0)


class ChangeStream:
    """Calendar change notices from DingTalk Stream mode, as an async iterator that reconnects by itself.

    :param hook: a :class:`~airflow_dtcal.hooks.calendar.DingTalkCalendarHook` (opens each connection).
    :param topics: EVENT topics to subscribe to.
    :param max_frame_bytes: largest frame accepted; a larger one closes the connection (1009).
    :param open_timeout: seconds for the WebSocket handshake.
    :param ping_interval: seconds between keepalive pings; a connection silent for twice as long is dropped.
    :param max_backoff: the longest wait between two connection attempts.
    """

    def __init__(
        self,
        hook: Any,
        *,
        topics: tuple[str, ...] = (CALENDAR_TOPIC,),
        max_frame_bytes: int = MAX_FRAME_BYTES,
        open_timeout: float = 30.0,
        ping_interval: float = 30.0,
        max_backoff: float = 60.0,
        logger: Any = None,  # a logging.Logger, or Airflow's structured logger (a trigger's self.log)
    ) -> None:
        self.hook = hook
        self.topics = tuple(topics)
        self.max_frame_bytes = int(max_frame_bytes)
        self.open_timeout = float(open_timeout)
        self.ping_interval = float(ping_interval)
        self.max_backoff = float(max_backoff)
        self.log = logger or log
        self.connections = 0  # connections opened so far (for logs and tests)
        self._socket: Any = None

    def __repr__(self) -> str:
        return f"<ChangeStream topics={self.topics!r} connections={self.connections}>"

    async def messages(self) -> AsyncIterator[StreamMessage]:
        """Every EVENT notice, across reconnections, until the caller stops iterating.

        Errors that a new connection cannot cure (bad credentials, a missing permission) are raised;
        the rest (drops, timeouts, throttling, a gateway that answers garbage) are retried after a backoff.
        """
        failures = 0
        while True:
            try:
                socket = await self._connect()
            except DingTalkError as err:
                if not err.retryable and not isinstance(err, DingTalkAnswerError):
                    raise
                failures += 1
                await self._wait(failures, f"opening a Stream connection failed ({err})")
                continue
            except Exception as err:  # websockets' handshake errors (InvalidStatus, InvalidHandshake, ...)
                failures += 1
                await self._wait(failures, f"the Stream WebSocket did not open ({_describe(err)})")
                continue
            self._socket = socket
            bad, received = 0, False
            try:
                async for raw in socket:
                    try:
                        frame = await _off_loop_if_large(parse_frame, raw, len(raw))
                    except DingTalkAnswerError as err:
                        bad += 1
                        self.log.warning("Skipped an unusable Stream frame (%d in a row): %s", bad, err)
                        if bad >= MAX_BAD_FRAMES:
                            self.log.warning("Too many unusable Stream frames; opening a new connection")
                            break
                        continue
                    bad, received, failures = 0, True, 0  # the connection works
                    if frame.type == "SYSTEM":
                        if frame.topic == "disconnect":
                            self.log.info("DingTalk Stream asked to disconnect; opening a new connection")
                            break
                        await socket.send(system_answer(frame))  # ping (and any other SYSTEM frame)
                        continue
                    if frame.type != "EVENT":
                        self.log.warning("Ignored a Stream %s frame (topic %r)", frame.type, frame.topic)
                        continue
                    try:
                        message = await _off_loop_if_large(event_message, frame, len(frame.data))
                    except DingTalkAnswerError as err:
                        # It can never be handled: acknowledged, so it is not delivered forever.
                        self.log.error("Dropped Stream message %s: %s", frame.message_id, err)
                        await socket.send(ack_frame(frame.message_id))
                        continue
                    yield message
            except Exception as err:  # the connection dropped (ConnectionClosed, OSError, ...)
                failures += 1
                await self._close()
                await self._wait(failures, f"the Stream connection dropped ({_describe(err)})")
                continue
            finally:
                # Also on GeneratorExit/cancellation: the socket never outlives the iteration.
                await self._close()
            if not received:  # closed before any frame: not a working connection, so back off
                failures += 1
                await self._wait(failures, "the Stream connection closed before any frame")

    async def ack(self, message: StreamMessage, status: str = "SUCCESS") -> bool:
        """Acknowledge ``message`` on the current connection; False when that connection is gone (the
        message will then be delivered again on the next one)."""
        socket = self._socket
        if socket is None:
            return False
        try:
            await socket.send(ack_frame(message.message_id, status))
        except Exception as err:
            self.log.warning(
                "Could not acknowledge Stream message %s (%s)", message.message_id, _describe(err)
            )
            return False
        return True

    async def close(self) -> None:
        await self._close()

    async def _close(self) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            try:
                await asyncio.wait_for(socket.close(), timeout=5.0)
            except Exception:  # already gone: nothing to release
                pass

    async def _wait(self, failures: int, why: str) -> None:
        delay = backoff(failures, self.max_backoff)
        self.log.warning("%s; connecting again in %.1fs (attempt %d)", why, delay, failures + 1)
        await asyncio.sleep(delay)

    async def _connect(self) -> Any:
        from websockets.asyncio.client import connect

        opened = await self.hook.aopen_stream_connection(topics=self.topics)
        if not isinstance(opened, Mapping):
            raise bad_frame("the gateway's answer is not an object")
        settings = await self.hook.asettings()
        endpoint = check_endpoint(opened.get("endpoint"), settings.base_url, settings.stream_host_suffix)
        ticket = opened.get("ticket")
        if not isinstance(ticket, str) or not ticket or len(ticket) > 4096:
            raise bad_frame("the gateway answered no usable ticket")
        separator = "&" if urlsplit(endpoint.url).query else "?"
        sock = await self._open_socket(endpoint)
        try:
            # Our own socket: websockets cannot follow a redirect with it (it refuses to), and no proxy
            # or second lookup of the host comes between the checked address and the handshake.
            socket = await connect(
                f"{endpoint.url}{separator}ticket={quote_plus(ticket)}",
                sock=sock,
                open_timeout=self.open_timeout,
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_interval,
                close_timeout=5.0,
                max_size=self.max_frame_bytes,
                max_queue=16,
                logger=_ws_log,
            )
        except BaseException as err:
            sock.close()
            if not isinstance(err, Exception):
                raise
            # Some handshake errors quote the URI, ticket included: only the kind and status are kept.
            raise _HandshakeError(_describe(err)) from None
        self.connections += 1
        self.log.info("DingTalk Stream connected to %s (connection %d)", endpoint.host, self.connections)
        return socket

    async def _open_socket(self, endpoint: Endpoint) -> pysocket.socket:
        """A TCP connection to ``endpoint``: its host resolved once, every address checked (public ones
        only, unless it is the connection's own host), the first that answers kept."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.open_timeout):
            addresses = await resolve(endpoint.host, endpoint.port)
            usable = [a for a in addresses if endpoint.own or public_address(a[4][0])]
            if not usable:
                raise refused(
                    f"the Stream host {endpoint.host!r} resolves to no public address "
                    f"({', '.join(sorted({a[4][0] for a in addresses})) or 'none'})"
                )
            last: OSError | None = None
            for family, kind, proto, _name, address in usable:
                sock = pysocket.socket(family, kind, proto)
                sock.setblocking(False)
                try:
                    await loop.sock_connect(sock, address)
                    return sock
                except OSError as err:
                    sock.close()
                    last = err
                except BaseException:
                    sock.close()
                    raise
            raise last or OSError(f"no address of {endpoint.host!r} to connect to")


async def resolve(host: str, port: int) -> list[tuple]:
    """``getaddrinfo`` for a Stream host (TCP), on the event loop's resolver."""
    loop = asyncio.get_running_loop()
    return await loop.getaddrinfo(host, port, type=pysocket.SOCK_STREAM)


async def _off_loop_if_large(parse: Any, value: Any, size: int) -> Any:
    """``parse(value)``, in a thread when ``size`` is over :data:`OFF_LOOP_BYTES` (the event loop stays free
    while a large frame is read)."""
    if size > OFF_LOOP_BYTES:
        return await asyncio.to_thread(parse, value)
    return parse(value)


class _HandshakeError(Exception):
    """The WebSocket handshake failed (its message carries no URI)."""


def _describe(err: BaseException) -> str:
    """An error's kind and, for HTTP handshake failures, the status; never its text (it may quote the URI)."""
    if isinstance(err, _HandshakeError):
        return str(err)
    cause = err.__cause__
    redirect = getattr(getattr(cause, "response", None), "status_code", None)
    if isinstance(err, ValueError) and isinstance(redirect, int) and 300 <= redirect < 400:
        return f"HTTP {redirect}: a redirect, not followed"
    status = getattr(getattr(err, "response", None), "status_code", None)
    code = getattr(getattr(err, "rcvd", None), "code", None)
    detail = type(err).__name__
    if status is not None:
        detail += f" HTTP {status}"
    if code is not None:
        detail += f" close code {code}"
    return detail
