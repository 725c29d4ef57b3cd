#!/usr/bin/env python3
"""`dbt source freshness` on every workspace's raw schema: one line per stale workspace and table.

    meltano invoke dbt-duckdb:freshness [--vars '{tap_replies_max_load_age_hours: 24}']

A dbt source names one schema, so `dbt source freshness` alone reads only the default workspace's.
This lists the workspaces as the build finds them (`dbt run-operation print_workspace_sources`,
transform/macros/source_freshness.sql: the same rule as macros/workspaces.sql) with the source
tables each raw schema holds, then runs `dbt source freshness` once per workspace on those tables
(`--vars` setting `tap_replies_schema`), so a provider the workspace does not use stays quiet.
Exit 1 when a table is past `error_after` (the var tap_replies_max_load_age_hours, 48 hours) or its
check failed; a `warn_after` one (24 hours) is named and passes.

The Meltano dbt utilities run it with their venv's python (`executable: python`), so dbt is the
utility's own and dbt's project, profile and target come from their DBT_* variables.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import typing as t
from pathlib import Path

import yaml

DBT = Path(sys.executable).parent / "dbt"
PREFIX = "source freshness:"
USAGE = f"{PREFIX} expected no argument or --vars YAML (dbt's --vars), got: "


def dbt(*args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DBT), *args], text=True, check=False,
                          stdout=subprocess.PIPE if capture else None)


def workspaces(variables: dict[str, t.Any]) -> list[dict[str, t.Any]] | None:
    """The workspaces and their source tables; None (dbt's error already printed) on failure."""
    proc = dbt("--quiet", "run-operation", "print_workspace_sources", "--vars",
               json.dumps(variables), capture=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("["):
        print(proc.stdout, end="")
        return None
    notices = lines[:-1]  # what the build says too (a workspace listed but not loaded yet)
    print("\n".join(notices), end="\n" if notices else "", flush=True)
    return t.cast("list[dict[str, t.Any]]", json.loads(lines[-1]))


def stale_lines(workspace: str, sources_json: Path) -> tuple[list[str], int]:
    """One line per table not passing, and how many of them are errors."""
    lines, errors = [], 0
    for result in json.loads(sources_json.read_text())["results"]:
        table = result["unique_id"].rsplit(".", 1)[-1]
        status = result["status"]
        if status == "pass":
            continue
        if status in ("warn", "error"):
            hours = result["max_loaded_at_time_ago_in_s"] / 3600
            after = result["criteria"][f"{status}_after"]
            plural = "" if after["count"] == 1 else "s"
            line = (f"{PREFIX} workspace {workspace}, table {table} last loaded at "
                    f"{result['max_loaded_at']}, {hours:.1f} hours ago: {status} "
                    f"({status} after {after['count']} {after['period']}{plural})")
        else:
            message = (result.get("error") or status).strip().splitlines()[0]
            line = f"{PREFIX} workspace {workspace}, table {table}: {status}: {message}"
        lines.append(line)
        errors += status != "warn"
    return lines, errors


def check(workspace: dict[str, t.Any], variables: dict[str, t.Any], target: Path
          ) -> tuple[list[str], int]:
    name, tables = workspace["name"], workspace["tables"]
    print(f"{PREFIX} workspace {name}, schema {workspace['schema']}: {len(tables)} tables",
          flush=True)
    if not tables:
        return [], 0
    run_vars = {**variables, "tap_replies_schema": workspace["schema"],
                "tap_replies_database": workspace["database"]}
    proc = dbt("source", "freshness", "--vars", json.dumps(run_vars), "--target-path", str(target),
               "--select", *(f"source:tap_replies.{table}" for table in tables))
    sources_json = target / "sources.json"
    if not sources_json.exists():
        return [f"{PREFIX} workspace {name}: dbt source freshness wrote no result "
                f"(exit {proc.returncode}); its output is above"], 1
    return stale_lines(name, sources_json)


def parse_vars(argv: list[str]) -> dict[str, t.Any] | None:
    if not argv:
        return {}
    if len(argv) == 2 and argv[0] == "--vars":
        try:
            parsed = yaml.safe_load(argv[1]) or {}
        except yaml.YAMLError:
            return None
        if isinstance(parsed, dict):
            return parsed
    return None


def main(argv: list[str]) -> int:
    variables = parse_vars(argv)
    if variables is None:
        print(USAGE + " ".join(argv), file=sys.stderr)
        return 2
    found = workspaces(variables)
    if found is None:
        return 1
    stale, errors = [], 0
    with tempfile.TemporaryDirectory(prefix="source-freshness-") as folder:
        for index, workspace in enumerate(found):
            lines, failed = check(workspace, variables, Path(folder) / str(index))
            stale += lines
            errors += failed
    tables = sum(len(workspace["tables"]) for workspace in found)
    for line in stale:
        print(line)
    print(f"{PREFIX} {len(found)} workspaces, {tables} tables: {len(stale)} not fresh, "
          f"{errors} of them failing")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
