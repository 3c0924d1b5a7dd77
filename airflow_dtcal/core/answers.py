"""An HTTP answer -> the parsed body, or the typed exception. Shared by both transports.

Servers and proxies misbehave, so every answer is bounded and checked before anything reads it:

* :class:`BodyReader` collects the raw bytes a transport streams, decompresses gzip/deflate itself
  with a bound on the output, and stops at ``max_answer_bytes`` (a 1 MB gzip that inflates to 1 GiB is
  refused after the cap, not read whole);
* :func:`interpret` parses JSON (linear time, no NaN, no runaway nesting), maps DingTalk errors
  (``{code, message, requestid}``, read in the body as well as the status) to the exception hierarchy, and
  checks the answer has the shape the call expects;
* :func:`access_token` checks a token is a header-safe string and its lifetime is sane.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Mapping
from typing import Any

from airflow_dtcal.core import jsontext
from airflow_dtcal.core.errors import (
    DingTalkAnswerError,
    DingTalkAPIError,
    DingTalkAuthError,
    DingTalkBannedError,
    DingTalkInvalidParameterError,
    DingTalkNotFoundError,
    DingTalkPermissionError,
    DingTalkQuotaExceededError,
    DingTalkRateLimitError,
    DingTalkServerError,
    DingTalkSyncTokenExpiredError,
)

THROTTLE_CODES = (
    "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
    "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi",
    "Forbidden.AccessDenied.QpsLimitForApi",
)
QUOTA_CODE = "Forbidden.AccessDenied.ApiCountLimitForOrg"
AUTH_CODES = ("InvalidAuthentication", "invalidClientIdOrSecret")
#: The legacy API's ``errcode`` values (``oapi.dingtalk.com``, HTTP 200 with ``{"errcode", "errmsg"}``):
#: a bad, unknown or expired access token; no such user; throttled; DingTalk busy; the app may not.
LEGACY_AUTH_CODES = frozenset({40001, 40014, 42001, 88})
LEGACY_NOT_FOUND_CODES = frozenset({60121, 60111})
LEGACY_THROTTLE_CODES = frozenset({90018, 90002})
LEGACY_BUSY_CODES = frozenset({-1})
LEGACY_PERMISSION_CODES = frozenset({60011, 60020})
#: Seconds to wait after throttling when DingTalk gives no hint: its QPS windows are one second long.
THROTTLE_WAIT = 1.0
#: How deep a JSON answer may nest; DingTalk's answers are a few levels deep.
MAX_DEPTH = 32
#: Longest server text (message, code) we repeat in an error.
MAX_TEXT = 300
#: Token lifetimes outside this range are clamped: DingTalk's is 7,200 s.
TOKEN_LIFETIME = (1.0, 7200.0)
_HEADER_SAFE = re.compile(r"[!-~]{1,1024}")
#: Bytes a transport asks for per read of an answer.
CHUNK_SIZE = 64 * 1024


def _bad(operation: str, status: int, detail: str) -> DingTalkAnswerError:
    return DingTalkAnswerError(operation, status, None, detail)


# --------------------------------------------------------------------------------------------- bytes


class BodyReader:
    """Collect an answer's raw bytes, decompressed here with a bound, up to ``limit`` bytes after decoding.

    The transports ask for the raw (still encoded) bytes and feed them here, so the size cap applies to what
    the answer really expands to.
    """

    def __init__(self, operation: str, limit: int, content_encoding: str | None, status: int = 200) -> None:
        self.operation = operation
        self.limit = limit
        self.status = status
        self._parts: list[bytes] = []
        self._size = 0
        encoding = (content_encoding or "identity").strip().lower()
        if encoding in ("identity", ""):
            self._decoder = None
        elif encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj()
        else:
            raise _bad(operation, status, f"answered with an unsupported encoding {encoding!r}")

    def feed(self, raw: bytes) -> None:
        if self._decoder is None:
            self._keep(raw)
            return
        data = raw
        try:
            while data:
                out = self._decoder.decompress(data, self.limit - self._size + 1)
                self._keep(out)
                data = self._decoder.unconsumed_tail
        except zlib.error:
            raise _bad(self.operation, self.status, "answered with a corrupt compressed body") from None

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self.limit:
            raise _bad(
                self.operation,
                self.status,
                f"answer is larger than max_answer_bytes={self.limit:,}; not read further",
            )
        if data:
            self._parts.append(data)

    def content(self) -> bytes:
        if self._decoder is not None:
            self._keep(self._decoder.flush())
        return b"".join(self._parts)


# --------------------------------------------------------------------------------------------- JSON


def parse_json(operation: str, status: int, content: bytes, content_type: str | None) -> Any:
    """The JSON value of ``content`` (None for an empty body); a non-JSON body is a typed error.

    Linear in the size of ``content`` (which the transports cap at ``max_answer_bytes``) whatever it holds,
    and never deeper than :data:`MAX_DEPTH` (see :mod:`airflow_dtcal.core.jsontext`); safe in any thread.
    """
    if not content or not content.strip():
        return None
    try:
        return jsontext.loads(content, MAX_DEPTH)
    except jsontext.TooDeep:
        raise _bad(operation, status, f"answer nests deeper than {MAX_DEPTH} levels") from None
    except jsontext.NotJSON:
        kind = (content_type or "unknown type").split(";")[0].strip()[:60]
        raise DingTalkBannedError(
            operation,
            status,
            None,
            f"answered {kind} ({len(content):,} bytes) instead of JSON; a gateway error or an IP ban page",
        ) from None


def _text(value: Any) -> str | None:
    """Server text fit for an error message: a bounded, printable string, or None."""
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)[:MAX_TEXT]
    text = "".join(c if c.isprintable() else " " for c in text)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


# --------------------------------------------------------------------------------------------- errors


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a ``Retry-After`` header asks for: a finite, non-negative number, or None (ignored)."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _legacy_code(body: Any) -> int | None:
    """The legacy ``errcode`` of an answer (an int, or a numeric string), else None."""
    if not isinstance(body, dict) or "errcode" not in body or "code" in body:
        return None
    code = body["errcode"]
    if isinstance(code, bool):
        return None
    if isinstance(code, str) and code.strip().lstrip("-").isdigit():
        return int(code)
    return code if isinstance(code, int) else None


def legacy_error(operation: str, status: int, headers: Mapping[str, str], body: dict) -> DingTalkAPIError:
    """The exception for a legacy ``{"errcode", "errmsg"}`` answer whose errcode is not 0."""
    errcode = _legacy_code(body)
    sub_code = _legacy_code({"errcode": body.get("sub_code")})
    code = _text(str(body.get("errcode")))
    message = _text(body.get("errmsg"))
    request_id = _text(body.get("request_id") or body.get("requestId"))
    wait = retry_after(headers)
    cls: type[DingTalkAPIError]
    if errcode in LEGACY_THROTTLE_CODES or status == 429:
        cls = DingTalkRateLimitError
        wait = THROTTLE_WAIT if wait is None else wait
    elif errcode in LEGACY_PERMISSION_CODES or sub_code in LEGACY_PERMISSION_CODES:
        cls = DingTalkPermissionError
    elif errcode in LEGACY_AUTH_CODES or status == 401:
        cls = DingTalkAuthError
    elif errcode in LEGACY_NOT_FOUND_CODES:
        cls = DingTalkNotFoundError
    elif errcode in LEGACY_BUSY_CODES or status >= 500:
        cls = DingTalkServerError
    else:
        cls = DingTalkInvalidParameterError
    return cls(operation, status, code, message, request_id, retry_after=wait)


def api_error(operation: str, status: int, headers: Mapping[str, str], body: Any) -> DingTalkAPIError:
    """The exception for a DingTalk error answer (new ``code``/``message`` or legacy ``errcode``/``errmsg``)."""
    if _legacy_code(body) is not None:
        return legacy_error(operation, status, headers, body)
    body = body if isinstance(body, dict) else {}
    code = _text(body.get("code") or body.get("Code") or body.get("errcode"))
    message = _text(body.get("message") or body.get("Message") or body.get("errmsg"))
    request_id = _text(body.get("requestid") or body.get("requestId") or body.get("RequestId"))
    lowered = (code or "").lower()
    wait = retry_after(headers)
    cls: type[DingTalkAPIError]
    if code in THROTTLE_CODES or "qpslimit" in lowered or "qpmlimit" in lowered or status == 429:
        cls = DingTalkRateLimitError
        wait = THROTTLE_WAIT if wait is None else wait
    elif code == QUOTA_CODE:
        cls = DingTalkQuotaExceededError
        message = (
            f"{message + '; ' if message else ''}the organisation's monthly API call quota is spent (5,000 "
            "calls a month on the standard edition, 200,000 on the professional one); not retried: calls "
            "fail until the quota resets next month or the edition changes"
        )
    elif (
        code in AUTH_CODES
        or lowered.startswith("authenticationfailed")
        or lowered.startswith("invalidauthentication")
        or status == 401
    ):
        cls = DingTalkAuthError
    elif status in (400, 410) and _names_sync_token(code, message):
        cls = DingTalkSyncTokenExpiredError
    elif status == 404 or "notexist" in lowered or "notfound" in lowered or "not.found" in lowered:
        cls = DingTalkNotFoundError
    elif status == 403 or lowered.startswith("forbidden"):
        cls = DingTalkPermissionError
    elif status >= 500:
        cls = DingTalkServerError
    elif status == 400 or lowered:
        cls = DingTalkInvalidParameterError
    else:
        cls = DingTalkAPIError
    return cls(operation, status, code, message, request_id, retry_after=wait)


def _names_sync_token(code: str | None, message: str | None) -> bool:
    """Whether an error is about a ListEvents ``syncToken`` (DingTalk documents no code for an expired one)."""
    return any("synctoken" in (text or "").lower().replace("_", "") for text in (code, message))


def _ban_wait(body: Any) -> float | None:
    if isinstance(body, dict) and "punish" in body:
        try:
            wait = float(body.get("wait", 0))
        except (TypeError, ValueError):
            return 0.0
        return wait if math.isfinite(wait) and wait >= 0 else 0.0
    return None


def _is_error_body(body: Any) -> bool:
    """A new-style error body, or a legacy answer whose ``errcode`` is not 0 (the legacy API answers its
    errors with HTTP 200)."""
    if isinstance(body, dict) and "errcode" in body and "code" not in body:
        return _legacy_code(body) != 0
    return (
        isinstance(body, dict)
        and "code" in body
        and "message" in body
        and ("requestid" in body or "requestId" in body)
    )


# --------------------------------------------------------------------------------------------- answers


def interpret(
    operation: str,
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    expect: str = "object",
) -> Any:
    """The body of a successful answer, checked against ``expect`` (see :class:`~airflow_dtcal.core.calls.Call`)."""
    body = parse_json(operation, status, content, headers.get("content-type"))
    wait = _ban_wait(body)
    if wait is not None:
        raise DingTalkBannedError(
            operation, status, None, f"the IP is being limited (wait {wait:g}s)", retry_after=wait
        )
    if status >= 400 or _is_error_body(body):
        raise api_error(operation, status, headers, body)
    if status >= 300:
        raise DingTalkAPIError(operation, status, None, "unexpected redirect; not followed")
    if status < 200:
        raise _bad(operation, status, "answered with an informational status")
    return check_shape(operation, status, body, expect)


#: The field that identifies an item of a page, where it is not ``id``.
PAGE_ITEM_IDS = {"users": "userId", "acls": "aclId"}
_WEBSOCKET_URL = re.compile(r"wss?://[!-~]{1,2000}")


def check_shape(operation: str, status: int, body: Any, expect: str) -> Any:
    if expect == "none":
        return body
    if not isinstance(body, dict):
        kind = "nothing" if body is None else f"a JSON {type(body).__name__}"
        raise _bad(operation, status, f"answered {kind} where an object was expected")
    if expect.startswith("legacy:"):
        return legacy_result(operation, status, body, expect[7:])
    if expect == "event" and not (isinstance(body.get("id"), str) and body["id"]):
        raise _bad(operation, status, "the answer has no event id")
    if expect.startswith("page:"):
        key = expect[5:]
        items = body.get(key)
        if not isinstance(items, list):
            raise _bad(operation, status, f"the answer has no '{key}' list")
        id_field = PAGE_ITEM_IDS.get(key, "id")
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not (isinstance(item.get(id_field), str) and item[id_field]):
                raise _bad(operation, status, f"{key}[{index}] is not an object with an {id_field}")
        token = body.get("nextToken")
        if token is not None and not isinstance(token, str):
            raise _bad(operation, status, "nextToken is not a string")
        sync = body.get("syncToken")
        if sync is not None and not (isinstance(sync, str) and _HEADER_SAFE.fullmatch(sync)):
            raise _bad(operation, status, "syncToken is not a printable string")
    if expect == "stream":
        endpoint, ticket = body.get("endpoint"), body.get("ticket")
        if not (isinstance(endpoint, str) and _WEBSOCKET_URL.fullmatch(endpoint)):
            raise _bad(operation, status, "the answer has no ws:// or wss:// endpoint")
        if not (isinstance(ticket, str) and _HEADER_SAFE.fullmatch(ticket)):
            raise _bad(operation, status, "the answer has no usable ticket")
    return body


def legacy_result(operation: str, status: int, body: dict, kind: str) -> dict:
    """The ``result`` of a successful legacy answer (``errcode`` 0), checked: ``user`` needs a ``userid``
    and a ``unionid``, ``userid`` a ``userid`` (non-empty strings)."""
    if _legacy_code(body) != 0:
        raise _bad(operation, status, "the answer has no errcode 0 (not a legacy API answer)")
    result = body.get("result")
    if not isinstance(result, dict):
        raise _bad(operation, status, "the answer has no 'result' object")
    needed = ("userid", "unionid") if kind == "user" else ("userid",)
    for name in needed:
        if not (isinstance(result.get(name), str) and result[name].strip()):
            raise _bad(operation, status, f"result.{name} is missing or not a non-empty string")
    if kind == "user" and not isinstance(result.get("active", True), bool):
        raise _bad(operation, status, "result.active is not true or false")
    return result


def access_token(body: Mapping[str, Any]) -> tuple[str, float]:
    """``(token, lifetime in seconds)`` from a GetAccessToken answer; the token never appears in an error."""
    token = body.get("accessToken")
    if not isinstance(token, str) or not _HEADER_SAFE.fullmatch(token):
        raise _bad(
            "GetAccessToken", 200, "the answer has no usable accessToken (missing, empty or not header-safe)"
        )
    raw = body.get("expireIn", TOKEN_LIFETIME[1])
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise _bad("GetAccessToken", 200, "expireIn is not a number")
    try:
        lifetime = float(raw)
    except ValueError:
        raise _bad("GetAccessToken", 200, "expireIn is not a number") from None
    if not math.isfinite(lifetime):
        lifetime = TOKEN_LIFETIME[1]
    return token, min(max(lifetime, TOKEN_LIFETIME[0]), TOKEN_LIFETIME[1])
