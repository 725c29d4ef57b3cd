"""The Dagster code location: `dg dev -m orchestration.definitions` (`make dagster-dev`).

Workspaces come from the Meltano project ($MELTANO_PROJECT_ROOT, else this repository): the raw
load is one asset with a partition per `workspaces/<name>.meltano.yml` (dynamic partitions, kept in
step with the files by `sync-all`, the schedule and the sensor `workspace_partitions`). The dbt
project follows from its manifest: an asset per model, an asset check per test. The job
`sync_workspaces` loads one workspace per run; the schedule asks for a run per workspace every 15
minutes; the dbt build follows in a run of its own once the loads are done, so one workspace's
failure never holds up the others' marts.

The schedules and the dbt sensor start real syncs: they are off unless TAP_REPLIES_AUTOMATION=on
(a deployment sets it; `make dagster-dev AUTOMATION=on` too). The partitions sensor starts no run.
"""

from __future__ import annotations

import os

import dagster as dg

from orchestration import recovery
from orchestration.assets import (
    LOADER,
    RAW_LOAD,
    RETRY,
    WORKSPACES,
    MeltanoResource,
    keep_partitions_in_step,
    raw_load_asset,
)
from orchestration.dbt_project import DBT_UTILITY, DbtProjectFiles, dbt_project_assets
from orchestration.freshness import freshness_check
from orchestration.project import MeltanoProject, key_groups

LOADS_JOB = "sync_workspaces"
MARTS_JOB = "build_marts"
FRESHNESS_JOB = "check_freshness"
EVERY_15_MINUTES = "*/15 * * * *"
# The run tag the deployment's run queue limits to one run per value (orchestration/deploy/).
KEY_GROUP_TAG = "tap-replies/provider-keys"
AUTOMATION_VARIABLE = "TAP_REPLIES_AUTOMATION"

# The marts follow the loads in a run of their own, so a workspace that failed holds nobody
# up: once no load is in progress and any finished since the last build, build again.
AFTER_LOADS = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("after the workspace loads")


def automation_on() -> bool:
    return os.environ.get(AUTOMATION_VARIABLE, "").lower() in ("on", "1", "true", "yes")


def build_definitions(project: MeltanoProject | None = None, *,
                      retry_policy: dg.RetryPolicy = RETRY) -> dg.Definitions:
    project = project or MeltanoProject.from_env()
    resources: dict[str, object] = {
        "meltano": MeltanoResource(project_root=str(project.root)),
        "pipes_subprocess_client": dg.PipesSubprocessClient(cwd=str(project.root)),
    }
    assets: list[dg.AssetsDefinition] = [raw_load_asset(retry_policy)]
    jobs = [dg.define_asset_job(
        LOADS_JOB, selection=[RAW_LOAD],
        executor_def=dg.in_process_executor,
        description="One workspace's `meltano run` (the run's partition).")]
    sensors: list[dg.SensorDefinition] = [workspace_partitions]
    if project.has_plugin(DBT_UTILITY):
        files = DbtProjectFiles(project)
        dbt_build = dbt_project_assets(files, RAW_LOAD, LOADER, AFTER_LOADS, retry_policy)
        assets.append(dbt_build)
        resources["dbt"] = files.resource()
        jobs.append(dg.define_asset_job(
            MARTS_JOB, selection=dg.AssetSelection.assets(dbt_build),
            executor_def=dg.in_process_executor,
            description="The dbt build over every workspace that has loaded."))
        sensors.append(dg.AutomationConditionSensorDefinition(
            "marts_after_loads", target=dg.AssetSelection.assets(dbt_build),
            default_status=default_sensor_status(), minimum_interval_seconds=30))
    check = freshness_check(RAW_LOAD, str(WORKSPACES.name))
    jobs.append(dg.define_asset_job(FRESHNESS_JOB, selection=dg.AssetSelection.checks(check),
                                    executor_def=dg.in_process_executor))
    return dg.Definitions(assets=assets, asset_checks=[check], jobs=jobs,
                          schedules=[every_15_minutes, freshness_every_15_minutes],
                          sensors=sensors, resources=resources)


def default_schedule_status() -> dg.DefaultScheduleStatus:
    return dg.DefaultScheduleStatus.RUNNING if automation_on() else dg.DefaultScheduleStatus.STOPPED


def default_sensor_status() -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if automation_on() else dg.DefaultSensorStatus.STOPPED


@dg.sensor(name="workspace_partitions", minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.RUNNING)
def workspace_partitions(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """The workspace partitions in step with workspaces/*.meltano.yml (starts no run)."""
    workspaces = MeltanoProject.from_env().workspaces()
    added, removed = keep_partitions_in_step(context.instance, workspaces)
    return dg.SkipReason(f"partitions: added {added or 'none'}, removed {removed or 'none'}")


@dg.schedule(name="sync_workspaces_every_15_minutes", cron_schedule=EVERY_15_MINUTES,
             job_name=LOADS_JOB, default_status=default_schedule_status())
def every_15_minutes(context: dg.ScheduleEvaluationContext
                     ) -> list[dg.RunRequest] | dg.SkipReason:
    """A run per workspace, tagged with its key group; none while the last tick's still run."""
    recovery.fail_dead_runs(context.instance)
    in_flight = context.instance.get_run_records(
        dg.RunsFilter(job_name=LOADS_JOB, statuses=recovery.IN_FLIGHT), limit=1)
    if in_flight:
        # A sync slowed by rate limits may outlast 15 minutes; the next starts once it is done.
        return dg.SkipReason(f"run {in_flight[0].dagster_run.run_id} is still syncing")
    project = MeltanoProject.from_env()
    workspaces = project.workspaces()
    keep_partitions_in_step(context.instance, workspaces)
    groups = key_groups(project, workspaces)
    return [dg.RunRequest(partition_key=w.name, tags={KEY_GROUP_TAG: groups[w.name]})
            for w in workspaces]


@dg.schedule(name="check_freshness_every_15_minutes", cron_schedule="7-59/15 * * * *",
             job_name=FRESHNESS_JOB, default_status=default_schedule_status())
def freshness_every_15_minutes(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest()


defs = build_definitions()


def sync_workspaces_job() -> dg.JobDefinition:
    """The loads job, importable by name: what a run reconstructs in its process."""
    return defs.resolve_job_def(LOADS_JOB)


def build_marts_job() -> dg.JobDefinition:
    return defs.resolve_job_def(MARTS_JOB)
