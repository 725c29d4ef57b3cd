"""A crash never blocks the next run: `sync-all` SIGKILLed mid-load (its whole process tree), and
one workspace's `meltano run` SIGKILLed mid-load, against real Meltano, sandboxes and PostgreSQL.

Before: the dead run kept its provider-key pool slots (every later sync-all hung), Meltano's
stale-run guard refused the workspace for ~10 minutes, and the dead run's config files (keys, the
warehouse password) stayed world-readable under .meltano/run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import dagster as dg
import pytest

from orchestration.project import MeltanoProject
from orchestration.recovery import config_files
from tap_replies.sandbox import Sandbox
from tests.postgres_cluster import PostgresServer
from tests.workspace_harness import (
    ROOT,
    Workspace,
    base_env,
    differences,
    make_project,
    query,
    require_plugins,
    sync_all,
)

pytestmark = [pytest.mark.elt, pytest.mark.filterwarnings("ignore::dagster.PreviewWarning")]

PROVIDERS = ("leadterra", "smartlead", "tuco")
RUN_DIR = ROOT / ".meltano" / "run"  # the harness's MELTANO_SYS_DIR_ROOT
# Each sandbox answers in 150 ms: a load takes long enough to be killed in the middle.
LATENCY_MS = 150
STALE_AFTER_INCREMENTAL = {"smartlead_inbox_replies": {"category"}}


def wait_for(condition: t.Callable[[], bool], limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "the load never got going"
        time.sleep(0.2)


def start_sync_all(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "orchestration", "sync-all"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def meltano_run_of(plugin: str) -> int | None:
    """The pid of `meltano … run <plugin> …` (not the Pipes child that started it)."""
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().decode().split("\0")
        except (OSError, ValueError):
            continue
        if plugin in argv and "run" in argv and any(a.endswith("/meltano") for a in argv) \
                and not any(a.endswith("meltano_pipes.py") for a in argv):
            return int(entry.name)
    return None


def converged(server: PostgresServer, workspaces: dict[str, Workspace]) -> list[str]:
    """Each workspace's tables equal to its sandbox: nothing missing or extra, no row twice."""
    problems = []
    for name, workspace in workspaces.items():
        keys = workspace.primary_keys()
        for stream, rows in workspace.truth().items():
            schema = f"tap_replies__{name}"
            problems += differences(server, schema, stream, rows, keys[stream],
                                    STALE_AFTER_INCREMENTAL.get(stream, ()))
            [count] = query(server, f'SELECT count(*) AS n FROM "{schema}"."{stream}"')
            if count["n"] != len(rows):
                problems.append(f"{schema}.{stream}: {count['n']} rows for {len(rows)}")
    return problems


def secrets_left() -> list[Path]:
    """The config files (keys, the warehouse password) Meltano wrote for these workspaces."""
    return [path for plugin in ("tap-replies--acme", "tap-replies--beta", "target-postgres")
            for path in config_files(RUN_DIR, plugin)]


def setup(project: Path, server: PostgresServer, sandboxes: t.Sequence[Sandbox]
          ) -> tuple[dict[str, Workspace], dict[str, str]]:
    workspaces = {name: Workspace(name, dict.fromkeys(PROVIDERS, sandbox))
                  for name, sandbox in zip(("acme", "beta"), sandboxes, strict=True)}
    env = base_env(project, server)
    for name, workspace in workspaces.items():
        MeltanoProject(project).add_workspace(name)
        env.update(workspace.env())
    return workspaces, env


def test_after_sync_all_is_killed_mid_load_the_next_one_finishes_and_converges(
        postgres: PostgresServer, tmp_path: Path):
    require_plugins()
    server = postgres.create_database("crash_sync_all")
    project = make_project(tmp_path)
    with Sandbox(seed=31, latency_ms=LATENCY_MS) as a, \
            Sandbox(seed=32, latency_ms=LATENCY_MS) as b:
        workspaces, env = setup(project, server, (a, b))
        killed = start_sync_all(env)
        wait_for(lambda: len(a.request_log) >= 15 and len(b.request_log) >= 15)
        os.killpg(killed.pid, signal.SIGKILL)  # sync-all, its run workers, meltano, tap, target
        killed.wait()
        left = secrets_left()
        assert left, "the kill left no config behind: it came too late to test anything"
        assert all(path.stat().st_mode & 0o077 == 0 for path in left), left
        second = sync_all(project, env)
        assert second.returncode == 0, second.output + second.log[-4000:]
        assert "marked failed 2 run(s) a crash left in flight" in second.output, second.output
        problems = converged(server, workspaces)
        assert not problems, "\n".join(problems[:20])
        assert not secrets_left()
    with dg.DagsterInstance.from_config(str(project / ".dagster")) as instance:
        runs = instance.get_run_records(dg.RunsFilter(job_name="sync_workspaces"))
        statuses = sorted(r.dagster_run.status.value for r in runs)
    assert statuses == ["FAILURE", "FAILURE", "SUCCESS", "SUCCESS"]


def test_a_workspace_whose_meltano_was_killed_is_retried_and_loads_in_the_same_sync(
        postgres: PostgresServer, tmp_path: Path):
    require_plugins()
    server = postgres.create_database("crash_one_workspace")
    project = make_project(tmp_path)
    with Sandbox(seed=33, latency_ms=LATENCY_MS) as a, \
            Sandbox(seed=34, latency_ms=LATENCY_MS) as b:
        workspaces, env = setup(project, server, (a, b))
        running = start_sync_all(env)
        wait_for(lambda: len(a.request_log) >= 15 and meltano_run_of("tap-replies--acme"))
        pid = meltano_run_of("tap-replies--acme")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert running.wait(timeout=900) == 0
        problems = converged(server, workspaces)
        assert not problems, "\n".join(problems[:20])
    with dg.DagsterInstance.from_config(str(project / ".dagster")) as instance:
        [acme] = instance.get_run_records(dg.RunsFilter(
            job_name="sync_workspaces", tags={"dagster/partition": "acme"}))
        retries = [e for e in instance.all_logs(acme.dagster_run.run_id)
                   if e.dagster_event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert acme.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    assert len(retries) == 1  # the retry was not refused by Meltano's stale-run guard
