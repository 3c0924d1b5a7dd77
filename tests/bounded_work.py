"""Hostile JSON up to the size caps, and how much work parsing it costs compared with valid JSON.

The work is measured in a child process (``python -m tests.bounded_work <path> <size> <case>...``) so a
parser that is quadratic on some input fails the test at its deadline instead of hanging the suite (a
regular expression in C does not stop for a signal). The child measures, best of three, the CPU time of the
same path on valid JSON of the same size and on the hostile input, and prints both; the test asserts the
hostile one stays within a generous multiple of the valid one. No absolute timing is asserted: the
machine may be slow or busy, and then both are.

Paths: ``text`` (:func:`airflow_dtcal.core.jsontext.loads`), ``frame`` (a Stream frame through
:func:`~airflow_dtcal.core.frames.parse_frame` and :func:`~airflow_dtcal.core.frames.event_message`),
``state`` (a Variable's text through :func:`~airflow_dtcal.state.variables.parse_state`), ``sync`` and
``async`` (a whole hook call against a misbehaving server on loopback, over requests and httpx), and
``stream`` (a :class:`~airflow_dtcal.hooks.stream.ChangeStream` receiving the frames over a WebSocket).
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from tests.helpers import ROOT

#: The hostile input may cost at most this many times the valid JSON of the same size (the old pre-scan
#: cost thousands of times more at 32 KB, and grew with the square of the size).
CEILING = 25.0
#: How long the child may run before the test fails (a guard against a hang, not a measurement).
DEADLINE = 240.0

MiB = 1024 * 1024


def _pad(head: bytes, body: bytes, tail: bytes, size: int) -> bytes:
    reps = max(1, (size - len(head) - len(tail)) // len(body))
    return head + body * reps + tail


#: Each hostile case: ``size`` -> bytes of about that size. Some are JSON (bracket-heavy), most are not.
HOSTILE: dict[str, Callable[[int], bytes]] = {
    "escaped-quotes": lambda n: _pad(b'{"attendees": [], "pad": "', b'\\"', b"", n),
    "quotes": lambda n: _pad(b"", b'"', b"", n),
    "backslashes": lambda n: _pad(b'{"pad": "', b"\\", b"", n),
    "open-brackets": lambda n: _pad(b"", b"[", b"", n),
    "open-strings": lambda n: _pad(b"", b'["', b"", n),
    "deep-then-quotes": lambda n: _pad(b"[" * 40 + b'"', b'\\"', b"", n),
    "empty-pairs": lambda n: _pad(b'{"attendees": [], "pad": [', b"[],", b"[]]}", n),
    "nested-33": lambda n: _pad(b'{"attendees": [], "pad": [', b"[" * 33 + b"]" * 33 + b",", b"[]]}", n),
}


def valid_json(size: int) -> bytes:
    """A valid answer of about ``size`` bytes, shaped like DingTalk's (objects, strings, numbers)."""
    item = b'{"id": "u123", "displayName": "Someone", "responseStatus": "accepted", "isOptional": false}, '
    return _pad(b'{"attendees": [], "pad": [', item, b"{}]}", size)


def frame_of(data: bytes) -> bytes:
    """A Stream EVENT frame carrying ``data`` as its (JSON string) data."""
    return json.dumps(
        {
            "specVersion": "1.0",
            "type": "EVENT",
            "headers": {"messageId": "m1", "topic": "calendar_event_change", "eventId": "e1"},
            "data": data.decode("latin-1"),
        }
    ).encode()


def _not_a_frame(size: int) -> bytes:
    """Valid JSON of about ``size`` bytes that is not a Stream frame: parsed whole, then skipped."""
    return json.dumps({"type": "NOPE", "pad": json.loads(valid_json(size - 64))}).encode()


def _best(action: Callable[[], Any], repeat: int = 3) -> float:
    """The least CPU time of ``repeat`` runs of ``action``, with the garbage collector held off (with a large
    heap, as after importing Airflow, its passes cost more than the parsing measured)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        started = time.process_time()
        try:
            action()
        except Exception:  # noqa: S110 - a refusal is the expected outcome for most hostile inputs
            pass
        finally:
            best = min(best, time.process_time() - started)
            gc.enable()
    return best


# ------------------------------------------------------------------------------------------------ child


def _parse_path(path: str) -> Callable[[bytes], Any]:
    if path == "text":
        from airflow_dtcal.core import jsontext

        return lambda data: jsontext.loads(data, 32)
    if path == "frame":
        from airflow_dtcal.core.frames import event_message, parse_frame

        return lambda data: event_message(parse_frame(data))
    if path == "frame-data":  # the hostile text inside a well-formed frame's data
        from airflow_dtcal.core.frames import event_message, parse_frame

        return lambda data: event_message(parse_frame(frame_of(data)))
    if path == "state":
        from airflow_dtcal.state.variables import parse_state

        return lambda data: parse_state("dtcal_test.hostile", data.decode("latin-1"))
    raise SystemExit(f"unknown path {path}")


def _hook_call(mode: str) -> Callable[[bytes], Any]:
    import asyncio
    import os

    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
    from tests.hooks.hostile.server import HostileServer, json_answer

    server = HostileServer()
    os.environ["AIRFLOW_CONN_DINGTALK_CALENDAR_DEFAULT"] = server.connection_json()
    hook = DingTalkCalendarHook(max_attempts=1, rate_limit=0, timeout=60)  # answers up to 4 MiB

    def call(data: bytes) -> Any:
        server.behaviour = json_answer(data)
        if mode == "sync":
            return hook.list_attendees("org", "e1")

        async def run() -> Any:
            try:
                return await hook.alist_attendees("org", "e1")
            finally:
                await hook.aclose()

        return asyncio.run(run())

    return call


def _stream_receive(frames: list[bytes]) -> Callable[[], Any]:
    """Receiving ``frames`` then a usable EVENT through a ChangeStream, over a WebSocket on loopback."""
    import asyncio
    from types import SimpleNamespace

    from websockets.asyncio.server import serve

    from airflow_dtcal.core.frames import MAX_FRAME_BYTES
    from airflow_dtcal.hooks.stream import ChangeStream

    good = frame_of(json.dumps({"calendarEventId": "e1"}).encode()).decode()

    async def handler(connection) -> None:
        try:
            for item in frames:
                await connection.send(item.decode("latin-1"))
            await connection.send(good)
            async for _reply in connection:
                pass
        except Exception:  # noqa: S110 - the client went away
            pass

    class OpenStub:
        def __init__(self, port: int) -> None:
            self.port = port

        async def aopen_stream_connection(self, topics=("calendar_event_change",)) -> dict:
            return {"endpoint": f"ws://127.0.0.1:{self.port}/connect", "ticket": "t"}

        async def asettings(self):  # an emulator on loopback: its endpoint is the connection's own host
            return SimpleNamespace(base_url=f"http://127.0.0.1:{self.port}", stream_host_suffix="")

    async def main() -> str:
        async with serve(handler, "127.0.0.1", 0, max_size=MAX_FRAME_BYTES * 2) as server:
            stream = ChangeStream(OpenStub(server.sockets[0].getsockname()[1]))
            messages = stream.messages()
            try:
                message = await anext(messages)
            finally:
                await messages.aclose()
                await stream.close()
            return message.message_id

    return lambda: asyncio.run(main())


def child(path: str, size: int, cases: list[str]) -> dict[str, dict[str, float]]:
    """``{case: {"valid": seconds, "hostile": seconds}}``: CPU time of the path on valid JSON and on each
    hostile case, all of about ``size`` bytes."""
    if path == "stream":
        from airflow_dtcal.hooks.stream import MAX_BAD_FRAMES

        # Unusable frames in a row, short of the count that makes the client reconnect; the baseline's are
        # valid JSON that is not a Stream frame, so they are parsed whole and skipped the same way.
        count = MAX_BAD_FRAMES - 1
        valid_time = _best(_stream_receive([_not_a_frame(size)] * count))
        return {
            case: {"valid": valid_time, "hostile": _best(_stream_receive([HOSTILE[case](size)] * count))}
            for case in cases
        }
    parse = _hook_call(path) if path in ("sync", "async") else _parse_path(path)
    build: Callable[[int], bytes] = valid_json
    if path == "frame":
        build = _not_a_frame
    elif path == "frame-data":  # escaped inside the frame, the data takes up to twice its size
        size = size // 2 - 512
    valid = build(size)
    valid_time = _best(lambda: parse(valid))
    out = {}
    for case in cases:
        hostile = HOSTILE[case](size)
        out[case] = {"valid": valid_time, "hostile": _best(lambda data=hostile: parse(data))}
    return out


# ------------------------------------------------------------------------------------------------ parent


def measure(path: str, size: int, cases: list[str]) -> dict[str, dict[str, float]]:
    """Run :func:`child` in a fresh interpreter; fails the test if it does not finish by :data:`DEADLINE`."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.bounded_work", path, str(size), *cases],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"parsing {', '.join(cases)} ({size:,} bytes) on the {path} path ran past {DEADLINE:.0f}s"
        ) from None
    if done.returncode != 0:
        raise AssertionError(f"the child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_bounded(path: str, size: int, cases: list[str] | None = None) -> None:
    """Every hostile case costs at most :data:`CEILING` times valid JSON of the same size on ``path``."""
    cases = cases or list(HOSTILE)
    over = []
    for case, times in measure(path, size, cases).items():
        ceiling = CEILING * max(times["valid"], 0.01)  # 10 ms floor: below that, timer noise dominates
        if times["hostile"] > ceiling:
            over.append(f"{case}: {times['hostile']:.3f}s")
        print(f"{path} {case}: hostile {times['hostile']:.3f}s, valid {times['valid']:.3f}s")
    assert not over, (
        f"on the {path} path ({size:,} bytes), over {CEILING:g}x the CPU time of valid JSON: {', '.join(over)}"
    )


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], int(sys.argv[2]), sys.argv[3:])))
