"""Many workspaces: three clients synced in parallel through Dagster into one Postgres, twice.

acme, beta and gamma each have a sandbox of their own (seeds 21, 22, 23: Leadterra's ids are the
same in all three, with different rows behind them). The first `python -m orchestration sync-all`
(what `make sync-all` runs) has gamma's Tuco key wrong; then every sandbox adds activity, the key
is fixed, and the second sync-all runs; each ends with the real dbt build of the marts over every
workspace that has loaded.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import typing as t
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from orchestration.assets import RAW_LOAD
from orchestration.project import MeltanoProject
from tap_replies.sandbox import Sandbox
from tests.postgres_cluster import PostgresServer
from tests.workspace_harness import (
    MELTANO,
    SyncAll,
    Workspace,
    base_env,
    differences,
    make_project,
    query,
    require_plugins,
    states,
    sync_all,
)

pytestmark = [
    pytest.mark.elt,
    # Dagster's own Pipes code calls one of its preview APIs; nothing here to act on.
    pytest.mark.filterwarnings("ignore::dagster.PreviewWarning"),
]

PROVIDERS = ("leadterra", "smartlead", "tuco")
INCREMENTAL = ("leadterra_replies", "smartlead_campaign_leads", "smartlead_inbox_replies",
               "tuco_replies")
# A reply re-categorised after it was read keeps its reply time, so the inbox stream (incremental
# on reply time) does not re-read it; the leads stream carries the new category (tests/test_elt.py).
STALE_AFTER_INCREMENTAL = {"smartlead_inbox_replies": {"category"}}


@dataclass
class Scenario:
    project: Path
    server: PostgresServer
    workspaces: dict[str, Workspace]
    first: SyncAll
    first_truth: dict[str, dict[str, list[dict[str, t.Any]]]]
    first_differences: dict[str, list[str]]
    first_gamma_tuco_rows: int
    second: SyncAll
    second_truth: dict[str, dict[str, list[dict[str, t.Any]]]]
    second_requests: dict[str, list[t.Any]]  # sandbox (by workspace that owns it) → requests
    env: dict[str, str]

    def runs(self) -> list[dg.RunRecord]:
        """The sync_workspaces runs (one per workspace partition and sync-all), oldest first."""
        with dg.DagsterInstance.from_config(str(self.project / ".dagster")) as instance:
            records = instance.get_run_records(dg.RunsFilter(job_name="sync_workspaces"))
        return sorted(records, key=lambda r: r.create_timestamp)

    def runs_of_sync(self, index: int) -> dict[str, dg.RunRecord]:
        """Sync-all number `index` (0, 1): workspace → its run."""
        runs = self.runs()
        assert len(runs) == 2 * len(self.workspaces), [r.dagster_run.tags for r in runs]
        chosen = runs[index * len(self.workspaces):(index + 1) * len(self.workspaces)]
        return {r.dagster_run.tags["dagster/partition"]: r for r in chosen}

    def step_events(self, run_id: str) -> list[dg.EventLogEntry]:
        with dg.DagsterInstance.from_config(str(self.project / ".dagster")) as instance:
            return list(instance.all_logs(run_id))


def all_differences(scenario_server: PostgresServer, workspace: Workspace,
                    truth: dict[str, list[dict[str, t.Any]]],
                    ignore: dict[str, set[str]] | None = None) -> list[str]:
    keys = workspace.primary_keys()
    return [problem for stream, rows in truth.items()
            for problem in differences(scenario_server, f"tap_replies__{workspace.name}", stream,
                                       rows, keys[stream], (ignore or {}).get(stream, ()))]


@pytest.fixture(scope="module")
def scenario(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
             ) -> t.Iterator[Scenario]:
    require_plugins()
    server = postgres.create_database("workspaces")
    project = make_project(tmp_path_factory.mktemp("project"))
    with Sandbox(seed=21) as a, Sandbox(seed=22) as b, Sandbox(seed=23) as c:
        workspaces = {
            "acme": Workspace("acme", dict.fromkeys(PROVIDERS, a)),
            "beta": Workspace("beta", dict.fromkeys(PROVIDERS, b)),
            "gamma": Workspace("gamma", dict.fromkeys(PROVIDERS, c), wrong_keys={"tuco"}),
        }
        for name in workspaces:
            MeltanoProject(project).add_workspace(name)

        def env() -> dict[str, str]:
            merged = base_env(project, server)
            for workspace in workspaces.values():
                merged.update(workspace.env())
            return merged

        first = sync_all(project, env())
        first_truth = {name: w.truth() for name, w in workspaces.items()}
        first_differences = {name: all_differences(server, w, first_truth[name])
                             for name, w in workspaces.items()}
        gamma_tuco = query(server, "SELECT count(*) AS n FROM tap_replies__gamma.tuco_replies")
        for sandbox in (a, b, c):
            sandbox.add_activity()
            sandbox.clear_log()
        workspaces["gamma"].wrong_keys.clear()
        second = sync_all(project, env())
        yield Scenario(
            project, server, workspaces, first, first_truth, first_differences,
            int(gamma_tuco[0]["n"]), second,
            {name: w.truth() for name, w in workspaces.items()},
            {"acme": list(a.request_log), "beta": list(b.request_log),
             "gamma": list(c.request_log)},
            env(),
        )


def parse(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def interval(scenario: Scenario, run_id: str) -> tuple[float, float]:
    """(first start, last end) of the run's load step and its retries, from the event log."""
    starts: list[float] = []
    ends: list[float] = []
    for entry in scenario.step_events(run_id):
        kind = entry.dagster_event_type
        if kind == dg.DagsterEventType.STEP_START:
            starts.append(entry.timestamp)
        elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            ends.append(entry.timestamp)
    return min(starts), max(ends)


# -- the tests -----------------------------------------------------------------------------------


def test_the_sandboxes_ids_coincide_across_workspaces_with_different_rows_behind_them(
        scenario: Scenario):
    """The premise of the isolation tests: the same Leadterra ids, different replies."""
    truths = [{r["id"]: r for r in scenario.second_truth[name]["leadterra_replies"]}
              for name in ("acme", "beta")]
    shared = truths[0].keys() & truths[1].keys()
    assert len(shared) >= 200
    assert sum(truths[0][i] != truths[1][i] for i in shared) > len(shared) / 2


def test_each_workspace_lands_in_its_own_schema_equal_to_its_sandbox(scenario: Scenario):
    assert scenario.second.returncode == 0, scenario.second.output + scenario.second.log[-4000:]
    for name, workspace in scenario.workspaces.items():
        problems = all_differences(scenario.server, workspace, scenario.second_truth[name],
                                   ignore=STALE_AFTER_INCREMENTAL)
        assert not problems, f"{name}: {len(problems)} differences:\n" + "\n".join(problems[:20])


def test_a_wrong_key_fails_its_workspace_in_one_line_and_the_others_still_load(
        scenario: Scenario):
    first = scenario.first
    assert first.returncode == 1, first.output
    failed = [line for line in first.output.splitlines() if "FAILED" in line]
    assert len(failed) == 1, first.output
    assert failed[0].startswith("sync-all: FAILED workspace gamma: Tuco"), failed
    assert "401" in failed[0], failed
    assert "tuco.api_key" in failed[0], failed
    assert "2 of 3 workspaces loaded (acme, beta)" in first.output
    assert "Traceback" not in first.output
    for name in ("acme", "beta"):
        assert not scenario.first_differences[name], scenario.first_differences[name][:10]
    # gamma's streams before the failing one loaded, and nothing of Tuco.
    assert not [p for p in scenario.first_differences["gamma"] if "tuco_replies" not in p]
    assert scenario.first_gamma_tuco_rows == 0


def test_a_wrong_key_is_not_retried(scenario: Scenario):
    gamma = scenario.runs_of_sync(0)["gamma"]
    assert gamma.dagster_run.status == dg.DagsterRunStatus.FAILURE
    retried = [e.step_key for e in scenario.step_events(gamma.dagster_run.run_id)
               if e.dagster_event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert retried == []


def campaign_ids_in(value: t.Any) -> set[int]:
    """Every `campaign_id` anywhere in a state (Smartlead leads keep one bookmark per campaign)."""
    if isinstance(value, dict):
        found = {int(value["campaign_id"])} if "campaign_id" in value else set()
        return found.union(*(campaign_ids_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(campaign_ids_in(v) for v in value))
    return set()


def test_each_workspace_keeps_its_own_state_in_postgres(scenario: Scenario):
    found = states(scenario.server)
    expected = {f"dev:tap-replies--{name}-to-target-postgres" for name in scenario.workspaces}
    assert set(found) == expected
    for name in scenario.workspaces:
        state = found[f"dev:tap-replies--{name}-to-target-postgres"]
        bookmarks = state["singer_state"]["bookmarks"]
        truth = scenario.second_truth[name]
        newest = bookmarks["leadterra_replies"]["replication_key_value"]
        assert parse(newest) == max(parse(r["receivedAt"]) for r in truth["leadterra_replies"])
        # The campaigns each sandbox seeds differ: a state holding another's would show it.
        own = {int(c["id"]) for c in truth["smartlead_campaigns"]}
        assert campaign_ids_in(bookmarks["smartlead_campaign_leads"]) == own, name
        assert "api_key" not in json.dumps(bookmarks)


def test_the_second_run_is_incremental_for_each_workspace(scenario: Scenario):
    second = scenario.runs_of_sync(1)
    with dg.DagsterInstance.from_config(str(scenario.project / ".dagster")) as instance:
        for name in scenario.workspaces:
            [record] = instance.fetch_materializations(dg.AssetRecordsFilter(
                asset_key=RAW_LOAD, asset_partitions=[name]), limit=1).records
            event = record.event_log_entry
            assert event.run_id == second[name].dagster_run.run_id, name
            materialization = event.asset_materialization
            assert materialization is not None
            emitted = materialization.metadata["records_per_stream"].value
            # gamma's Tuco never loaded before (wrong key): its first full read comes now.
            streams = [s for s in INCREMENTAL if not (name == "gamma" and s == "tuco_replies")]
            for stream in streams:
                table = len(scenario.first_truth[name][stream])
                assert emitted[stream] < table / 2, (name, stream, emitted[stream], table)
    for name in ("acme", "beta"):
        newest = max(parse(r["respondedAtUtc"])
                     for r in scenario.first_truth[name]["tuco_replies"])
        tuco = [r for r in scenario.second_requests[name] if r.path == "/api/replies"]
        assert tuco, name
        assert all(parse(r.query["dateFrom"][0]) >= newest for r in tuco), name


def test_the_workspaces_sync_in_parallel(scenario: Scenario):
    for index in (0, 1):
        runs = scenario.runs_of_sync(index)
        acme, beta, gamma = (interval(scenario, runs[n].dagster_run.run_id)
                             for n in ("acme", "beta", "gamma"))
        # Each ran while another did (no two share a key, so no lock holds one back).
        for one, others in ((acme, (beta, gamma)), (beta, (acme, gamma)), (gamma, (acme, beta))):
            assert any(one[0] < other[1] and other[0] < one[1] for other in others), runs


def test_the_marts_build_after_the_loads_over_every_workspace_that_loaded(scenario: Scenario):
    for sync in (scenario.first, scenario.second):
        assert "marts built" in sync.output, sync.output
    counted = {row["workspace"]: row["n"] for row in query(
        scenario.server, "SELECT workspace, count(*) AS n FROM analytics.replies GROUP BY 1")}
    expected = {name: sum(len(truth[s]) for s in
                          ("leadterra_replies", "smartlead_inbox_replies", "tuco_replies"))
                for name, truth in scenario.second_truth.items()}
    assert counted == expected


def test_no_key_reaches_the_output_or_the_log(scenario: Scenario):
    keys = {v for k, v in scenario.env.items() if k.endswith("_API_KEY")}
    keys |= {"wrong-" + key for key in keys}
    for sync in (scenario.first, scenario.second):
        assert sync.log, "sync-all named no log file"
        for key in keys:
            assert key not in sync.output
            assert key not in sync.log


def test_meltano_sees_the_same_workspaces_as_the_code_location(scenario: Scenario):
    proc = subprocess.run([str(MELTANO), "plugin", "list", "--format", "json"],
                          cwd=scenario.project, env=scenario.env, capture_output=True, text=True,
                          timeout=120, check=True)
    listed = json.loads(proc.stdout[proc.stdout.index("["):proc.stdout.rindex("]") + 1])
    # (Meltano 4.4.1 lists each plugin of an included file twice.)
    inherited = sorted({p["name"] for p in listed if p.get("inherit_from") == "tap-replies"})
    found = [w.plugin for w in MeltanoProject(scenario.project).workspaces()]
    assert inherited == found == [f"tap-replies--{name}" for name in ("acme", "beta", "gamma")]


def test_meltano_lists_the_pipeline_schedule_every_15_minutes(scenario: Scenario):
    proc = subprocess.run([str(MELTANO), "schedule", "list", "--format", "json"],
                          cwd=scenario.project, env=scenario.env, capture_output=True, text=True,
                          timeout=120, check=True)
    listed = json.loads(proc.stdout[proc.stdout.index("{"):proc.stdout.rindex("}") + 1])
    schedules = {s["name"]: s for s in listed["schedules"]["job"]}
    schedule = schedules["replies-postgres-every-15-minutes"]
    assert schedule["interval"] == "*/15 * * * *"
    assert schedule["job"]["name"] == "replies-postgres"
