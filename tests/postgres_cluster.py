"""A throwaway PostgreSQL server for the tests that load into Postgres.

The image ships the PostgreSQL 15 binaries (`initdb`, `pg_ctl` on PATH) but no running server, and
PostgreSQL refuses to run as root: as root the cluster is created and run by the unprivileged
`postgres` user (`runuser`), otherwise by whoever runs the tests. It listens on a free loopback
port, trusts local connections (it lives for one test session in a temporary directory) and is
stopped and deleted at the end. Missing binaries fail the test under CI and skip it elsewhere.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import typing as t
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER_USER = "postgres"
SUPERUSER = "postgres"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SERVER_USER, "--", *command]


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    database: str

    def dsn(self, database: str | None = None) -> str:
        return (f"host={self.host} port={self.port} user={self.user} "
                f"password={self.password} dbname={database or self.database}")

    def env(self, prefix: str = "TARGET_POSTGRES") -> dict[str, str]:
        """The variables that point a Meltano job (loader and dbt) at this server."""
        return {
            f"{prefix}_HOST": self.host,
            f"{prefix}_PORT": str(self.port),
            f"{prefix}_USER": self.user,
            f"{prefix}_PASSWORD": self.password,
            f"{prefix}_DATABASE": self.database,
        }

    def create_database(self, name: str) -> PostgresServer:
        """A fresh, empty database on this server (each test module gets its own)."""
        subprocess.run(
            ["psql", "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", "postgres",
             "-v", "ON_ERROR_STOP=1", "-c", f'DROP DATABASE IF EXISTS "{name}"',
             "-c", f'CREATE DATABASE "{name}"'],
            check=True, capture_output=True, text=True,
            env={**os.environ, "PGPASSWORD": self.password},
        )
        return PostgresServer(self.host, self.port, self.user, self.password, name)


class PostgresCluster:
    """initdb + pg_ctl start in a temporary directory; `stop()` removes every trace."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tap-replies-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.password = "tests-only"  # trust auth on loopback; the loader still wants one

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.root, user=SERVER_USER)
        self.root.chmod(0o700)
        self._run(["initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust",
                   "-E", "UTF8", "--no-sync"])
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(["pg_ctl", "-D", str(self.data), "-o", options, "-l",
                   str(self.root / "server.log"), "-w", "-t", "60", "start"])
        self._wait_until_ready()
        return PostgresServer("127.0.0.1", self.port, SUPERUSER, self.password, "postgres")

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(_as_server_user(["pg_ctl", "-D", str(self.data), "-m", "immediate",
                                            "-w", "stop"]), capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, command: list[str]) -> None:
        proc = subprocess.run(_as_server_user(command), capture_output=True, text=True,
                              check=False, cwd=self.root)
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {proc.stdout}{proc.stderr}{tail}")

    def _wait_until_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(self.port)],
                                   capture_output=True, check=False)
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL did not accept connections on port {self.port}")


def postgres_server() -> t.Iterator[PostgresServer]:
    """Body of the session fixture in conftest.py: one server for the whole test session."""
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        message = "PostgreSQL binaries (initdb, pg_ctl) not on PATH"
        if os.environ.get("CI"):
            pytest.fail(message + ": CI must run the Postgres tests")
        pytest.skip(message)
    cluster = PostgresCluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop()
