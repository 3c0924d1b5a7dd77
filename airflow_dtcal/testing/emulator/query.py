"""Query parameters (booleans, bounded integers) and the opaque page and sync tokens the emulator issues."""

from __future__ import annotations

import base64
import binascii
import json

from airflow_dtcal.testing.emulator.errors import invalid


def parse_bool(query: dict, name: str, default: bool = False) -> bool:
    """``true``/``false``; the Python SDK sends ``True``/``False``, so those are accepted too."""
    value = query.get(name)
    if value is None or value == "":
        return default
    if value in ("true", "True"):
        return True
    if value in ("false", "False"):
        return False
    raise invalid(f"{name} must be a boolean (true/false), got {value!r}")


def parse_int(query: dict, name: str, default: int, low: int, high: int) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    if not value.isascii() or not value.lstrip("-").isdigit():
        raise invalid(f"{name} must be an integer between {low} and {high}, got {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise invalid(f"{name} must be an integer between {low} and {high}, got {number}")
    return number


def encode_page_token(payload: dict) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, kind: str) -> dict:
    """The payload of a token this server issued; ``kind`` names the parameter in the error."""
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise invalid(f"{kind} is not a token this server issued") from exc
    if not isinstance(payload, dict):
        raise invalid(f"{kind} is not a token this server issued")
    return payload
