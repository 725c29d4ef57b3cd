"""The Dagster code location: `dagster dev -m orchestration.definitions`.

Workspaces come from the Meltano project ($MELTANO_PROJECT_ROOT, else this repository): one asset
per `workspaces/<name>.meltano.yml`, no second list. The job `sync_workspaces` loads them all in
parallel every 15 minutes; the marts (`meltano invoke dbt-postgres:build`) follow in a run of
their own once the loads are done, so one workspace's failure never holds up the others' marts.
"""

from __future__ import annotations

import dagster as dg

from orchestration.assets import (
    DBT_UTILITY,
    RETRY,
    MeltanoResource,
    marts_asset,
    workspace_asset,
)
from orchestration.project import MeltanoProject, key_groups

LOADS_JOB = "sync_workspaces"
MARTS_JOB = "build_marts"
EVERY_15_MINUTES = "*/15 * * * *"
# How the loads run: each workspace in a process of its own. Syncs wait on providers' rate limits,
# not on CPU, so many run at once on a small machine; steps fork from one server process that
# imported Dagster and this module once. In production, put docker_executor, k8s_job_executor or
# celery_executor here (README, "Deploy"); the pools hold whichever runs the steps.
MAX_PARALLEL_SYNCS = 10
PARALLEL = dg.multiprocess_executor.configured({
    "max_concurrent": MAX_PARALLEL_SYNCS,
    "start_method": {"forkserver": {"preload_modules": ["dagster", __name__]}},
})

IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
             dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def build_definitions(project: MeltanoProject | None = None, *,
                      retry_policy: dg.RetryPolicy = RETRY) -> dg.Definitions:
    project = project or MeltanoProject.from_env()
    workspaces = project.workspaces()
    groups = key_groups(project, workspaces)
    resources = {
        "meltano": MeltanoResource(project_root=str(project.root)),
        "pipes_subprocess_client": dg.PipesSubprocessClient(cwd=str(project.root)),
    }
    if not workspaces:
        return dg.Definitions(resources=resources)
    assets = [workspace_asset(w, groups[w.name], project.environment, retry_policy)
              for w in workspaces]
    jobs = [dg.define_asset_job(
        LOADS_JOB, selection=dg.AssetSelection.groups("workspaces"), executor_def=PARALLEL,
        description="Every workspace's `meltano run`, in parallel.")]
    sensors: list[dg.SensorDefinition] = []
    if project.has_plugin(DBT_UTILITY):
        assets.append(marts_asset(workspaces, retry_policy))
        # One step that waits on `meltano invoke`: no process of its own needed.
        jobs.append(dg.define_asset_job(
            MARTS_JOB, selection=dg.AssetSelection.groups("marts"),
            executor_def=dg.in_process_executor,
            description="The dbt build over every workspace that has loaded."))
        sensors.append(dg.AutomationConditionSensorDefinition(
            "marts_after_loads", target=dg.AssetSelection.groups("marts"),
            default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30))
    return dg.Definitions(assets=assets, jobs=jobs, schedules=[every_15_minutes],
                          sensors=sensors, executor=PARALLEL, resources=resources)


@dg.schedule(name="sync_workspaces_every_15_minutes", cron_schedule=EVERY_15_MINUTES,
             job_name=LOADS_JOB, default_status=dg.DefaultScheduleStatus.RUNNING)
def every_15_minutes(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    # A sync slowed by rate limits may outlast 15 minutes; the next starts once it is done.
    in_flight = context.instance.get_run_records(
        dg.RunsFilter(job_name=LOADS_JOB, statuses=IN_FLIGHT), limit=1)
    if in_flight:
        return dg.SkipReason(f"run {in_flight[0].dagster_run.run_id} is still syncing")
    return dg.RunRequest()


defs = build_definitions()


def sync_workspaces_job() -> dg.JobDefinition:
    """The loads job, importable by name: what a multiprocess run reconstructs in each step."""
    return defs.resolve_job_def(LOADS_JOB)


def build_marts_job() -> dg.JobDefinition:
    return defs.resolve_job_def(MARTS_JOB)
