"""The two ways the hook moves bytes: ``requests.Session`` (sync) and ``httpx.AsyncClient`` (async).

Both go through their library's public API (``Session.request`` and ``AsyncClient.stream``), so users'
``responses``, ``requests-mock``, ``respx`` and ``pytest-httpx`` mocks, mounted adapters, ``session.auth`` and
``session.hooks`` all keep working. Both stream the answer into :class:`~airflow_dtcal.core.answers.BodyReader`
(the size cap applies after decompression) within a total deadline per attempt, never follow a redirect
(it could carry the token header to another host), and turn every transport failure into a
:class:`~airflow_dtcal.exceptions.DingTalkTransportError`: retried unless it is a DNS or TLS failure.

Legacy calls (``oapi.dingtalk.com``, :attr:`Call.legacy <airflow_dtcal.core.calls.Call.legacy>`) go to the
legacy host and carry the token in the ``access_token`` query parameter, so the token is part of their
URL. That URL never reaches a message of ours (errors name the base URL only, and keep no reference to the
library's exception, whose text may hold the URL), and :class:`RedactTokenQuery` blanks the parameter in
the records the HTTP libraries log themselves (urllib3's and httpx's request lines).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import requests

from airflow_dtcal import __version__
from airflow_dtcal.core.answers import CHUNK_SIZE, BodyReader
from airflow_dtcal.core.calls import TOKEN_HEADER, USER_AGENT_PRODUCT, Call
from airflow_dtcal.core.settings import Settings
from airflow_dtcal.exceptions import DingTalkError, DingTalkTransportError

#: Headers every request carries. We decode answers ourselves (bounded), so we name the encodings we read.
BASE_HEADERS = {
    "accept": "application/json",
    "accept-encoding": "gzip, deflate",
    "user-agent": f"{USER_AGENT_PRODUCT}/{__version__}",
}
JSON_CONTENT_TYPE = "application/json; charset=utf-8"

Exchange = tuple[int, Mapping[str, str], bytes]

#: The query parameter legacy calls carry the access token in.
LEGACY_TOKEN_PARAM = "access_token"
REDACTED = "<redacted>"
_TOKEN_IN_QUERY = re.compile(r"(access_token=)[^&\s\"'#]*", re.IGNORECASE)
#: Loggers of the HTTP libraries that write request URLs (urllib3 at DEBUG, httpx at INFO).
URL_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager", "httpx", "httpcore")


class RedactTokenQuery(logging.Filter):
    """Blank the ``access_token`` query parameter in a log record's text (the record is kept)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to fix
            return True
        if LEGACY_TOKEN_PARAM in text.lower():
            record.msg, record.args = _TOKEN_IN_QUERY.sub(rf"\g<1>{REDACTED}", text), ()
        return True


def install_log_redaction() -> None:
    """Add :class:`RedactTokenQuery` to the HTTP libraries' URL loggers (once per process)."""
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokenQuery) for f in logger.filters):
            logger.addFilter(RedactTokenQuery())


install_log_redaction()


def base_url(settings: Settings, call: Call) -> str:
    """Where ``call`` goes: the legacy host for legacy calls, else the API host."""
    return (settings.legacy_base_url or settings.base_url) if call.legacy else settings.base_url


def _params(call: Call, token: str | None) -> dict[str, Any] | None:
    if call.legacy and token is not None:
        return {**call.params, LEGACY_TOKEN_PARAM: token}
    return call.params or None


def ca_bundle(settings: Settings) -> bool | str:
    """One answer to "which CAs?" for both transports: the ``verify`` setting, else ``REQUESTS_CA_BUNDLE`` /
    ``CURL_CA_BUNDLE`` (as requests reads them), else the default bundle."""
    if settings.verify is False or isinstance(settings.verify, str):
        return settings.verify
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def _headers(call: Call, token: str | None) -> dict[str, str]:
    headers = call.headers()
    if token is not None and not call.legacy:
        headers[TOKEN_HEADER] = token
    if call.body is not None:
        headers["content-type"] = JSON_CONTENT_TYPE
    return headers


def _causes(error: BaseException) -> list[BaseException]:
    """The error and everything it wraps (``__cause__``, ``__context__``, urllib3's ``reason``, ``args``)."""
    seen: list[BaseException] = []
    todo: list[Any] = [error]
    while todo and len(seen) < 20:
        item = todo.pop()
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])
    return seen


def transport_error(
    operation: str, settings: Settings, error: BaseException, url: str | None = None
) -> DingTalkTransportError:
    """A requests / urllib3 / httpx / socket failure as a DingTalkTransportError; DNS and TLS are final.

    The message names ``url`` (a base URL, default the API's), never the request URL or the library's text.
    """
    chain = _causes(error)
    url = url or settings.base_url
    names = " ".join(type(e).__name__ for e in chain)
    text = " ".join(str(e) for e in chain)
    if any(isinstance(e, ssl.SSLError) for e in chain) or "SSLError" in names or "CERTIFICATE_VERIFY" in text:
        return DingTalkTransportError(
            operation,
            f"TLS failure talking to {url} (check verify / the CA bundle)",
            retryable=False,
        )
    if any(isinstance(e, socket.gaierror) for e in chain) or "NameResolution" in names:
        return DingTalkTransportError(
            operation,
            f"cannot resolve the host of {url}; check the connection's host",
            retryable=False,
        )
    timed_out = any(isinstance(e, (TimeoutError, socket.timeout)) for e in chain) or "Timeout" in names
    refused = any(isinstance(e, ConnectionRefusedError) for e in chain)
    if timed_out and not refused:
        return DingTalkTransportError(
            operation,
            f"no answer from {url} within {settings.connect_timeout:g}s connect / {settings.timeout:g}s",
        )
    return DingTalkTransportError(operation, f"connection to {url} failed ({type(error).__name__})")


def _too_slow(operation: str, settings: Settings, url: str | None = None) -> DingTalkTransportError:
    return DingTalkTransportError(
        operation,
        f"the answer from {url or settings.base_url} took longer than timeout={settings.timeout:g}s",
    )


# --------------------------------------------------------------------------------------------- sync


def new_session(settings: Settings) -> requests.Session:
    session = requests.Session()
    session.headers.update(BASE_HEADERS)
    session.verify = settings.verify
    return session


def _read_some(raw: Any) -> bytes:
    """Whatever bytes have arrived (up to one chunk), without waiting for a full chunk."""
    if hasattr(raw, "read1"):
        return raw.read1(CHUNK_SIZE, decode_content=False)
    return raw.read(CHUNK_SIZE, decode_content=False)  # pragma: no cover - very old urllib3


def exchange(session: requests.Session, settings: Settings, call: Call, token: str | None) -> Exchange:
    """One HTTP exchange through ``session.request``; the answer read with a size cap and a total deadline.

    A library failure is raised as a :class:`DingTalkTransportError` outside the ``except`` block, so it
    keeps no ``__context__`` (the library's exception can hold the request URL, and a legacy call's URL
    holds the token).
    """
    url = base_url(settings, call)
    deadline = time.monotonic() + settings.timeout
    failure: DingTalkTransportError | None = None
    try:
        response = session.request(
            call.method,
            url + call.path,
            params=_params(call, token),
            data=call.json_body(),
            headers=_headers(call, token),
            timeout=(settings.connect_timeout, settings.timeout),
            allow_redirects=False,
            stream=True,
        )
    except DingTalkError:
        raise
    except (requests.RequestException, OSError, ValueError) as err:
        failure = transport_error(call.operation, settings, err, url)
    if failure is not None:
        raise failure
    try:
        reader = BodyReader(
            call.operation,
            settings.max_answer_bytes,
            response.headers.get("content-encoding"),
            response.status_code,
        )
        while True:
            if time.monotonic() > deadline:
                raise _too_slow(call.operation, settings, url)
            chunk = _read_some(response.raw)
            if not chunk:
                break
            reader.feed(chunk)
        return response.status_code, response.headers, reader.content()
    except DingTalkError:
        raise
    except Exception as err:  # urllib3 / http.client / socket errors while reading the body
        failure = transport_error(call.operation, settings, err, url)
    finally:
        response.close()
    raise failure


# --------------------------------------------------------------------------------------------- async


def new_async_client(settings: Settings) -> Any:
    import httpx

    bundle = ca_bundle(settings)
    if bundle is False:
        verify: Any = False
    else:
        import certifi

        verify = ssl.create_default_context(cafile=certifi.where() if bundle is True else bundle)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
        verify=verify,
        follow_redirects=False,
        headers=BASE_HEADERS,
    )


async def aexchange(
    client: Any,
    settings: Settings,
    call: Call,
    token: str | None,
    on_sent: Callable[[float], Awaitable[None]] | None = None,
) -> Exchange:
    """One HTTP exchange through ``client.stream``; the whole attempt is bounded by ``timeout``.

    ``on_sent`` is awaited once the request is written, with the ``time.monotonic()`` at which its
    connection was ready and its headers began to go out (httpx's ``trace`` extension; a mocked transport
    never calls it): the pacer learns when the call went out, without holding the request up.
    """
    import httpx

    url = base_url(settings, call)
    try:
        stream = _astream(client, url, settings, call, token, on_sent)
        return await asyncio.wait_for(stream, timeout=settings.timeout)
    except DingTalkError:
        raise
    except asyncio.TimeoutError:
        failure = _too_slow(call.operation, settings, url)
    except (httpx.HTTPError, OSError, ValueError) as err:
        failure = transport_error(call.operation, settings, err, url)
    raise failure  # outside the except blocks: no __context__ holding the request URL (see exchange)


#: The ``trace`` events of httpcore: a request's headers begin to go out; the request is written.
SENDING = frozenset({"http11.send_request_headers.started", "http2.send_request_headers.started"})
SENT = frozenset({"http11.send_request_body.complete", "http2.send_request_body.complete"})


async def _astream(
    client: Any,
    url: str,
    settings: Settings,
    call: Call,
    token: str | None,
    on_sent: Callable[[float], Awaitable[None]] | None,
) -> Exchange:
    import httpx

    extensions: dict[str, Any] = {}
    if on_sent is not None:
        sending: list[float] = []

        async def trace(event: str, info: Any) -> None:
            if event in SENDING:
                sending.append(time.monotonic())
            elif event in SENT and sending:
                await on_sent(sending[0])

        extensions["trace"] = trace
    async with client.stream(
        call.method,
        url + call.path,
        params=_params(call, token),
        content=call.json_body(),
        headers=_headers(call, token),
        extensions=extensions,
    ) as response:
        reader = BodyReader(
            call.operation,
            settings.max_answer_bytes,
            response.headers.get("content-encoding"),
            response.status_code,
        )
        try:
            async for chunk in response.aiter_raw():
                reader.feed(chunk)
        except httpx.StreamConsumed:  # an answer built in memory (httpx.MockTransport): already decoded
            reader = BodyReader(call.operation, settings.max_answer_bytes, None, response.status_code)
            reader.feed(response.content)
        return response.status_code, response.headers, reader.content()
