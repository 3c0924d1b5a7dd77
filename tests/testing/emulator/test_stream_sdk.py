"""The Stream gateway driven by the official ``dingtalk-stream`` SDK (0.24.3), run in a subprocess pointed at
the emulator with ``DINGTALK_OPENAPI_ENDPOINT``: what its EventHandler receives, and the acks it sends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airflow_dtcal.testing import DingTalkEmulator
from tests.testing.emulator.conftest import Api

pytest.importorskip("dingtalk_stream")

CLIENT = Path(__file__).with_name("stream_sdk_client.py")
WAIT = 20.0  # seconds; the SDK reconnects 10 s after a dropped connection


class SdkClient:
    def __init__(self, emu: DingTalkEmulator, tmp_path: Path, mode: str) -> None:
        self.out = tmp_path / f"received-{mode}.jsonl"
        self.out.touch()
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env.update(DINGTALK_OPENAPI_ENDPOINT=emu.base_url, NO_PROXY="127.0.0.1,localhost")
        self.log = open(tmp_path / f"sdk-{mode}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, str(CLIENT), str(self.out), mode], env=env, stdout=self.log, stderr=self.log
        )

    def received(self) -> list[dict]:
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]

    def wait_received(self, count: int, timeout: float = WAIT) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(got := self.received()) < count:
            assert time.monotonic() < deadline, f"the SDK handler got {len(got)} events, expected {count}"
            time.sleep(0.05)
        return got

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def wait_for(probe: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)


@pytest.fixture
def start_sdk(emu: DingTalkEmulator, tmp_path: Path) -> Iterator[Callable[[str], SdkClient]]:
    started: list[SdkClient] = []

    def start(mode: str = "ack") -> SdkClient:
        client = SdkClient(emu, tmp_path, mode)
        started.append(client)
        emu.wait_for_stream_connections(1, timeout=WAIT)
        return client

    yield start
    for client in started:
        client.stop()


def test_the_sdk_handler_receives_every_change_and_acks_it(
    emu: DingTalkEmulator, api: Api, start_sdk: Callable[[str], SdkClient]
) -> None:
    sdk = start_sdk("ack")
    assert emu.stream_connections()[0]["app"] == "sdk-app"
    event_id = api.new_event("org")
    api.add("org", event_id, ["alice"])
    api.respond("alice", event_id, "tentative")
    api.patch("org", event_id, {"id": event_id, "summary": "Rescheduled"})
    api.call("POST", "org", "events", event_id, "cancel", json={})
    received = sdk.wait_received(5)
    assert [r["data"]["changeType"] for r in received] == ["create", "update", "update", "update", "cancel"]
    for record in received:
        assert record["topic"] == record["eventType"] == "calendar_event_change"
        assert record["data"]["calendarEventId"] == event_id
        assert record["data"]["calendarId"] == "primary"
        assert isinstance(record["data"]["calendarEventUpdateTime"], int)
    assert received[0]["data"]["unionIdList"] == ["org"]
    assert sorted(received[1]["data"]["unionIdList"]) == ["alice", "org"]
    assert received[2]["data"]["operator"] == {"type": "user", "unionId": "alice"}
    acked = emu.wait_for_stream_acks(5)
    assert [m["messageId"] for m in acked] == [r["messageId"] for r in received]
    assert [m["eventId"] for m in acked] == [r["eventId"] for r in received]
    assert all(m["deliveries"] == 1 and m["acks"][-1]["code"] == 200 for m in acked)
    assert emu.pending_stream_messages() == []


@pytest.mark.dtcal_emulator(stream_redelivery_delay=0.3)
def test_a_failed_handler_gets_the_same_message_again(
    emu: DingTalkEmulator, api: Api, start_sdk: Callable[[str], SdkClient]
) -> None:
    sdk = start_sdk("fail-once")
    api.new_event("org")
    first, second = sdk.wait_received(2)
    assert first["answered"] == 500 and second["answered"] == 200
    assert (first["messageId"], first["eventId"]) == (second["messageId"], second["eventId"])
    (acked,) = emu.wait_for_stream_acks(1)
    codes = [a["code"] for a in acked["acks"]]
    assert acked["deliveries"] >= 2 and codes[0] == 500 and codes[-1] == 200


def test_the_sdk_reconnects_after_a_disconnect_and_gets_what_it_missed(
    emu: DingTalkEmulator, api: Api, start_sdk: Callable[[str], SdkClient]
) -> None:
    sdk = start_sdk("ack")
    api.new_event("org", summary="before")
    sdk.wait_received(1)
    emu.wait_for_stream_acks(1)
    first_connection = emu.stream_connections()[0]["connectionId"]
    assert emu.disconnect_stream_connections() == 1  # the SDK closes and opens a new connection at once
    wait_for(
        lambda: [c for c in emu.stream_connections() if c["connectionId"] != first_connection],
        WAIT,
        "new Stream connection",
    )
    api.new_event("org", summary="after")
    received = sdk.wait_received(2)
    assert received[1]["connectionId"] != first_connection
    assert emu.stream_stats()["connections_opened"] == 2
    emu.wait_for_stream_acks(2)


def test_changes_made_while_the_connection_is_down_arrive_after_the_sdk_reconnects(
    emu: DingTalkEmulator, api: Api, start_sdk: Callable[[str], SdkClient]
) -> None:
    sdk = start_sdk("ack")
    assert emu.drop_stream_connections() == 1  # a network failure: the SDK waits 10 s, then reconnects
    wait_for(lambda: not emu.stream_connections() or None, WAIT, "closed connection")
    made = api.new_event("org", summary="while down")
    assert len(emu.pending_stream_messages()) == 1
    (record,) = sdk.wait_received(1, timeout=WAIT + 10)
    assert record["data"]["calendarEventId"] == made
    emu.wait_for_stream_acks(1, timeout=WAIT)
    assert emu.stream_stats()["connections_opened"] == 2
