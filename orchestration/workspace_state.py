"""A workspace's bookmarks, where the parallel syncs keep them (Meltano's system database in
PostgreSQL, orchestration/assets.py `system_database_uri`), and `reset`: forget them and the
workspace's raw rows, so it can be re-pointed at another account.

Read with SQL rather than `meltano state get`: one query lists every workspace's state (one
Meltano process per workspace would take seconds each), and nobody hand-builds
MELTANO_DATABASE_URI. The tables are Meltano 4.4.1's own: `state` (state_id, completed_state,
partial_state, updated_at) and `runs` (job_name = state id, state, last_heartbeat_at).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import typing as t
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from orchestration.project import (
    WAREHOUSE_LOADER,
    MeltanoProject,
    ProjectError,
    Unreachable,
    Workspace,
    env_name,
)

# Meltano heartbeats a running job every second and calls it stale after 5 minutes.
LIVE_HEARTBEAT = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class State:
    """One state id's bookmarks, as Meltano stores them."""

    state_id: str
    completed: dict[str, t.Any]
    partial: dict[str, t.Any]
    updated_at: dt.datetime | None

    def bookmarks(self) -> dict[str, t.Any]:
        singer = self.completed.get("singer_state") or {}
        return dict(singer.get("bookmarks") or {})


def state_ids_of(plugin: str, state_ids: t.Iterable[str], loader: str | None = None) -> list[str]:
    """The ids `<environment>:<plugin>-to-<loader>` among `state_ids`, any environment."""
    pattern = re.compile(rf"^[^:]+:{re.escape(plugin)}-to-{re.escape(loader or '')}"
                         + ("$" if loader else "[^:]+$"))
    return sorted(i for i in state_ids if pattern.match(i))


def connect(uri: str, what: str) -> psycopg.Connection:
    """A connection from an SQLAlchemy-style URI (`postgresql+psycopg://…`); one line if not."""
    conninfo = re.sub(r"^postgresql\+\w+://", "postgresql://", uri)
    try:
        return psycopg.connect(conninfo, connect_timeout=10)
    except psycopg.Error as exc:
        first_line = " ".join(str(exc).split())[:300]
        raise Unreachable(f"{what} (PostgreSQL) is unreachable: {first_line}") from None


class SystemDatabase:
    """Meltano's state and run records, in the database the parallel syncs use."""

    def __init__(self, project: MeltanoProject) -> None:
        from orchestration.assets import system_database_uri  # imports Dagster: only when used

        self.uri = system_database_uri(project)

    def states(self) -> list[State]:
        with connect(self.uri, "Meltano's system database") as conn:
            if not _has_table(conn, "state"):
                return []
            rows = conn.execute(
                "SELECT state_id, completed_state, partial_state, updated_at FROM state"
            ).fetchall()
        return [State(row[0], _json(row[1]), _json(row[2]), row[3]) for row in rows]

    def live_runs(self, state_ids: t.Sequence[str]) -> list[str]:
        """Those of `state_ids` whose `meltano run` is running now (a fresh heartbeat)."""
        with connect(self.uri, "Meltano's system database") as conn:
            if not state_ids or not _has_table(conn, "runs"):
                return []
            rows = conn.execute(
                "SELECT DISTINCT job_name FROM runs WHERE job_name = ANY(%s) "
                "AND state = 'RUNNING' AND last_heartbeat_at > now() - %s",
                (list(state_ids), LIVE_HEARTBEAT)).fetchall()
        return sorted(str(row[0]) for row in rows)

    def forget(self, state_ids: t.Sequence[str]) -> None:
        with connect(self.uri, "Meltano's system database") as conn:
            conn.execute("DELETE FROM state WHERE state_id = ANY(%s)", (list(state_ids),))


class Warehouse:
    """The PostgreSQL database target-postgres loads into (TARGET_POSTGRES_*)."""

    def __init__(self, project: MeltanoProject) -> None:
        values = {name: project.setting(WAREHOUSE_LOADER, name)
                  for name in ("host", "port", "user", "password", "database")}
        missing = [env_name(WAREHOUSE_LOADER, name) for name in ("host", "user", "database")
                   if not values[name]]
        if missing:
            raise ProjectError(f"the warehouse is not set: {', '.join(missing)} — set them "
                               "(and TARGET_POSTGRES_PASSWORD, _PORT)")
        self.where = f"{values['host']}:{values['port'] or 5432}/{values['database']}"
        self.conninfo = make_conninfo(
            host=str(values["host"]), port=str(values["port"] or 5432), user=str(values["user"]),
            dbname=str(values["database"]), password=str(values["password"] or ""))

    def tables(self, schema: str) -> list[str]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "AND table_type = 'BASE TABLE' ORDER BY 1", (schema,)).fetchall()
        return [str(row[0]) for row in rows]

    def empty(self, schema: str, tables: t.Sequence[str]) -> None:
        """Every row of `tables` gone, the tables kept: views over them (the marts) stay valid."""
        if not tables:
            return
        names = sql.SQL(", ").join(sql.Identifier(schema, table) for table in tables)
        with self._connect() as conn:
            conn.execute(sql.SQL("TRUNCATE {}").format(names))

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.conninfo, connect_timeout=10)
        except psycopg.Error as exc:
            first_line = " ".join(str(exc).split())[:300]
            raise Unreachable(f"the warehouse {self.where} (PostgreSQL) is unreachable: "
                              f"{first_line}") from None


@dataclass(frozen=True)
class ResetPlan:
    """What `reset` would remove: said before it asks, done by `carry_out`."""

    workspace: Workspace
    state_ids: list[str]
    tables: list[str]
    where: str

    def question(self) -> str:
        bookmarks = ", ".join(self.state_ids) or "none yet"
        return (f"reset workspace {self.workspace.name}: forget its bookmarks ({bookmarks}) and "
                f"delete every row of its {len(self.tables)} tables in schema "
                f"{self.workspace.schema} on {self.where}? [y/N] ")


def plan_reset(project: MeltanoProject, workspace: Workspace) -> tuple[ResetPlan, SystemDatabase,
                                                                        Warehouse]:
    system, warehouse = SystemDatabase(project), Warehouse(project)
    ids = state_ids_of(workspace.plugin, [s.state_id for s in system.states()], WAREHOUSE_LOADER)
    live = system.live_runs([workspace.state_id(project.environment, WAREHOUSE_LOADER), *ids])
    if live:
        raise ProjectError(f"workspace {workspace.name} is syncing now ({', '.join(live)}): "
                           "reset it once that run has ended")
    plan = ResetPlan(workspace, ids, warehouse.tables(workspace.schema), warehouse.where)
    return plan, system, warehouse


def carry_out(plan: ResetPlan, system: SystemDatabase, warehouse: Warehouse) -> None:
    # Bookmarks first: if emptying the tables then fails, the next run reads everything again
    # (rows upserted, nothing lost); the other order would resume past rows no longer there.
    system.forget(plan.state_ids)
    warehouse.empty(plan.workspace.schema, plan.tables)


def _has_table(conn: psycopg.Connection, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def _json(value: t.Any) -> dict[str, t.Any]:
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return dict(value or {})


def describe(workspace: Workspace, states: t.Sequence[State]) -> list[str]:
    """A workspace's bookmarks, a line per state id and an indented line per stream."""
    if not states:
        return [f"{workspace.name}\tno state yet: its first sync reads everything"]
    lines = []
    for state in states:
        # Meltano stamps a state when it updates one, not when it first writes it.
        updated = (f"\tupdated {state.updated_at.isoformat(timespec='seconds')}"
                   if state.updated_at else "")
        unfinished = "\tplus the partial state of an unfinished run" if state.partial else ""
        lines.append(f"{workspace.name}\t{state.state_id}{updated}{unfinished}")
        bookmarks = state.bookmarks()
        width = max((len(stream) for stream in bookmarks), default=0)
        lines += [f"  {stream:<{width}}  {_bookmark(bookmarks[stream])}"
                  for stream in sorted(bookmarks)]
    return lines


def _bookmark(bookmark: t.Any) -> str:
    """One stream's bookmark in a few words: its key and value, or its partitions' newest."""
    if not isinstance(bookmark, dict):
        return json.dumps(bookmark)[:80]
    interrupted = " (interrupted: resumes there)" if bookmark.get("progress_markers") else ""
    partitions = [p for p in bookmark.get("partitions") or [] if isinstance(p, dict)]
    if partitions:
        values = [str(p["replication_key_value"]) for p in partitions
                  if p.get("replication_key_value") is not None]
        newest = f", newest {bookmark_key(partitions)} {max(values)}" if values else ""
        return f"{len(partitions)} partitions{newest}{interrupted}"
    if bookmark.get("replication_key_value") is not None:
        return (f"{bookmark.get('replication_key', 'bookmark')} "
                f"{bookmark['replication_key_value']}{interrupted}")
    return "read in full each run" + interrupted if not bookmark else json.dumps(bookmark)[:80]


def bookmark_key(partitions: t.Sequence[dict[str, t.Any]]) -> str:
    return str(next((p["replication_key"] for p in partitions if p.get("replication_key")),
                    "bookmark"))
