"""`make sync-all`: every workspace once through Dagster, then the dbt build; a summary line each.

Runs the code location's own jobs on the Dagster instance in $DAGSTER_HOME (default `.dagster/`
in the project, set up from orchestration/dagster.yaml), so the runs show in the UI afterwards:
first it marks failed the runs a crash left in flight (orchestration/recovery.py) and puts the
workspace partitions in step with the files, then `sync_workspaces` runs once per workspace
partition, SYNC_ALL_MAX_PARALLEL (default 10) at a time, each in a process forked from one that
imported Dagster and the code location once, then `build_marts` when the project has the dbt
utility. The runs' own output (Dagster's events, every Meltano line) goes to a log
file; the terminal gets the summary. Exit status: 0 when everything loaded and built, 1 when any
workspace or the build failed (each named on its own line), 2 when the setup is wrong.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import shutil
import sys
import time
import typing as t
from pathlib import Path

import dagster as dg

from orchestration import recovery
from orchestration.assets import MeltanoResource, keep_partitions_in_step
from orchestration.dbt_project import DBT_UTILITY, DbtProjectFiles
from orchestration.project import MeltanoProject, ProjectError

INSTANCE_CONFIG = Path(__file__).with_name("dagster.yaml")
# Syncs wait on providers' rate limits, not CPU: this many at once (benchmarks/workspaces.py).
MAX_PARALLEL = 10
PARALLEL_VARIABLE = "SYNC_ALL_MAX_PARALLEL"


def dagster_home(project: MeltanoProject) -> Path:
    """$DAGSTER_HOME, else the project's .dagster/, holding our dagster.yaml (pool limits)."""
    home = Path(os.environ.get("DAGSTER_HOME") or project.root / ".dagster")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(INSTANCE_CONFIG, home / "dagster.yaml")
    return home


@contextlib.contextmanager
def output_to(path: Path) -> t.Iterator[None]:
    """Send this process's stdout and stderr, and so its step processes', to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def failures(result: dg.ExecuteJobResult) -> dict[str, str]:
    """Step key → the failure's one line (the `Failure` description the asset raised)."""
    lines = {}
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        described = data.user_failure_data.description if data.user_failure_data else None
        error = data.error.message.strip().splitlines()[0] if data.error else "failed"
        lines[str(event.step_key)] = described or f"{event.step_key}: {error}"
    if not result.success and not lines:
        lines["run"] = f"run {result.run_id} failed before any step did: see its log"
    return lines


def load_workspace(name: str) -> dict[str, str]:
    """One `sync_workspaces` run of partition `name`, in this (pool) process: its failures."""
    from orchestration import definitions  # built from the environment set in sync_all()

    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            dg.reconstructable(definitions.sync_workspaces_job), instance=instance,
            tags={"dagster/partition": name, recovery.WORKER_TAG: recovery.this_worker()},
            raise_on_error=False)
        return failures(result)


def load_workspaces(names: t.Sequence[str], parallel: int) -> dict[str, str]:
    """Every partition's run, `parallel` at a time: workspace → its failure line."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["dagster", "orchestration.definitions"])
    failed: dict[str, str] = {}
    with concurrent.futures.ProcessPoolExecutor(max_workers=parallel, mp_context=context) as pool:
        runs = {pool.submit(load_workspace, name): name for name in names}
        for run in concurrent.futures.as_completed(runs):
            name = runs[run]
            try:
                lines = run.result()
            except concurrent.futures.process.BrokenProcessPool:
                lines = {"run": f"workspace {name}: its run's process died (killed, or out of "
                                "memory): the next sync-all marks the run failed and loads it"}
            if lines:
                failed[name] = "; ".join(lines.values())
    return failed


def build_marts(instance: dg.DagsterInstance) -> dg.ExecuteJobResult:
    from orchestration import definitions

    return dg.execute_job(dg.reconstructable(definitions.build_marts_job), instance=instance,
                          tags={recovery.WORKER_TAG: recovery.this_worker()}, raise_on_error=False)


def parallel_syncs(project: MeltanoProject) -> int:
    value = project.variable(PARALLEL_VARIABLE) or str(MAX_PARALLEL)
    if not value.isdigit() or int(value) < 1:
        raise ProjectError(f"{PARALLEL_VARIABLE}={value!r}: give a whole number of syncs, 1 or "
                           f"more (default {MAX_PARALLEL})")
    return int(value)


def plural(count: int) -> str:
    return f"{count} workspace" + ("" if count == 1 else "s")


def check(project: MeltanoProject) -> list[str]:
    """The workspaces, once the project can sync them; else ProjectError with the fix."""
    workspaces = [w.name for w in project.workspaces()]
    if not workspaces:
        raise ProjectError(f"no workspaces in {project.root}: add one with `python -m "
                           "orchestration add <name>` (writes workspaces/<name>.meltano.yml)")
    MeltanoResource(project_root=str(project.root)).environment()  # the warehouse is set
    if project.has_plugin(DBT_UTILITY):
        DbtProjectFiles(project).manifest()  # the dbt assets can be built (parsed once, here)
    return workspaces


def sync_all(echo: t.Callable[[str], None] = print) -> int:
    try:
        project = MeltanoProject.from_env()
        workspaces = check(project)
        parallel = parallel_syncs(project)
    except ProjectError as exc:
        echo(f"sync-all: {exc}")
        return 2
    # Every run's process rebuilds the code location from these.
    os.environ["MELTANO_PROJECT_ROOT"] = str(project.root)
    os.environ["DAGSTER_HOME"] = str(dagster_home(project))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log = Path(os.environ["DAGSTER_HOME"]) / "logs" / f"sync-all-{stamp}.log"
    echo(f"sync-all: {plural(len(workspaces))} ({', '.join(workspaces)}); log: {log}")
    with dg.DagsterInstance.get() as instance, output_to(log):
        dead = recovery.fail_dead_runs(instance)
        keep_partitions_in_step(instance, project.workspaces())
        failed = load_workspaces(workspaces, parallel)
        # Whatever failed: the marts of the workspaces that did load are rebuilt.
        marts = failures(build_marts(instance)) if project.has_plugin(DBT_UTILITY) else None
    if dead:
        echo(f"sync-all: marked failed {len(dead)} run(s) a crash left in flight")
    loaded = [name for name in workspaces if name not in failed]
    echo(f"sync-all: {len(loaded)} of {plural(len(workspaces))} loaded"
         + (f" ({', '.join(loaded)})" if loaded else "")
         + ("" if marts is None else "; marts failed" if marts else "; marts built"))
    for line in [*(failed[n] for n in workspaces if n in failed), *(marts or {}).values()]:
        echo(f"sync-all: FAILED {line}")
    return 1 if failed or marts else 0
