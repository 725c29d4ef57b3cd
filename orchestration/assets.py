"""The assets: one per workspace (its `meltano run`), and the dbt build downstream of them all.

Each asset runs Meltano through Dagster Pipes (`PipesSubprocessClient` → meltano_pipes.py →
`meltano`), so a step's process only waits, and a run launcher can put each step anywhere.
"""

import json
import os
import re
import subprocess
import sys
import typing as t
from pathlib import Path
from urllib.parse import quote

import dagster as dg
import psycopg
from psycopg import sql

from orchestration.project import MeltanoProject, ProjectError, Unreachable, Workspace, env_name

LOADER = "target-postgres"
DBT_UTILITY = "dbt-postgres"
MARTS = ("replies", "campaign_reply_rates", "followups_due_by_sdr")
SYSTEM_SCHEMA = "meltano"
CHILD = Path(__file__).with_name("meltano_pipes.py")
# A wrong key or a missing campaign fails at once (the child says a retry cannot help); anything
# else — a provider's outage, a dropped connection, the warehouse restarting — is retried after
# 20 s, 60 s and 140 s (Dagster's exponential backoff, (2^n - 1) x 20 s, each ±20 s of jitter),
# inside the 15 minutes before the next scheduled run.
RETRY = dg.RetryPolicy(max_retries=3, delay=20, backoff=dg.Backoff.EXPONENTIAL,
                       jitter=dg.Jitter.PLUS_MINUS)
# The first run against an empty system database creates Meltano's tables; parallel first runs
# would race to do it, so one does it under this PostgreSQL advisory lock (any fixed number).
MIGRATION_LOCK = 7_310_513_004


class MeltanoResource(dg.ConfigurableResource):
    """Runs `meltano` in the project, with Meltano's system database (state) in PostgreSQL."""

    project_root: str
    loader: str = LOADER

    def project(self) -> MeltanoProject:
        return MeltanoProject(Path(self.project_root))

    def executable(self) -> str:
        project = self.project()
        return project.variable("MELTANO_BIN") or str(Path(sys.executable).parent / "meltano")

    def environment(self) -> dict[str, str]:
        """What every Meltano process of a sync gets on top of the orchestrator's environment."""
        return {
            "MELTANO_PROJECT_ROOT": self.project_root,
            "MELTANO_DATABASE_URI": system_database_uri(self.project()),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        }

    def run(self, context: dg.AssetExecutionContext, pipes: dg.PipesSubprocessClient,
            args: list[str], *, label: str) -> dict[str, t.Any]:
        """`meltano <args>` through Pipes; its outcome, or a one-line `Failure` naming `label`."""
        try:
            env = self.environment()
            prepare_system_database(env, [self.executable(), "upgrade", "database"])
        except ProjectError as exc:
            raise dg.Failure(description=f"{label}: {exc}",
                             allow_retries=isinstance(exc, Unreachable)) from None
        command = [sys.executable, str(CHILD), "--",
                   self.executable(), "--log-format=json", *args]
        # The op context carries the same run, step and asset keys; handing Pipes the asset
        # context makes Dagster 1.13 call its own deprecated AssetExecutionContext.run_id.
        invocation = pipes.run(context=context.op_execution_context, command=command, env=env,
                               cwd=self.project_root)
        outcomes = invocation.get_custom_messages()
        if not outcomes:
            raise dg.Failure(description=f"{label}: meltano_pipes.py reported no outcome")
        outcome: dict[str, t.Any] = outcomes[-1]
        if not outcome["ok"]:
            raise dg.Failure(description=f"{label}: {outcome['failure']}",
                             allow_retries=bool(outcome["retryable"]),
                             metadata={"meltano_exit_code": outcome["returncode"]})
        return outcome


def system_database_uri(project: MeltanoProject) -> str:
    """Meltano's system database for parallel syncs: MELTANO_DATABASE_URI when it is PostgreSQL,
    else schema `meltano` in the warehouse that TARGET_POSTGRES_* name."""
    explicit = project.variable("MELTANO_DATABASE_URI")
    if explicit:
        if not explicit.startswith("postgresql"):
            raise ProjectError(
                "MELTANO_DATABASE_URI is not PostgreSQL: parallel syncs keep Meltano's state in "
                "PostgreSQL — unset it (the warehouse's schema 'meltano' is used) or point it at "
                "a PostgreSQL database (postgresql+psycopg://…)")
        return explicit
    values = {name: project.setting(LOADER, name)
              for name in ("host", "port", "user", "password", "database")}
    missing = [env_name(LOADER, name) for name in ("host", "user", "database") if not values[name]]
    if missing:
        raise ProjectError(
            f"the warehouse is not set: {', '.join(missing)} — set them (and "
            "TARGET_POSTGRES_PASSWORD, _PORT), or MELTANO_DATABASE_URI for Meltano's state")
    credentials = quote(str(values["user"]), safe="")
    if values["password"]:
        credentials += ":" + quote(str(values["password"]), safe="")
    return (f"postgresql+psycopg://{credentials}@{values['host']}:{values['port'] or 5432}/"
            f"{quote(str(values['database']), safe='')}?options=-csearch_path%3D{SYSTEM_SCHEMA}")


def prepare_system_database(env: dict[str, str], upgrade: list[str]) -> None:
    """Create Meltano's tables once, before parallel runs would each try (see MIGRATION_LOCK)."""
    conninfo = re.sub(r"^postgresql\+\w+://", "postgresql://", env["MELTANO_DATABASE_URI"])
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=30) as conn:
            if _has_meltano_tables(conn):
                return
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            if not _has_meltano_tables(conn):  # nobody made them while we waited
                _create_meltano_tables(conn, upgrade, env)
    except psycopg.Error as exc:
        first_line = " ".join(str(exc).split())[:300]
        raise Unreachable(f"Meltano's system database (PostgreSQL) is unreachable: {first_line}"
                          ) from None


def _create_meltano_tables(conn: psycopg.Connection, upgrade: list[str],
                           env: dict[str, str]) -> None:
    """`meltano upgrade database`, in the first schema of the URI's search_path."""
    search_path = conn.execute("SELECT current_setting('search_path')").fetchone()
    first = str(search_path[0] if search_path else "").split(",")[0].strip().strip('"')
    if first and first != "$user":
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(first)))
    try:
        proc = subprocess.run(upgrade, capture_output=True, text=True, check=False,
                              env={**os.environ, **env})
    except OSError as exc:
        raise ProjectError(f"cannot start {upgrade[0]}: {exc.strerror or exc} — run "
                           "`make plugins` (or set MELTANO_BIN)") from None
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ProjectError(f"`meltano upgrade database` failed: {last[0]}")


def _has_meltano_tables(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    return bool(row and row[0])


def workspace_asset(workspace: Workspace, key_group: str, environment: str,
                    retry_policy: dg.RetryPolicy) -> dg.AssetsDefinition:
    """`meltano run tap-replies--<name> target-postgres`: the workspace's tables in its schema."""

    @dg.asset(
        key=["workspaces", workspace.name],
        group_name="workspaces",
        description=(f"Workspace {workspace.name}: `meltano run {workspace.plugin} {LOADER}` "
                     f"into schema {workspace.schema}."),
        kinds={"meltano", "postgres"},
        # One pool per group of workspaces sharing a provider key: a key's rate budget is shared,
        # so two syncs never use it at once (dagster.yaml: every pool's limit is 1).
        pool=f"provider-keys:{key_group}",
        retry_policy=retry_policy,
        metadata={"schema": workspace.schema, "meltano_extractor": workspace.plugin,
                  "state_id": workspace.state_id(environment, LOADER),
                  "shares_keys_with": key_group},
    )
    def load(context: dg.AssetExecutionContext, meltano: MeltanoResource,
             pipes_subprocess_client: dg.PipesSubprocessClient) -> dg.MaterializeResult:
        outcome = meltano.run(context, pipes_subprocess_client,
                              ["run", workspace.plugin, meltano.loader],
                              label=f"workspace {workspace.name}")
        return dg.MaterializeResult(metadata={
            "records": sum(outcome["records"].values()),
            "records_per_stream": outcome["records"],
            "seconds": outcome["seconds"],
        })

    return load


# The marts follow the loads in a run of their own, so a workspace that failed holds nobody
# up: once no load is in progress and any finished since the last build, build again.
AFTER_LOADS = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("after the workspace loads")


def dbt_vars(workspaces: t.Sequence[Workspace]) -> str:
    """The dbt project's var: which workspaces to union, and the schema each one's tables are in."""
    entries = [{"name": w.name, "schema": w.schema} for w in workspaces]
    return json.dumps({"tap_replies_workspaces": entries})


def marts_asset(workspaces: t.Sequence[Workspace],
                retry_policy: dg.RetryPolicy) -> dg.AssetsDefinition:
    """`meltano invoke dbt-postgres:build` over every workspace that has loaded at least once."""
    specs = [
        dg.AssetSpec(["analytics", mart], deps=[["workspaces", w.name] for w in workspaces],
                     group_name="marts", kinds={"dbt", "postgres"},
                     automation_condition=AFTER_LOADS,
                     description=f"analytics.{mart}, every workspace (column `workspace`).")
        for mart in MARTS
    ]

    @dg.multi_asset(name="dbt_build", specs=specs, retry_policy=retry_policy)
    def build(context: dg.AssetExecutionContext, meltano: MeltanoResource,
              pipes_subprocess_client: dg.PipesSubprocessClient
              ) -> t.Iterator[dg.MaterializeResult]:
        # A workspace whose first load has not succeeded yet has no complete tables to union.
        loaded = [w for w in workspaces if context.instance.get_latest_materialization_event(
            dg.AssetKey(["workspaces", w.name])) is not None]
        if not loaded:
            raise dg.Failure(description="dbt build: no workspace has loaded yet",
                             allow_retries=False)
        meltano.run(context, pipes_subprocess_client,
                    ["invoke", f"{DBT_UTILITY}:build", "--vars", dbt_vars(loaded)],
                    label="dbt build")
        for spec in specs:
            yield dg.MaterializeResult(asset_key=spec.key,
                                       metadata={"workspaces": [w.name for w in loaded]})

    return build
