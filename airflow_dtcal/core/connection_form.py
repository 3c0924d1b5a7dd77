"""The connection form's extra fields: ONE table, read by the provider info (Airflow 3.2+ ``conn-fields``) and
by the hook's ``get_connection_form_widgets`` (Airflow 3.0-3.1), so the two forms cannot drift.

Every setting a user tunes in :data:`~airflow_dtcal.core.settings.DEFAULTS`, plus the legacy host and the
Stream host suffix; defaults and bounds come from :mod:`airflow_dtcal.core.settings`.
"""

from __future__ import annotations

from typing import Any

from airflow_dtcal.core.settings import _NUMBERS, DEFAULTS, LEGACY_HOST, PACING_SCOPES

#: name -> (label, help text, JSON-schema type); the help text says the default.
_FIELDS: dict[str, tuple[str, str, str]] = {
    "timeout": (
        "Timeout (s)",
        "Seconds one attempt may take in all: connect, send and read the whole answer (default 30).",
        "number",
    ),
    "connect_timeout": ("Connect timeout (s)", "Seconds to open a connection (default 5).", "number"),
    "max_attempts": (
        "Max attempts",
        "Tries per request, the first included (default 5; 1 = no retry).",
        "integer",
    ),
    "max_throttled_attempts": (
        "Max attempts while throttled",
        "Tries per request while DingTalk throttles it (403 Qps*, 429), never fewer than Max attempts (default 8).",
        "integer",
    ),
    "backoff_initial": (
        "First backoff (s)",
        "Wait before the first retry, doubled each time with jitter (default 0.5).",
        "number",
    ),
    "backoff_max": (
        "Longest backoff (s)",
        "Cap of one wait between retries, a server's Retry-After included (default 20).",
        "number",
    ),
    "retry_deadline": (
        "Retry deadline (s)",
        "No retry starts after this many seconds of one request (default 120).",
        "number",
    ),
    "rate_limit": (
        "Calls per second per API",
        "Calls per second per app and API that the pacing backend below allows (DingTalk's quota is 20; default 20, 0 = no pacing). With the default 'host' pacing every process of the machine shares it.",
        "number",
    ),
    "pacing": (
        "Pacing",
        "Who shares the rate: 'host' (default) every worker and triggerer process of this machine, through small locked files; 'redis' every process of every machine, through the Redis connection below; 'process' this process alone, adapting to throttling.",
        "string",
    ),
    "pacing_redis_conn_id": (
        "Redis connection (pacing=redis)",
        "The Airflow connection of type redis that pacing='redis' shares the quota and the monthly count through (default redis_default).",
        "string",
    ),
    "pacing_window": (
        "Pacing window (s)",
        "The pacer allows 'calls per second' calls per this many seconds, 1 to 2 (default 0 = the backend's: 1.1 s, 1.05 s with Redis).",
        "number",
    ),
    "monthly_budget": (
        "Monthly call budget",
        "DingTalk calls this app may spend per calendar month (China time) across the deployment; a task that would overrun it fails before any request (default 0 = no budget).",
        "integer",
    ),
    "max_in_flight": (
        "Requests in flight",
        "Requests one hook keeps in flight for bulk work: attendee chunks, run_many (default 8, at most 64).",
        "integer",
    ),
    "max_answer_bytes": (
        "Largest answer (bytes)",
        "Largest answer accepted, measured after decompression (default 4194304 = 4 MiB).",
        "integer",
    ),
    "max_pages": ("Most pages", "Longest nextToken loop of one listing (default 1000).", "integer"),
    "verify": (
        "TLS verification",
        "true (default), false, or the path of a CA bundle; without one, REQUESTS_CA_BUNDLE applies to both transports.",
        "string",
    ),
    "legacy_host": (
        "Legacy API host",
        f"Host of DingTalk's legacy API, which turns userIds and mobiles into unionIds (default {LEGACY_HOST}; for an emulator connection, the emulator itself). When set, Test also checks the contacts permission.",
        "string",
    ),
    "stream_host_suffix": (
        "Stream host suffix",
        "Stream endpoints may also be on hosts under this DNS suffix, e.g. .example.com (default: DingTalk's Stream host only).",
        "string",
    ),
}
assert set(DEFAULTS) <= set(_FIELDS), sorted(set(DEFAULTS) - set(_FIELDS))


def _schema(name: str, kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": [kind, "null"]}
    if name in _NUMBERS:
        low, high, _whole = _NUMBERS[name]
        schema.update(minimum=low, maximum=high)
    if name == "pacing":
        schema["enum"] = [*PACING_SCOPES, None]
    return schema


def conn_fields() -> dict[str, dict[str, Any]]:
    """The provider info's ``conn-fields`` (Airflow 3.2+)."""
    return {
        name: {"label": label, "description": text, "schema": _schema(name, kind)}
        for name, (label, text, kind) in _FIELDS.items()
    }


def placeholders() -> dict[str, str]:
    """The default of each field as its placeholder (both forms)."""
    shown = {name: str(DEFAULTS.get(name, "")) for name in _FIELDS}
    shown.update(verify="true", legacy_host=LEGACY_HOST, stream_host_suffix=".example.com", pacing_window="0")
    return {name: value for name, value in shown.items() if value != ""}


def fields() -> dict[str, tuple[str, str]]:
    """name -> (label, help text), for the hook's 3.0-3.1 form widgets."""
    return {name: (label, text) for name, (label, text, _kind) in _FIELDS.items()}
