"""`meltano invoke dbt-duckdb:freshness` (scripts/source_freshness.py): dbt's `source freshness`
on every workspace's raw schema, naming the stale workspace and table, on hand-made DuckDB raw
tables laid out as target-duckdb lays them."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.elt_scenario import ROOT, UTILITIES
from tests.workspace_harness import FOREIGN, make_project

pytestmark = pytest.mark.elt

MELTANO = Path(sys.executable).parent / "meltano"
DBT_PYTHON = UTILITIES / "dbt-duckdb/venv/bin/python"
SCRIPT = ROOT / "scripts/source_freshness.py"
NOW = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def raw_tables(path: Path, hours_ago: dict[str, dict[str, int]]) -> None:
    """{schema: {table: hours since its last load}}, each table one row."""
    con = duckdb.connect(str(path))
    try:
        for schema, tables in hours_ago.items():
            con.execute(f"CREATE SCHEMA {schema}")
            for table, hours in tables.items():
                con.execute(f"CREATE TABLE {schema}.{table} "
                            "(id VARCHAR, _sdc_batched_at TIMESTAMP)")
                con.execute(f"INSERT INTO {schema}.{table} VALUES ('1', ?)",
                            [NOW - dt.timedelta(hours=hours)])
    finally:
        con.close()


def dbt_env(tmp: Path, database: Path) -> dict[str, str]:
    if not DBT_PYTHON.exists():
        message = f"{DBT_PYTHON} not found: run `make test` (it installs the dbt utilities)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return {**{k: v for k, v in os.environ.items() if not FOREIGN.match(k)},
            "TARGET_DUCKDB_FILEPATH": str(database), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}


def run_script(tmp: Path, database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The script as the utility runs it: its venv's python, dbt's settings as DBT_* variables."""
    env = {**dbt_env(tmp, database), "DBT_PROJECT_DIR": str(ROOT / "transform"),
           "DBT_PROFILES_DIR": str(ROOT / "transform/profiles"), "DBT_TARGET": "duckdb",
           "DBT_TARGET_PATH": str(tmp / "target"), "DBT_LOG_PATH": str(tmp / "logs")}
    return subprocess.run([str(DBT_PYTHON), str(SCRIPT), *args], env=env, capture_output=True,
                          text=True, timeout=600, check=False)


def our_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("source freshness:")]


def test_meltano_freshness_names_the_stale_workspace_and_table_and_fails(tmp_path):
    """Beta's Leadterra table last loaded 3 hours ago, the limit 1 hour: acme's, the default
    workspace's and beta's Tuco table are fresh; nobody's Smartlead tables exist."""
    database = tmp_path / "replies.duckdb"
    raw_tables(database, {"tap_replies": {"leadterra_replies": 0},
                          "tap_replies__acme": {"leadterra_replies": 0},
                          "tap_replies__beta": {"leadterra_replies": 3, "tuco_replies": 0}})
    project = make_project(tmp_path / "project")
    (project / "scripts").symlink_to(ROOT / "scripts")
    env = {**dbt_env(tmp_path, database), "MELTANO_PROJECT_ROOT": str(project),
           "MELTANO_SYS_DIR_ROOT": str(ROOT / ".meltano"),
           "MELTANO_DATABASE_URI": f"sqlite:///{project / 'meltano.db'}"}
    proc = subprocess.run([str(MELTANO), "invoke", "dbt-duckdb:freshness", "--vars",
                           "{tap_replies_max_load_age_hours: 1}"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-4000:]
    stale = [line for line in our_lines(output) if "last loaded" in line]
    assert len(stale) == 1, output[-4000:]
    assert stale[0].startswith("source freshness: workspace beta, table leadterra_replies ")
    assert stale[0].endswith(": error (error after 1 hour)")
    assert "3 workspaces, 4 tables: 1 not fresh, 1 of them failing" in output
    assert "smartlead" not in "\n".join(our_lines(output))


def test_a_table_past_warn_after_is_named_and_passes(tmp_path):
    """The default thresholds: warn after 24 hours, error after tap_replies_max_load_age_hours
    (48)."""
    database = tmp_path / "replies.duckdb"
    raw_tables(database, {"tap_replies__acme": {"leadterra_replies": 25},
                          "tap_replies__beta": {"leadterra_replies": 0}})
    proc = run_script(tmp_path, database)
    assert proc.returncode == 0, proc.stdout[-4000:]
    stale = [line for line in our_lines(proc.stdout) if "last loaded" in line]
    assert [line.split(" last loaded")[0] for line in stale] == [
        "source freshness: workspace acme, table leadterra_replies"]
    assert stale[0].endswith(": warn (warn after 24 hours)")


def test_a_warehouse_without_a_raw_schema_fails_in_one_line_naming_it(tmp_path):
    database = tmp_path / "replies.duckdb"
    raw_tables(database, {"elsewhere": {"leadterra_replies": 0}})
    proc = run_script(tmp_path, database)
    assert proc.returncode == 1
    assert "no raw schema in database 'replies'" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("args", [("--select", "x"), ("--vars", "{unclosed: [")])
def test_an_unknown_argument_or_bad_vars_is_one_line_and_exit_2(tmp_path, args):
    proc = run_script(tmp_path, tmp_path / "replies.duckdb", *args)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "source freshness: expected no argument or --vars YAML (dbt's --vars), got: "
        + " ".join(args)]
