"""A local emulator of the DingTalk OAuth2 token and Calendar v1.0 server API.

It speaks real HTTP on loopback (``http.server.ThreadingHTTPServer``, HTTP/1.1 keep-alive), keeps events,
attendees, tokens and idempotency records in memory behind one lock, enforces the documented rules
(validation, visibility, throttling, token expiry) and can inject faults (error replies, TCP resets
before or after the change is applied, delays, HTML ban pages, the IP-ban JSON).

This module imports only the standard library: it must never import the hook or the payload builders,
whose mistakes it exists to catch.

Run it stand-alone with ``dtcal-emulator`` or ``python -m airflow_dtcal.testing.emulator``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import copy
import datetime as dt
import json
import math
import re
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
import zoneinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

__all__ = ["DingTalkEmulator", "EmulatorAdmin", "OPERATIONS", "WRITE_OPERATIONS", "FAULT_KINDS", "main"]

OPERATIONS = (
    "GetAccessToken",
    "CreateEvent",
    "GetEvent",
    "ListEvents",
    "PatchEvent",
    "DeleteEvent",
    "AddAttendee",
    "ListAttendees",
    "RemoveAttendee",
    "RespondEvent",
)
WRITE_OPERATIONS = frozenset(
    {"CreateEvent", "PatchEvent", "DeleteEvent", "AddAttendee", "RemoveAttendee", "RespondEvent"}
)
FAULT_KINDS = ("fail", "reset_before", "reset_after", "delay", "html", "deny")

TOKEN_HEADER = "x-acs-dingtalk-access-token"
CLIENT_TOKEN_HEADER = "x-client-token"
IDEMPOTENCY_WINDOW = 86400.0  # seconds: an x-client-token is remembered for one day
THROTTLE_WINDOW = 1.0  # seconds
MAX_IDEMPOTENCY_RECORDS = 100_000  # memory bound for long benchmark runs; the oldest record is dropped
DEFAULT_CLI_PORT = 8765

RESPONSE_STATUSES = ("needsAction", "accepted", "declined", "tentative")
PATTERN_TYPES = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly")
RANGE_TYPES = ("noEnd", "endDate", "numbered")
DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
WEEK_INDEXES = ("first", "second", "third", "fourth", "last")
UI_NAMES = ("updateEventButton", "deleteEventButton", "transferEventButton", "attendee", "comment")
UI_STATUSES = ("hide", "disable", "enable")
MAX_SUMMARY = 2048
MAX_DESCRIPTION = 5000
MAX_ATTENDEES_PER_CALL = 500
MAX_ATTENDEES_PER_EVENT = 5000
MAX_LIST_SPAN = dt.timedelta(days=366)

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$")
_UTC = dt.timezone.utc


# --------------------------------------------------------------------------------------------- errors


class ApiError(Exception):
    """An error answered with the DingTalk error body ``{"code", "message", "requestid"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalidParameter", message)


def _not_found() -> ApiError:
    return ApiError(404, "instanceNotExist", "The event does not exist or is not visible to this user.")


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"code": code, "message": message, "requestid": _request_id()}).encode()


# --------------------------------------------------------------------------------------------- replies


class _Reply:
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


def _json_reply(obj: Any, status: int = 200) -> _Reply:
    return _Reply(status, json.dumps(obj, ensure_ascii=False).encode())


def _error_reply(err: ApiError) -> _Reply:
    return _Reply(err.status, _error_body(err.code, err.message))


_HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Access denied</title></head>"
    "<body><h1>访问被拒绝 (Access denied)</h1><p>Your IP address has been temporarily blocked "
    "because of too many requests. Please retry later.</p></body></html>\n"
).encode()


# --------------------------------------------------------------------------------------------- helpers


def _utc_stamp() -> str:
    # The SDK documents createTime/updateTime as UTC "yyyy-MM-ddTHH:mmZ".
    return dt.datetime.now(_UTC).strftime("%Y-%m-%dT%H:%MZ")


def _new_event_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=")


def _encode_page_token(payload: dict) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_page_token(token: str, kind: str) -> dict:
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise _invalid(f"{kind} is not a token this server issued") from exc
    if not isinstance(payload, dict):
        raise _invalid(f"{kind} is not a token this server issued")
    return payload


def _parse_bool(query: dict, name: str, default: bool = False) -> bool:
    value = query.get(name)
    if value is None or value == "":
        return default
    if value in ("true", "True"):
        return True
    if value in ("false", "False"):
        return False
    raise _invalid(f"{name} must be a boolean (true/false), got {value!r}")


def _parse_int(query: dict, name: str, default: int, low: int, high: int) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise _invalid(f"{name} must be an integer between {low} and {high}, got {value!r}") from None
    if not low <= number <= high:
        raise _invalid(f"{name} must be an integer between {low} and {high}, got {number}")
    return number


def _parse_instant(value: str, name: str) -> dt.datetime:
    """An ISO-8601 instant (query parameters, range.endDate); naive values are taken as UTC."""
    if not isinstance(value, str) or not value:
        raise _invalid(f"{name} must be an ISO-8601 date-time string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(f"{name} must be an ISO-8601 date-time, got {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_UTC)
    return parsed


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _zone(name: Any, field: str) -> zoneinfo.ZoneInfo:
    if not isinstance(name, str) or not name:
        raise _invalid(f"{field} must be an IANA time zone name such as 'Asia/Shanghai'")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise _invalid(f"{field} {name!r} is not a valid IANA time zone name") from None


def _check_time(obj: Any, field: str) -> tuple[str, Any, str | None, dict]:
    """Validate a start/end object. Returns (form, value, timeZone, normalised wire dict)."""
    if not isinstance(obj, dict):
        raise _invalid(f"{field} must be an object with either date (all-day) or dateTime and timeZone")
    date_v, datetime_v, tz_v = obj.get("date"), obj.get("dateTime"), obj.get("timeZone")
    if not _blank(date_v):
        if not _blank(datetime_v) or not _blank(tz_v):
            raise _invalid(
                f"{field}: an all-day time takes only date (yyyy-MM-dd); leave dateTime and timeZone empty"
            )
        if not isinstance(date_v, str) or not _DATE_RE.match(date_v):
            raise _invalid(f"{field}.date must be a date in the form yyyy-MM-dd, got {date_v!r}")
        try:
            day = dt.date.fromisoformat(date_v)
        except ValueError:
            raise _invalid(f"{field}.date {date_v!r} is not a valid calendar date") from None
        return "date", day, None, {"date": date_v}
    if _blank(datetime_v):
        raise _invalid(f"{field} needs dateTime and timeZone (timed event) or date (all-day event)")
    if _blank(tz_v):
        raise _invalid(f"{field}.timeZone is required with {field}.dateTime")
    zone = _zone(tz_v, f"{field}.timeZone")
    if not isinstance(datetime_v, str) or not _DATETIME_RE.match(datetime_v):
        raise _invalid(
            f"{field}.dateTime must be an ISO-8601 date-time such as 2025-09-20T10:15:30+08:00, got {datetime_v!r}"
        )
    text = datetime_v[:-1] + "+00:00" if datetime_v.endswith("Z") else datetime_v
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(f"{field}.dateTime {datetime_v!r} is not a valid date-time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return "dateTime", value, tz_v, {"dateTime": datetime_v, "timeZone": tz_v}


def _check_attendee_list(value: Any, field: str, *, allow_status: bool = False) -> list[dict]:
    if not isinstance(value, list):
        raise _invalid(f"{field} must be an array of {{id, isOptional}} objects")
    if len(value) > MAX_ATTENDEES_PER_CALL:
        raise _invalid(f"{field} has {len(value)} attendees; at most {MAX_ATTENDEES_PER_CALL} per call")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _invalid(f"{field}[{i}] must be an object with an id")
        ident = item.get("id")
        if not isinstance(ident, str) or not ident.strip():
            raise _invalid(f"{field}[{i}].id must be a non-empty string (the user's unionId)")
        optional = item.get("isOptional")
        if optional is not None and not isinstance(optional, bool):
            raise _invalid(f"{field}[{i}].isOptional must be a boolean")
        entry = {"id": ident, "isOptional": bool(optional)}
        if allow_status and item.get("responseStatus") is not None:
            if item["responseStatus"] not in RESPONSE_STATUSES:
                raise _invalid(f"{field}[{i}].responseStatus must be one of {', '.join(RESPONSE_STATUSES)}")
            entry["responseStatus"] = item["responseStatus"]
        out.append(entry)
    return out


def _check_recurrence(rec: Any, start_value: Any) -> dict:
    if not isinstance(rec, dict):
        raise _invalid("recurrence must be an object with pattern and range")
    pattern, rng = rec.get("pattern"), rec.get("range")
    if not isinstance(pattern, dict):
        raise _invalid("recurrence.pattern is required and must be an object")
    if not isinstance(rng, dict):
        raise _invalid("recurrence.range is required and must be an object")
    ptype = pattern.get("type")
    if ptype not in PATTERN_TYPES:
        raise _invalid(f"recurrence.pattern.type must be one of {', '.join(PATTERN_TYPES)}, got {ptype!r}")
    out_pattern: dict[str, Any] = {"type": ptype}
    interval = pattern.get("interval")
    if interval is not None:
        if not _is_int(interval) or interval < 1:
            raise _invalid(f"recurrence.pattern.interval must be an integer >= 1, got {interval!r}")
        out_pattern["interval"] = interval
    days = pattern.get("daysOfWeek")
    if days is not None:
        if not isinstance(days, str):
            raise _invalid(
                "recurrence.pattern.daysOfWeek must be a comma-separated string of lowercase day names "
                "such as 'monday,wednesday' (not an array)"
            )
        names = days.split(",")
        if not days or any(name not in DAY_NAMES for name in names):
            raise _invalid(
                f"recurrence.pattern.daysOfWeek must be comma-separated lowercase day names "
                f"({', '.join(DAY_NAMES)}), got {days!r}"
            )
        out_pattern["daysOfWeek"] = days
    elif ptype in ("weekly", "relativeMonthly"):
        raise _invalid(f"recurrence.pattern.daysOfWeek is required for type {ptype}")
    day_of_month = pattern.get("dayOfMonth")
    if day_of_month is not None:
        if not _is_int(day_of_month) or not 1 <= day_of_month <= 31:
            raise _invalid(
                f"recurrence.pattern.dayOfMonth must be an integer from 1 to 31, got {day_of_month!r}"
            )
        out_pattern["dayOfMonth"] = day_of_month
    elif ptype == "absoluteMonthly":
        raise _invalid("recurrence.pattern.dayOfMonth is required for type absoluteMonthly")
    index = pattern.get("index")
    if index is not None:
        if index not in WEEK_INDEXES:
            raise _invalid(
                f"recurrence.pattern.index must be one of {', '.join(WEEK_INDEXES)}, got {index!r}"
            )
        out_pattern["index"] = index
    elif ptype == "relativeMonthly":
        raise _invalid("recurrence.pattern.index is required for type relativeMonthly")
    first_day = pattern.get("firstDayOfWeek")
    if first_day is not None:
        if first_day not in DAY_NAMES:
            raise _invalid(
                f"recurrence.pattern.firstDayOfWeek must be a lowercase day name, got {first_day!r}"
            )
        out_pattern["firstDayOfWeek"] = first_day

    rtype = rng.get("type")
    if rtype not in RANGE_TYPES:
        raise _invalid(f"recurrence.range.type must be one of {', '.join(RANGE_TYPES)}, got {rtype!r}")
    end_date, count = rng.get("endDate"), rng.get("numberOfOccurrences")
    if not _blank(end_date) and count is not None:
        raise _invalid("recurrence.range: set endDate or numberOfOccurrences, not both")
    out_range: dict[str, Any] = {"type": rtype}
    if not _blank(end_date):
        if rtype != "endDate":
            raise _invalid(f"recurrence.range.endDate is only allowed with type endDate, not {rtype}")
        parsed = _parse_instant(end_date, "recurrence.range.endDate")
        if isinstance(start_value, dt.datetime) and parsed < start_value:
            raise _invalid("recurrence.range.endDate must not be before the event start")
        out_range["endDate"] = end_date
    elif rtype == "endDate":
        raise _invalid("recurrence.range.endDate is required for type endDate")
    if count is not None:
        if rtype != "numbered":
            raise _invalid(
                f"recurrence.range.numberOfOccurrences is only allowed with type numbered, not {rtype}"
            )
        if not _is_int(count) or count < 1:
            raise _invalid(f"recurrence.range.numberOfOccurrences must be an integer >= 1, got {count!r}")
        out_range["numberOfOccurrences"] = count
    elif rtype == "numbered":
        raise _invalid("recurrence.range.numberOfOccurrences is required for type numbered")
    return {"pattern": out_pattern, "range": out_range}


def _check_reminders(value: Any) -> list[dict]:
    if not isinstance(value, list):
        raise _invalid("reminders must be an array of {method, minutes} objects")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _invalid(f"reminders[{i}] must be an object")
        if item.get("method") != "dingtalk":
            raise _invalid(f"reminders[{i}].method must be 'dingtalk', got {item.get('method')!r}")
        minutes = item.get("minutes")
        if not _is_int(minutes) or minutes < 0:
            raise _invalid(
                f"reminders[{i}].minutes must be an integer >= 0 (a number, not a string), got {minutes!r}"
            )
        out.append({"method": "dingtalk", "minutes": minutes})
    return out


def _check_string(value: Any, field: str, max_len: int | None = None, required: bool = False) -> str:
    if not isinstance(value, str):
        raise _invalid(f"{field} must be a string")
    if required and not value.strip():
        raise _invalid(f"{field} is required and must not be empty")
    if max_len is not None and len(value) > max_len:
        raise _invalid(f"{field} is {len(value)} characters long; at most {max_len} are allowed")
    return value


def _instant(form: str, value: Any) -> dt.datetime:
    if form == "date":
        return dt.datetime.combine(value, dt.time(0), _UTC)
    return value


# --------------------------------------------------------------------------------------------- backend


def _zero_counts() -> dict[str, int]:
    return dict.fromkeys(OPERATIONS, 0)


class _Backend:
    """All emulator state and behaviour; one lock guards everything."""

    def __init__(
        self,
        qps_limit: int | None,
        latency: float,
        token_ttl: float,
        apps: dict[str, str] | None,
        max_logged_requests: int,
    ) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0  # requests being handled (guarded by self.idle)
        self.idle = threading.Condition()
        self.qps_limit = qps_limit if qps_limit and qps_limit > 0 else None
        self.latency = float(latency or 0.0)
        self.token_ttl = token_ttl
        self.apps = dict(apps) if apps is not None else None
        self.max_logged_requests = max_logged_requests
        self._clear()

    # ---- state lifecycle

    def _clear(self) -> None:
        self.events: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.app_tokens: dict[str, str] = {}
        self.idempotency: dict[tuple, tuple] = {}
        self.windows: dict[tuple, collections.deque] = {}
        self.faults: list[dict] = []
        self.log: collections.deque = collections.deque(maxlen=self.max_logged_requests)
        self.counters = {
            k: _zero_counts() for k in ("calls", "applied", "replayed", "throttled", "faulted", "errors")
        }
        self.token_fetches = 0
        self.tokens_issued = 0
        self.event_seq = 0
        self.change_seq = 0

    def reset(self) -> None:
        with self.lock:
            self._clear()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being handled (e.g. a delayed one from a previous test)."""
        with self.idle:
            return self.idle.wait_for(lambda: self.in_flight == 0, timeout)

    def configure(self, **kwargs: Any) -> dict:
        with self.lock:
            if "qps_limit" in kwargs:
                value = kwargs["qps_limit"]
                self.qps_limit = int(value) if value and int(value) > 0 else None
            if "latency" in kwargs:
                self.latency = max(0.0, float(kwargs["latency"] or 0.0))
            if "token_ttl" in kwargs:
                self.token_ttl = float(kwargs["token_ttl"])
            return self._config()

    def _config(self) -> dict:
        return {"qps_limit": self.qps_limit, "latency": self.latency, "token_ttl": self.token_ttl}

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()
            self.app_tokens.clear()

    def add_fault(self, kind: str, count: int = 1, operation: str | None = None, **params: Any) -> dict:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if operation is not None and operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; expected one of {OPERATIONS}")
        count = int(count)
        if count < 1:
            raise ValueError("count must be >= 1")
        fault = {"kind": kind, "count": count, "operation": operation}
        if kind == "fail":
            fault["status"] = int(params.get("status") or 503)
            fault["code"] = params.get("code") or "ServiceUnavailable"
            fault["message"] = params.get("message") or "The service is temporarily unavailable."
            if params.get("retry_after") is not None:
                fault["retry_after"] = int(params["retry_after"])
        elif kind == "delay":
            fault["seconds"] = float(params["seconds"] if params.get("seconds") is not None else 2.0)
        elif kind == "html":
            fault["status"] = int(params.get("status") or 200)
        elif kind == "deny":
            fault["status"] = int(params.get("status") or 200)
            fault["wait"] = int(params["wait"] if params.get("wait") is not None else 1)
        with self.lock:
            self.faults.append(fault)
        return dict(fault)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def list_faults(self) -> list[dict]:
        with self.lock:
            return [dict(f) for f in self.faults]

    def stats(self) -> dict:
        with self.lock:
            out: dict[str, Any] = {k: dict(v) for k, v in self.counters.items()}
            out["token_fetches"] = self.token_fetches
            out["tokens_issued"] = self.tokens_issued
            return out

    def requests(self) -> list[dict]:
        with self.lock:
            return copy.deepcopy(list(self.log))

    def dump_events(self) -> list[dict]:
        with self.lock:
            return [self._render(ev, viewer=None, inspect=True) for ev in self.events.values()]

    def dump_event(self, event_id: str) -> dict | None:
        with self.lock:
            ev = self.events.get(event_id)
            return self._render(ev, viewer=None, inspect=True) if ev else None

    def seed(self, events: list) -> list[str]:
        if isinstance(events, dict):
            events = events.get("events", [])
        if not isinstance(events, list):
            raise ValueError("seed data must be a list of events or {'events': [...]}")
        ids = []
        with self.lock:
            for i, item in enumerate(events):
                if not isinstance(item, dict):
                    raise ValueError(f"seed event #{i} is not an object")
                organizer = item.get("organizer")
                if isinstance(organizer, dict):
                    organizer = organizer.get("id")
                if not isinstance(organizer, str) or not organizer:
                    raise ValueError(f"seed event #{i} needs 'organizer' (a userId)")
                try:
                    ev = self._create(organizer, item, seeded=True)
                except ApiError as exc:
                    raise ValueError(f"seed event #{i}: {exc.message}") from None
                ids.append(ev["id"])
        return ids

    # ---- HTTP entry point

    def dispatch(self, method: str, target: str, headers: Any, body_bytes: bytes) -> _Reply:
        path, _, query_string = target.partition("?")
        query_string = query_string.partition("#")[0]
        raw_segments = path.split("/")
        if raw_segments[0] != "":
            return _error_reply(ApiError(404, "InvalidAction.NotFound", f"Unknown path {path!r}"))
        segments = [unquote(s) for s in raw_segments[1:]]
        if segments and segments[0] == "_emulator":
            return self._admin(method, segments[1:], query_string, body_bytes)

        query = dict(parse_qsl(query_string, keep_blank_values=True))
        hdrs = {k.lower(): v for k, v in headers.items()}
        op, params = _route(method, segments)
        body: Any = None
        body_error = None
        if body_bytes:
            try:
                body = json.loads(body_bytes)
            except (ValueError, UnicodeDecodeError):
                body_error = "The request body is not valid JSON"
                body = None
        client_token = hdrs.get(CLIENT_TOKEN_HEADER)
        logged_headers = {k: v for k, v in hdrs.items() if k != TOKEN_HEADER}
        record = {
            "operation": op,
            "method": method,
            "path": path,
            "query": query,
            "headers": logged_headers,
            "has_token": bool(hdrs.get(TOKEN_HEADER)),
            "body": body if body_error is None else body_bytes.decode("utf-8", "replace"),
            "client_token": client_token,
            "status": None,
        }
        fault = None
        with self.lock:
            self.log.append(record)
            if op is not None:
                self.counters["calls"][op] += 1
                fault = self._take_fault(op)
                if fault is not None:
                    self.counters["faulted"][op] += 1
        if op is None:
            record["status"] = 404
            return _error_reply(ApiError(404, "InvalidAction.NotFound", f"No API at {method} {path}"))

        reset_after = False
        if fault is not None:
            kind = fault["kind"]
            if kind == "reset_before":
                return _Reply(reset_before=True)
            if kind == "fail":
                record["status"] = fault["status"]
                reply = _Reply(fault["status"], _error_body(fault["code"], fault["message"]))
                reply.retry_after = fault.get("retry_after")
                return reply
            if kind == "html":
                record["status"] = fault["status"]
                return _Reply(fault["status"], _HTML_PAGE, "text/html; charset=utf-8")
            if kind == "deny":
                record["status"] = fault["status"]
                payload = {"status": 1111, "wait": fault["wait"], "punish": "deny"}
                return _Reply(fault["status"], json.dumps(payload).encode())
            if kind == "delay":
                time.sleep(fault["seconds"])
            elif kind == "reset_after":
                reset_after = True

        latency = self.latency
        if latency > 0:
            time.sleep(latency)
        reply = self._api(op, params, query, hdrs, body, body_error, client_token)
        if reset_after:
            reply.reset_after = True
        else:
            record["status"] = reply.status
        return reply

    def _take_fault(self, op: str) -> dict | None:
        for i, fault in enumerate(self.faults):
            wanted = fault["operation"]
            if (wanted is None and op != "GetAccessToken") or wanted == op:
                fault["count"] -= 1
                if fault["count"] <= 0:
                    del self.faults[i]
                return fault
        return None

    def _api(
        self,
        op: str,
        params: dict,
        query: dict,
        headers: dict,
        body: Any,
        body_error: str | None,
        client_token: str | None,
    ) -> _Reply:
        try:
            if op == "GetAccessToken":
                if body_error:
                    raise _invalid(body_error)
                return self._get_access_token(body)
            with self.lock:
                app = self._authenticate(headers)
                self._throttle(app, op)
                key = None
                if client_token and op in WRITE_OPERATIONS:
                    key = (app, op, client_token)
                    stored = self.idempotency.get(key)
                    if stored is not None:
                        if stored[0] > time.monotonic():
                            self.counters["replayed"][op] += 1
                            return _Reply(stored[1], stored[2])
                        del self.idempotency[key]
                if body_error:
                    raise _invalid(body_error)
                status, payload = _HANDLERS[op](self, params, query, body)
                data = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
                if op in WRITE_OPERATIONS:
                    self.counters["applied"][op] += 1
                    if key is not None and 200 <= status < 300:
                        self.idempotency[key] = (time.monotonic() + IDEMPOTENCY_WINDOW, status, data)
                        if len(self.idempotency) > MAX_IDEMPOTENCY_RECORDS:  # forget the oldest
                            del self.idempotency[next(iter(self.idempotency))]
                return _Reply(status, data)
        except ApiError as err:
            with self.lock:
                self.counters["errors"][op] += 1
            return _error_reply(err)

    # ---- tokens, auth, throttling (callers hold the lock where noted)

    def _get_access_token(self, body: Any) -> _Reply:
        bad = ApiError(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        if not isinstance(body, dict):
            raise bad
        key, secret = body.get("appKey"), body.get("appSecret")
        if not isinstance(key, str) or not key or not isinstance(secret, str) or not secret:
            raise bad
        with self.lock:
            if self.apps is not None and self.apps.get(key) != secret:
                raise bad
            now = time.monotonic()
            token = self.app_tokens.get(key)
            record = self.tokens.get(token) if token else None
            if record is None or record["expires"] <= now:
                if token:
                    self.tokens.pop(token, None)
                token = secrets.token_hex(16)
                record = {"app": key}
                self.tokens[token] = record
                self.app_tokens[key] = token
                self.tokens_issued += 1
            record["expires"] = now + self.token_ttl
            self.token_fetches += 1
            ttl = self.token_ttl
        return _json_reply({"accessToken": token, "expireIn": math.ceil(ttl)})

    def _authenticate(self, headers: dict) -> str:
        token = headers.get(TOKEN_HEADER)
        if not token:
            raise ApiError(400, "AuthenticationFailed.MissingParameter", f"缺少参数：{TOKEN_HEADER}")
        record = self.tokens.get(token)
        if record is None or record["expires"] <= time.monotonic():
            raise ApiError(400, "InvalidAuthentication", "不合法的access_token")
        return record["app"]

    def _throttle(self, app: str, op: str) -> None:
        if self.qps_limit is None:
            return
        now = time.monotonic()
        window = self.windows.get((app, op))
        if window is None:
            window = self.windows[(app, op)] = collections.deque()
        while window and window[0] <= now - THROTTLE_WINDOW:
            window.popleft()
        if len(window) >= self.qps_limit:
            self.counters["throttled"][op] += 1
            raise ApiError(
                403,
                "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
                "The QPS limit of this app for this API has been exceeded; retry after 1 second.",
            )
        window.append(now)

    # ---- event helpers (lock held)

    def _display_name(self, user: str) -> str:
        return f"User {user}"

    def _visible(self, event_id: str, user: str) -> dict:
        ev = self.events.get(event_id)
        if ev is None or ev["status"] == "cancelled" or user not in ev["attendees"]:
            raise _not_found()
        return ev

    def _owned(self, event_id: str, user: str) -> dict:
        ev = self._visible(event_id, user)
        if ev["organizer"] != user:
            raise ApiError(
                403,
                "Forbidden.AccessDenied.NoPermission",
                "Only the event organizer may change the event or its attendees.",
            )
        return ev

    def _touch(self, ev: dict) -> None:
        self.change_seq += 1
        ev["changeSeq"] = self.change_seq
        ev["updateTime"] = _utc_stamp()

    def _attendee(self, user: str, optional: bool = False, status: str = "needsAction") -> dict:
        return {
            "id": user,
            "displayName": self._display_name(user),
            "responseStatus": status,
            "isOptional": optional,
        }

    def _render_attendee(self, att: dict, viewer: str | None) -> dict:
        out = dict(att)
        if viewer is not None:
            out["self"] = att["id"] == viewer
        return out

    def _render(
        self,
        ev: dict,
        viewer: str | None,
        max_attendees: int | None = None,
        inspect: bool = False,
        include_event_config: bool = False,
    ) -> dict:
        attendees = list(ev["attendees"].values())
        if max_attendees is not None:
            attendees = attendees[:max_attendees]
        org = ev["attendees"].get(ev["organizer"]) or self._attendee(ev["organizer"], status="accepted")
        organizer = {
            "id": org["id"],
            "displayName": org["displayName"],
            "responseStatus": org["responseStatus"],
        }
        if viewer is not None:
            organizer["self"] = org["id"] == viewer
        out: dict[str, Any] = {
            "id": ev["id"],
            "summary": ev["summary"],
            "start": dict(ev["start"]),
            "end": dict(ev["end"]),
            "isAllDay": ev["isAllDay"],
            "organizer": organizer,
            "attendees": [self._render_attendee(a, viewer) for a in attendees],
            "reminders": [{"method": r["method"], "minutes": str(r["minutes"])} for r in ev["reminders"]],
            "status": ev["status"],
            "createTime": ev["createTime"],
            "updateTime": ev["updateTime"],
        }
        for name in (
            "description",
            "recurrence",
            "location",
            "onlineMeetingInfo",
            "uiConfigs",
            "richTextDescription",
            "cardInstances",
            "categories",
            "freeBusyStatus",
        ):
            if ev.get(name) is not None:
                out[name] = copy.deepcopy(ev[name])
        if (include_event_config or inspect) and ev.get("eventConfig") is not None:
            out["eventConfig"] = dict(ev["eventConfig"])
        if inspect and ev.get("extra") is not None:
            out["extra"] = dict(ev["extra"])
        return out

    def _event_fields(self, body: Any, existing: dict | None) -> dict:
        """Validate a CreateEvent/PatchEvent body; returns the fields to store (merged for a patch)."""
        if not isinstance(body, dict):
            raise _invalid("The request body must be a JSON object")
        creating = existing is None
        fields: dict[str, Any] = {}

        def given(name: str) -> bool:
            return body.get(name) is not None

        if creating or given("summary"):
            if body.get("summary") is None:
                raise _invalid("summary is required")
            fields["summary"] = _check_string(body["summary"], "summary", MAX_SUMMARY, required=True)
        if given("description"):
            fields["description"] = _check_string(body["description"], "description", MAX_DESCRIPTION)

        if creating and not given("start"):
            raise _invalid("start is required")
        if creating and not given("end"):
            raise _invalid("end is required")
        start_obj = body["start"] if given("start") else existing["start"]
        end_obj = body["end"] if given("end") else existing["end"]
        s_form, s_value, s_tz, s_wire = _check_time(start_obj, "start")
        e_form, e_value, e_tz, e_wire = _check_time(end_obj, "end")
        if s_form != e_form:
            raise _invalid("start and end must both be all-day (date) or both be timed (dateTime + timeZone)")
        if s_form == "dateTime":
            if e_tz != s_tz:
                raise _invalid(f"end.timeZone ({e_tz}) must equal start.timeZone ({s_tz})")
            if e_value <= s_value:
                raise _invalid("end.dateTime must be after start.dateTime")
        elif e_value <= s_value:
            raise _invalid("end.date must be after start.date (the all-day end date is exclusive)")
        all_day = s_form == "date"
        if given("isAllDay"):
            if not isinstance(body["isAllDay"], bool):
                raise _invalid("isAllDay must be a boolean")
            if body["isAllDay"] != all_day:
                if all_day:
                    raise _invalid(
                        "isAllDay is false but start/end use date; timed events need dateTime and timeZone"
                    )
                raise _invalid("isAllDay is true but start/end use dateTime; all-day events need date only")
        fields.update(start=s_wire, end=e_wire, isAllDay=all_day)
        fields["_start"] = _instant(s_form, s_value)
        fields["_end"] = _instant(e_form, e_value)

        if given("recurrence"):
            fields["recurrence"] = _check_recurrence(body["recurrence"], fields["_start"])
        elif existing is not None and existing.get("recurrence") is not None:
            fields["recurrence"] = _check_recurrence(existing["recurrence"], fields["_start"])
        if given("reminders"):
            fields["reminders"] = _check_reminders(body["reminders"])
        elif creating:
            # Omitted reminders: 15 min before a timed event; 09:00 the day before an all-day one (900 min).
            fields["reminders"] = [{"method": "dingtalk", "minutes": 900 if all_day else 15}]
        if given("location"):
            loc = body["location"]
            if not isinstance(loc, dict):
                raise _invalid("location must be an object {displayName}")
            name = loc.get("displayName")
            if name is not None and not isinstance(name, str):
                raise _invalid("location.displayName must be a string")
            fields["location"] = {"displayName": name} if name is not None else {}
        if given("onlineMeetingInfo"):
            info = body["onlineMeetingInfo"]
            if not isinstance(info, dict) or info.get("type") != "dingtalk":
                raise _invalid("onlineMeetingInfo.type must be 'dingtalk'")
            old = existing.get("onlineMeetingInfo") if existing else None
            if old:
                fields["onlineMeetingInfo"] = old
            else:
                conference = str(secrets.randbelow(10**9)).zfill(9)
                fields["onlineMeetingInfo"] = {
                    "type": "dingtalk",
                    "conferenceId": conference,
                    "url": f"https://meeting.dingtalk.com/j/{conference}",
                    "extraInfo": {},
                }
        if given("extra"):
            extra = body["extra"]
            if not isinstance(extra, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in extra.items()
            ):
                raise _invalid('extra must be an object of string keys to string values (e.g. "true")')
            fields["extra"] = dict(extra)
        if given("uiConfigs"):
            configs = body["uiConfigs"]
            if not isinstance(configs, list):
                raise _invalid("uiConfigs must be an array of {uiName, uiStatus}")
            for i, cfg in enumerate(configs):
                if not isinstance(cfg, dict) or cfg.get("uiName") not in UI_NAMES:
                    raise _invalid(f"uiConfigs[{i}].uiName must be one of {', '.join(UI_NAMES)}")
                if cfg.get("uiStatus") not in UI_STATUSES:
                    raise _invalid(f"uiConfigs[{i}].uiStatus must be one of {', '.join(UI_STATUSES)}")
            fields["uiConfigs"] = [{"uiName": c["uiName"], "uiStatus": c["uiStatus"]} for c in configs]
        if given("richTextDescription"):
            rich = body["richTextDescription"]
            if not isinstance(rich, dict) or not isinstance(rich.get("text", ""), str):
                raise _invalid("richTextDescription must be an object {text: string}")
            fields["richTextDescription"] = {"text": rich.get("text", "")}
        for name in ("cardInstances", "categories"):
            if given(name):
                if not isinstance(body[name], list) or not all(isinstance(x, dict) for x in body[name]):
                    raise _invalid(f"{name} must be an array of objects")
                fields[name] = copy.deepcopy(body[name])
        if given("freeBusyStatus"):
            fields["freeBusyStatus"] = _check_string(body["freeBusyStatus"], "freeBusyStatus")
        if creating and given("eventConfig"):
            cfg = body["eventConfig"]
            if not isinstance(cfg, dict) or not all(isinstance(v, bool) for v in cfg.values()):
                raise _invalid("eventConfig must be an object of booleans")
            fields["eventConfig"] = dict(cfg)
        if given("attendees"):
            fields["attendees"] = _check_attendee_list(body["attendees"], "attendees", allow_status=False)
        return fields

    def _create(self, user: str, body: Any, seeded: bool = False) -> dict:
        fields = self._event_fields(body, None)
        if seeded:
            requested = _check_attendee_list(body.get("attendees") or [], "attendees", allow_status=True)
        else:
            requested = fields.pop("attendees", [])
        fields.pop("attendees", None)
        attendees: dict[str, dict] = {user: self._attendee(user, status="accepted")}
        for att in requested:
            if att["id"] in attendees:
                if seeded and att["id"] == user and "responseStatus" in att:
                    attendees[user]["responseStatus"] = att["responseStatus"]
                continue
            attendees[att["id"]] = self._attendee(
                att["id"], att["isOptional"], att.get("responseStatus", "needsAction")
            )
        if len(attendees) > MAX_ATTENDEES_PER_EVENT:
            raise _invalid(
                f"An event may have at most {MAX_ATTENDEES_PER_EVENT} attendees including the organizer"
            )
        event_id = body.get("id") if seeded and isinstance(body.get("id"), str) and body.get("id") else None
        if event_id is not None and event_id in self.events:
            raise _invalid(f"duplicate event id {event_id!r}")
        if event_id is None:
            event_id = _new_event_id()
            while event_id in self.events:
                event_id = _new_event_id()
        status = "confirmed"
        if seeded and body.get("status") is not None:
            if body["status"] not in ("confirmed", "cancelled"):
                raise _invalid("status must be 'confirmed' or 'cancelled'")
            status = body["status"]
        now = _utc_stamp()
        self.event_seq += 1
        ev = {
            "id": event_id,
            "organizer": user,
            "attendees": attendees,
            "status": status,
            "createTime": now,
            "updateTime": now,
            "seq": self.event_seq,
        }
        ev.update(fields)
        self.events[event_id] = ev
        self._touch(ev)
        return ev

    # ---- operations (lock held). Each returns (status, payload or None).

    def op_create(self, p: dict, q: dict, body: Any) -> tuple[int, Any]:
        ev = self._create(p["user"], body)
        return 200, self._render(ev, viewer=p["user"], include_event_config=True)

    def op_get(self, p: dict, q: dict, body: Any) -> tuple[int, Any]:
        max_attendees = _parse_int(q, "maxAttendees", 100, 1, 500)
        ev = self._visible(p["event"], p["user"])
        return 200, self._render(ev, viewer=p["user"], max_attendees=max_attendees)

    def op_list_events(self, p: dict, q: dict, body: Any) -> tuple[int, Any]:
        user = p["user"]
        max_results = _parse_int(q, "maxResults", 100, 1, 100)
        max_attendees = _parse_int(q, "maxAttendees", 100, 1, 100)
        show_deleted = _parse_bool(q, "showDeleted")
        tmin = _parse_instant(q["timeMin"], "timeMin") if q.get("timeMin") else None
        tmax = _parse_instant(q["timeMax"], "timeMax") if q.get("timeMax") else None
        if tmin is not None and tmax is not None:
            if tmax <= tmin:
                raise _invalid("timeMax must be after timeMin")
            if tmax - tmin > MAX_LIST_SPAN:
                raise _invalid("The span between timeMin and timeMax must not exceed one year")
        since = None
        if q.get("syncToken"):
            payload = _decode_page_token(q["syncToken"], "syncToken")
            if payload.get("k") != "sync" or not _is_int(payload.get("s")):
                raise _invalid("syncToken is not a token this server issued")
            since = payload["s"]
        offset = 0
        if q.get("nextToken"):
            payload = _decode_page_token(q["nextToken"], "nextToken")
            if payload.get("k") != "events" or payload.get("u") != user or not _is_int(payload.get("o")):
                raise _invalid("nextToken is not a token this server issued for this calendar")
            offset = payload["o"]
        matched = []
        for ev in self.events.values():
            if user not in ev["attendees"]:
                continue
            if since is not None:
                if ev["changeSeq"] <= since:
                    continue
            else:
                if ev["status"] == "cancelled" and not show_deleted:
                    continue
                if not _overlaps(ev, tmin, tmax):
                    continue
            matched.append(ev)
        page = matched[offset : offset + max_results]
        result: dict[str, Any] = {
            "events": [self._render(ev, viewer=user, max_attendees=max_attendees) for ev in page]
        }
        if offset + max_results < len(matched):
            result["nextToken"] = _encode_page_token({"k": "events", "u": user, "o": offset + max_results})
        else:
            result["syncToken"] = _encode_page_token({"k": "sync", "s": self.change_seq})
        return 200, result

    def op_patch(self, p: dict, q: dict, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise _invalid("The request body must be a JSON object")
        if body.get("id") is None:
            raise _invalid("id is required in the body and must equal the event id in the path")
        if body["id"] != p["event"]:
            raise _invalid(f"Body id {body['id']!r} does not match the event id in the path")
        ev = self._owned(p["event"], p["user"])
        fields = self._event_fields(body, ev)
        requested = fields.pop("attendees", None)
        if requested is not None:
            # PUT with attendees replaces the attendee list; the organizer always stays and existing
            # attendees keep their response status.
            new: dict[str, dict] = {ev["organizer"]: ev["attendees"][ev["organizer"]]}
            for att in requested:
                if att["id"] in new:
                    continue
                old = ev["attendees"].get(att["id"])
                if old is not None:
                    entry = dict(old)
                    entry["isOptional"] = att["isOptional"]
                else:
                    entry = self._attendee(att["id"], att["isOptional"])
                new[att["id"]] = entry
            ev["attendees"] = new
        ev.update(fields)
        self._touch(ev)
        return 200, self._render(ev, viewer=p["user"])

    def op_delete(self, p: dict, q: dict, body: Any) -> tuple[int, Any]:
        _parse_bool(q, "pushNotification", True)
        ev = self._visible(p["event"], p["user"])
        if ev["organizer"] == p["user"]:
            ev["status"] = "cancelled"
        else:
            # An attendee deleting the event only removes it from their own calendar.
            del ev["attendees"][p["user"]]
        self._touch(ev)
        return 200, None

    def op_add_attendees(self, p: dict, q: dict, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise _invalid("The request body must be a JSON object")
        if body.get("attendeesToAdd") is None:
            raise _invalid("attendeesToAdd is required")
        wanted = _check_attendee_list(body["attendeesToAdd"], "attendeesToAdd")
        if not wanted:
            raise _invalid("attendeesToAdd must contain at least one attendee")
        for flag in ("chatNotification", "pushNotification"):
            if body.get(flag) is not None and not isinstance(body[flag], bool):
                raise _invalid(f"{flag} must be a boolean")
        ev = self._owned(p["event"], p["user"])
        new_ids = {a["id"] for a in wanted if a["id"] not in ev["attendees"]}
        if len(ev["attendees"]) + len(new_ids) > MAX_ATTENDEES_PER_EVENT:
            raise _invalid(
                f"An event may have at most {MAX_ATTENDEES_PER_EVENT} attendees including the organizer"
            )
        changed = False
        for att in wanted:
            if att["id"] not in ev["attendees"]:
                ev["attendees"][att["id"]] = self._attendee(att["id"], att["isOptional"])
                changed = True
        if changed:
            self._touch(ev)
        return 200, None

    def op_list_attendees(self, p: dict, q: dict, body: Any) -> tuple[int, Any]:
        max_results = _parse_int(q, "maxResults", 100, 1, 500)
        offset = 0
        if q.get("nextToken"):
            payload = _decode_page_token(q["nextToken"], "nextToken")
            if (
                payload.get("k") != "attendees"
                or payload.get("e") != p["event"]
                or not _is_int(payload.get("o"))
            ):
                raise _invalid("nextToken is not a token this server issued for this event")
            offset = payload["o"]
        ev = self._visible(p["event"], p["user"])
        attendees = list(ev["attendees"].values())
        page = attendees[offset : offset + max_results]
        result: dict[str, Any] = {"attendees": [self._render_attendee(a, p["user"]) for a in page]}
        if offset + max_results < len(attendees):
            result["nextToken"] = _encode_page_token(
                {"k": "attendees", "e": p["event"], "o": offset + max_results}
            )
        return 200, result

    def op_remove_attendees(self, p: dict, q: dict, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise _invalid("The request body must be a JSON object")
        if body.get("attendeesToRemove") is None:
            raise _invalid("attendeesToRemove is required")
        unwanted = _check_attendee_list(body["attendeesToRemove"], "attendeesToRemove")
        if not unwanted:
            raise _invalid("attendeesToRemove must contain at least one attendee")
        ev = self._owned(p["event"], p["user"])
        if any(a["id"] == ev["organizer"] for a in unwanted):
            raise _invalid("attendeesToRemove must not contain the organizer")
        changed = False
        for att in unwanted:
            if ev["attendees"].pop(att["id"], None) is not None:
                changed = True
        if changed:
            self._touch(ev)
        return 200, None

    def op_respond(self, p: dict, q: dict, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise _invalid("The request body must be a JSON object")
        status = body.get("responseStatus")
        if status is None:
            raise _invalid("responseStatus is required")
        if status not in RESPONSE_STATUSES:
            raise _invalid(f"responseStatus must be one of {', '.join(RESPONSE_STATUSES)}, got {status!r}")
        ev = self._visible(p["event"], p["user"])
        ev["attendees"][p["user"]]["responseStatus"] = status
        self._touch(ev)
        return 200, None

    # ---- admin endpoints (never counted, throttled or faulted)

    def _admin(self, method: str, segments: list[str], query_string: str, body_bytes: bytes) -> _Reply:
        name = "/".join(segments)
        try:
            body = json.loads(body_bytes) if body_bytes else {}
        except (ValueError, UnicodeDecodeError):
            return _error_reply(_invalid("admin request body is not valid JSON"))
        if body is None:
            body = {}
        try:
            if method == "GET" and name in ("state", "events"):
                return _json_reply({"events": self.dump_events()})
            if method == "GET" and name == "stats":
                return _json_reply(self.stats())
            if method == "GET" and name == "requests":
                return _json_reply({"requests": self.requests()})
            if method == "GET" and name == "health":
                return _json_reply({"ok": True})
            if method == "POST" and name == "reset":
                self.reset()
                return _json_reply({"ok": True})
            if method == "GET" and name == "config":
                with self.lock:
                    return _json_reply(self._config())
            if method == "POST" and name == "config":
                if not isinstance(body, dict):
                    raise ValueError("config body must be an object")
                allowed = {k: body[k] for k in ("qps_limit", "latency", "token_ttl") if k in body}
                return _json_reply(self.configure(**allowed))
            if method == "POST" and name == "revoke-tokens":
                self.revoke_tokens()
                return _json_reply({"ok": True})
            if method == "GET" and name == "faults":
                return _json_reply({"faults": self.list_faults()})
            if method == "POST" and name == "faults":
                if not isinstance(body, dict):
                    raise ValueError("fault body must be an object")
                kw = dict(body)
                kind = kw.pop("kind", None)
                fault = self.add_fault(kind, **kw)
                return _json_reply(fault)
            if method == "DELETE" and name == "faults":
                self.clear_faults()
                return _json_reply({"ok": True})
            if method == "POST" and name == "seed":
                return _json_reply({"ids": self.seed(body)})
        except (ValueError, TypeError) as exc:
            return _error_reply(_invalid(str(exc)))
        return _error_reply(
            ApiError(404, "InvalidAction.NotFound", f"No admin endpoint {method} /_emulator/{name}")
        )


def _overlaps(ev: dict, tmin: dt.datetime | None, tmax: dt.datetime | None) -> bool:
    start, end = ev["_start"], ev["_end"]
    if tmax is not None and start >= tmax:
        return False
    if tmin is None:
        return True
    rec = ev.get("recurrence")
    if rec is not None:
        end_date = rec["range"].get("endDate")
        if not end_date:
            return True  # open-ended or counted series: the emulator does not expand instances
        return _parse_instant(end_date, "endDate") >= tmin
    return end > tmin


_HANDLERS = {
    "CreateEvent": _Backend.op_create,
    "GetEvent": _Backend.op_get,
    "ListEvents": _Backend.op_list_events,
    "PatchEvent": _Backend.op_patch,
    "DeleteEvent": _Backend.op_delete,
    "AddAttendee": _Backend.op_add_attendees,
    "ListAttendees": _Backend.op_list_attendees,
    "RemoveAttendee": _Backend.op_remove_attendees,
    "RespondEvent": _Backend.op_respond,
}


def _route(method: str, segs: list[str]) -> tuple[str | None, dict]:
    if segs == ["v1.0", "oauth2", "accessToken"]:
        return ("GetAccessToken", {}) if method == "POST" else (None, {})
    if len(segs) < 7 or segs[:3] != ["v1.0", "calendar", "users"] or segs[4] != "calendars":
        return None, {}
    user, calendar = segs[3], segs[5]
    rest = segs[6:]
    if not user or not calendar or rest[0] != "events" or any(s == "" for s in rest):
        return None, {}
    params = {"user": user, "calendar": calendar}
    if len(rest) == 1:
        return {"POST": "CreateEvent", "GET": "ListEvents"}.get(method), params
    params["event"] = rest[1]
    if len(rest) == 2:
        return {"GET": "GetEvent", "PUT": "PatchEvent", "DELETE": "DeleteEvent"}.get(method), params
    if rest[2:] == ["attendees"]:
        return {"POST": "AddAttendee", "GET": "ListAttendees"}.get(method), params
    if rest[2:] == ["attendees", "batchRemove"] and method == "POST":
        return "RemoveAttendee", params
    if rest[2:] == ["respond"] and method == "POST":
        return "RespondEvent", params
    return None, {}


# --------------------------------------------------------------------------------------------- HTTP server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dtcal-emulator"
    sys_version = ""
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base-class signature
        pass

    def version_string(self) -> str:
        return self.server_version

    def _serve(self) -> None:
        length_header = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "identity").lower() != "identity":
            self.close_connection = True
            self._write(
                _error_reply(_invalid("chunked request bodies are not supported; send Content-Length"))
            )
            return
        try:
            length = int(length_header) if length_header else 0
        except ValueError:
            self.close_connection = True
            self._write(_error_reply(_invalid("invalid Content-Length")))
            return
        body = self.rfile.read(length) if length > 0 else b""
        backend = self.server.backend
        with backend.idle:
            backend.in_flight += 1
        try:
            reply = backend.dispatch(self.command, self.path, self.headers, body)
        except Exception:  # a bug in the emulator: answer 500 rather than drop the connection
            traceback.print_exc()
            reply = _Reply(500, _error_body("InternalError", "The emulator failed to handle the request."))
        finally:
            with backend.idle:
                backend.in_flight -= 1
                backend.idle.notify_all()
        if reply.reset_before or reply.reset_after:
            self._reset_connection()
            return
        self._write(reply)

    def _write(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        if reply.retry_after is not None:
            self.send_header("Retry-After", str(reply.retry_after))
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if reply.body and self.command != "HEAD":
            self.wfile.write(reply.body)

    def _reset_connection(self) -> None:
        """Abort the TCP connection with an RST (SO_LINGER 0), sending no reply at all."""
        self.close_connection = True
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()  # drop the makefile() reference so close() really closes the socket
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple, backend: _Backend) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.backend = backend
        self._open: set = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        with self._open_lock:
            conns = list(self._open)
            self._open.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # client went away (timeouts, resets): not worth a traceback
            return
        super().handle_error(request, client_address)


# --------------------------------------------------------------------------------------------- public API


class _ControlMixin:
    """Methods shared by DingTalkEmulator (in-process) and EmulatorAdmin (over HTTP)."""

    base_url: str

    def add_fault(self, kind: str, count: int = 1, operation: str | None = None, **params: Any) -> dict:
        raise NotImplementedError

    def events(self) -> list[dict]:
        raise NotImplementedError

    def event(self, event_id: str) -> dict | None:
        for ev in self.events():
            if ev["id"] == event_id:
                return ev
        return None

    def attendees(self, event_id: str) -> list[dict]:
        ev = self.event(event_id)
        return list(ev["attendees"]) if ev else []

    def connection_json(self, app_key: str = "dtcal-test-key", app_secret: str = "dtcal-test-secret") -> str:
        """An Airflow connection in JSON form (for ``AIRFLOW_CONN_<ID>``) pointing at this emulator."""
        return json.dumps(
            {
                "conn_type": "dingtalk_calendar",
                "login": app_key,
                "password": app_secret,
                "host": self.base_url,
            }
        )

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        code: str = "ServiceUnavailable",
        message: str = "The service is temporarily unavailable.",
        operation: str | None = None,
        retry_after: int | None = None,
    ) -> dict:
        """The next ``count`` matching calls get a DingTalk error body with ``status``; nothing is applied.

        ``retry_after`` adds a ``Retry-After: <seconds>`` header (DingTalk documents none; proxies may add it).
        """
        return self.add_fault(
            "fail", count, operation, status=status, code=code, message=message, retry_after=retry_after
        )

    def reset_before(self, count: int = 1, operation: str | None = None) -> dict:
        """The next ``count`` matching calls get a TCP reset before anything is applied."""
        return self.add_fault("reset_before", count, operation)

    def reset_after(self, count: int = 1, operation: str | None = None) -> dict:
        """The next ``count`` matching calls are applied, then the connection is reset (the reply is lost)."""
        return self.add_fault("reset_after", count, operation)

    def delay_next(self, count: int = 1, seconds: float = 2.0, operation: str | None = None) -> dict:
        """The next ``count`` matching calls sleep ``seconds`` first, then are applied and answered normally."""
        return self.add_fault("delay", count, operation, seconds=seconds)

    def html_next(self, count: int = 1, status: int = 200, operation: str | None = None) -> dict:
        """The next ``count`` matching calls get an HTML error page with ``status``; nothing is applied."""
        return self.add_fault("html", count, operation, status=status)

    def deny_next(
        self, count: int = 1, wait: int = 1, operation: str | None = None, status: int = 200
    ) -> dict:
        """The next ``count`` matching calls get the IP-ban JSON ``{"status":1111,"wait":wait,"punish":"deny"}``
        with HTTP ``status`` (200 by default: the body carries no ``code``); nothing is applied."""
        return self.add_fault("deny", count, operation, wait=wait, status=status)


class DingTalkEmulator(_ControlMixin):
    """An in-process DingTalk Calendar emulator serving real HTTP on a background thread.

    The server starts in the constructor and stops on :meth:`close` (or leaving the ``with`` block).
    ``qps_limit=None`` (or 0) disables throttling; ``latency`` is seconds added before each API answer;
    ``apps`` maps accepted app keys to secrets (``None`` accepts any non-empty key and secret).
    """

    #: Credentials the ``dtcal_emulator`` pytest fixture configured (None outside the fixture).
    app_key: str | None = None
    app_secret: str | None = None

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        qps_limit: int | None = 20,
        latency: float = 0.0,
        token_ttl: float = 7200,
        apps: dict[str, str] | None = None,
        *,
        max_logged_requests: int = 10000,
    ) -> None:
        self._backend = _Backend(qps_limit, latency, token_ttl, apps, max_logged_requests)
        self._server = _Server((host, port), self._backend)
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"dtcal-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._closed = False

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.close_open_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    stop = close

    def __enter__(self) -> DingTalkEmulator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<DingTalkEmulator {self.base_url}>"

    # inspection
    def events(self) -> list[dict]:
        return self._backend.dump_events()

    def event(self, event_id: str) -> dict | None:
        return self._backend.dump_event(event_id)

    def stats(self) -> dict:
        return self._backend.stats()

    def requests(self) -> list[dict]:
        return self._backend.requests()

    def faults(self) -> list[dict]:
        return self._backend.list_faults()

    def config(self) -> dict:
        with self._backend.lock:
            return self._backend._config()

    # control
    def reset(self) -> None:
        self._backend.reset()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until the server handles no request (True), or ``timeout`` seconds pass (False)."""
        return self._backend.wait_idle(timeout)

    def set_qps_limit(self, qps_limit: int | None) -> None:
        self._backend.configure(qps_limit=qps_limit)

    def set_latency(self, seconds: float) -> None:
        self._backend.configure(latency=seconds)

    def set_token_ttl(self, seconds: float) -> None:
        self._backend.configure(token_ttl=seconds)

    def revoke_tokens(self) -> None:
        self._backend.revoke_tokens()

    def seed_events(self, events: list[dict]) -> list[str]:
        """Preload events (the ``--seed`` file format); returns their ids."""
        return self._backend.seed(events)

    def add_fault(self, kind: str, count: int = 1, operation: str | None = None, **params: Any) -> dict:
        return self._backend.add_fault(kind, count, operation, **params)

    def clear_faults(self) -> None:
        self._backend.clear_faults()


class EmulatorAdmin(_ControlMixin):
    """Drives an emulator running in another process through its ``/_emulator/`` admin endpoints."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def __repr__(self) -> str:
        return f"<EmulatorAdmin {self.base_url}>"

    def _call(self, method: str, name: str, payload: Any = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(f"{self.base_url}/_emulator/{name}", data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise RuntimeError(f"emulator admin {method} {name} failed: HTTP {exc.code} {detail}") from None
        return json.loads(raw) if raw else None

    def health(self) -> bool:
        return bool(self._call("GET", "health").get("ok"))

    def events(self) -> list[dict]:
        return self._call("GET", "state")["events"]

    def stats(self) -> dict:
        return self._call("GET", "stats")

    def requests(self) -> list[dict]:
        return self._call("GET", "requests")["requests"]

    def faults(self) -> list[dict]:
        return self._call("GET", "faults")["faults"]

    def config(self) -> dict:
        return self._call("GET", "config")

    def reset(self) -> None:
        self._call("POST", "reset", {})

    def set_qps_limit(self, qps_limit: int | None) -> None:
        self._call("POST", "config", {"qps_limit": qps_limit})

    def set_latency(self, seconds: float) -> None:
        self._call("POST", "config", {"latency": seconds})

    def set_token_ttl(self, seconds: float) -> None:
        self._call("POST", "config", {"token_ttl": seconds})

    def revoke_tokens(self) -> None:
        self._call("POST", "revoke-tokens", {})

    def seed_events(self, events: list[dict]) -> list[str]:
        return self._call("POST", "seed", {"events": events})["ids"]

    def add_fault(self, kind: str, count: int = 1, operation: str | None = None, **params: Any) -> dict:
        payload = {"kind": kind, "count": count, "operation": operation}
        payload.update({k: v for k, v in params.items() if v is not None})
        return self._call("POST", "faults", payload)

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")


# --------------------------------------------------------------------------------------------- CLI


def _parse_app(value: str) -> tuple[str, str]:
    key, sep, secret = value.partition(":")
    if not sep or not key or not secret:
        raise argparse.ArgumentTypeError("expected KEY:SECRET")
    return key, secret


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dtcal-emulator",
        description="Run a local emulator of the DingTalk OAuth2 token and Calendar v1.0 API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_CLI_PORT,
        help=f"port to bind; 0 picks a free one (default {DEFAULT_CLI_PORT})",
    )
    parser.add_argument(
        "--qps-limit",
        type=int,
        default=20,
        help="calls per second per app and API before 403 throttling; 0 = off",
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay added before every API answer")
    parser.add_argument("--token-ttl", type=float, default=7200, help="access token lifetime in seconds")
    parser.add_argument(
        "--app",
        action="append",
        type=_parse_app,
        metavar="KEY:SECRET",
        help="accept only these app credentials (repeatable); default: any non-empty key and secret",
    )
    parser.add_argument("--seed", metavar="FILE.json", help="events to preload (see docs/emulator.md)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    seed = None
    if args.seed:
        with open(args.seed, encoding="utf-8") as fh:
            seed = json.load(fh)
    emulator = DingTalkEmulator(
        host=args.host,
        port=args.port,
        qps_limit=args.qps_limit or None,
        latency=args.latency_ms / 1000.0,
        token_ttl=args.token_ttl,
        apps=dict(args.app) if args.app else None,
    )
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        if seed is not None:
            emulator.seed_events(seed)
        print(f"dtcal-emulator listening on {emulator.base_url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        emulator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
