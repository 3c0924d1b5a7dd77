"""Long-running processes of the deployment: each in its own process group, its output in a log file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


class DeploymentError(Exception):
    """A step of the deployment failed; the message says which and shows the relevant log tails."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} is missing)"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} is empty)"


class Service:
    """One process (and its children) started in a new session, so the whole group can be stopped at once."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        stop_signal: int = signal.SIGTERM,
        user: str | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.stop_signal = stop_signal
        self.user = user
        self.cwd = cwd
        self.process: subprocess.Popen | None = None

    def start(self) -> Service:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # its own process group: signals reach the children too
                user=self.user,
                cwd=self.cwd,
            )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        if self.process is not None and not self.running:
            raise DeploymentError(
                f"{self.name} exited with code {self.process.returncode}. Its log ({self.log_path}):\n"
                + tail(self.log_path)
            )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, grace: float = 20.0) -> None:
        """Signal the process group, wait up to ``grace`` seconds, then kill what is left of the group."""
        if self.process is None:
            return
        pgid = self.process.pid  # start_new_session: the group id is the leader's pid
        if self.running:
            _signal_group(pgid, self.stop_signal)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                print(f"  {self.name} did not stop within {grace:.0f}s; killing its process group")
        _signal_group(pgid, signal.SIGKILL)  # children that outlived the leader (task processes, workers)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            print(f"  {self.name} (pid {pgid}) is still there after SIGKILL")

    def kill(self) -> None:
        """SIGKILL the whole process group at once: no clean-up, no last words."""
        if self.process is None:
            return
        _signal_group(self.process.pid, signal.SIGKILL)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            print(f"  {self.name} (pid {self.process.pid}) is still there after SIGKILL")


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_until(
    what: str,
    check: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.5,
    services: Sequence[Service] = (),
    logs: Sequence[Path] = (),
) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` s showing the logs' tails.

    ``check`` may raise DeploymentError to fail at once; other exceptions are retried, and the last one is
    shown if time runs out, with the last lines of ``logs``. Each of ``services`` must stay alive.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        for service in services:
            service.check_alive()
        try:
            result = check()
        except DeploymentError:
            raise  # a definite failure: no point in waiting
        except Exception as err:  # perhaps passing (a service still starting): shown if time runs out
            last_error, result = err, None
        if result:
            return result
        if time.monotonic() > deadline:
            message = f"Timed out after {timeout:.0f}s waiting for {what}."
            if last_error is not None:
                message += f" Last error: {type(last_error).__name__}: {last_error}"
            for path in logs:
                message += f"\n--- last lines of {path} ---\n{tail(path)}"
            raise DeploymentError(message)
        time.sleep(interval)
