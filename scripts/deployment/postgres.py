"""A throwaway PostgreSQL server: the machine's binaries (Debian's package, installed on demand), trust auth on 127.0.0.1."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from services import DeploymentError, Service, free_port, wait_until

SUPERUSER = "postgres"


def find_bindir() -> Path | None:
    """Where initdb, postgres and pg_isready live: $PG_BINDIR, Debian's newest version, or the PATH."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def install_debian_package() -> Path:
    """``apt-get install postgresql`` (root only); the binaries it installs, or a clear error."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise DeploymentError(
            "PostgreSQL's initdb/postgres were not found. Install them (Debian/Ubuntu: "
            "`sudo apt-get install postgresql`) or point PG_BINDIR at their directory."
        )
    print("  PostgreSQL not found: installing Debian's postgresql package (apt-get)...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
    ):
        result = subprocess.run(argv, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise DeploymentError(f"{' '.join(argv)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    bindir = find_bindir()
    if bindir is None:
        raise DeploymentError("apt-get installed postgresql, but initdb is still not found")
    return bindir


def server_user() -> str | None:
    """PostgreSQL refuses to run as root: use the ``postgres`` account then (``nobody`` if there is none)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise DeploymentError("running as root, and there is no 'postgres' or 'nobody' account to run PostgreSQL")


def start_postgres(workdir: Path, log_dir: Path, started: list[Service], sql: list[str]) -> tuple[str, int]:
    """initdb a new cluster under ``workdir`` (superuser ``postgres``, trusted on its Unix socket only;
    passwords over TCP), start it on a free port of 127.0.0.1 (added to ``started``) and run ``sql`` as the
    superuser (docs/deploy.md's step 2: the role and database). Returns (host, port)."""
    bindir = find_bindir() or install_debian_package()
    user = server_user()
    base = workdir / "postgres"
    data, sockets = base / "data", base / "socket"
    for path in (base, sockets):
        path.mkdir(parents=True)
        if user:
            shutil.chown(path, user)
    run_as = {"user": user} if user else {}
    initdb = subprocess.run(
        [
            str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-E", "UTF8", "--locale=C",
            "--auth-local=trust", "--auth-host=scram-sha-256",
        ],
        capture_output=True,
        text=True,
        **run_as,
    )  # fmt: skip
    if initdb.returncode != 0:
        raise DeploymentError(f"initdb failed:\n{initdb.stdout[-2000:]}{initdb.stderr[-2000:]}")
    port = free_port()
    service = Service(
        "postgres",
        [
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={sockets}",
            "-c",
            "fsync=off",  # a throwaway database: durability is not needed, speed is
        ],
        log_dir / "postgres.log",
        stop_signal=signal.SIGINT,  # "fast" shutdown: do not wait for clients to disconnect
        user=user,
    )
    started.append(service.start())

    def ready() -> bool:
        probe = [str(bindir / "pg_isready"), "-q", "-h", str(sockets), "-p", str(port), "-U", SUPERUSER]
        return subprocess.run(probe).returncode == 0

    wait_until(
        "PostgreSQL to accept connections", ready, timeout=60, services=[service], logs=[service.log_path]
    )
    for statement in sql:
        psql = [str(bindir / "psql"), "-h", str(sockets), "-p", str(port), "-U", SUPERUSER, "-d", "postgres"]
        result = subprocess.run(
            [*psql, "-v", "ON_ERROR_STOP=1", "-q", "-c", statement], capture_output=True, text=True
        )
        if result.returncode != 0:
            shown = statement.split(" PASSWORD ")[0]  # not the password
            raise DeploymentError(f"psql failed on {shown!r}...: {result.stderr.strip()}")
    return "127.0.0.1", port
