"""After a crash: the runs whose worker process is gone are marked failed, and what they left goes.

Every run records its worker (host, pid and the process's start time, so a reused pid is not
taken for the dead one) in a tag. `sync-all`, the schedule and every load first sweep: a run still
in flight on this host whose worker is gone is reported failed (Dagster's DefaultRunLauncher has
no worker health check; a deployment's K8s/Docker launcher and run monitoring do the same across
machines). Then the loader's config files older than every live run are removed: Meltano writes
each plugin's config (the PostgreSQL password, the API keys) there and deletes it only on a clean
exit.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import dagster as dg

from orchestration.project import MeltanoProject

WORKER_TAG = "tap-replies/worker"
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
             dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
             dg.DagsterRunStatus.CANCELING]
LIVE = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def system_dir(project: MeltanoProject) -> Path:
    """Meltano's .meltano: plugin venvs and run directories ($MELTANO_SYS_DIR_ROOT, if set)."""
    return Path(project.variable("MELTANO_SYS_DIR_ROOT") or project.root / ".meltano")


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat); None
    for no process or a dead one: a killed worker whose parent died too is a zombie until the
    machine's init reaps it, which under load can be long after the next sync-all looks."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def this_worker() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_started(pid) or ''}"


def worker_is_gone(worker: str) -> bool:
    """True only for a worker of this host that is not running (another host's: not ours to say)."""
    host, _, rest = worker.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    now = _started(int(pid))
    return now is None or (bool(started) and now != started)


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Report failed every in-flight run whose recorded worker is gone; their ids."""
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT)):
        run = record.dagster_run
        worker = run.tags.get(WORKER_TAG)
        if worker and worker_is_gone(worker):
            instance.report_run_failed(
                run, message=f"its worker ({worker}) is gone, killed or its machine lost: "
                             "marked failed so that the next runs proceed")
            failed.append(run.run_id)
    return failed


def oldest_live_run_start(instance: dg.DagsterInstance) -> float:
    """When the oldest run still alive started (now, when none is)."""
    starts = [r.start_time or r.create_timestamp.timestamp()
              for r in instance.get_run_records(dg.RunsFilter(statuses=LIVE))]
    return min(starts, default=time.time())


def config_files(run_dir: Path, plugin: str) -> list[Path]:
    """The plugin's config files Meltano wrote (`<kind>.<invocation>.config.json`): the secrets.
    Its catalog and logging files beside them hold none, and Meltano reuses them."""
    return [p for p in (run_dir / plugin).rglob("*config.json") if p.is_file()]


def remove_run_files_older_than(run_dir: Path, plugin: str, cutoff: float) -> int:
    """The plugin's config files written before `cutoff`: no live run's."""
    removed = 0
    for path in config_files(run_dir, plugin):
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
