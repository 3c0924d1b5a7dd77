"""Stream mode's bookkeeping: connection tickets, the apps subscribed to ``calendar_event_change``, the
messages queued for each app, their acks, and which open connection each message is pushed to.

``POST /v1.0/gateway/connections/open`` (:func:`open_connection`) checks the app's credentials, remembers
the app's EVENT topics and hands out a single-use ticket for the WebSocket (``stream_connection.py``).
From then on every write to an event queues one message per subscribed app (:func:`publish`), whether or
not it is connected.

Delivery follows DingTalk's load balancing (developerpedia, Stream protocol FAQ: each push goes to ONE of
the app's open connections, chosen at random): a message is pushed to one open connection of its app,
chosen by a hash of ``stream_seed``, the message's serial number and its delivery attempt, among the open
connections in the order they opened. So a given seed and the same connections give the same choices,
whatever the timing. A message not acked (no answer, ``LATER``, or a code other than 200) is pushed again,
to a connection chosen afresh, ``stream_redelivery_delay`` seconds after its last push or reply, and at
once when the connection it went to closes. An acked message is never pushed again, except that a share
``stream_duplicate_rate`` of acks (chosen by the same hash) is followed by one more push of the message to
a connection chosen afresh, as DingTalk warns may happen after network jitter.

Functions that take a :class:`State` expect the caller to hold ``state.lock``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
import uuid
from typing import Any

from airflow_dtcal.testing.emulator.contract import STREAM_EVENT_TOPIC
from airflow_dtcal.testing.emulator.errors import ApiError, invalid
from airflow_dtcal.testing.emulator.state import State

WEBSOCKET_PATH = "/gateway/connect"
CORP_ID = "dingemulatorcorp"
MESSAGE_STATUSES = ("pending", "later", "acked")
SUBSCRIPTION_TYPES = ("EVENT", "CALLBACK", "SYSTEM")
MAX_SUBSCRIPTIONS = 50
MAX_TOPIC_LENGTH = 256
MAX_LIVE_TICKETS = 1000
MAX_MESSAGES_PER_APP = 10_000  # the oldest acked message (else the oldest) is discarded beyond this
MAX_BATCH = 100  # messages handed to one connection per turn
MAX_ACKS_KEPT = 10  # per message, the latest replies
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$")


def _bad_credentials() -> ApiError:
    return ApiError(401, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")


def _topics(body: dict) -> set[str]:
    subscriptions = body.get("subscriptions")
    if not isinstance(subscriptions, list) or not subscriptions:
        raise invalid("subscriptions is required: a non-empty array of {type, topic}")
    if len(subscriptions) > MAX_SUBSCRIPTIONS:
        raise invalid(f"subscriptions must have at most {MAX_SUBSCRIPTIONS} entries")
    topics = set()
    for i, item in enumerate(subscriptions):
        kind = item.get("type") if isinstance(item, dict) else None
        topic = item.get("topic") if isinstance(item, dict) else None
        if kind not in SUBSCRIPTION_TYPES:
            raise invalid(f"subscriptions[{i}].type must be one of {', '.join(SUBSCRIPTION_TYPES)}")
        if not isinstance(topic, str) or not topic or len(topic) > MAX_TOPIC_LENGTH:
            raise invalid(f"subscriptions[{i}].topic must be a string of 1 to {MAX_TOPIC_LENGTH} characters")
        if kind == "EVENT":
            topics.add(topic)
    return topics


def wants_calendar_events(topics: set[str]) -> bool:
    return "*" in topics or STREAM_EVENT_TOPIC in topics


def open_connection(state: State, body: Any, host: str | None) -> dict:
    """OpenStreamConnection: a WebSocket endpoint on this server and a single-use ticket for it."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object {clientId, clientSecret, subscriptions}")
    key, secret = body.get("clientId"), body.get("clientSecret")
    if not isinstance(key, str) or not key or not isinstance(secret, str) or not secret:
        raise _bad_credentials()
    if state.apps is not None and state.apps.get(key) != secret:
        raise _bad_credentials()
    state.secrets_seen.add(secret)
    topics = _topics(body)
    if not host or not _HOST.match(host):
        raise invalid("the Host header must be host[:port]; the WebSocket endpoint is built from it")
    now = time.monotonic()
    for ticket in [t for t, record in state.stream_tickets.items() if record["expires"] <= now]:
        del state.stream_tickets[ticket]
    while len(state.stream_tickets) >= MAX_LIVE_TICKETS:
        del state.stream_tickets[next(iter(state.stream_tickets))]
    ticket = secrets.token_urlsafe(24)
    state.stream_tickets[ticket] = {"app": key, "topics": topics, "expires": now + state.stream_ticket_ttl}
    state.stream_apps[key] = topics
    state.stream_counts["tickets_issued"] += 1
    return {"endpoint": f"ws://{host}{WEBSOCKET_PATH}", "ticket": ticket}


def redeem_ticket(state: State, ticket: str) -> dict | None:
    """The ticket's ``{app, topics}`` if it is live; a ticket works once."""
    record = state.stream_tickets.pop(ticket, None)
    if record is None or record["expires"] <= time.monotonic():
        return None
    return record


def publish(state: State, ev: dict, change: str, actor: str | None, union_ids: list[str]) -> None:
    """Queue a ``calendar_event_change`` message about ``ev`` for every subscribed app."""
    apps = [app for app, topics in state.stream_apps.items() if wants_calendar_events(topics)]
    if not apps:
        return
    data = {
        "calendarEventId": ev["id"],
        "calendarId": "primary",
        "unionIdList": union_ids,
        "changeType": change,
        "operator": {"type": "user", "unionId": actor} if actor else {"type": "system"},
        "calendarEventUpdateTime": ev["updatedMs"],
        "legacyCalendarEventId": ev.get("_legacyId"),
    }
    text = json.dumps(data, ensure_ascii=False)
    event_id = uuid.uuid4().hex
    born = int(time.time() * 1000)
    for app in apps:
        queue = state.stream_messages.setdefault(app, {})
        message_id = uuid.uuid4().hex
        state.stream_serial += 1
        queue[message_id] = {
            "messageId": message_id,
            "serial": state.stream_serial,
            "eventId": event_id,
            "eventBornTime": born,
            "data": text,
            "status": "pending",
            "deliveries": 0,
            "to": None,  # connectionId of the connection it is (to be) pushed to
            "sentAt": None,  # monotonic time of that push (or of the LATER/failed reply), None before it
            "duplicate": None,  # acked, and to be pushed once more (to this connectionId; "": not chosen yet)
            "acks": [],
        }
        state.stream_counts["published"] += 1
        if len(queue) > MAX_MESSAGES_PER_APP:
            oldest = next((mid for mid, m in queue.items() if m["status"] == "acked"), next(iter(queue)))
            del queue[oldest]
            state.stream_counts["discarded"] += 1


def event_frame(connection: Any, message: dict) -> dict:
    """The EVENT frame of one message, as sent on ``connection``."""
    return {
        "specVersion": "1.0",
        "type": "EVENT",
        "headers": {
            "appId": connection.app,
            "connectionId": connection.id,
            "contentType": "application/json",
            "messageId": message["messageId"],
            "time": str(int(time.time() * 1000)),
            "topic": STREAM_EVENT_TOPIC,
            "eventType": STREAM_EVENT_TOPIC,
            "eventId": message["eventId"],
            "eventBornTime": str(message["eventBornTime"]),
            "eventCorpId": CORP_ID,
        },
        "data": message["data"],
    }


def system_frame(connection: Any, topic: str, data: dict) -> dict:
    return {
        "specVersion": "1.0",
        "type": "SYSTEM",
        "headers": {
            "appId": connection.app,
            "connectionId": connection.id,
            "contentType": "application/json",
            "messageId": uuid.uuid4().hex,
            "time": str(int(time.time() * 1000)),
            "topic": topic,
        },
        "data": json.dumps(data),
    }


def _hash(state: State, message: dict, salt: str) -> int:
    text = f"{state.stream_seed}:{message['serial']}:{salt}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _choose(state: State, message: dict, open_ids: list[str], salt: str) -> str:
    """One of ``open_ids`` (open connections of the app, oldest first) for this push of ``message``."""
    return open_ids[_hash(state, message, salt) % len(open_ids)]


def _open_ids(state: State, app: str) -> list[str]:
    connections = [
        c for c in state.stream_connections.values() if c.app == app and wants_calendar_events(c.topics)
    ]
    return [c.id for c in sorted(connections, key=lambda c: c.serial)]


def due(state: State, connection: Any) -> list[dict]:
    """The EVENT frames ``connection`` should be sent now (at most :data:`MAX_BATCH`), marked as sent.

    Each message not yet acked goes to one open connection of the app (see the module doc); a message
    whose connection closed, or that was not acked ``stream_redelivery_delay`` seconds after its push, is
    given to a connection chosen afresh (perhaps the same one)."""
    if not wants_calendar_events(connection.topics):
        return []
    now = time.monotonic()
    open_ids = _open_ids(state, connection.app)
    if connection.id not in open_ids:
        return []
    frames = []
    for message in state.stream_messages.get(connection.app, {}).values():
        if message["status"] == "acked":
            target = message["duplicate"]
            if target is None:
                continue
            if target not in open_ids:
                target = message["duplicate"] = _choose(state, message, open_ids, "duplicate")
            if target != connection.id:
                continue
            message["duplicate"] = None
            state.stream_counts["duplicates"] += 1
        else:
            target, sent = message["to"], message["sentAt"]
            stale = sent is not None and now - sent >= state.stream_redelivery_delay
            if target not in open_ids or stale:
                attempt = f"push-{message['deliveries']}"
                target = message["to"] = _choose(state, message, open_ids, attempt)
                message["sentAt"] = sent = None
            if target != connection.id or sent is not None:
                continue
            message["sentAt"] = now
        if message["deliveries"]:
            state.stream_counts["redeliveries"] += 1
        message["deliveries"] += 1
        state.stream_counts["deliveries"] += 1
        frames.append(event_frame(connection, message))
        if len(frames) == MAX_BATCH:
            break
    return frames


def _reply_status(reply: dict) -> str | None:
    data = reply.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    return data.get("status") if isinstance(data, dict) else None


def record_reply(state: State, connection: Any, reply: Any) -> None:
    """A client's reply on ``connection``: an ack (code 200; ``LATER`` in data asks for redelivery), a
    failure (any other code: redelivered), or the answer to a SYSTEM ping."""
    headers = reply.get("headers") if isinstance(reply, dict) else None
    message_id = headers.get("messageId") if isinstance(headers, dict) else None
    if not isinstance(message_id, str):
        state.stream_counts["unknown_acks"] += 1
        return
    if connection.pings.pop(message_id, None) is not None:
        state.stream_counts["pongs"] += 1
        return
    message = state.stream_messages.get(connection.app, {}).get(message_id)
    if message is None:
        state.stream_counts["unknown_acks"] += 1
        return
    code, status = reply.get("code"), _reply_status(reply)
    message["acks"].append({"connectionId": connection.id, "code": code, "status": status})
    del message["acks"][:-MAX_ACKS_KEPT]
    if message["status"] == "acked":
        return
    if code == 200 and status != "LATER":
        message["status"] = "acked"
        state.stream_counts["acked"] += 1
        rate = state.stream_duplicate_rate
        if rate and _hash(state, message, "duplicate?") / 2**64 < rate:
            message["duplicate"] = ""  # pushed once more, to a connection chosen when one asks (due)
        return
    message["to"], message["sentAt"] = connection.id, time.monotonic()  # redelivered after the delay
    if code == 200:
        message["status"] = "later"
        state.stream_counts["later"] += 1
    else:
        message["status"] = "pending"
        state.stream_counts["failed_acks"] += 1


# ---- inspection (these take the lock themselves)


def list_messages(state: State, status: str | None = None) -> list[dict]:
    """Every queued message, oldest first, optionally only those with ``status``."""
    if status is not None and status not in MESSAGE_STATUSES:
        raise ValueError(f"status must be one of {', '.join(MESSAGE_STATUSES)}, got {status!r}")
    with state.lock:
        out = []
        for app, queue in state.stream_messages.items():
            for m in queue.values():
                if status is None or m["status"] == status:
                    out.append(
                        {
                            "app": app,
                            "messageId": m["messageId"],
                            "eventId": m["eventId"],
                            "status": m["status"],
                            "deliveries": m["deliveries"],
                            "data": json.loads(m["data"]),
                            "acks": [dict(a) for a in m["acks"]],
                        }
                    )
        return out


def list_connections(state: State) -> list[dict]:
    with state.lock:
        return [c.describe() for c in state.stream_connections.values()]


def stream_stats(state: State) -> dict:
    with state.lock:
        out: dict[str, Any] = dict(state.stream_counts)
        out["open_connections"] = len(state.stream_connections)
        out["messages"] = dict.fromkeys(MESSAGE_STATUSES, 0)  # queued messages by their current status
        for queue in state.stream_messages.values():
            for message in queue.values():
                out["messages"][message["status"]] += 1
        return out


def unacked_messages(state: State) -> list[dict]:
    """The messages still to be acked (``pending`` or ``later``), oldest first."""
    return [m for m in list_messages(state) if m["status"] != "acked"]


# ---- admin controls (these take the lock themselves)


def drop_connections(state: State) -> int:
    """Cut every open Stream connection (no close frame); returns how many."""
    with state.lock:
        connections = list(state.stream_connections.values())
    for connection in connections:
        connection.drop()
    return len(connections)


def send_disconnect(state: State) -> int:
    """Send a SYSTEM ``disconnect`` on every open connection, which the server then closes."""
    with state.lock:
        for connection in state.stream_connections.values():
            connection.queue_disconnect()
        return len(state.stream_connections)


def send_ping(state: State) -> int:
    """Send a SYSTEM ``ping`` on every open connection (answers are counted as ``pongs``)."""
    with state.lock:
        for connection in state.stream_connections.values():
            connection.queue_ping()
        return len(state.stream_connections)


def expire_tickets(state: State) -> None:
    """Make every connection ticket handed out so far unusable."""
    with state.lock:
        state.stream_tickets.clear()
