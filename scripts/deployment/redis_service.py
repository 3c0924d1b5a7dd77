"""A throwaway Redis for the Celery deployment: Debian's ``redis-server`` (``make services`` installs it) on a
free loopback port, nothing kept on disk, its own directory; the Celery broker and the DingTalk pacer's store."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from services import DeploymentError, Service, free_port, wait_until


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(workdir: Path, log_dir: Path, started: list[Service]) -> int:
    """Start ``redis-server`` on 127.0.0.1 (added to ``started``); returns its port."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise DeploymentError(
            "redis-server is missing: `make services` installs it (Debian: apt-get install redis-server)"
        )
    directory = workdir / "redis"
    directory.mkdir()
    port = free_port()
    service = Service(
        "redis",
        [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(directory),
            "--loglevel", "warning",
        ],
        log_dir / "redis.log",
    )  # fmt: skip
    started.append(service.start())
    wait_until(
        "Redis to answer PING",
        lambda: _answers(port),
        timeout=30,
        interval=0.1,
        services=[service],
        logs=[service.log_path],
    )
    return port
