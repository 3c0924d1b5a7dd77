"""The ``dtcal-emulator`` command (also ``python -m airflow_dtcal.testing.emulator``)."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from typing import Any

from airflow_dtcal.testing.emulator.contract import (
    DEFAULT_QPS_LIMIT,
    STREAM_DUPLICATE_RATE,
    STREAM_REDELIVERY_DELAY,
    STREAM_SEED,
    STREAM_TICKET_TTL,
    SYNC_TOKEN_TTL,
    TOKEN_TTL,
)
from airflow_dtcal.testing.emulator.in_process import DingTalkEmulator
from airflow_dtcal.testing.emulator.server import IDLE_TIMEOUT, MAX_BODY_BYTES, REQUEST_TIMEOUT

DEFAULT_PORT = 8765


def _app(value: str) -> tuple[str, str]:
    key, sep, secret = value.partition(":")
    if not sep or not key or not secret:
        raise argparse.ArgumentTypeError("expected KEY:SECRET")
    return key, secret


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {value!r}")
    return number


def _non_negative_int(value: str) -> int:
    if not value.isascii() or not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value!r}")
    return int(value)


def _rate(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {value!r}") from None
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {value!r}")
    return number


#: The emulator's reference (the emulator imports none of the client's code, so not airflow_dtcal.DOCS_URL;
#: tests/packaging/test_readme.py checks that the two agree).
REFERENCE_URL = "https://github.com/airflow-dtcal/airflow-dtcal/blob/main/docs/emulator.md"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dtcal-emulator",
        description="Run a local emulator of the DingTalk OAuth2 token and Calendar v1.0 API.",
        epilog=f"Reference (faults, admin endpoints, seed format):\n  {REFERENCE_URL}",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the URL on a line of its own, unbroken
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to bind; 0 picks a free one (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--qps-limit",
        type=_non_negative_int,
        default=DEFAULT_QPS_LIMIT,
        help=f"calls per second per app and API before 403 throttling; 0 = off (default {DEFAULT_QPS_LIMIT})",
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay added before every API answer")
    parser.add_argument(
        "--token-ttl", type=_positive, default=TOKEN_TTL, help="access token lifetime in seconds"
    )
    parser.add_argument(
        "--app",
        action="append",
        type=_app,
        metavar="KEY:SECRET",
        help="accept only these app credentials (repeatable); default: any non-empty key and secret",
    )
    parser.add_argument(
        "--monthly-quota",
        type=_non_negative_int,
        default=None,
        metavar="CALLS",
        help="calendar calls allowed per month before 403 ApiCountLimitForOrg (default: no quota)",
    )
    parser.add_argument(
        "--sync-token-ttl",
        type=_positive,
        default=SYNC_TOKEN_TTL,
        help=f"seconds a ListEvents syncToken stays valid (default {SYNC_TOKEN_TTL:g}, 7 days)",
    )
    parser.add_argument(
        "--stream-redelivery-delay",
        type=_positive,
        default=STREAM_REDELIVERY_DELAY,
        help="seconds before an unacked Stream message is sent again on an open connection "
        f"(default {STREAM_REDELIVERY_DELAY:g})",
    )
    parser.add_argument(
        "--stream-seed",
        type=_non_negative_int,
        default=STREAM_SEED,
        help="which open Stream connection of an app gets each push: a hash of this seed and the message "
        f"(default {STREAM_SEED})",
    )
    parser.add_argument(
        "--stream-duplicate-rate",
        type=_rate,
        default=STREAM_DUPLICATE_RATE,
        help="share (0 to 1) of acked Stream pushes pushed once more, as DingTalk may "
        f"(default {STREAM_DUPLICATE_RATE:g})",
    )
    parser.add_argument(
        "--stream-ticket-ttl",
        type=_positive,
        default=STREAM_TICKET_TTL,
        help=f"seconds a Stream connection ticket may wait before it is used (default {STREAM_TICKET_TTL:g})",
    )
    parser.add_argument(
        "--seed", metavar="FILE.json", help=f"events and users to preload (format: {REFERENCE_URL})"
    )
    parser.add_argument(
        "--max-body-bytes",
        type=_non_negative_int,
        default=MAX_BODY_BYTES,
        help=f"largest request body accepted; larger ones get 413 (default {MAX_BODY_BYTES})",
    )
    parser.add_argument(
        "--request-timeout",
        type=_positive,
        default=REQUEST_TIMEOUT,
        help=f"seconds a request may take to arrive, from its first byte (default {REQUEST_TIMEOUT:g})",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_positive,
        default=IDLE_TIMEOUT,
        help=f"seconds an idle keep-alive connection stays open (default {IDLE_TIMEOUT:g})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
        monthly_quota=args.monthly_quota,
        max_body_bytes=args.max_body_bytes,
        request_timeout=args.request_timeout,
        idle_timeout=args.idle_timeout,
    )
    emulator.set_sync_token_ttl(args.sync_token_ttl)
    emulator.set_stream_redelivery_delay(args.stream_redelivery_delay)
    emulator.set_stream_ticket_ttl(args.stream_ticket_ttl)
    emulator.set_stream_delivery(args.stream_seed, args.stream_duplicate_rate)
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        if isinstance(seed, dict) and "users" in seed:
            emulator.seed_users(seed["users"])
        if seed is not None:
            emulator.seed_events(seed)
        print(f"dtcal-emulator listening on {emulator.base_url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        emulator.close()
    return 0
