"""`python -m orchestration state` and `reset`, against a real PostgreSQL: Meltano's own state
(written by `meltano state set`, read back by `meltano state list`) and a workspace's raw tables.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from orchestration import assets
from orchestration.project import MeltanoProject
from tests.postgres_cluster import PostgresServer
from tests.test_orchestration import make_project

ROOT = Path(__file__).resolve().parent.parent
MELTANO = Path(sys.executable).parent / "meltano"
README = ROOT / "README.md"
ACME_ID = "dev:tap-replies--acme-to-target-postgres"
BETA_ID = "dev:tap-replies--beta-to-target-postgres"
ACME_STATE = {"singer_state": {"bookmarks": {
    "leadterra_replies": {"replication_key": "receivedAt",
                          "replication_key_value": "2026-11-30T10:00:00+00:00"},
    "smartlead_campaign_leads": {"partitions": [
        {"context": {"campaign_id": 1}, "replication_key": "updated_at",
         "replication_key_value": "2026-11-29T08:00:00+00:00"},
        {"context": {"campaign_id": 2}, "replication_key": "updated_at",
         "replication_key_value": "2026-11-30T09:00:00+00:00"}]},
    "smartlead_campaigns": {},
}}}
BETA_STATE = {"singer_state": {"bookmarks": {"tuco_replies": {
    "replication_key": "respondedAtUtc", "replication_key_value": "2026-11-28T00:00:00+00:00"}}}}


@dataclass
class Project:
    folder: Path
    server: PostgresServer
    env: dict[str, str]
    saved_states: list[t.Any] = field(default_factory=list)

    def orchestration(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "orchestration", *args], cwd=ROOT,
                              env=self.env, input=stdin, capture_output=True, text=True,
                              timeout=120, check=False)

    def meltano(self, *args: str) -> str:
        proc = subprocess.run([str(MELTANO), *args], cwd=self.folder, env=self.env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout

    def rows(self, schema: str) -> int:
        with psycopg.connect(self.server.dsn()) as conn:
            row = conn.execute(f'SELECT count(*) FROM "{schema}".smartlead_inbox_replies'
                               ).fetchone()
        return int(row[0]) if row else -1

    def seed(self) -> None:
        """Both workspaces' state as Meltano itself set it (once; then its rows put back), and
        three raw rows each."""
        if not self.saved_states:
            for state_id, state in ((ACME_ID, ACME_STATE), (BETA_ID, BETA_STATE)):
                self.meltano("state", "set", "--force", state_id, json.dumps(state))
        with psycopg.connect(self.server.dsn()) as conn:
            if self.saved_states:
                conn.execute("DELETE FROM meltano.state")
                for row in self.saved_states:
                    conn.execute("INSERT INTO meltano.state (state_id, updated_at, partial_state, "
                                 "completed_state) VALUES (%s, %s, %s, %s)", row)
            self.saved_states = conn.execute("SELECT state_id, updated_at, partial_state, "
                                             "completed_state FROM meltano.state").fetchall()
            for schema in ("tap_replies__acme", "tap_replies__beta"):
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                conn.execute(f'CREATE TABLE IF NOT EXISTS "{schema}".smartlead_inbox_replies '
                             "(id integer primary key, category text)")
                conn.execute(f'TRUNCATE "{schema}".smartlead_inbox_replies')
                conn.execute(f'INSERT INTO "{schema}".smartlead_inbox_replies '
                             "VALUES (1, 'Interested'), (2, 'Meeting'), (3, 'Wrong person')")


@pytest.fixture(scope="module")
def project(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
            ) -> Project:
    if not MELTANO.exists():
        pytest.fail(f"{MELTANO} not found: run `make plugins`")
    server = postgres.create_database("workspace_state")
    folder = tmp_path_factory.mktemp("project")
    make_project(folder, ["acme", "beta", "gamma"])
    env = {**{k: v for k, v in os.environ.items()
              if not re.match(r"^(TAP_REPLIES|TARGET_POSTGRES|MELTANO_|DAGSTER_HOME)", k)},
           **server.env(), "MELTANO_PROJECT_ROOT": str(folder),
           "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    # The Meltano commands that seed and check use the database the orchestration uses.
    env["MELTANO_DATABASE_URI"] = assets.system_database_uri(MeltanoProject(folder, environ=env))
    assets.prepare_system_database(env, [str(MELTANO), "upgrade", "database"])
    return Project(folder, server, env)


@pytest.fixture
def seeded(project: Project) -> Project:
    project.seed()
    return project


def without_uri(project: Project) -> dict[str, str]:
    """What a user has: the warehouse's variables, no hand-built MELTANO_DATABASE_URI."""
    return {k: v for k, v in project.env.items() if k != "MELTANO_DATABASE_URI"}


def test_state_lists_each_workspaces_bookmarks_without_a_hand_built_uri(seeded: Project):
    proc = subprocess.run([sys.executable, "-m", "orchestration", "state"], cwd=ROOT,
                          env=without_uri(seeded), capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # (Meltano stamps `updated_at` on a state's updates, and `state set` wrote each once.)
    assert lines[0] == f"acme\t{ACME_ID}"
    assert lines[1:4] == [
        "  leadterra_replies         receivedAt 2026-11-30T10:00:00+00:00",
        "  smartlead_campaign_leads  2 partitions, newest updated_at 2026-11-30T09:00:00+00:00",
        "  smartlead_campaigns       read in full each run",
    ]
    assert lines[4] == f"beta\t{BETA_ID}"
    assert lines[5:] == ["  tuco_replies  respondedAtUtc 2026-11-28T00:00:00+00:00",
                         "gamma\tno state yet: its first sync reads everything"]
    assert seeded.server.password not in proc.stdout + proc.stderr


def test_state_of_one_workspace_as_json_is_meltanos_own(seeded: Project):
    proc = seeded.orchestration("state", "acme", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {ACME_ID: ACME_STATE}
    assert json.loads(seeded.meltano("state", "get", ACME_ID)) == ACME_STATE


def test_state_of_an_unknown_workspace_is_one_line(seeded: Project):
    proc = seeded.orchestration("state", "zeta")
    assert proc.returncode == 2
    assert proc.stderr == (f"orchestration: no workspace 'zeta' in {seeded.folder} "
                           "(workspaces: acme, beta, gamma)\n")


def test_reset_asks_first_and_no_answer_changes_nothing(seeded: Project):
    proc = seeded.orchestration("reset", "acme", stdin="")
    assert proc.returncode == 1
    assert proc.stdout.startswith(
        f"reset workspace acme: forget its bookmarks ({ACME_ID}) and delete every row of its 1 "
        f"tables in schema tap_replies__acme on {seeded.server.host}:{seeded.server.port}/"
        "workspace_state? [y/N] ")
    assert proc.stdout.endswith("reset: nothing changed (answer y, or pass --yes)\n")
    assert seeded.rows("tap_replies__acme") == 3
    assert ACME_ID in seeded.meltano("state", "list")


def test_reset_forgets_that_workspaces_bookmarks_and_rows_and_nothing_else(seeded: Project):
    proc = seeded.orchestration("reset", "acme", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "reset workspace acme: forgot 1 state id(s), emptied 1 tables in schema "
        "tap_replies__acme; its next sync reads everything again, and the next dbt build drops "
        "its old rows from the marts\n")
    # Meltano itself no longer has acme's bookmarks, and still has beta's.
    listed = seeded.meltano("state", "list").split()
    assert ACME_ID not in listed
    assert BETA_ID in listed
    assert seeded.rows("tap_replies__acme") == 0  # the table is kept: the marts' views hold
    assert seeded.rows("tap_replies__beta") == 3


def test_reset_forgets_every_environments_bookmarks_into_the_emptied_schema(seeded: Project):
    # The raw schema is one for every environment: a prod bookmark kept would resume past rows
    # that are gone.
    prod = ACME_ID.replace("dev:", "prod:")
    other_loader = ACME_ID.replace("target-postgres", "target-duckdb")
    with psycopg.connect(seeded.server.dsn()) as conn:
        for state_id in (prod, other_loader):
            conn.execute("INSERT INTO meltano.state (state_id, partial_state, completed_state) "
                         "VALUES (%s, '{}', %s)", (state_id, json.dumps(ACME_STATE)))
    proc = seeded.orchestration("reset", "acme", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("reset workspace acme: forgot 2 state id(s)")
    listed = seeded.meltano("state", "list").split()
    assert prod not in listed
    assert ACME_ID not in listed
    assert other_loader in listed  # another warehouse's bookmarks: its rows are not emptied


def test_reset_refuses_while_the_workspace_is_syncing(seeded: Project):
    with psycopg.connect(seeded.server.dsn()) as conn:
        conn.execute("INSERT INTO meltano.runs (job_name, run_id, state, started_at, "
                     "last_heartbeat_at, payload, payload_flags, trigger) VALUES "
                     "(%s, gen_random_uuid(), 'RUNNING', now(), now(), '{}', 0, 'cli')",
                     (ACME_ID,))
    try:
        proc = seeded.orchestration("reset", "acme", "--yes")
    finally:
        with psycopg.connect(seeded.server.dsn()) as conn:
            conn.execute("DELETE FROM meltano.runs WHERE job_name = %s", (ACME_ID,))
    assert proc.returncode == 2
    assert proc.stderr == (f"orchestration: workspace acme is syncing now ({ACME_ID}): reset it "
                           "once that run has ended\n")
    assert seeded.rows("tap_replies__acme") == 3


def readme_commands() -> list[str]:
    """The commands of the README's "Check, inspect, reset" block."""
    section = README.read_text().split("### Check, inspect, reset", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readmes_workspace_commands_run_as_written(seeded: Project):
    commands = readme_commands()
    assert len(commands) == 4
    env = without_uri(seeded) | {f"TAP_REPLIES__{name}_TUCO_API_KEY": name
                                 for name in ("ACME", "BETA", "GAMMA")}
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == ".venv/bin/python", command
        proc = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, env=env, input="y\n",
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert seeded.rows("tap_replies__acme") == 0
