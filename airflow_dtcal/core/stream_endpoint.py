"""Which WebSocket endpoint a Stream connection may open, pure: the gateway's answer is untrusted.

DingTalk's Stream gateway (``POST /v1.0/gateway/connections/open`` on the API host) answers the endpoint of
the WebSocket to open. The client opens it only when it is where DingTalk's Stream mode lives (developerpedia,
Stream FAQ: ``wss-open-connection.dingtalk.com``, TLS on port 443, beside ``api.dingtalk.com``), or on a
host the connection itself names as a suffix (extra ``stream_host_suffix``, e.g. ``.dingtalk.com``), or,
for the emulator, on the connection's own loopback host. :mod:`airflow_dtcal.hooks.stream` then resolves
the host, refuses addresses that are not public (private, loopback, link-local...) unless the host is the
connection's own, and opens the TCP connection itself, so the WebSocket handshake cannot be redirected.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from airflow_dtcal.core.errors import DingTalkAnswerError

#: DingTalk's Stream host (the WebSocket endpoints its gateway hands out).
STREAM_HOST = "wss-open-connection.dingtalk.com"
MAX_ENDPOINT_CHARS = 2048


@dataclass(frozen=True)
class Endpoint:
    """A checked endpoint: ``url`` to open, on ``host``:``port``; ``own``: the connection's own host (any
    address accepted), else only public addresses."""

    url: str
    host: str
    port: int
    secure: bool
    own: bool


def refused(detail: str) -> DingTalkAnswerError:
    return DingTalkAnswerError("Stream", 0, None, detail)


def check_endpoint(endpoint: Any, base_url: str, suffix: str = "") -> Endpoint:
    """The endpoint the gateway answered, if the client may open it (see the module doc); else a
    :class:`~airflow_dtcal.exceptions.DingTalkAnswerError` naming the rule. ``base_url`` is the
    connection's API base URL, ``suffix`` its ``stream_host_suffix`` (``""``: none)."""
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > MAX_ENDPOINT_CHARS:
        raise refused("the gateway answered no usable endpoint")
    if any(ord(c) < 33 or ord(c) == 127 for c in endpoint):
        raise refused("the gateway's endpoint holds spaces or control characters")
    parts = urlsplit(endpoint)
    try:
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        raise refused("the gateway's endpoint has no usable port") from None
    if parts.scheme not in ("ws", "wss") or not host:
        raise refused(f"the gateway's endpoint must be wss://HOST/..., got {parts.scheme}://{host}")
    if parts.username is not None or parts.password is not None:
        raise refused("the gateway's endpoint must not carry credentials")
    secure = parts.scheme == "wss"
    port = port or (443 if secure else 80)
    own_host = (urlsplit(base_url).hostname or "").lower()
    if host == own_host and is_loopback_name(host):
        return Endpoint(endpoint, host, port, secure, own=True)  # the emulator, on the connection's host
    if not secure:
        raise refused(f"the gateway's endpoint must be wss:// (got ws:// on {host})")
    if port != 443:
        raise refused(f"the gateway's endpoint must be on port 443 (got {port})")
    if not (host == STREAM_HOST or _under(host, suffix)):
        allowed = STREAM_HOST + (f" or a host under {suffix!r}" if suffix else "")
        raise refused(f"the gateway's endpoint host {host!r} is not DingTalk's Stream host ({allowed})")
    return Endpoint(endpoint, host, port, secure, own=False)


def _under(host: str, suffix: str) -> bool:
    if not suffix or _is_ip(host):
        return False
    return host.endswith(suffix) or host == suffix.lstrip(".")


def public_address(address: str) -> bool:
    """Whether an address a Stream host resolved to may be connected to: global unicast only."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def is_loopback_name(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
