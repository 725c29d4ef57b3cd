"""Running the Meltano jobs against the sandbox, and the DuckDB scenario several test modules
inspect: `meltano run replies-duckdb` (tap → target-duckdb → dbt build) twice, new sandbox
activity in between.

The scenario is a session fixture (conftest.py): tests/test_elt.py checks the load and the marts
against the sandbox's ground truth, tests/test_warehouses.py compares the Postgres and Snowflake
marts with its DuckDB marts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from tap_replies.sandbox import Sandbox
from tap_replies.sandbox.core import LoggedRequest
from tests.expected_marts import MARTS

ROOT = Path(__file__).resolve().parent.parent
MELTANO = Path(sys.executable).parent / "meltano"
UTILITIES = ROOT / ".meltano" / "utilities"
PLUGIN_EXECUTABLES = (
    ROOT / ".meltano/extractors/tap-replies/venv/bin/tap-replies",
    ROOT / ".meltano/loaders/target-duckdb/venv/bin/target-duckdb",
    ROOT / ".meltano/loaders/target-postgres/venv/bin/target-postgres",
    UTILITIES / "dbt-duckdb/venv/bin/dbt",
    UTILITIES / "dbt-postgres/venv/bin/dbt",
    UTILITIES / "dbt-snowflake/venv/bin/dbt",
)
LOADED_SCHEMA = "tap_replies"
MODEL_SCHEMA = "analytics"
# Small batches: each stream is loaded in several COPYs, each of which could lose its first row.
BATCH_SIZE_ROWS = 40
METRIC = re.compile(r"METRIC: (\{.*\})")
LOADING = re.compile(r"Loading (\d+) rows into '.*?\"([a-z0-9_]+)\"'")
DBT_DONE = re.compile(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)")


def require_plugins() -> Path:
    """The repository's Meltano project with every plugin the tests run (`make` installs them)."""
    missing = [str(p.relative_to(ROOT)) for p in (MELTANO, *PLUGIN_EXECUTABLES) if not p.exists()]
    if missing:
        message = f"not installed: {', '.join(missing)} — run `make test` (it installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return ROOT


@dataclass
class Run:
    returncode: int
    log: str
    requests: list[LoggedRequest]
    seconds: float = 0.0
    emitted: Counter[str] = field(default_factory=Counter)  # RECORD messages, per stream
    loaded: Counter[str] = field(default_factory=Counter)  # rows target-duckdb wrote, per stream
    dbt_passed: int = 0
    dbt_failed: int = 0

    def __post_init__(self) -> None:
        for match in METRIC.finditer(self.log):
            metric = json.loads(match.group(1))
            if metric.get("metric") == "record_count":
                self.emitted[metric["tags"]["stream"]] += int(metric["value"])
        for match in LOADING.finditer(self.log):
            self.loaded[match.group(2)] += int(match.group(1))
        for match in DBT_DONE.finditer(self.log):
            self.dbt_passed += int(match.group(1))
            self.dbt_failed += int(match.group(3))


def sandbox_env(sandbox: Sandbox) -> dict[str, str]:
    """Every provider pointed at the sandbox, exactly as a real account is configured."""
    env: dict[str, str] = {}
    for provider, block in sandbox.tap_config().items():
        prefix = f"TAP_REPLIES_{provider.upper()}_"
        env[prefix + "API_URL"] = block["api_url"]
        env[prefix + "API_KEY"] = block["api_key"]
        # No client-side pacing: the sandbox sets no limit here, and the run should be quick.
        env[prefix + "REQUESTS_PER_MINUTE"] = "100000"
    return env


def meltano_job(
    job: str, sandbox: Sandbox, system_db: Path, env: dict[str, str], timeout: float = 600
) -> Run:
    """`meltano run <job>` with its own system database (state) and dbt output folders."""
    full_env = {
        **os.environ,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DATABASE_URI": f"sqlite:///{system_db}",
        # dbt's compiled SQL and logs beside the system database, not in transform/.
        **{f"DBT_{adapter}_{setting}": str(system_db.parent / f"dbt-{setting.lower()}")
           for adapter in ("DUCKDB", "POSTGRES", "SNOWFLAKE")
           for setting in ("TARGET_PATH", "LOG_PATH")},
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **sandbox_env(sandbox),
        **env,
    }
    sandbox.clear_log()
    started = dt.datetime.now()
    proc = subprocess.run([str(MELTANO), "run", job], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    seconds = (dt.datetime.now() - started).total_seconds()
    return Run(proc.returncode, proc.stdout + proc.stderr, list(sandbox.request_log), seconds)


def read_duckdb(database: Path, sql: str) -> list[dict[str, t.Any]]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def duckdb_marts(database: Path) -> dict[str, list[dict[str, t.Any]]]:
    return {mart: read_duckdb(database, f'SELECT * FROM "{MODEL_SCHEMA}"."{mart}"')
            for mart in MARTS}


@dataclass
class Scenario:
    """Everything the two runs left behind, for the tests to inspect."""

    sandbox: Sandbox
    database: Path
    system_db: Path
    first: Run
    truth_after_first: dict[str, list[dict[str, t.Any]]]
    loaded_after_first: dict[str, list[dict[str, t.Any]]]
    marts_after_first: dict[str, list[dict[str, t.Any]]]
    added: dict[str, dict[str, int]]
    second: Run
    truth_after_second: dict[str, list[dict[str, t.Any]]]
    marts_after_second: dict[str, list[dict[str, t.Any]]]


def duckdb_scenario(tmp: Path) -> t.Iterator[Scenario]:
    """Body of the session fixture `duckdb_elt`: two `meltano run replies-duckdb`, one sandbox."""
    database, system_db = tmp / "replies.duckdb", tmp / "meltano.db"
    env = {"TARGET_DUCKDB_FILEPATH": str(database),
           "TARGET_DUCKDB_BATCH_SIZE_ROWS": str(BATCH_SIZE_ROWS)}
    with Sandbox(seed=11, scale=1) as sandbox:
        first = meltano_job("replies-duckdb", sandbox, system_db, env)
        assert first.returncode == 0, first.log[-4000:]
        truth_after_first = sandbox.ground_truth()
        loaded_after_first = {
            stream: read_duckdb(database, f'SELECT * FROM "{LOADED_SCHEMA}"."{stream}"')
            for stream in truth_after_first}
        marts_after_first = duckdb_marts(database)

        added = sandbox.add_activity()
        second = meltano_job("replies-duckdb", sandbox, system_db, env)
        assert second.returncode == 0, second.log[-4000:]
        yield Scenario(sandbox, database, system_db, first, truth_after_first, loaded_after_first,
                       marts_after_first, added, second, sandbox.ground_truth(),
                       duckdb_marts(database))
