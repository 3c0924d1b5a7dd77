"""The request log (``requests()``, ``GET /_emulator/requests``), which never holds a secret.

Secrets are removed twice: by place (the token header is left out; the credentials of ``authorization``
headers (their scheme is kept), ``cookie`` headers, the ``access_token`` query parameter and secret-named body fields such as ``appSecret`` are
replaced by ``[redacted]``), and by value (every known app secret and live access token, and every secret
this request carried, is replaced wherever else it appears: path, query, headers, body).
"""

from __future__ import annotations

import re
import time
from typing import Any

from airflow_dtcal.testing.emulator.contract import CLIENT_TOKEN_HEADER, TOKEN_HEADER
from airflow_dtcal.testing.emulator.messages import Request
from airflow_dtcal.testing.emulator.state import State

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
SECRET_QUERY = frozenset({"access_token"})
SECRET_FIELDS = frozenset({"appsecret", "client_secret", "clientsecret", "access_token", "accesstoken"})
_SECRET_IN_TEXT = re.compile(
    r'("(?:appSecret|client_secret|clientSecret|access_token|accessToken)"\s*:\s*)"(?:[^"\\]|\\.)*"', re.I
)
MIN_SCRUBBED_LENGTH = 6  # shorter values are only redacted by place (scrubbing "s" would mangle the log)


def _redact_fields(value: Any, found: set[str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(key, str) and key.lower() in SECRET_FIELDS:
                if isinstance(item, str) and item:
                    found.add(item)
                out[key] = REDACTED
            else:
                out[key] = _redact_fields(item, found)
        return out
    if isinstance(value, list):
        return [_redact_fields(item, found) for item in value]
    return value


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {_scrub(k, secrets): _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secrets) for item in value]
    return value


def new_record(
    state: State, request: Request, operation: str | None, body: Any, body_text: str | None
) -> dict:
    """A log entry for ``request`` (caller holds ``state.lock``); ``status`` is filled in later."""
    found: set[str] = set()
    headers = {}
    for name, value in request.headers.items():
        if name == TOKEN_HEADER:
            found.add(value)
        elif name in SECRET_HEADERS:
            headers[name] = REDACTED
            words = value.split()
            if name != "cookie" and words:
                found.add(words[-1])  # "Bearer <token>": the credential is the last word
                if len(words) > 1:
                    headers[name] = f"{words[0]} {REDACTED}"  # the scheme (Basic, Bearer) is kept
        else:
            headers[name] = value
    query = {}
    for name, value in request.query.items():
        if name in SECRET_QUERY:
            found.add(value)
            query[name] = REDACTED
        else:
            query[name] = value
    logged_body = (
        _redact_fields(body, found)
        if body_text is None
        else _SECRET_IN_TEXT.sub(r'\1"[redacted]"', body_text)
    )
    record = {
        "operation": operation,
        "method": request.method,
        "path": request.path,
        "query": query,
        "headers": headers,
        "has_token": bool(request.headers.get(TOKEN_HEADER)),
        "body": logged_body,
        "client_token": request.headers.get(CLIENT_TOKEN_HEADER),
        "status": None,
        "received": time.time(),  # when the emulator read it (Unix seconds): rates measured server-side
    }
    known = found | set(state.tokens) | state.secrets_seen | set((state.apps or {}).values())
    secrets = sorted((s for s in known if len(s) >= MIN_SCRUBBED_LENGTH), key=len, reverse=True)
    return _scrub(record, secrets)
