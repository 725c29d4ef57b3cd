"""One dbt project, three warehouses: the Postgres and Snowflake marts equal the DuckDB marts.

- PostgreSQL: `meltano run replies-postgres` (tap → target-postgres → dbt-postgres build) into a
  throwaway server the suite starts itself (tests/postgres_cluster.py), configured only by the
  TARGET_POSTGRES_* variables, against the sandbox the DuckDB scenario left behind.
- Snowflake: no account and no emulator for target-snowflake's stage / PUT / COPY INTO load, so
  tests/snowflake_harness.py lays the same sandbox records out as target-snowflake would (VARIANT,
  TIMESTAMP_NTZ, upper-case names) in fakesnow and runs dbt-snowflake's `dbt build` in-process.
  It runs in the dbt-snowflake utility's venv: fakesnow needs duckdb 2, the project pins 1.0.0.

Both are compared row for row, by key, with the DuckDB marts of tests/elt_scenario.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import typing as t
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tap_replies.tap import TapReplies
from tests.elt_scenario import MELTANO, ROOT, UTILITIES, Run, Scenario, meltano_job
from tests.expected_marts import MARTS, differences
from tests.postgres_cluster import PostgresServer

pytestmark = pytest.mark.elt

SNOWFLAKE_PYTHON = UTILITIES / "dbt-snowflake/venv/bin/python"
HARNESS = ROOT / "tests/snowflake_harness.py"
MIN_DBT_TESTS = 40


@dataclass
class WarehouseRun:
    marts: dict[str, list[dict[str, t.Any]]]
    dbt_tests_passed: int
    raw_counts: dict[str, int]
    run: Run | None = None
    env: dict[str, str] | None = None  # the TARGET_* variables that point at the warehouse


def read_postgres(server: PostgresServer, sql: str) -> list[dict[str, t.Any]]:
    with psycopg.connect(server.dsn()) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        names = [d.name for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def postgres_job(
    duckdb_elt: Scenario, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> WarehouseRun:
    server = postgres.create_database("replies_job")
    tmp = tmp_path_factory.mktemp("postgres")
    run = meltano_job("replies-postgres", duckdb_elt.sandbox, tmp / "meltano.db", server.env())
    assert run.returncode == 0, run.log[-4000:]
    marts = {mart: read_postgres(server, f"select * from analytics.{mart}") for mart in MARTS}
    raw_counts = {stream: read_postgres(server, f'select count(*) as n from tap_replies."{stream}"'
                                        )[0]["n"] for stream in duckdb_elt.truth_after_second}
    return WarehouseRun(marts, run.dbt_passed, raw_counts, run, server.env())


@pytest.fixture(scope="module")
def snowflake_build(duckdb_elt: Scenario, tmp_path_factory: pytest.TempPathFactory
                    ) -> WarehouseRun:
    probe = subprocess.run([str(SNOWFLAKE_PYTHON), "-c", "import fakesnow"],
                           capture_output=True, check=False) if SNOWFLAKE_PYTHON.exists() else None
    if probe is None or probe.returncode != 0:
        message = "fakesnow is not in the dbt-snowflake utility's venv: run `make plugins`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    tmp = tmp_path_factory.mktemp("snowflake")
    tap = TapReplies(config=duckdb_elt.sandbox.tap_config(), parse_env_config=False)
    raw = {stream: {"schema": tap.streams[stream].schema, "records": records}
           for stream, records in duckdb_elt.truth_after_second.items()}
    (tmp / "raw.json").write_text(json.dumps(raw), encoding="utf-8")
    proc = subprocess.run(
        [str(SNOWFLAKE_PYTHON), str(HARNESS), str(tmp / "raw.json"), str(tmp / "out.json")],
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads((tmp / "out.json").read_text(encoding="utf-8"))
    passed = sum(status == "pass" for status in result["tests"].values())
    assert passed == len(result["tests"]), result["tests"]
    return WarehouseRun(result["marts"], passed,
                        {stream: len(records) for stream, records in raw.items()})


def test_replies_postgres_loads_and_builds_in_one_job_configured_by_target_postgres_vars(
    postgres_job: WarehouseRun, duckdb_elt: Scenario
):
    assert postgres_job.run is not None
    assert "target-postgres" in postgres_job.run.log
    assert "dbt-postgres" in postgres_job.run.log
    assert postgres_job.dbt_tests_passed >= MIN_DBT_TESTS
    assert postgres_job.run.dbt_failed == 0
    assert postgres_job.raw_counts == {
        stream: len(truth) for stream, truth in duckdb_elt.truth_after_second.items()}


def test_postgres_marts_equal_the_duckdb_marts_row_for_row(
    postgres_job: WarehouseRun, duckdb_elt: Scenario
):
    problems = [problem for mart in MARTS for problem in
                differences(mart, postgres_job.marts[mart], duckdb_elt.marts_after_second[mart])]
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:20])


def test_dbt_snowflake_builds_and_tests_every_model_on_target_snowflake_tables(
    snowflake_build: WarehouseRun
):
    assert snowflake_build.dbt_tests_passed >= MIN_DBT_TESTS
    assert all(snowflake_build.marts[mart] for mart in MARTS)


def test_snowflake_marts_equal_the_duckdb_marts_row_for_row(
    snowflake_build: WarehouseRun, duckdb_elt: Scenario
):
    problems = [problem for mart in MARTS for problem in
                differences(mart, snowflake_build.marts[mart], duckdb_elt.marts_after_second[mart])]
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:20])


@pytest.mark.parametrize(("loader", "utility", "variables"), [
    ("target-snowflake", "dbt-snowflake", {
        "account": "xy12345.eu-west-1", "user": "LOADER", "password": "not-a-real-one",
        "private_key_path": "/keys/loader.p8", "database": "RAW", "warehouse": "LOADING",
        "role": "LOADER_ROLE"}),
    ("target-postgres", "dbt-postgres", {
        "host": "db.example.com", "port": 6543, "user": "loader", "password": "not-a-real-one",
        "database": "analytics"}),
])
def test_one_set_of_target_variables_configures_the_loader_and_dbt_alike(
    meltano_project: Path, loader: str, utility: str, variables: dict[str, t.Any]
):
    prefix = loader.upper().replace("-", "_")
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
           **{f"{prefix}_{name.upper()}": str(value) for name, value in variables.items()}}

    def config(plugin: str) -> dict[str, t.Any]:
        proc = subprocess.run([str(MELTANO), "config", "--unsafe", "print", plugin],
                              cwd=meltano_project, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return t.cast("dict[str, t.Any]", json.loads(proc.stdout[proc.stdout.index("{"):]))

    loader_config, dbt_config = config(loader), config(utility)
    for name, value in variables.items():
        assert loader_config[name] == value == dbt_config[name], name


README_DBT_POSTGRES = (":test", ":freshness", ":docs-generate", " build --vars")


def test_the_readmes_dbt_postgres_commands_run_on_the_loaded_warehouse(
    postgres_job: WarehouseRun, tmp_path: Path
):
    from tests.test_readme import readme_commands

    shown = [c for c in readme_commands() if c.startswith(".venv/bin/meltano invoke dbt-postgres")
             and any(part in c for part in README_DBT_POSTGRES)]
    assert len(shown) == len(README_DBT_POSTGRES)
    assert postgres_job.env is not None
    env = {**os.environ, **postgres_job.env, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
           "DBT_POSTGRES_TARGET_PATH": str(tmp_path / "target"),
           "DBT_POSTGRES_LOG_PATH": str(tmp_path / "logs")}
    for command in shown:
        proc = subprocess.run(["bash", "-euc", command], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert proc.returncode == 0, (command, (proc.stdout + proc.stderr)[-3000:])
    assert (tmp_path / "target" / "catalog.json").exists()  # docs-generate wrote the catalog
