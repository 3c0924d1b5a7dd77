"""One HTTP request as the emulator's rooms see it, and the reply they hand back to the server."""

from __future__ import annotations

import dataclasses
import json
from typing import Any
from urllib.parse import parse_qsl

from airflow_dtcal.testing.emulator.errors import ApiError, error_body, invalid


@dataclasses.dataclass
class Request:
    """A request whose framing the server has already checked (method, target, headers, whole body)."""

    method: str
    path: str  # the raw path, still percent-encoded
    query_string: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    @classmethod
    def from_target(cls, method: str, target: str, headers: Any, body: bytes) -> Request:
        path, _, query_string = target.partition("?")
        return cls(
            method=method,
            path=path,
            query_string=query_string.partition("#")[0],
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
        )

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.query_string, keep_blank_values=True))


class Reply:
    """What to send back: a status and body, or a TCP reset before or after the change is applied."""

    __slots__ = ("status", "body", "content_type", "reset_before", "reset_after", "retry_after")

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        content_type: str | None = "application/json",
        reset_before: bool = False,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type if body else None
        self.reset_before = reset_before
        self.reset_after = False
        self.retry_after: int | None = None


def json_reply(obj: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(obj, ensure_ascii=False).encode())


def error_reply(err: ApiError) -> Reply:
    return Reply(err.status, error_body(err.code, err.message))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _invalid(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def invalid_text_at(value: Any, path: str = "") -> str | None:
    """Where ``value`` (parsed JSON) holds a string, or an object key, that is not valid Unicode text: a lone
    UTF-16 surrogate (U+D800 to U+DFFF), which a JSON ``\\ud800`` escape can carry but UTF-8 cannot. The path
    (``attendees[1].displayName``), or None when every string is valid. Iterative: any nesting depth."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _invalid(item):
                return where or "the body"
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in reversed(list(enumerate(item))))
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                if _invalid(key):
                    return f"a key of {where or 'the body'}"
                children.append((child, f"{where}.{key}" if where else key))
            stack.extend(reversed(children))
    return None


def parse_json_body(raw: bytes) -> Any:
    """The JSON value of a body: strict UTF-8, strict JSON (no NaN/Infinity) and valid Unicode text (no lone
    surrogate escape); ``invalid`` otherwise."""
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("The request body is not valid UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        raise invalid("The request body is not valid JSON") from None
    where = invalid_text_at(value)
    if where is not None:
        raise invalid(
            f"{where} is not valid Unicode text: it holds a lone UTF-16 surrogate escape (\\ud800-\\udfff), "
            "which cannot be stored as UTF-8"
        )
    return value
