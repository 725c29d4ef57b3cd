"""One live sync per workspace and per provider key, held in PostgreSQL where a crash frees it.

A workspace's load takes session advisory locks in Meltano's system database: one on the
workspace, one on each provider key it uses (an opaque fingerprint, never the key), in one fixed
order so two loads never wait on each other. Two workspaces sharing a key therefore never run at
once, whichever run, job or backfill started them. The server drops a session's locks when its
connection ends, so a SIGKILLed run worker or a lost machine leaves nothing held (Dagster's op
pools keep a dead run's slots until someone deletes the run; and a pool is one per asset, which
for one asset partitioned by workspace would hold every workspace to one at a time).

Holding the workspace's lock proves no other load of it is alive, so what a dead one left is
cleared here: Meltano's `runs` rows still RUNNING for its state id (else Meltano refuses the next
run for ~10 minutes, "Another … pipeline is already running") and its config file under
.meltano/run, which holds the keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import typing as t

import psycopg

from orchestration.project import MeltanoProject, Unreachable, Workspace
from orchestration.recovery import config_files, system_dir

LOCK_NAMESPACE = "tap-replies"
APPLICATION = "tap-replies load {workspace}"  # how a holder names itself in pg_stat_activity
WAITING_FOR = """
SELECT DISTINCT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
  AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = %s::bigint
"""
END_DEAD_MELTANO_RUNS = """
UPDATE runs SET state = 'FAIL', ended_at = now()
WHERE job_name = %s AND state = 'RUNNING'
"""


def lock_id(kind: str, name: str) -> int:
    """A signed 64-bit advisory-lock id for ('workspace', 'acme') or ('key', <fingerprint>)."""
    digest = hashlib.sha256(f"{LOCK_NAMESPACE}\n{kind}\n{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def conninfo_of(database_uri: str) -> str:
    """Meltano's SQLAlchemy URI (postgresql+psycopg://…) as a libpq one."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", database_uri)


class WorkspaceLocks:
    """The locks of one workspace's load, and the cleanup that holding them makes safe."""

    def __init__(self, project: MeltanoProject, workspace: Workspace, database_uri: str) -> None:
        self.project = project
        self.workspace = workspace
        self.conninfo = conninfo_of(database_uri)
        self.ids = sorted({lock_id("workspace", workspace.name),
                           *(lock_id("key", f) for f in project.key_fingerprints(workspace))})

    @contextlib.contextmanager
    def held(self, say: t.Callable[[str], None]) -> t.Iterator[psycopg.Connection]:
        """Wait for every lock (saying who holds one), then yield the session that holds them."""
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=30,
                                   application_name=APPLICATION.format(
                                       workspace=self.workspace.name))
        except psycopg.Error as exc:
            raise Unreachable("Meltano's system database (PostgreSQL) is unreachable: "
                              + " ".join(str(exc).split())[:300]) from None
        with conn:
            for ident in self.ids:
                self._take(conn, ident, say)
            yield conn

    def _take(self, conn: psycopg.Connection, ident: int, say: t.Callable[[str], None]) -> None:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (ident,)).fetchone()
        if row and row[0]:
            return
        holders = [r[0] for r in conn.execute(WAITING_FOR, (ident,)).fetchall()]
        say(f"workspace {self.workspace.name} waits: {', '.join(holders) or 'another load'} "
            "is running on a provider key it shares")
        conn.execute("SELECT pg_advisory_lock(%s)", (ident,))

    def end_dead_meltano_runs(self, conn: psycopg.Connection, state_id: str) -> int:
        """Meltano's RUNNING rows for this state id: dead, since we hold the workspace's lock."""
        row = conn.execute("SELECT to_regclass('runs') IS NOT NULL").fetchone()
        if not (row and row[0]):
            return 0
        return conn.execute(END_DEAD_MELTANO_RUNS, (state_id,)).rowcount

    def remove_dead_run_files(self) -> int:
        """The config files (the keys) a dead load of this workspace left in .meltano/run/."""
        left = config_files(system_dir(self.project) / "run", self.workspace.plugin)
        for path in left:
            path.unlink(missing_ok=True)
        return len(left)
