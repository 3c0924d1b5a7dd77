"""The Stream gateway over raw sockets: connection-open, tickets, the WebSocket handshake and framing,
calendar_event_change pushes, acks, redelivery and the admin controls."""

from __future__ import annotations

import hashlib
import json
import struct
import time
from collections.abc import Iterator

import pytest
import requests

from airflow_dtcal.testing import DingTalkEmulator, EmulatorAdmin
from tests.testing.emulator.conftest import Api, assert_error, timed
from tests.testing.emulator.wsclient import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, WsClient, frame

OPEN_PATH = "/v1.0/gateway/connections/open"


def open_connection(emu: DingTalkEmulator, topic: str = "*", **body: object) -> requests.Response:
    payload = {
        "clientId": "app-1",
        "clientSecret": "stream-secret-1",
        "subscriptions": [{"type": "EVENT", "topic": topic}],
        "ua": "test",
        "localIp": "127.0.0.1",
    }
    payload.update(body)
    with requests.Session() as session:
        session.trust_env = False
        return session.post(emu.base_url + OPEN_PATH, json=payload, timeout=10)


def connect(emu: DingTalkEmulator, topic: str = "*") -> WsClient:
    opened = open_connection(emu, topic)
    assert opened.status_code == 200, opened.text
    client = WsClient(opened.json()["endpoint"], opened.json()["ticket"])
    assert client.status == 101, client.head
    emu.wait_for_stream_connections(1)
    return client


def timed_body() -> dict:
    return timed("2025-09-20T10:00:00+08:00", "2025-09-20T10:30:00+08:00")


def wait_until_no_connections(emu: DingTalkEmulator | EmulatorAdmin, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while emu.stream_connections():
        assert time.monotonic() < deadline, "the Stream connection was not closed in time"
        time.sleep(0.05)


@pytest.fixture
def clients() -> Iterator[list[WsClient]]:
    made: list[WsClient] = []
    yield made
    for client in made:
        client.close()


def test_open_connection_hands_out_an_endpoint_and_a_ticket(emu: DingTalkEmulator) -> None:
    before = emu.stats()["counted_total"]
    resp = open_connection(emu)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"endpoint", "ticket"}
    assert body["endpoint"] == f"ws://127.0.0.1:{emu.port}/gateway/connect"
    assert len(body["ticket"]) >= 20
    assert emu.stats()["counted_total"] == before  # not a calendar call
    assert emu.stats()["calls"]["OpenStreamConnection"] == 1
    logged = emu.requests()[-1]
    assert logged["operation"] == "OpenStreamConnection"
    assert logged["body"]["clientSecret"] == "[redacted]"
    assert "stream-secret-1" not in json.dumps(emu.requests())


def test_open_connection_validates_its_body(emu: DingTalkEmulator) -> None:
    assert_error(open_connection(emu, clientSecret=""), 401, "invalidClientIdOrSecret")
    assert_error(open_connection(emu, subscriptions=[]), 400, "invalidParameter", "subscriptions")
    bad_type = open_connection(emu, subscriptions=[{"type": "NOPE", "topic": "*"}])
    assert_error(bad_type, 400, "invalidParameter", "subscriptions[0].type")
    bad_topic = open_connection(emu, subscriptions=[{"type": "EVENT", "topic": ""}])
    assert_error(bad_topic, 400, "invalidParameter", "subscriptions[0].topic")


def test_open_connection_refuses_wrong_credentials_with_401() -> None:
    with DingTalkEmulator(qps_limit=None, apps={"app-1": "stream-secret-1"}) as emu:
        assert open_connection(emu).status_code == 200
        wrong = open_connection(emu, clientSecret="not-the-secret")
        assert_error(wrong, 401, "invalidClientIdOrSecret")
        unknown = open_connection(emu, clientId="someone-else")
        assert_error(unknown, 401, "invalidClientIdOrSecret")


def test_tickets_are_single_use_and_expire(emu: DingTalkEmulator, clients: list[WsClient]) -> None:
    opened = open_connection(emu).json()
    first = WsClient(opened["endpoint"], opened["ticket"])
    clients.append(first)
    assert first.status == 101
    again = WsClient(opened["endpoint"], opened["ticket"])
    clients.append(again)
    assert again.status == 401 and again.error()["code"] == "invalidTicket"
    missing = WsClient(opened["endpoint"], None)
    clients.append(missing)
    assert missing.status == 401
    unused = open_connection(emu).json()
    emu.expire_stream_tickets()
    expired = WsClient(unused["endpoint"], unused["ticket"])
    clients.append(expired)
    assert expired.status == 401


def test_a_bad_handshake_gets_400(emu: DingTalkEmulator) -> None:
    ticket = open_connection(emu).json()["ticket"]
    with requests.Session() as session:
        session.trust_env = False
        resp = session.get(f"{emu.base_url}/gateway/connect", params={"ticket": ticket}, timeout=5)
    assert_error(resp, 400, "invalidRequest", "Upgrade: websocket")


def test_every_write_is_pushed_and_acks_are_recorded(
    emu: DingTalkEmulator, api: Api, clients: list[WsClient]
) -> None:
    client = connect(emu)
    clients.append(client)
    event_id = api.new_event("org")
    writes = [
        ("create", lambda: None),
        ("update", lambda: api.patch("org", event_id, {"id": event_id, "summary": "Moved"})),
        ("update", lambda: api.add("org", event_id, ["alice", "bob"])),
        ("update", lambda: api.respond("alice", event_id, "accepted")),
        ("update", lambda: api.remove("org", event_id, ["bob"])),
        ("cancel", lambda: api.call("POST", "org", "events", event_id, "cancel", json={})),
    ]
    seen = []
    for change, write in writes:
        resp = write()
        assert resp is None or resp.status_code == 200, resp.text
        message = client.read_json()
        assert message["type"] == "EVENT" and message["specVersion"] == "1.0"
        headers = message["headers"]
        assert headers["topic"] == headers["eventType"] == "calendar_event_change"
        assert headers["appId"] == "app-1" and headers["contentType"] == "application/json"
        assert int(headers["time"]) > 0 and int(headers["eventBornTime"]) > 0
        data = json.loads(message["data"])
        assert data["calendarEventId"] == event_id and data["calendarId"] == "primary"
        assert data["changeType"] == change
        assert isinstance(data["calendarEventUpdateTime"], int)
        seen.append(data["unionIdList"])
        client.ack(message)
        emu.wait_for_stream_acks(len(seen))
    assert seen[0] == ["org"]
    assert sorted(seen[2]) == ["alice", "bob", "org"]
    assert sorted(seen[4]) == ["alice", "bob", "org"]  # bob was removed: he is told too
    acked = emu.acked_stream_messages()
    assert len(acked) == len(writes) and emu.pending_stream_messages() == []
    assert all(m["acks"][0]["code"] == 200 for m in acked)
    assert emu.stream_stats()["acked"] == len(writes)


def test_unacked_messages_are_redelivered_on_the_next_connection(
    emu: DingTalkEmulator, api: Api, clients: list[WsClient]
) -> None:
    first = connect(emu)
    clients.append(first)
    api.new_event("org")
    unacked = first.read_json()
    api.new_event("org")
    acked = first.read_json()
    first.ack(acked)
    emu.wait_for_stream_acks(1)
    assert emu.drop_stream_connections() == 1
    with pytest.raises((ConnectionError, TimeoutError)):
        first.read_frame(timeout=5)  # cut without a close frame
    second = connect(emu)
    clients.append(second)
    again = second.read_json()
    assert again["headers"]["messageId"] == unacked["headers"]["messageId"]
    assert again["headers"]["eventId"] == unacked["headers"]["eventId"]
    assert again["headers"]["connectionId"] != unacked["headers"]["connectionId"]
    assert again["data"] == unacked["data"]
    second.ack(again)
    emu.wait_for_stream_acks(2)
    with pytest.raises(TimeoutError):  # the message acked on the first connection never comes back
        second.read_frame(timeout=0.5)
    pending = emu.pending_stream_messages()
    assert pending == []
    assert emu.stream_stats()["redeliveries"] == 1


@pytest.mark.dtcal_emulator(stream_redelivery_delay=0.3)
def test_redelivery_delay_later_and_failed_acks(
    emu: DingTalkEmulator, api: Api, clients: list[WsClient]
) -> None:
    client = connect(emu)
    clients.append(client)
    api.new_event("org")
    first = client.read_json()
    message_id = first["headers"]["messageId"]

    def replies_recorded(count: int) -> dict:
        deadline = time.monotonic() + 10
        while len((message := emu.stream_messages()[0])["acks"]) < count:
            assert time.monotonic() < deadline, "the reply was not recorded in time"
            time.sleep(0.02)
        return message

    again = client.read_json(timeout=5)  # not acked: sent again on the same connection after the delay
    assert again["headers"]["messageId"] == message_id
    client.ack(again, status="LATER")
    assert replies_recorded(1)["status"] == "later"
    later = client.read_json(timeout=5)  # sent again after the delay
    assert later["headers"]["messageId"] == message_id
    client.ack(later, code=500)  # a failure: not acked, delivered again
    assert replies_recorded(2)["status"] == "pending"
    failed = client.read_json(timeout=5)
    assert failed["headers"]["messageId"] == message_id
    client.ack(failed)
    emu.wait_for_stream_acks(1)
    message = emu.stream_messages()[0]
    assert message["deliveries"] >= 4 and message["status"] == "acked"
    assert [a["status"] for a in message["acks"]][:3] == ["LATER", "SUCCESS", "SUCCESS"]
    assert [a["code"] for a in message["acks"]][:3] == [200, 500, 200]
    stats = emu.stream_stats()
    assert (stats["later"], stats["failed_acks"], stats["acked"]) == (1, 1, 1)


def test_only_subscribers_of_the_topic_get_messages(
    emu: DingTalkEmulator, api: Api, clients: list[WsClient]
) -> None:
    other = connect(emu, topic="user_add_org")
    clients.append(other)
    api.new_event("org")
    with pytest.raises(TimeoutError):
        other.read_frame(timeout=0.5)
    assert emu.stream_messages() == []
    named = connect(emu, topic="calendar_event_change")
    clients.append(named)
    api.new_event("org")
    assert json.loads(named.read_json()["data"])["changeType"] == "create"


def test_messages_wait_for_an_app_that_subscribed_once(
    emu: DingTalkEmulator, api: Api, clients: list[WsClient]
) -> None:
    opened = open_connection(emu).json()  # subscribed, not yet connected
    api.new_event("org")
    assert len(emu.pending_stream_messages()) == 1
    client = WsClient(opened["endpoint"], opened["ticket"])
    clients.append(client)
    assert json.loads(client.read_json()["data"])["changeType"] == "create"


def test_system_ping_and_disconnect(emu: DingTalkEmulator, clients: list[WsClient]) -> None:
    client = connect(emu)
    clients.append(client)
    assert emu.ping_stream_connections() == 1
    ping = client.read_json()
    assert ping["type"] == "SYSTEM" and ping["headers"]["topic"] == "ping"
    client.send_json({"code": 200, "headers": ping["headers"], "message": "OK", "data": ping["data"]})
    assert emu.disconnect_stream_connections() == 1
    notice = client.read_json()
    assert notice["type"] == "SYSTEM" and notice["headers"]["topic"] == "disconnect"
    assert client.read_close(timeout=10) == 1000
    stats = emu.stream_stats()
    assert (stats["pings_sent"], stats["pongs"], stats["disconnects_sent"]) == (1, 1, 1)


def test_websocket_control_frames(emu: DingTalkEmulator, clients: list[WsClient]) -> None:
    client = connect(emu)
    clients.append(client)
    client.send_raw(frame(OP_PING, b"are you there"))
    assert client.read_frame() == (OP_PONG, b"are you there")
    client.send_raw(frame(OP_PONG, b"unsolicited"))  # ignored
    half = json.dumps({"code": 200, "headers": {"messageId": "nope"}}).encode()
    client.send_raw(frame(OP_TEXT, half[:10], fin=False) + frame(OP_PING, b"x") + frame(0x0, half[10:]))
    assert client.read_frame() == (OP_PONG, b"x")
    client.send_raw(frame(OP_CLOSE, struct.pack("!H", 1000)))
    assert client.read_close() == 1000
    wait_until_no_connections(emu)
    assert emu.stream_stats()["unknown_acks"] == 1


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (frame(OP_TEXT, b"{}", masked=False), 1002),  # client frames must be masked
        (frame(OP_BINARY, b"\x00\x01"), 1003),
        (frame(OP_TEXT, b"not json"), 1007),
        (frame(OP_TEXT, b"x" * (64 * 1024 + 1)), 1009),
        (frame(OP_PING, b"x" * 126), 1002),  # control frames are at most 125 bytes
        (frame(0x0, b"stray continuation"), 1002),
        (bytes([0x80 | 0x40 | OP_TEXT, 0x80]) + b"\x00" * 4, 1002),  # a reserved bit
    ],
    # Named, not shown: the frames carry random masks, and pytest-xdist's workers must collect equal ids.
    ids=["unmasked", "binary", "not-json", "too-big", "long-ping", "stray-continuation", "reserved-bit"],
)
def test_protocol_errors_close_the_connection(
    emu: DingTalkEmulator, clients: list[WsClient], data: bytes, code: int
) -> None:
    client = connect(emu)
    clients.append(client)
    client.send_raw(data)
    assert client.read_close() == code


def test_admin_client_drives_the_stream_over_http(
    emu: DingTalkEmulator, api: Api, clients: list[WsClient]
) -> None:
    admin = EmulatorAdmin(emu.base_url)
    client = connect(emu)
    clients.append(client)
    assert [c["app"] for c in admin.stream_connections()] == ["app-1"]
    api.new_event("org")
    message = client.read_json()
    assert [m["messageId"] for m in admin.pending_stream_messages()] == [message["headers"]["messageId"]]
    client.ack(message)
    assert [m["status"] for m in admin.wait_for_stream_acks(1)] == ["acked"]
    assert admin.stream_messages()[0]["data"]["changeType"] == "create"
    assert admin.stream_stats()["messages"] == {"pending": 0, "later": 0, "acked": 1}
    assert admin.ping_stream_connections() == 1
    assert client.read_json()["headers"]["topic"] == "ping"
    admin.set_stream_redelivery_delay(5)
    admin.set_stream_ticket_ttl(30)
    assert admin.config()["stream_redelivery_delay"] == 5.0
    assert admin.drop_stream_connections() == 1
    wait_until_no_connections(admin)
    assert admin.disconnect_stream_connections() == 0
    ticket = open_connection(emu).json()
    admin.expire_stream_tickets()
    late = WsClient(ticket["endpoint"], ticket["ticket"])
    clients.append(late)
    assert late.status == 401
    with pytest.raises(RuntimeError, match="stream_redelivery_delay must be a number of seconds > 0"):
        admin.set_stream_redelivery_delay(0)


def test_reset_drops_connections_and_forgets_messages(
    emu: DingTalkEmulator, api: Api, clients: list[WsClient]
) -> None:
    client = connect(emu)
    clients.append(client)
    api.new_event("org")
    client.read_json()
    emu.reset()
    with pytest.raises((ConnectionError, TimeoutError)):
        client.read_frame(timeout=5)
    assert emu.stream_messages() == [] and emu.stream_stats()["published"] == 0


def test_replayed_and_refused_writes_push_nothing(
    emu: DingTalkEmulator, api: Api, clients: list[WsClient]
) -> None:
    client = connect(emu)
    clients.append(client)
    first = api.create("org", {"summary": "Once", **timed_body()}, client_token="once")
    again = api.create("org", {"summary": "Once", **timed_body()}, client_token="once")
    assert first.json() == again.json()
    assert api.create("org", {"summary": ""}).status_code == 400
    client.ack(client.read_json())
    emu.wait_for_stream_acks(1)
    with pytest.raises(TimeoutError):
        client.read_frame(timeout=0.5)
    assert emu.stream_stats()["published"] == 1


# ---- delivery across the connections of one app (DingTalk's load balancing)


def expected_connection(seed: int, serial: int, attempt: str, count: int) -> int:
    """The documented choice (docs/emulator.md): a hash of the seed, the message's serial number and the
    delivery attempt picks one of the app's open connections, in the order they opened."""
    digest = hashlib.sha256(f"{seed}:{serial}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def drain(clients: list[WsClient], count: int, ack: bool = True) -> list[list[dict]]:
    """Read from every client until ``count`` EVENT frames came in all; each is acked unless ``ack`` is
    False. Returns the frames each client got."""
    got: list[list[dict]] = [[] for _ in clients]
    deadline = time.monotonic() + 20
    while sum(map(len, got)) < count:
        assert time.monotonic() < deadline, f"only {sum(map(len, got))} of {count} pushes came"
        for index, client in enumerate(clients):
            try:
                message = client.read_json(timeout=0.05)
            except TimeoutError:
                continue
            got[index].append(message)
            if ack:
                client.ack(message)
    return got


@pytest.mark.dtcal_emulator(stream_seed=7)
def test_each_push_goes_to_one_open_connection_of_the_app_chosen_by_the_seed(
    emu: DingTalkEmulator, api: Api, clients: list[WsClient]
) -> None:
    first = connect(emu)
    clients.append(first)
    second = connect(emu)
    clients.append(second)
    emu.wait_for_stream_connections(2)
    writes = 24
    for _ in range(writes):
        api.new_event("org")
    got = drain([first, second], writes)
    emu.wait_for_stream_acks(writes)
    ids = [[m["headers"]["messageId"] for m in frames] for frames in got]
    assert not set(ids[0]) & set(ids[1])  # never to both
    assert sorted(ids[0] + ids[1]) == sorted(m["messageId"] for m in emu.stream_messages())
    assert ids[0] and ids[1]  # each connection got a share
    serials = {m["messageId"]: n for n, m in enumerate(emu.stream_messages(), start=1)}
    for index, frames in enumerate(ids):
        assert all(expected_connection(7, serials[m], "push-0", 2) == index for m in frames)
    stats = emu.stream_stats()
    assert (stats["deliveries"], stats["redeliveries"], stats["acked"]) == (writes, 0, writes)


@pytest.mark.dtcal_emulator(stream_seed=3)
def test_a_push_not_acked_on_a_closed_connection_goes_at_once_to_another(
    emu: DingTalkEmulator, api: Api, clients: list[WsClient]
) -> None:
    first = connect(emu)
    clients.append(first)
    second = connect(emu)
    clients.append(second)
    emu.wait_for_stream_connections(2)
    for _ in range(8):
        api.new_event("org")
    got = drain([first, second], 8, ack=False)
    taken = [m["headers"]["messageId"] for m in got[0]]
    assert taken, "seed 3 gives the first connection a share of 8 pushes"
    for message in got[1]:
        second.ack(message)
    first.close()  # its pushes were never acked
    again = drain([second], len(taken))[0]
    assert sorted(m["headers"]["messageId"] for m in again) == sorted(taken)
    emu.wait_for_stream_acks(8)
    assert emu.stream_stats()["redeliveries"] == len(taken)


@pytest.mark.dtcal_emulator(stream_duplicate_rate=1.0)
def test_an_acked_push_may_come_once_more(emu: DingTalkEmulator, api: Api, clients: list[WsClient]) -> None:
    client = connect(emu)
    clients.append(client)
    api.new_event("org")
    first = client.read_json()
    client.ack(first)
    again = client.read_json(timeout=5)
    assert again["headers"]["messageId"] == first["headers"]["messageId"]
    assert again["data"] == first["data"]
    client.ack(again)
    api.new_event("org")  # the next push is the next message: the duplicate came once only
    following = client.read_json(timeout=5)
    assert following["headers"]["messageId"] != first["headers"]["messageId"]
    stats = emu.stream_stats()
    assert (stats["duplicates"], stats["acked"]) == (1, 1)
    [message, _] = emu.stream_messages()
    assert message["status"] == "acked" and message["deliveries"] == 2


def test_the_delivery_settings_are_validated(emu: DingTalkEmulator) -> None:
    with pytest.raises(ValueError, match="stream_duplicate_rate must be a number from 0 to 1"):
        emu.set_stream_delivery(0, 1.5)
    with pytest.raises(ValueError, match="stream_seed must be an integer"):
        emu.set_stream_delivery(-1, 0.0)
    emu.set_stream_delivery(11, 0.25)
    config = emu.config()
    assert (config["stream_seed"], config["stream_duplicate_rate"]) == (11, 0.25)
