"""One view, whichever command builds it: on one PostgreSQL, a multi-workspace load built with the
workspaces var (what `sync-all` runs), then `meltano run replies-postgres` (the parent account,
no var), then `meltano invoke dbt-postgres:build` by hand; after each, analytics.replies holds
every workspace loaded into the warehouse."""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from pathlib import Path

import psycopg
import pytest

from tap_replies.sandbox import Sandbox
from tests.postgres_cluster import PostgresServer
from tests.workspace_harness import ROOT, base_env, make_project, query, require_plugins

pytestmark = pytest.mark.elt

MELTANO = Path(sys.executable).parent / "meltano"
WORKSPACES = ("acme", "beta")


def leadterra_env(prefix: str, sandbox: Sandbox) -> dict[str, str]:
    block = sandbox.tap_config()["leadterra"]
    return {f"{prefix}_LEADTERRA_API_URL": block["api_url"],
            f"{prefix}_LEADTERRA_API_KEY": block["api_key"]}


def meltano(project: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([str(MELTANO), *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout + proc.stderr


def replies_per_workspace(server: PostgresServer) -> dict[str, int]:
    rows = query(server, "select workspace, count(*) as n from analytics.replies "
                         "group by workspace")
    return {row["workspace"]: row["n"] for row in rows}


@pytest.fixture(scope="module")
def one_postgres(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
                 ) -> t.Iterator[dict[str, t.Any]]:
    require_plugins()
    project = make_project(tmp_path_factory.mktemp("one-view"))
    (project / "scripts").symlink_to(ROOT / "scripts")  # the jobs' warehouse-check utility
    server = postgres.create_database("replies_one_view")
    sandboxes = {name: Sandbox(seed=seed, scale=1).start()
                 for seed, name in enumerate((*WORKSPACES, "default"), start=21)}
    try:
        env = {**base_env(project, server),
               "MELTANO_DATABASE_URI": f"sqlite:///{project / 'meltano.db'}",
               "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
               **leadterra_env("TAP_REPLIES", sandboxes["default"])}
        for name in WORKSPACES:
            subprocess.run([sys.executable, "-m", "orchestration", "add", name], cwd=ROOT,
                           env={**env, "MELTANO_PROJECT_ROOT": str(project)}, check=True,
                           capture_output=True, text=True)
            env.update(leadterra_env(f"TAP_REPLIES__{name.upper()}", sandboxes[name]))
        truth = {name: len(s.ground_truth()["leadterra_replies"]) for name, s in sandboxes.items()}
        yield {"project": project, "server": server, "env": env, "truth": truth}
    finally:
        for sandbox in sandboxes.values():
            sandbox.stop()


def test_every_workspace_stays_in_the_marts_whichever_command_builds(one_postgres):
    project, server, env = one_postgres["project"], one_postgres["server"], one_postgres["env"]
    truth = one_postgres["truth"]
    # What sync-all does: each workspace's load, then one build with the workspaces var.
    for name in WORKSPACES:
        meltano(project, env, "run", f"tap-replies--{name}", "target-postgres")
    var = json.dumps({"tap_replies_workspaces": [
        {"name": name, "schema": f"tap_replies__{name}"} for name in WORKSPACES]})
    meltano(project, env, "invoke", "dbt-postgres:build", "--vars", var)
    assert replies_per_workspace(server) == {name: truth[name] for name in WORKSPACES}

    # The single-account job: the parent's own schema joins, the workspaces stay.
    meltano(project, env, "run", "replies-postgres")
    assert replies_per_workspace(server) == truth

    # dbt by hand, no var at all.
    meltano(project, env, "invoke", "dbt-postgres:build")
    assert replies_per_workspace(server) == truth


def test_freshness_names_the_stale_workspace_and_table(one_postgres):
    """Run after the builds above: beta's table last loaded two hours ago, acme's just now."""
    project, server, env = one_postgres["project"], one_postgres["server"], one_postgres["env"]
    meltano(project, env, "run", "tap-replies--acme", "target-postgres")
    with psycopg.connect(server.dsn()) as connection:
        connection.execute("update tap_replies__beta.leadterra_replies "
                           "set _sdc_batched_at = now() - interval '2 hours'")
    proc = subprocess.run(
        [str(MELTANO), "invoke", "dbt-postgres:build", "--vars",
         json.dumps({"tap_replies_max_load_age_hours": 1})],
        cwd=project, env=env, capture_output=True, text=True, timeout=900, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "loaded_within: workspace beta, table leadterra_replies" in output
    assert "loaded_within: workspace acme" not in output

    # dbt's own `source freshness`, once per workspace (scripts/source_freshness.py).
    proc = subprocess.run(
        [str(MELTANO), "invoke", "dbt-postgres:freshness", "--vars",
         json.dumps({"tap_replies_max_load_age_hours": 1})],
        cwd=project, env=env, capture_output=True, text=True, timeout=900, check=False)
    stale = [line for line in (proc.stdout + proc.stderr).splitlines()
             if line.startswith("source freshness: workspace") and "last loaded" in line]
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-4000:]
    assert [line.split(" last loaded")[0] for line in stale] == [
        "source freshness: workspace beta, table leadterra_replies"]
