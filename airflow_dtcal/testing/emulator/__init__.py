"""A local emulator of the DingTalk OAuth2 token and Calendar v1.0 server API, and of two legacy contacts
endpoints (user details, user by mobile) over a seedable user directory.

It speaks real HTTP on loopback (the standard library's ThreadingHTTPServer, HTTP/1.1 keep-alive, and the
Stream mode WebSocket on the same port), keeps
events, attendees, tokens and idempotency records in memory behind one lock, enforces the documented rules
(validation, visibility, throttling, token expiry) and can inject faults (error replies, TCP resets before
or after the change is applied, delays, HTML ban pages, the IP-ban JSON).

It imports only the standard library: never the hook or the payload builders, whose mistakes it exists to
catch, and never Airflow. One room per concern, in the order a request meets them:

- ``server.py``: HTTP framing and its limits (body size, timeouts, malformed requests)
- ``admin.py``: the ``/_emulator/`` endpoints that inspect and control the emulator
- ``api.py``: one API request: route, log, faults, token, quota, throttling, idempotency
- ``routes.py``: method + path -> operation and path ids
- ``request_log.py``: the request log, with secrets redacted
- ``faults.py``: fault injection
- ``access.py``: access tokens, authentication, QPS throttling, the monthly quota
- ``operations.py``: the calendar operations
- ``sync_tokens.py``: ListEvents sync tokens (signed, scoped to a user's calendar, expiring)
- ``checkins.py``: SignIn / SignOut and the organizer's check-in lists
- ``stream.py``: Stream mode's tickets, subscribed apps, messages and acks
- ``stream_connection.py``: one Stream WebSocket connection (the upgrade and its push/ack loop)
- ``websocket.py``: the WebSocket protocol (RFC 6455 handshake and framing) on a plain socket
- ``events.py``: the event store and the wire shape of events
- ``rules.py``, ``query.py``: request validation (body fields, query parameters, page tokens)
- ``directory.py``: the seedable user directory (display names, legacy look-ups)
- ``legacy.py``: the legacy contacts endpoints (``/topapi/v2/user/get``, ``getbymobile``)
- ``state.py``: everything remembered, behind one lock
- ``contract.py``: operation names, headers, limits (from the DingTalk docs)
- ``errors.py``, ``messages.py``: DingTalk-shaped errors; the request and reply types
- ``in_process.py``: :class:`DingTalkEmulator` (runs the server on a background thread)
- ``admin_client.py``: :class:`EmulatorAdmin` (drives an emulator in another process)
- ``controls.py``: the fault shortcuts both share
- ``cli.py``: the ``dtcal-emulator`` command
"""

from __future__ import annotations

from airflow_dtcal.testing.emulator.admin_client import EmulatorAdmin
from airflow_dtcal.testing.emulator.cli import main
from airflow_dtcal.testing.emulator.contract import OPERATIONS, WRITE_OPERATIONS
from airflow_dtcal.testing.emulator.faults import FAULT_KINDS
from airflow_dtcal.testing.emulator.in_process import DingTalkEmulator

__all__ = ["DingTalkEmulator", "EmulatorAdmin", "OPERATIONS", "WRITE_OPERATIONS", "FAULT_KINDS", "main"]
