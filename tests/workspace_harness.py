"""A Meltano project of several workspaces, each on its own sandbox, synced into one Postgres.

The repository's meltano.yml is copied to a temporary folder with its own `workspaces/` (written by
`python -m orchestration add`), and runs there with the repository's installed plugins
(MELTANO_SYS_DIR_ROOT), its own Dagster instance (DAGSTER_HOME) and its own database: what a
deployment does, without touching the repository's files.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import re
import shutil
import subprocess
import sys
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg.rows import dict_row

from tap_replies.sandbox import Sandbox
from tests.postgres_cluster import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
MELTANO = Path(sys.executable).parent / "meltano"
PLUGINS = {
    "tap-replies": ROOT / ".meltano/extractors/tap-replies/venv/bin/tap-replies",
    "target-postgres": ROOT / ".meltano/loaders/target-postgres/venv/bin/target-postgres",
}
# Inherited from the environment of whoever runs the tests, these would reach the runs.
FOREIGN = re.compile(r"^(TAP_REPLIES|TARGET_POSTGRES|MELTANO_|DAGSTER_HOME)")


def require_plugins() -> None:
    """The loader and the tap installed in the repository's .meltano (`make` does it)."""
    missing = [name for name, path in PLUGINS.items() if not path.exists()]
    if not MELTANO.exists():
        message = f"{MELTANO} not found: run `make test` (installs meltano and its plugins)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    if missing:
        proc = subprocess.run([str(MELTANO), "install", *missing], cwd=ROOT, capture_output=True,
                              text=True, timeout=600, check=False,
                              env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"})
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def make_project(folder: Path) -> Path:
    """A copy of the repository's meltano.yml and dbt project (dbt writes target/ and logs/
    beside the project, so it gets a copy of its own)."""
    manifest = yaml.safe_load((ROOT / "meltano.yml").read_text())
    shutil.copytree(ROOT / "transform", folder / "transform",
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (folder / "meltano.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


@dataclass
class Workspace:
    """One test workspace: which sandbox answers for each of its providers."""

    name: str
    sandboxes: dict[str, Sandbox]  # provider → sandbox
    wrong_keys: set[str] = field(default_factory=set)  # providers given a wrong key

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for provider, sandbox in self.sandboxes.items():
            block = sandbox.tap_config()[provider]
            prefix = f"TAP_REPLIES__{self.name.upper()}_{provider.upper()}_"
            env[prefix + "API_URL"] = block["api_url"]
            env[prefix + "API_KEY"] = ("wrong-" + block["api_key"] if provider in self.wrong_keys
                                       else block["api_key"])
            env[prefix + "REQUESTS_PER_MINUTE"] = "100000"
        return env

    def truth(self) -> dict[str, list[dict[str, t.Any]]]:
        return {stream: rows for provider, sandbox in self.sandboxes.items()
                for stream, rows in sandbox.ground_truth().items()
                if stream.startswith(provider + "_")}

    def primary_keys(self) -> dict[str, tuple[str, ...]]:
        keys: dict[str, tuple[str, ...]] = {}
        for sandbox in self.sandboxes.values():
            keys.update(sandbox.primary_keys())
        return keys


def base_env(project: Path, server: PostgresServer) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not FOREIGN.match(k)},
        **server.env(),
        "MELTANO_PROJECT_ROOT": str(project),
        "MELTANO_SYS_DIR_ROOT": str(ROOT / ".meltano"),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DAGSTER_HOME": str(project / ".dagster"),
        "STAND_IN_DBT_LOG": str(project / "stand_in_dbt.log"),
    }


@dataclass
class SyncAll:
    returncode: int
    output: str
    log: str


def sync_all(project: Path, env: dict[str, str]) -> SyncAll:
    proc = subprocess.run([sys.executable, "-m", "orchestration", "sync-all"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    output = proc.stdout + proc.stderr
    match = re.search(r"log: (\S+)", output)
    log = Path(match.group(1)).read_text(errors="replace") if match else ""
    return SyncAll(proc.returncode, output, log)


# -- reading the warehouse back ------------------------------------------------------------------


def query(server: PostgresServer, sql: str, params: t.Sequence[t.Any] = ()
          ) -> list[dict[str, t.Any]]:
    with psycopg.connect(server.dsn(), row_factory=dict_row) as conn:
        return list(conn.execute(sql, params).fetchall())


def normalise(value: t.Any) -> t.Any:
    """A Postgres value and a sandbox value in one form (timestamps as naive UTC seconds)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="seconds")
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, str) and re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?", value):
        return normalise(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def differences(server: PostgresServer, schema: str, stream: str,
                truth: list[dict[str, t.Any]], primary_key: t.Sequence[str],
                ignore: t.Collection[str] = ()) -> list[str]:
    """How `schema.stream` differs from the sandbox's records, matched by primary key."""
    rows = {tuple(str(r[k]) for k in primary_key): r
            for r in query(server, f'SELECT * FROM "{schema}"."{stream}"')}
    expected = {tuple(str(r[k]) for k in primary_key): r for r in truth}
    where = f"{schema}.{stream}"
    problems = [f"{where}: missing {key}" for key in sorted(expected.keys() - rows.keys())]
    problems += [f"{where}: unexpected {key}" for key in sorted(rows.keys() - expected.keys())]
    for key in sorted(expected.keys() & rows.keys()):
        for name, value in expected[key].items():
            got = rows[key].get(name)
            if name not in ignore and normalise(got) != normalise(value):
                problems.append(f"{where} {key}: {name} is {got!r}, sandbox has {value!r}")
    return problems


def states(server: PostgresServer) -> dict[str, dict[str, t.Any]]:
    """Meltano's state per state id, from its system database (schema meltano)."""
    rows = query(server, "SELECT state_id, completed_state FROM meltano.state")
    return {row["state_id"]: _json(row["completed_state"]) for row in rows}


def _json(value: t.Any) -> dict[str, t.Any]:
    return json.loads(value) if isinstance(value, str) else dict(value or {})
