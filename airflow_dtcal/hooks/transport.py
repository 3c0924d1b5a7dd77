"""The two ways the hook moves bytes: ``requests.Session`` (sync) and ``httpx.AsyncClient`` (async).

Both go through their library's public API (``Session.request`` and ``AsyncClient.stream``), so users'
``responses``, ``requests-mock``, ``respx`` and ``pytest-httpx`` mocks, mounted adapters, ``session.auth`` and
``session.hooks`` all keep working. Both stream the answer into :class:`~airflow_dtcal.core.answers.BodyReader`
(the size cap applies after decompression) within a total deadline per attempt, never follow a redirect
(it could carry the token header to another host), and turn every transport failure into a
:class:`~airflow_dtcal.exceptions.DingTalkTransportError`: retried unless it is a DNS or TLS failure.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time
from collections.abc import Mapping
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


def ca_bundle(settings: Settings) -> bool | str:
    """One answer to "which CAs?" for both transports: the ``verify`` setting, else ``REQUESTS_CA_BUNDLE`` /
    ``CURL_CA_BUNDLE`` (as requests reads them), else the default bundle."""
    if settings.verify is False or isinstance(settings.verify, str):
        return settings.verify
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def _headers(call: Call, token: str | None) -> dict[str, str]:
    headers = call.headers()
    if token is not None:
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


def transport_error(operation: str, settings: Settings, error: BaseException) -> DingTalkTransportError:
    """A requests / urllib3 / httpx / socket failure as a DingTalkTransportError; DNS and TLS are final."""
    chain = _causes(error)
    names = " ".join(type(e).__name__ for e in chain)
    text = " ".join(str(e) for e in chain)
    if any(isinstance(e, ssl.SSLError) for e in chain) or "SSLError" in names or "CERTIFICATE_VERIFY" in text:
        return DingTalkTransportError(
            operation,
            f"TLS failure talking to {settings.base_url} (check verify / the CA bundle)",
            retryable=False,
        )
    if any(isinstance(e, socket.gaierror) for e in chain) or "NameResolution" in names:
        return DingTalkTransportError(
            operation,
            f"cannot resolve the host of {settings.base_url}; check the connection's host",
            retryable=False,
        )
    timed_out = any(isinstance(e, (TimeoutError, socket.timeout)) for e in chain) or "Timeout" in names
    refused = any(isinstance(e, ConnectionRefusedError) for e in chain)
    if timed_out and not refused:
        return DingTalkTransportError(
            operation,
            f"no answer from {settings.base_url} within {settings.connect_timeout:g}s connect / "
            f"{settings.timeout:g}s",
        )
    return DingTalkTransportError(
        operation, f"connection to {settings.base_url} failed ({type(error).__name__})"
    )


def _too_slow(operation: str, settings: Settings) -> DingTalkTransportError:
    return DingTalkTransportError(
        operation, f"the answer from {settings.base_url} took longer than timeout={settings.timeout:g}s"
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
    """One HTTP exchange through ``session.request``; the answer read with a size cap and a total deadline."""
    deadline = time.monotonic() + settings.timeout
    try:
        response = session.request(
            call.method,
            settings.base_url + call.path,
            params=call.params or None,
            data=call.json_body(),
            headers=_headers(call, token),
            timeout=(settings.connect_timeout, settings.timeout),
            allow_redirects=False,
            stream=True,
        )
    except DingTalkError:
        raise
    except (requests.RequestException, OSError, ValueError) as err:
        raise transport_error(call.operation, settings, err) from None
    try:
        reader = BodyReader(
            call.operation,
            settings.max_answer_bytes,
            response.headers.get("content-encoding"),
            response.status_code,
        )
        while True:
            if time.monotonic() > deadline:
                raise _too_slow(call.operation, settings)
            chunk = _read_some(response.raw)
            if not chunk:
                break
            reader.feed(chunk)
        return response.status_code, response.headers, reader.content()
    except DingTalkError:
        raise
    except Exception as err:  # urllib3 / http.client / socket errors while reading the body
        raise transport_error(call.operation, settings, err) from None
    finally:
        response.close()


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


async def aexchange(client: Any, settings: Settings, call: Call, token: str | None) -> Exchange:
    """One HTTP exchange through ``client.stream``; the whole attempt is bounded by ``timeout``."""
    import httpx

    try:
        return await asyncio.wait_for(_astream(client, settings, call, token), timeout=settings.timeout)
    except DingTalkError:
        raise
    except asyncio.TimeoutError:
        raise _too_slow(call.operation, settings) from None
    except (httpx.HTTPError, OSError, ValueError) as err:
        raise transport_error(call.operation, settings, err) from None


async def _astream(client: Any, settings: Settings, call: Call, token: str | None) -> Exchange:
    import httpx

    async with client.stream(
        call.method,
        settings.base_url + call.path,
        params=call.params or None,
        content=call.json_body(),
        headers=_headers(call, token),
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
