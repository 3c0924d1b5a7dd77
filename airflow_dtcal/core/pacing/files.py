"""Small state files on a machine shared with other users: a private directory, no symlink followed, bounded
reads, and a lock that is given up after a timeout.

* The directory (``AIRFLOW_DTCAL_PACER_DIR``, else ``<temp dir>/airflow-dtcal-pacer-<uid>``) is created
  with mode 0700 and used only if it is a real directory (not a symlink), owned by this user, and open to
  nobody else; anything else raises :class:`UnsafeStateError` and the caller paces without it.
* Files are opened relative to that directory with ``O_NOFOLLOW | O_NONBLOCK`` and used only if they are
  regular files owned by this user (a symlink, FIFO or someone else's file planted at the name is refused).
* A file is read up to a size cap; what is over the cap, or does not parse, counts as empty.
* ``flock`` is tried without blocking and retried with short sleeps until ``timeout``: a process stopped
  while holding the lock delays the others by at most that, and on the async path the wait is
  ``asyncio.sleep``, so the event loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

#: Where the machine-wide pacing files live: this variable, else ``<temp dir>/airflow-dtcal-pacer-<uid>``.
DIRECTORY_ENV = "AIRFLOW_DTCAL_PACER_DIR"
#: Seconds to try for a file lock before giving up (it is normally held for microseconds).
LOCK_TIMEOUT = 1.0
#: The longest state file read; a longer one is treated as empty (and rewritten).
MAX_STATE_BYTES = 512 * 1024
_POLL_FIRST, _POLL_MAX = 0.0005, 0.01


class UnsafeStateError(OSError):
    """The state directory or file cannot be trusted (or used); the caller paces without it."""


class LockTimeout(OSError):
    """Another process held a state file's lock for longer than the timeout."""


def _uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None


def directory() -> str:
    uid = _uid()
    default = os.path.join(tempfile.gettempdir(), f"airflow-dtcal-pacer-{uid if uid is not None else 'user'}")
    return os.environ.get(DIRECTORY_ENV) or default


def _open_directory(path: str) -> int:
    """An fd of the private state directory, created if missing; :class:`UnsafeStateError` if not private."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as err:
        raise UnsafeStateError(f"cannot create {path}: {err}") from err
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:  # ELOOP: the path is a symlink
        raise UnsafeStateError(f"{path} is not a directory of this user's own ({err.strerror})") from err
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif _uid() is not None and info.st_uid != _uid():
        problem = f"is owned by uid {info.st_uid}, not this user ({_uid()})"
    elif info.st_mode & 0o077:
        problem = f"is open to other users (mode {stat.S_IMODE(info.st_mode):o}; it must be 700)"
    if problem:
        os.close(fd)
        raise UnsafeStateError(f"pacing directory {path} {problem}")
    return fd


def _open_file(dir_fd: int, name: str) -> int:
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
    except OSError as err:  # ELOOP: a symlink was planted at the name
        raise UnsafeStateError(f"cannot open pacing file {name}: {err.strerror}") from err
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or (_uid() is not None and info.st_uid != _uid()):
        os.close(fd)
        raise UnsafeStateError(f"pacing file {name} is not a regular file of this user's own")
    return fd


def _try_lock(fd: int) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _unlock(fd: int) -> None:
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def _open(name: str) -> int:
    dir_fd = _open_directory(directory())
    try:
        return _open_file(dir_fd, name)
    finally:
        os.close(dir_fd)


@contextmanager
def locked(name: str, timeout: float = LOCK_TIMEOUT) -> Iterator[int]:
    """The fd of state file ``name``, locked; :class:`LockTimeout` after ``timeout`` seconds of waiting."""
    fd = _open(name)
    try:
        deadline, pause = time.monotonic() + timeout, _POLL_FIRST
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise LockTimeout(f"pacing file {name} stayed locked for {timeout:g}s")
            time.sleep(pause)
            pause = min(pause * 2, _POLL_MAX)
        try:
            yield fd
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


@asynccontextmanager
async def alocked(name: str, timeout: float = LOCK_TIMEOUT) -> AsyncIterator[int]:
    """:func:`locked` for an event loop: waits with ``asyncio.sleep``, never blocking the loop."""
    fd = _open(name)
    try:
        deadline, pause = time.monotonic() + timeout, _POLL_FIRST
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise LockTimeout(f"pacing file {name} stayed locked for {timeout:g}s")
            await asyncio.sleep(pause)
            pause = min(pause * 2, _POLL_MAX)
        try:
            yield fd
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def read(fd: int) -> bytes:
    """The file's bytes, or ``b""`` when it is longer than :data:`MAX_STATE_BYTES`."""
    data = os.pread(fd, MAX_STATE_BYTES + 1, 0)
    return b"" if len(data) > MAX_STATE_BYTES else data


def write(fd: int, data: bytes) -> None:
    """Replace the file's content (before the lock is released, so the next reader sees all of it)."""
    os.ftruncate(fd, 0)
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        offset += os.pwrite(fd, view[offset:], offset)


def remove_all(prefix: str) -> None:
    """Delete this user's state files whose names start with ``prefix`` (tests, credential rotation); never
    follows a symlink, never touches a directory that is not private."""
    if not os.path.isdir(directory()):
        return
    try:
        dir_fd = _open_directory(directory())
    except UnsafeStateError:
        return
    try:
        for name in os.listdir(dir_fd):
            if name.startswith(prefix):
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
