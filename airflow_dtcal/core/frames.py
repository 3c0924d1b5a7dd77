"""DingTalk Stream mode's frames, pure: parse what the gateway sends, build what the client answers.

No I/O and no Airflow import. Every frame is untrusted: bounded in size, checked for shape, and anything
that is not a Stream frame raises :class:`~airflow_dtcal.core.errors.DingTalkAnswerError` (never echoed
whole). The client that moves the frames is :class:`airflow_dtcal.hooks.stream.ChangeStream`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from airflow_dtcal.core import answers
from airflow_dtcal.core.errors import DingTalkAnswerError, DingTalkError

OPERATION = "Stream"
CALENDAR_TOPIC = "calendar_event_change"
#: Largest frame accepted (DingTalk's calendar notices are well under 4 KiB).
MAX_FRAME_BYTES = 256 * 1024
#: Longest message id accepted (DingTalk's are about 40 characters).
MAX_ID_LENGTH = 256
#: Consecutive unusable frames after which the connection is dropped and opened again.


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


def bad_frame(detail: str) -> DingTalkAnswerError:
    return DingTalkAnswerError(OPERATION, 0, None, detail)


def parse_frame(raw: str | bytes) -> Frame:
    """The envelope of one frame; anything that is not a Stream frame raises DingTalkAnswerError.

    Linear in the frame's size (at most :data:`MAX_FRAME_BYTES`) whatever it holds, pure and safe to call
    from a thread (the watch parses frames off its event loop).
    """
    if len(raw) > MAX_FRAME_BYTES:  # a text frame has at least as many bytes as characters: not encoded
        unit = "bytes" if isinstance(raw, bytes) else "characters"
        raise bad_frame(f"frame of {len(raw):,} {unit} is larger than {MAX_FRAME_BYTES:,} bytes")
    content = raw if isinstance(raw, bytes) else raw.encode("utf-8", "replace")
    if len(content) > MAX_FRAME_BYTES:
        raise bad_frame(f"frame of {len(content):,} bytes is larger than {MAX_FRAME_BYTES:,}")
    try:
        body = answers.parse_json(OPERATION, 0, content, "application/json")
    except DingTalkAnswerError:
        raise
    except DingTalkError:  # not JSON at all
        raise bad_frame(f"frame is not JSON ({len(content):,} bytes)") from None
    if not isinstance(body, dict):
        raise bad_frame(f"frame is a JSON {type(body).__name__}, not an object")
    kind, headers, data = body.get("type"), body.get("headers"), body.get("data", "")
    if kind not in ("SYSTEM", "EVENT", "CALLBACK"):
        raise bad_frame(f"frame type {_short(kind)} is not SYSTEM, EVENT or CALLBACK")
    if not isinstance(headers, dict):
        raise bad_frame(f"{kind} frame has no headers object")
    message_id, topic = headers.get("messageId"), headers.get("topic", "")
    if not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_ID_LENGTH:
        raise bad_frame(f"{kind} frame has no usable messageId")
    if not isinstance(topic, str) or len(topic) > MAX_ID_LENGTH:
        raise bad_frame(f"{kind} frame {message_id!r} has no usable topic")
    if data is None:
        data = ""
    if not isinstance(data, str):
        raise bad_frame(f"{kind} frame {message_id!r}: data is not a JSON string")
    return Frame(kind, topic, message_id, headers, data)


def event_message(frame: Frame) -> StreamMessage:
    """The notice an EVENT frame carries; unusable data raises DingTalkAnswerError."""
    try:
        data = answers.parse_json(OPERATION, 0, frame.data.encode("utf-8"), "application/json")
    except DingTalkAnswerError:
        raise
    except DingTalkError:
        raise bad_frame(f"EVENT {frame.message_id!r}: data is not JSON") from None
    if not isinstance(data, dict):
        raise bad_frame(f"EVENT {frame.message_id!r}: data is not a JSON object")
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
