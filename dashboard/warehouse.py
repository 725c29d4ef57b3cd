"""Reading the marts (schema `analytics`) from whichever warehouse the TARGET_* variables name.

Each reader opens a connection per read, reads every mart it is asked for, and closes it. None
writes. DuckDB allows one writer and a reader's lock would make a starting `meltano run` fail, so
the DuckDB file is never opened at all: it is copied (no lock taken) and the copy is read.
PostgreSQL sessions are read-only; Snowflake is sent SELECTs only (give it a read-only role).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import typing as t
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MODEL_SCHEMA = "analytics"
Rows = list[dict[str, t.Any]]
# Marts read, by name; a mart the warehouse lacks comes back as None.
MartRows = dict[str, Rows | None]
HINT = "run `make demo` or a job first"


class WarehouseError(Exception):
    """A warehouse the dashboard cannot read: one line naming it and the fix."""


class Warehouse(t.Protocol):
    """Where the marts are. `version()` changes when the data may have (None: ask every time)."""

    @property
    def description(self) -> str: ...

    def version(self) -> Hashable | None: ...

    def read_marts(self, marts: Sequence[str]) -> MartRows: ...


def _rows(cursor: t.Any) -> Rows:
    names = [str(d[0]).lower() for d in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@dataclass(frozen=True)
class DuckDBWarehouse:
    """The DuckDB file target-duckdb loads, read from a copy so that no lock is ever taken.

    A copy during which the file changed (a load checkpointing) is thrown away and taken again.
    The main file holds what the last writer checkpointed (dbt closes, so checkpoints, after every
    build); what is only in the write-ahead log is still being written and is not read.
    """

    path: Path
    attempts: int = 5

    @property
    def description(self) -> str:
        return f"DuckDB {self.path}"

    def version(self) -> Hashable | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def read_marts(self, marts: Sequence[str]) -> MartRows:
        if not self.path.is_file():
            raise WarehouseError(
                f"dashboard: no DuckDB file at {self.path} (TARGET_DUCKDB_FILEPATH) — {HINT}")
        with tempfile.TemporaryDirectory(prefix="tap-replies-dashboard-") as tmp:
            copy = self._consistent_copy(Path(tmp) / "replies.duckdb")
            return self._read_copy(copy, marts)

    def _consistent_copy(self, copy: Path) -> Path:
        for _ in range(self.attempts):
            before = self.version()
            shutil.copyfile(self.path, copy)
            if self.version() == before:
                return copy
        raise WarehouseError(f"dashboard: {self.path} kept changing while it was copied "
                             f"({self.attempts} tries) — a load is writing; reload the page")

    def _read_copy(self, copy: Path, marts: Sequence[str]) -> MartRows:
        import duckdb

        try:
            con = duckdb.connect(str(copy), read_only=True)
        except duckdb.Error as error:
            raise WarehouseError(
                f"dashboard: {self.path} is not a DuckDB file this duckdb can read "
                f"({str(error).splitlines()[0]}) — point TARGET_DUCKDB_FILEPATH at the file "
                "target-duckdb loads") from None
        try:
            present = {r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                [MODEL_SCHEMA]).fetchall()}
            return {mart: _rows(con.execute(f'SELECT * FROM "{MODEL_SCHEMA}"."{mart}"'))
                    if mart in present else None for mart in marts}
        finally:
            con.close()


@dataclass(frozen=True)
class PostgresWarehouse:
    """The database target-postgres loads, in a read-only session (TARGET_POSTGRES_*)."""

    host: str
    port: int
    user: str
    password: str
    database: str
    connect_timeout: int = 10

    @property
    def description(self) -> str:
        return f"PostgreSQL {self.user}@{self.host}:{self.port}/{self.database}"

    def version(self) -> Hashable | None:
        return None

    def connect(self) -> t.Any:
        """A read-only session: every transaction in it refuses to write."""
        import psycopg

        try:
            connection = psycopg.connect(
                host=self.host, port=self.port, user=self.user, password=self.password,
                dbname=self.database, connect_timeout=self.connect_timeout,
                options="-c default_transaction_read_only=on",
                application_name="tap-replies-dashboard")
        except psycopg.Error as error:
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error)
            raise WarehouseError(
                f"dashboard: cannot reach {self.description} ({reason}) — check "
                "TARGET_POSTGRES_HOST, _PORT, _USER, _PASSWORD and _DATABASE") from None
        connection.read_only = True
        return connection

    def read_marts(self, marts: Sequence[str]) -> MartRows:
        connection = self.connect()
        with connection, connection.cursor() as cursor:
            cursor.execute("SELECT table_name FROM information_schema.tables "
                           "WHERE table_schema = %s", [MODEL_SCHEMA])
            present = {r[0] for r in cursor.fetchall()}
            out: MartRows = {}
            for mart in marts:
                if mart in present:
                    cursor.execute(f'SELECT * FROM "{MODEL_SCHEMA}"."{mart}"')
                    out[mart] = _rows(cursor)
                else:
                    out[mart] = None
            return out


@dataclass(frozen=True)
class SnowflakeWarehouse:
    """The database target-snowflake loads (TARGET_SNOWFLAKE_*), its ANALYTICS schema."""

    settings: Mapping[str, str]

    @property
    def description(self) -> str:
        return (f"Snowflake {self.settings.get('user')}@{self.settings.get('account')}/"
                f"{self.settings.get('database')}")

    def version(self) -> Hashable | None:
        return None

    def _connection_settings(self) -> dict[str, t.Any]:
        """The settings as the connector takes them: a PEM key as text (as target-snowflake
        takes TARGET_SNOWFLAKE_PRIVATE_KEY) becomes a key object."""
        settings: dict[str, t.Any] = dict(self.settings)
        pem = settings.pop("private_key", None)
        if pem:
            from cryptography.hazmat.primitives import serialization

            passphrase = settings.pop("private_key_file_pwd", None)
            try:
                settings["private_key"] = serialization.load_pem_private_key(
                    pem.encode(), passphrase.encode() if passphrase else None)
            except (ValueError, TypeError):
                raise WarehouseError(
                    "dashboard: TARGET_SNOWFLAKE_PRIVATE_KEY is not a PEM private key that its "
                    "passphrase (TARGET_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE) opens") from None
        return settings

    def read_marts(self, marts: Sequence[str]) -> MartRows:
        try:
            import snowflake.connector
        except ImportError:
            raise WarehouseError(
                "dashboard: reading Snowflake needs snowflake-connector-python — run "
                "`make dashboard` with TARGET_SNOWFLAKE_ACCOUNT set (it installs it)") from None
        try:
            connection = snowflake.connector.connect(
                **self._connection_settings(), schema=MODEL_SCHEMA.upper(), login_timeout=20,
                session_parameters={"QUERY_TAG": "tap-replies-dashboard"})
        except snowflake.connector.Error as error:
            raise WarehouseError(
                f"dashboard: cannot reach {self.description} ({str(error).splitlines()[0]}) "
                "— check the TARGET_SNOWFLAKE_* variables") from None
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT table_name FROM information_schema.tables "
                           "WHERE table_schema = %s", (MODEL_SCHEMA.upper(),))
            present = {str(r[0]).lower() for r in cursor.fetchall()}
            out: MartRows = {}
            for mart in marts:
                out[mart] = (_rows(cursor.execute(f"SELECT * FROM {MODEL_SCHEMA}.{mart}"))
                             if mart in present else None)
            return out
        finally:
            connection.close()


SNOWFLAKE_VARIABLES = {
    "account": "ACCOUNT", "user": "USER", "password": "PASSWORD", "private_key": "PRIVATE_KEY",
    "private_key_file":
    "PRIVATE_KEY_PATH", "private_key_file_pwd": "PRIVATE_KEY_PASSPHRASE", "role": "ROLE",
    "warehouse": "WAREHOUSE", "database": "DATABASE",
}
WAREHOUSES = ("auto", "duckdb", "postgres", "snowflake")


def warehouse_from_env(env: Mapping[str, str], root: Path, choice: str = "auto") -> Warehouse:
    """The warehouse the same variables as the Meltano jobs name: Snowflake when
    TARGET_SNOWFLAKE_ACCOUNT is set, else PostgreSQL when TARGET_POSTGRES_HOST is, else DuckDB
    (TARGET_DUCKDB_FILEPATH, default output/replies.duckdb)."""
    if choice == "auto":
        choice = ("snowflake" if env.get("TARGET_SNOWFLAKE_ACCOUNT")
                  else "postgres" if env.get("TARGET_POSTGRES_HOST") else "duckdb")
    if choice == "snowflake":
        settings = {key: env[f"TARGET_SNOWFLAKE_{name}"] for key, name in
                    SNOWFLAKE_VARIABLES.items() if env.get(f"TARGET_SNOWFLAKE_{name}")}
        _require(env, "TARGET_SNOWFLAKE", ("ACCOUNT", "USER", "DATABASE"))
        return SnowflakeWarehouse(settings)
    if choice == "postgres":
        _require(env, "TARGET_POSTGRES", ("HOST", "USER", "DATABASE"))
        port = env.get("TARGET_POSTGRES_PORT") or "5432"
        if not port.isdigit():
            raise WarehouseError(f"dashboard: TARGET_POSTGRES_PORT is {port!r}, not a port number")
        return PostgresWarehouse(env["TARGET_POSTGRES_HOST"], int(port),
                                 env["TARGET_POSTGRES_USER"],
                                 env.get("TARGET_POSTGRES_PASSWORD", ""),
                                 env["TARGET_POSTGRES_DATABASE"])
    path = Path(env.get("TARGET_DUCKDB_FILEPATH") or root / "output" / "replies.duckdb")
    return DuckDBWarehouse(path if path.is_absolute() else Path(os.getcwd()) / path)


def _require(env: Mapping[str, str], prefix: str, names: Sequence[str]) -> None:
    missing = [f"{prefix}_{name}" for name in names if not env.get(f"{prefix}_{name}")]
    if missing:
        raise WarehouseError(f"dashboard: {', '.join(missing)} not set — set them as for "
                             "`meltano run` (exported or in .env)")
