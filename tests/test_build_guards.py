"""A build that would read nothing says so: one line naming the schema (and the var), a failed
build, instead of green, empty marts (transform/macros/workspaces.sql)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from tests.elt_scenario import read_duckdb
from tests.test_transform import LEADTERRA_REPLIES, dbt_build

pytestmark = pytest.mark.elt

NOW = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def warehouse(path: Path, *schemas: str, empty: tuple[str, ...] = ()) -> Path:
    """A DuckDB file with one Leadterra reply in each of `schemas`, and `empty` schemas."""
    con = duckdb.connect(str(path))
    for schema in schemas:
        con.execute(f"CREATE SCHEMA {schema}")
        con.execute(LEADTERRA_REPLIES.format(schema=schema))
        con.execute(f"INSERT INTO {schema}.leadterra_replies VALUES ('rpl_1', 'a@b.example', "
                    "'camp_1', 'interested', ?, 'Yes', ?)", [NOW, NOW])
    for schema in empty:
        con.execute(f"CREATE SCHEMA {schema}")
    con.close()
    return path


def test_a_misspelled_raw_schema_var_fails_naming_the_var(tmp_path):
    database = warehouse(tmp_path / "w.duckdb", "tap_replies")
    proc = dbt_build(database, tmp_path, {"tap_replies_schema": "tap_replis"})
    assert proc.returncode != 0
    assert "var tap_replies_schema: schema 'tap_replis' does not exist" in proc.stdout


def test_a_workspace_not_loaded_yet_is_said_and_kept_as_never_loaded(tmp_path):
    """Not fatal: analytics.workspace_loads shows a workspace listed before its first load."""
    database = warehouse(tmp_path / "w.duckdb", "tap_replies__acme")
    proc = dbt_build(database, tmp_path, {"tap_replies_workspaces": [
        {"name": "acme", "schema": "tap_replies__acme"},
        {"name": "beta", "schema": "tap_replies__beat"}]})
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert ("var tap_replies_workspaces: workspace 'beta' reads schema 'tap_replies__beat', "
            "which does not exist") in proc.stdout


def test_a_workspaces_var_naming_only_missing_schemas_fails_naming_the_var(tmp_path):
    database = warehouse(tmp_path / "w.duckdb", "somewhere_else")
    proc = dbt_build(database, tmp_path, {"tap_replies_workspaces": [
        {"name": "beta", "schema": "tap_replies__beat"}]})
    assert proc.returncode != 0
    assert ("var tap_replies_workspaces: no schema it names exists in database 'w' "
            "(tap_replies__beat)") in proc.stdout


def test_a_named_workspace_schema_without_a_table_fails_naming_it(tmp_path):
    database = warehouse(tmp_path / "w.duckdb", "tap_replies", empty=("tap_replies__gamma",))
    proc = dbt_build(database, tmp_path, {"tap_replies_workspaces": [
        {"name": "gamma", "schema": "tap_replies__gamma"}]})
    assert proc.returncode != 0
    assert "raw schema 'tap_replies__gamma' (workspace gamma) holds no table" in proc.stdout


def test_an_empty_schema_only_found_is_left_out_and_said(tmp_path):
    """A first load that wrote nothing (a wrong key) must not fail the other workspaces' build."""
    database = warehouse(tmp_path / "w.duckdb", "tap_replies", empty=("tap_replies__gamma",))
    proc = dbt_build(database, tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:]
    said = "raw schema tap_replies__gamma holds no table yet; workspace gamma left out"
    assert said in proc.stdout


def test_a_warehouse_with_no_raw_schema_fails(tmp_path):
    database = warehouse(tmp_path / "w.duckdb", "somewhere_else")
    proc = dbt_build(database, tmp_path)
    assert proc.returncode != 0
    assert "no raw schema in database 'w'" in proc.stdout


def test_every_raw_schema_present_is_a_workspace_without_a_var(tmp_path):
    database = warehouse(tmp_path / "w.duckdb", "tap_replies", "tap_replies__acme",
                         "tap_replies__beta")
    proc = dbt_build(database, tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:]
    rows = read_duckdb(database, "SELECT workspace FROM analytics.replies ORDER BY workspace")
    assert [row["workspace"] for row in rows] == ["acme", "beta", "default"]
