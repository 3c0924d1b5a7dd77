"""DingTalk Stream mode: a small async client that receives ``calendar_event_change`` notices.

Stream mode is an outbound long connection (no public URL needed). The protocol, as the official client
(``dingtalk-stream``) speaks it:

1. ``POST /v1.0/gateway/connections/open`` with the app's key and secret: the hook's
   :meth:`~airflow_dtcal.hooks.calendar.DingTalkCalendarHook.aopen_stream_connection`, through its one
   request path, answers ``{"endpoint", "ticket"}`` (the ticket is single use);
2. a WebSocket to ``endpoint?ticket=<ticket>``; the server pushes JSON text frames
   ``{"specVersion", "type": "SYSTEM"|"EVENT"|"CALLBACK", "headers": {"messageId", "topic", ...},
   "data": "<JSON string>"}``;
3. the client answers every SYSTEM ``ping`` (code 200, the same data) and acknowledges each EVENT with
   ``{"status": "SUCCESS"}`` (or ``"LATER"``). Unacknowledged messages are delivered again, with the same
   message id, on a later connection; a SYSTEM ``disconnect`` says the server is about to close.

:class:`ChangeStream` yields each notice as a :class:`StreamMessage` and leaves the acknowledgement to its
caller (:meth:`ChangeStream.ack`), so a notice is acknowledged only once the caller has acted on it. It
reconnects after a drop, a ``disconnect`` or a failed open with a capped, jittered backoff; bounds frame
sizes, the handshake time and silent connections (WebSocket keepalive pings); and parses frames
defensively: a frame that is not a Stream frame is a :class:`~airflow_dtcal.exceptions.DingTalkAnswerError`,
logged and skipped (never echoed whole). Neither the app secret nor the ticket is ever logged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit

from airflow_dtcal.core import answers
from airflow_dtcal.exceptions import DingTalkAnswerError, DingTalkError

OPERATION = "Stream"
CALENDAR_TOPIC = "calendar_event_change"
#: Largest frame accepted (DingTalk's calendar notices are well under 4 KiB).
MAX_FRAME_BYTES = 256 * 1024
#: Longest message id accepted (DingTalk's are about 40 characters).
MAX_ID_LENGTH = 256
#: Consecutive unusable frames after which the connection is dropped and opened again.
MAX_BAD_FRAMES = 5

log = logging.getLogger(__name__)
# websockets logs the request line (ticket included) at debug level: its logger is kept at WARNING.
_ws_log = logging.getLogger(f"{__name__}.websocket")
_ws_log.setLevel(logging.WARNING)


@dataclass(frozen=True)
class StreamMessage:
    """One EVENT frame: ``data`` is its decoded JSON object; ``event_id`` is DingTalk's id of the pushed
    event (the same when a message is delivered again), ``message_id`` the id to acknowledge."""

    message_id: str
    topic: str
    event_id: str | None
    born_time: int | None
    data: dict


@dataclass(frozen=True)
class Frame:
    """A parsed Stream frame (envelope only; :func:`event_message` decodes an EVENT's data)."""

    type: str
    topic: str
    message_id: str
    headers: dict
    data: str


def _bad(detail: str) -> DingTalkAnswerError:
    return DingTalkAnswerError(OPERATION, 0, None, detail)


def parse_frame(raw: str | bytes) -> Frame:
    """The envelope of one frame; anything that is not a Stream frame raises DingTalkAnswerError."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_FRAME_BYTES:
            raise _bad(f"frame of {len(raw):,} bytes is larger than {MAX_FRAME_BYTES:,}")
        content = raw
    else:
        content = raw.encode("utf-8", "replace")
    if len(content) > MAX_FRAME_BYTES:
        raise _bad(f"frame of {len(content):,} bytes is larger than {MAX_FRAME_BYTES:,}")
    try:
        body = answers.parse_json(OPERATION, 0, content, "application/json")
    except DingTalkAnswerError:
        raise
    except DingTalkError:  # not JSON at all
        raise _bad(f"frame is not JSON ({len(content):,} bytes)") from None
    if not isinstance(body, dict):
        raise _bad(f"frame is a JSON {type(body).__name__}, not an object")
    kind, headers, data = body.get("type"), body.get("headers"), body.get("data", "")
    if kind not in ("SYSTEM", "EVENT", "CALLBACK"):
        raise _bad(f"frame type {_short(kind)} is not SYSTEM, EVENT or CALLBACK")
    if not isinstance(headers, dict):
        raise _bad(f"{kind} frame has no headers object")
    message_id, topic = headers.get("messageId"), headers.get("topic", "")
    if not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_ID_LENGTH:
        raise _bad(f"{kind} frame has no usable messageId")
    if not isinstance(topic, str) or len(topic) > MAX_ID_LENGTH:
        raise _bad(f"{kind} frame {message_id!r} has no usable topic")
    if data is None:
        data = ""
    if not isinstance(data, str):
        raise _bad(f"{kind} frame {message_id!r}: data is not a JSON string")
    return Frame(kind, topic, message_id, headers, data)


def event_message(frame: Frame) -> StreamMessage:
    """The notice an EVENT frame carries; unusable data raises DingTalkAnswerError."""
    try:
        data = answers.parse_json(OPERATION, 0, frame.data.encode("utf-8"), "application/json")
    except DingTalkAnswerError:
        raise
    except DingTalkError:
        raise _bad(f"EVENT {frame.message_id!r}: data is not JSON") from None
    if not isinstance(data, dict):
        raise _bad(f"EVENT {frame.message_id!r}: data is not a JSON object")
    event_id = frame.headers.get("eventId")
    born = frame.headers.get("eventBornTime")
    return StreamMessage(
        message_id=frame.message_id,
        topic=str(frame.headers.get("eventType") or frame.topic),
        event_id=event_id if isinstance(event_id, str) and 0 < len(event_id) <= MAX_ID_LENGTH else None,
        born_time=_int(born),
        data=data,
    )


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def ack_frame(message_id: str, status: str = "SUCCESS") -> str:
    """The acknowledgement of an EVENT: ``SUCCESS`` (never again) or ``LATER`` (deliver again)."""
    if status not in ("SUCCESS", "LATER"):
        raise ValueError(f"status must be SUCCESS or LATER, got {status!r}")
    return json.dumps(
        {
            "code": 200,
            "headers": {"contentType": "application/json", "messageId": message_id},
            "message": "OK",
            "data": json.dumps({"status": status}),
        }
    )


def system_answer(frame: Frame) -> str:
    """The answer to a SYSTEM frame (``ping``): code 200 with the same data."""
    return json.dumps(
        {
            "code": 200,
            "headers": {"contentType": "application/json", "messageId": frame.message_id},
            "message": "OK",
            "data": frame.data,
        }
    )


def check_endpoint(endpoint: Any) -> str:
    """The WebSocket endpoint the gateway handed out: ``wss://``, or ``ws://`` on a loopback address only."""
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > 2048:
        raise _bad("the gateway answered no usable endpoint")
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if parts.scheme == "wss" and host:
        return endpoint
    if parts.scheme == "ws" and _is_loopback(host):
        return endpoint
    raise _bad(f"the gateway's endpoint must be wss:// (or ws:// on loopback), got {parts.scheme}://{host}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
        logger: logging.Logger | logging.LoggerAdapter | None = None,
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
                        frame = parse_frame(raw)
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
                        message = event_message(frame)
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
            raise _bad("the gateway's answer is not an object")
        endpoint = check_endpoint(opened.get("endpoint"))
        ticket = opened.get("ticket")
        if not isinstance(ticket, str) or not ticket or len(ticket) > 4096:
            raise _bad("the gateway answered no usable ticket")
        separator = "&" if urlsplit(endpoint).query else "?"
        try:
            socket = await connect(
                f"{endpoint}{separator}ticket={quote_plus(ticket)}",
                open_timeout=self.open_timeout,
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_interval,
                close_timeout=5.0,
                max_size=self.max_frame_bytes,
                max_queue=16,
                logger=_ws_log,
            )
        except Exception as err:
            # Some handshake errors quote the URI, ticket included: only the kind and status are kept.
            raise _HandshakeError(_describe(err)) from None
        self.connections += 1
        host = urlsplit(endpoint).hostname
        self.log.info("DingTalk Stream connected to %s (connection %d)", host, self.connections)
        return socket


class _HandshakeError(Exception):
    """The WebSocket handshake failed (its message carries no URI)."""


def _describe(err: BaseException) -> str:
    """An error's kind and, for HTTP handshake failures, the status; never its text (it may quote the URI)."""
    if isinstance(err, _HandshakeError):
        return str(err)
    status = getattr(getattr(err, "response", None), "status_code", None)
    code = getattr(getattr(err, "rcvd", None), "code", None)
    detail = type(err).__name__
    if status is not None:
        detail += f" HTTP {status}"
    if code is not None:
        detail += f" close code {code}"
    return detail
