"""ListEvents sync tokens: issuing them and checking them (signed, scoped to one user's calendar, expiring).

A token is ``<base64url JSON>.<signature>``. The JSON holds the user, the calendar, the change number the
listing reached, when it was issued and the expiry generation; the signature (HMAC with a key made at
each reset) makes a token from another emulator, an edited one or a garbled one invalid. The
``expire_sync_tokens`` control bumps the generation, and ``sync_token_ttl`` bounds a token's age.
An invalid token is answered with 400 ``invalidSyncToken``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time

from airflow_dtcal.testing.emulator.errors import ApiError
from airflow_dtcal.testing.emulator.state import State

MAX_TOKEN_LENGTH = 1024


def invalid_sync_token() -> ApiError:
    return ApiError(400, "invalidSyncToken", "syncToken is invalid or expired; list again without syncToken")


def _sign(state: State, raw: bytes) -> str:
    digest = hmac.new(state.sync_key, raw, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue(state: State, user: str, calendar: str, seq: int) -> str:
    """A token for ``user``'s ``calendar`` after change number ``seq`` (caller holds ``state.lock``)."""
    payload = {"u": user, "c": calendar, "s": seq, "t": int(time.time()), "g": state.sync_generation}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") + "." + _sign(state, raw)


def check(state: State, token: str, user: str, calendar: str) -> int:
    """The change number a valid token of ``user``'s ``calendar`` carries; ``invalidSyncToken`` otherwise."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise invalid_sync_token()
    body, signature = token.split(".")
    try:
        raw = base64.urlsafe_b64decode((body + "=" * (-len(body) % 4)).encode("ascii"))
    except (ValueError, binascii.Error, UnicodeError):
        raise invalid_sync_token() from None
    if not hmac.compare_digest(_sign(state, raw), signature):
        raise invalid_sync_token()
    payload = json.loads(raw)  # signed by this server: well-formed
    if payload["u"] != user or payload["c"] != calendar or payload["g"] != state.sync_generation:
        raise invalid_sync_token()
    if time.time() - payload["t"] > state.sync_token_ttl:
        raise invalid_sync_token()
    return payload["s"]
