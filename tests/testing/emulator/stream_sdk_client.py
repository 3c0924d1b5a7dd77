"""Run the official ``dingtalk-stream`` client against an emulator (a test helper, started as a script).

``python stream_sdk_client.py <output file> <mode>``: connects to ``DINGTALK_OPENAPI_ENDPOINT`` (read by the
SDK at import) with app ``sdk-app``, and appends one JSON line per EVENT its handler receives. ``mode`` is
``ack`` (answer 200) or ``fail-once`` (answer 500 the first time each message arrives, 200 after).
"""

from __future__ import annotations

import asyncio
import json
import sys

import dingtalk_stream
from dingtalk_stream import AckMessage

APP_KEY = "sdk-app"
APP_SECRET = "sdk-stream-secret"


class Recorder(dingtalk_stream.EventHandler):
    def __init__(self, path: str, mode: str) -> None:
        super().__init__()
        self.out = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the process
        self.mode = mode
        self.seen: set[str] = set()

    async def process(self, event: dingtalk_stream.EventMessage) -> tuple[int, str]:
        headers = event.headers
        first = headers.message_id not in self.seen
        self.seen.add(headers.message_id)
        code = (
            AckMessage.STATUS_SYSTEM_EXCEPTION if self.mode == "fail-once" and first else AckMessage.STATUS_OK
        )
        record = {
            "messageId": headers.message_id,
            "eventId": headers.event_id,
            "topic": headers.topic,
            "eventType": headers.event_type,
            "connectionId": headers.connection_id,
            "data": event.data,
            "answered": code,
        }
        self.out.write(json.dumps(record) + "\n")
        return code, "OK"


def main() -> None:
    path, mode = sys.argv[1], sys.argv[2]
    client = dingtalk_stream.DingTalkStreamClient(dingtalk_stream.Credential(APP_KEY, APP_SECRET))
    client.register_all_event_handler(Recorder(path, mode))
    asyncio.run(client.start())


if __name__ == "__main__":
    main()
