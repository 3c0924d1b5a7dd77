"""A throwaway ``redis-server`` on a loopback port, for tests and benchmarks of ``pacing="redis"``.

Debian's ``redis-server`` package provides the binary (``make test`` installs it when missing). The server
keeps nothing on disk (no RDB, no AOF), listens on 127.0.0.1 only, and can be stopped and started again on
the same port, which is how a Redis outage in the middle of a run is made::

    with RedisServer() as server:
        os.environ["AIRFLOW_CONN_REDIS_DEFAULT"] = server.url
        ...
        server.stop()   # Redis is down: pacing falls back to the machine's host files
        server.start()  # and comes back, empty
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """One ``redis-server`` process of our own; :meth:`stop` and :meth:`start` keep the port."""

    def __init__(self, port: int | None = None, start_timeout: float = 10.0) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
        self.binary = binary
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self._dir = tempfile.mkdtemp(prefix="dtcal-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def connection_json(self) -> str:
        """The Redis provider's connection, for an ``AIRFLOW_CONN_<ID>`` environment variable."""
        return f'{{"conn_type": "redis", "host": "127.0.0.1", "port": {self.port}, "extra": {{"db": 0}}}}'

    def start(self) -> RedisServer:
        if self.process is not None and self.process.poll() is None:
            return self
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self._dir,
                "--logfile", "",
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"redis-server exited: {error[-2000:]}")
            if self.ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {self.start_timeout}s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()
