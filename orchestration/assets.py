"""The raw load: one asset, a partition per workspace, each partition its `meltano run`.

A partition runs Meltano through Dagster Pipes (`PipesSubprocessClient` → meltano_pipes.py →
`meltano`), so a step's process only waits, and a run launcher can put each run anywhere. It
first takes its workspace's and provider keys' locks (orchestration/key_locks.py).
"""

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

from orchestration import recovery
from orchestration.key_locks import WorkspaceLocks
from orchestration.project import MeltanoProject, ProjectError, Unreachable, Workspace, env_name

LOADER = "target-postgres"
RAW_LOAD = dg.AssetKey(["tap_replies_raw"])
WORKSPACES = dg.DynamicPartitionsDefinition(name="workspaces")
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

    def workspace(self, name: str) -> Workspace:
        """The partition's workspace, if its file is still there."""
        if Workspace(name) not in self.project().workspaces():
            raise dg.Failure(description=f"workspace {name}: no workspaces/{name}.meltano.yml "
                                         "in the project (removed?)", allow_retries=False)
        return Workspace(name)

    def load(self, context: dg.AssetExecutionContext, pipes: dg.PipesSubprocessClient,
             workspace: Workspace) -> dict[str, t.Any]:
        """`meltano run <workspace's tap> <loader>`, alone on its workspace and provider keys."""
        label = f"workspace {workspace.name}"
        project = self.project()
        try:
            env = self.environment()
            prepare_system_database(env, [self.executable(), "upgrade", "database"])
            locks = WorkspaceLocks(project, workspace, env["MELTANO_DATABASE_URI"])
            with locks.held(context.log.info) as conn:
                ended = locks.end_dead_meltano_runs(
                    conn, workspace.state_id(project.environment, self.loader))
                removed = locks.remove_dead_run_files() + recovery.remove_run_files_older_than(
                    self.run_dir(), self.loader, recovery.oldest_live_run_start(context.instance))
                if ended or removed:
                    context.log.info(f"{label}: ended {ended} dead Meltano run(s), removed "
                                     f"{removed} config file(s) dead runs left")
                return self.run(context, pipes, ["run", workspace.plugin, self.loader],
                                label=label, env=env)
        except ProjectError as exc:
            raise dg.Failure(description=f"{label}: {exc}",
                             allow_retries=isinstance(exc, Unreachable)) from None
        except psycopg.Error as exc:
            raise dg.Failure(description=f"{label}: Meltano's system database (PostgreSQL) "
                                         f"failed: {' '.join(str(exc).split())[:300]}") from None

    def run_dir(self) -> Path:
        return recovery.system_dir(self.project()) / "run"

    def run(self, context: dg.AssetExecutionContext, pipes: dg.PipesSubprocessClient,
            args: list[str], *, label: str, env: dict[str, str]) -> dict[str, t.Any]:
        """`meltano <args>` through Pipes; its outcome, or a one-line `Failure` naming `label`."""
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




def raw_load_asset(retry_policy: dg.RetryPolicy) -> dg.AssetsDefinition:
    """The tap's tables, a partition per workspace, each in its own schema."""

    @dg.asset(
        key=RAW_LOAD,
        partitions_def=WORKSPACES,
        group_name="raw",
        description=(f"The tap's raw tables. Partition <name> = workspace "
                     f"workspaces/<name>.meltano.yml: `meltano run tap-replies--<name> {LOADER}` "
                     "into schema tap_replies__<name>."),
        kinds={"meltano", "postgres"},
        retry_policy=retry_policy,
        metadata={"meltano_loader": LOADER},
    )
    def load(context: dg.AssetExecutionContext, meltano: MeltanoResource,
             pipes_subprocess_client: dg.PipesSubprocessClient) -> dg.MaterializeResult:
        context.instance.add_run_tags(context.run.run_id,
                                      {recovery.WORKER_TAG: recovery.this_worker()})
        workspace = meltano.workspace(context.partition_key)
        outcome = meltano.load(context, pipes_subprocess_client, workspace)
        return dg.MaterializeResult(metadata={
            "schema": workspace.schema,
            "state_id": workspace.state_id(meltano.project().environment, meltano.loader),
            "records": sum(outcome["records"].values()),
            "records_per_stream": outcome["records"],
            "seconds": outcome["seconds"],
        })

    return load


def keep_partitions_in_step(instance: dg.DagsterInstance,
                            workspaces: t.Sequence[Workspace]) -> tuple[list[str], list[str]]:
    """The instance's workspace partitions made equal to the workspace files: (added, removed).
    A removed partition's runs and materializations stay in the instance's history."""
    names = [w.name for w in workspaces]
    assert WORKSPACES.name is not None
    known = set(instance.get_dynamic_partitions(WORKSPACES.name))
    added = [n for n in names if n not in known]
    removed = sorted(known - set(names))
    if added:
        instance.add_dynamic_partitions(WORKSPACES.name, added)
    for name in removed:
        instance.delete_dynamic_partition(WORKSPACES.name, name)
    return added, removed
