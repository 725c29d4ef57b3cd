"""Each Meltano job checks its warehouse's variables before the loader starts: one line naming
what is missing, instead of the loader's traceback (scripts/check_warehouse.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.elt_scenario import MELTANO, ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import check_warehouse

POSTGRES = {"TARGET_POSTGRES_HOST": "db.example.com", "TARGET_POSTGRES_USER": "loader",
            "TARGET_POSTGRES_PASSWORD": "secret", "TARGET_POSTGRES_DATABASE": "analytics"}


def test_a_complete_postgres_setting_passes():
    assert check_warehouse.postgres_problem(POSTGRES) is None


def test_a_missing_postgres_password_is_named_with_what_trust_setups_set():
    env = {**POSTGRES, "TARGET_POSTGRES_PASSWORD": " "}
    line = check_warehouse.postgres_problem(env)
    assert line is not None
    assert line.startswith("target-postgres: TARGET_POSTGRES_PASSWORD is not set — ")
    assert "TARGET_POSTGRES_PASSWORD=unused" in line


def test_every_missing_postgres_variable_is_named_at_once():
    line = check_warehouse.postgres_problem({"TARGET_POSTGRES_PASSWORD": "x"})
    assert line is not None
    assert line.startswith("target-postgres: TARGET_POSTGRES_HOST, TARGET_POSTGRES_USER, "
                           "TARGET_POSTGRES_DATABASE are not set")


@pytest.mark.parametrize(("env", "named"), [
    ({"TARGET_SNOWFLAKE_ACCOUNT": "xy1", "TARGET_SNOWFLAKE_USER": "L",
      "TARGET_SNOWFLAKE_DATABASE": "RAW"}, "one of TARGET_SNOWFLAKE_PASSWORD, _PRIVATE_KEY"),
    ({"TARGET_SNOWFLAKE_ACCOUNT": "xy1", "TARGET_SNOWFLAKE_PASSWORD": "p"},
     "TARGET_SNOWFLAKE_USER, TARGET_SNOWFLAKE_DATABASE are not set"),
    ({"TARGET_SNOWFLAKE_ACCOUNT": "xy1", "TARGET_SNOWFLAKE_USER": "L",
      "TARGET_SNOWFLAKE_DATABASE": "RAW", "TARGET_SNOWFLAKE_PRIVATE_KEY_PATH": "/nowhere/k.p8"},
     "TARGET_SNOWFLAKE_PRIVATE_KEY_PATH names no file (/nowhere/k.p8)"),
])
def test_a_snowflake_setting_that_cannot_connect_is_named(env, named):
    line = check_warehouse.snowflake_problem(env)
    assert line is not None
    assert named in line, line


def test_a_duckdb_file_in_a_missing_folder_is_named(tmp_path: Path):
    missing = tmp_path / "nowhere" / "replies.duckdb"
    line = check_warehouse.duckdb_problem({"TARGET_DUCKDB_FILEPATH": str(missing)})
    assert line is not None
    assert f"mkdir -p {missing.parent}" in line
    present = {"TARGET_DUCKDB_FILEPATH": str(tmp_path / "r.duckdb")}
    assert check_warehouse.duckdb_problem(present) is None


def test_meltano_run_without_the_password_stops_in_one_line_before_the_loader(
        meltano_project: Path, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TARGET_POSTGRES_")}
    env |= {**POSTGRES, "TARGET_POSTGRES_PASSWORD": "", "MELTANO_SEND_ANONYMOUS_USAGE_STATS":
            "false", "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}"}
    proc = subprocess.run([str(MELTANO), "run", "replies-postgres"], cwd=meltano_project, env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    named = [line for line in output.splitlines() if "TARGET_POSTGRES_PASSWORD is not set" in line]
    assert len(named) == 1, output
    assert "warehouse-check target-postgres: TARGET_POSTGRES_PASSWORD is not set" in named[0]
    assert "Traceback" not in output
    assert "AssertionError" not in output
    assert "tap-replies" not in output  # neither the tap nor the loader was started
