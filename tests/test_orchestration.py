"""The orchestration layer on its own: workspace files, what follows from a name, key groups,
Meltano's state database, the Pipes child's reading of Meltano's log, retries, the schedule and
the marts' automation. Meltano itself is a stand-in here (MELTANO_BIN); tests/test_workspaces.py
runs the real thing end to end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import typing as t
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml

from orchestration import assets, dbt_project, definitions, freshness, project, recovery, sync_all
from orchestration.__main__ import main as cli
from orchestration.key_locks import WorkspaceLocks
from orchestration.meltano_pipes import TAP_PERMANENT_EXIT_CODES, MeltanoLog
from orchestration.project import MeltanoProject, ProjectError, Workspace, key_groups
from tap_replies.failures import (
    CONFIG_EXIT_CODE,
    REFUSED_EXIT_CODE,
    TRANSIENT_EXIT_CODE,
    UNEXPECTED_EXIT_CODE,
)
from tests.postgres_cluster import PostgresServer

# Dagster's own code calls its preview and beta APIs (Pipes, automation evaluation).
pytestmark = [pytest.mark.filterwarnings("ignore::dagster.PreviewWarning"),
              pytest.mark.filterwarnings("ignore::dagster.BetaWarning")]

ROOT = Path(__file__).resolve().parent.parent
SMARTLEAD_LINE = ("Smartlead GET /api/v1/campaigns/: {status} — Invalid or missing API key — "
                  "check smartlead.api_key")


def make_project(folder: Path, names: t.Sequence[str] = (), *, dbt: bool = False,
                 environ: dict[str, str] | None = None) -> MeltanoProject:
    manifest = yaml.safe_load((ROOT / "meltano.yml").read_text())
    # The repository's meltano.yml has the dbt-postgres utility: the tests choose.
    utilities = [u for u in manifest["plugins"].get("utilities") or []
                 if u["name"] != "dbt-postgres"]
    if dbt:
        utilities.append({"name": "dbt-postgres", "namespace": "dbt_postgres"})
    manifest["plugins"]["utilities"] = utilities
    if dbt:  # the dbt project and its parsed manifest (copied with its time: still current)
        dbt_project.DbtProjectFiles(MeltanoProject(ROOT)).manifest()
        shutil.copytree(ROOT / "transform", folder / "transform",
                        ignore=shutil.ignore_patterns("logs", "run", "compiled"))
    (folder / "meltano.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    for name in names:
        MeltanoProject(folder, environ={}).add_workspace(name)
    # The dbt of the repository's dbt-postgres utility (`make plugins` installs it).
    system = {"MELTANO_SYS_DIR_ROOT": str(ROOT / ".meltano")} if dbt else {}
    return MeltanoProject(folder, environ={**system, **(environ or {})})


def log_line(event: str, **fields: t.Any) -> str:
    return json.dumps({"event": event, "timestamp": "2026-11-30T10:00:00Z", **fields})


# -- workspace files, and what follows from a name -----------------------------------------------


def test_a_workspace_file_holds_its_extractor_and_nothing_else(tmp_path: Path):
    make_project(tmp_path, ["acme"])
    written = yaml.safe_load((tmp_path / "workspaces" / "acme.meltano.yml").read_text())
    assert written == {"plugins": {"extractors": [
        {"name": "tap-replies--acme", "inherit_from": "tap-replies"}]}}


def test_a_workspace_name_must_make_a_schema_and_a_variable_prefix(tmp_path: Path):
    project_ = make_project(tmp_path, ["acme"])
    for bad in ("Acme", "acme-corp", "1acme", "a" * 51, ""):
        with pytest.raises(ProjectError, match="lower-case letters"):
            project_.add_workspace(bad)
    with pytest.raises(ProjectError, match="already exists"):
        project_.add_workspace("acme")


def test_the_schema_variables_and_state_id_follow_from_the_name():
    acme = Workspace("acme")
    assert acme.plugin == "tap-replies--acme"
    assert acme.schema == "tap_replies__acme"  # Meltano's namespace of an inherited plugin
    assert acme.env_prefix == "TAP_REPLIES__ACME_"
    variable = project.env_name(acme.plugin, "smartlead.api_key")
    assert variable == "TAP_REPLIES__ACME_SMARTLEAD_API_KEY"
    assert acme.state_id("dev", "target-postgres") == "dev:tap-replies--acme-to-target-postgres"


def test_meltano_yml_includes_the_workspace_files_and_loads_each_into_its_load_schema():
    manifest = yaml.safe_load((ROOT / "meltano.yml").read_text())
    assert "./workspaces/*.meltano.yml" in manifest["include_paths"]
    postgres = next(p for p in manifest["plugins"]["loaders"] if p["name"] == "target-postgres")
    schema = next(s for s in postgres["settings"] if s["name"] == "default_target_schema")
    assert schema["value"] == "$MELTANO_EXTRACT__LOAD_SCHEMA"


def test_the_cli_writes_a_workspace_and_lists_where_it_lands(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    make_project(tmp_path)
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(tmp_path))
    assert cli(["add", "acme"]) == 0
    assert "TAP_REPLIES__ACME_SMARTLEAD_API_KEY" in capsys.readouterr().out
    assert cli(["list"]) == 0
    assert capsys.readouterr().out.split("\t")[:3] == [
        "acme", "schema tap_replies__acme", "state dev:tap-replies--acme-to-target-postgres"]
    assert cli(["add", "Acme"]) == 2
    assert capsys.readouterr().err.startswith("orchestration: workspace name 'Acme'")


# -- settings and keys ---------------------------------------------------------------------------


def test_a_workspace_reads_its_own_variables_then_the_parents(tmp_path: Path):
    (tmp_path / ".env").write_text("TAP_REPLIES__BETA_TUCO_API_KEY=from-dotenv\n")
    project_ = make_project(tmp_path, ["acme", "beta"], environ={
        "TAP_REPLIES_SMARTLEAD_API_KEY": "shared",
        "TAP_REPLIES__ACME_SMARTLEAD_API_KEY": "acme-own",
    })
    assert project_.setting("tap-replies--acme", "smartlead.api_key") == "acme-own"
    assert project_.setting("tap-replies--beta", "smartlead.api_key") == "shared"
    assert project_.setting("tap-replies--beta", "tuco.api_key") == "from-dotenv"
    assert project_.setting("target-postgres", "port") == 5432  # the setting's default value


def test_workspaces_sharing_a_provider_key_share_one_pool(tmp_path: Path):
    project_ = make_project(tmp_path, ["acme", "beta", "gamma", "delta"], environ={
        "TAP_REPLIES__ACME_SMARTLEAD_API_KEY": "agency-key",
        "TAP_REPLIES__BETA_SMARTLEAD_API_KEY": "agency-key",
        "TAP_REPLIES__BETA_TUCO_API_KEY": "beta-tuco",
        "TAP_REPLIES__GAMMA_TUCO_API_KEY": "beta-tuco",  # through beta, gamma joins acme's group
        # A shared key reads each workspace's own campaigns (else the project is refused).
        "TAP_REPLIES__ACME_SMARTLEAD_CAMPAIGN_IDS": "[1]",
        "TAP_REPLIES__BETA_SMARTLEAD_CAMPAIGN_IDS": "[2]",
        "TAP_REPLIES__BETA_TUCO_CAMPAIGN_IDS": '["b"]',
        "TAP_REPLIES__GAMMA_TUCO_CAMPAIGN_IDS": '["g"]',
        # The same key on another server is another rate budget.
        "TAP_REPLIES__DELTA_SMARTLEAD_API_KEY": "agency-key",
        "TAP_REPLIES__DELTA_SMARTLEAD_API_URL": "https://eu.example.invalid",
    })
    groups = key_groups(project_, project_.workspaces())
    assert groups == {"acme": "acme+beta+gamma", "beta": "acme+beta+gamma",
                      "gamma": "acme+beta+gamma", "delta": "delta"}
    # Each workspace's load takes a lock per provider key it uses: shared keys, shared locks.
    locks = {w.name: set(WorkspaceLocks(project_, w, "postgresql://unused").ids)
             for w in project_.workspaces()}
    assert locks["acme"] & locks["beta"]
    assert locks["beta"] & locks["gamma"]
    assert not locks["acme"] & locks["gamma"]  # (they wait only through beta)
    assert not locks["delta"] & (locks["acme"] | locks["beta"] | locks["gamma"])


def test_a_key_shared_through_the_parents_variable_puts_every_workspace_in_one_pool(
        tmp_path: Path):
    names = [f"client_{i:02d}" for i in range(12)]
    project_ = make_project(tmp_path, names, environ={
        "TAP_REPLIES_TUCO_API_KEY": "one-for-all",
        **{f"TAP_REPLIES__{name.upper()}_TUCO_CAMPAIGN_IDS": f'["{name}"]' for name in names}})
    groups = set(key_groups(project_, project_.workspaces()).values())
    assert len(groups) == 1
    [group] = groups
    assert group.startswith("client_00+11-more-")
    assert len(group) < 40


def test_the_instance_queues_one_run_per_key_group_and_hides_the_newsletter(tmp_path: Path):
    home = sync_all.dagster_home(make_project(tmp_path))
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    [limit] = config["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert limit == {"key": definitions.KEY_GROUP_TAG, "value": {"applyLimitPerUniqueValue": True},
                     "limit": 1}
    assert config["nux"] == {"enabled": False}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)


# -- Meltano's system database -------------------------------------------------------------------


def test_state_goes_to_the_warehouse_unless_meltano_database_uri_names_postgres(tmp_path: Path):
    warehouse = {"TARGET_POSTGRES_HOST": "db", "TARGET_POSTGRES_USER": "loader",
                 "TARGET_POSTGRES_PASSWORD": "p@ss/word", "TARGET_POSTGRES_DATABASE": "raw"}
    uri = assets.system_database_uri(make_project(tmp_path, environ=warehouse))
    assert uri == ("postgresql+psycopg://loader:p%40ss%2Fword@db:5432/raw"
                   "?options=-csearch_path%3Dmeltano")
    explicit = "postgresql+psycopg://meltano@state-db/meltano"
    assert assets.system_database_uri(make_project(
        tmp_path, environ={**warehouse, "MELTANO_DATABASE_URI": explicit})) == explicit
    with pytest.raises(ProjectError, match="not PostgreSQL"):
        assets.system_database_uri(make_project(
            tmp_path, environ={"MELTANO_DATABASE_URI": "sqlite:///.meltano/meltano.db"}))
    with pytest.raises(ProjectError, match="TARGET_POSTGRES_HOST"):
        assets.system_database_uri(make_project(tmp_path))


def test_sync_all_names_a_missing_setup_in_one_line(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch):
    make_project(tmp_path)
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(tmp_path))
    for name in [k for k in os.environ if k.startswith(("TARGET_POSTGRES", "MELTANO_DATABASE"))]:
        monkeypatch.delenv(name)
    lines: list[str] = []
    assert sync_all.sync_all(echo=lines.append) == 2
    assert lines == [f"sync-all: no workspaces in {tmp_path}: add one with `python -m "
                     "orchestration add <name>` (writes workspaces/<name>.meltano.yml)"]
    MeltanoProject(tmp_path).add_workspace("acme")
    lines.clear()
    assert sync_all.sync_all(echo=lines.append) == 2
    [line] = lines
    assert "TARGET_POSTGRES_HOST" in line


# -- reading Meltano's log -----------------------------------------------------------------------


def test_the_taps_own_line_is_the_failure_and_a_wrong_key_is_not_worth_a_retry():
    log = MeltanoLog()
    log.feed(log_line("tap-replies: " + SMARTLEAD_LINE.format(status="401 Unauthorized"),
                      name="tap-replies--acme", stdio="stderr"))
    log.feed(log_line("Extractor failed", level="error"))
    log.feed(log_line("Block run completed", exit_codes={"extractors": REFUSED_EXIT_CODE}))
    assert log.failure_line(REFUSED_EXIT_CODE) == SMARTLEAD_LINE.format(status="401 Unauthorized")
    assert not log.retryable


def test_an_outage_that_outlasted_the_taps_retries_is_worth_one_of_dagsters():
    log = MeltanoLog()
    log.feed(log_line("tap-replies: " + SMARTLEAD_LINE.format(status="503 Service Unavailable"),
                      name="tap-replies--acme", stdio="stderr"))
    log.feed(log_line("Block run completed", exit_codes={"extractors": TRANSIENT_EXIT_CODE}))
    assert log.retryable


@pytest.mark.parametrize(("status", "exit_code", "retryable"), [
    ("401 Unauthorized", TRANSIENT_EXIT_CODE, True),
    ("503 Service Unavailable", REFUSED_EXIT_CODE, False),
    ("a wording no regex knows", CONFIG_EXIT_CODE, False),
    ("a wording no regex knows", UNEXPECTED_EXIT_CODE, True),
])
def test_the_retry_decision_reads_the_taps_exit_code_never_its_wording(
        status, exit_code, retryable):
    log = MeltanoLog()
    log.feed(log_line("tap-replies: " + SMARTLEAD_LINE.format(status=status),
                      name="tap-replies--acme", stdio="stderr"))
    log.feed(log_line("Block run completed", exit_codes={"extractors": exit_code}))
    assert log.retryable is retryable


def test_the_pipes_script_restates_the_taps_permanent_exit_codes():
    assert {CONFIG_EXIT_CODE, REFUSED_EXIT_CODE} == TAP_PERMANENT_EXIT_CODES


def test_invalid_settings_are_not_retried():
    log = MeltanoLog()
    log.feed(log_line("tap-replies: smartlead.requests_per_minute must be a positive number",
                      name="tap-replies--acme", stdio="stderr"))
    log.feed(log_line("Block run completed", exit_codes={"extractors": 2}))
    assert not log.retryable


def test_a_loader_failure_names_the_loader_and_its_last_line():
    log = MeltanoLog()
    log.feed(log_line("Traceback (most recent call last):", name="target-postgres",
                      stdio="stderr"))
    log.feed(log_line("psycopg.OperationalError: connection refused", name="target-postgres",
                      stdio="stderr"))
    log.feed(log_line("Loader failed", level="error"))
    assert log.failure_line(1) == "target-postgres: psycopg.OperationalError: connection refused"
    assert log.retryable


def test_records_per_stream_come_from_the_taps_metrics():
    log = MeltanoLog()
    for count in (120, 5):
        metric = {"type": "counter", "metric": "record_count", "value": count,
                  "tags": {"stream": "tuco_replies"}}
        log.feed(log_line(f"METRIC: {json.dumps(metric)}", name="tap-replies--acme",
                          stdio="stderr"))
    assert log.records == {"tuco_replies": 125}


# -- the assets, with a stand-in meltano ---------------------------------------------------------

STAND_IN_MELTANO = """\
#!{python}
# Answers like `meltano --log-format=json run …`: fails while the counter file says so.
import json, os, sys
from pathlib import Path
if "upgrade" in sys.argv:
    sys.exit(0)
counter = Path(os.environ["STAND_IN_COUNTER"])
calls = int(counter.read_text() or 0) + 1 if counter.exists() else 1
counter.write_text(str(calls))
failures = int(os.environ["STAND_IN_FAILURES"])
def say(event, **fields):
    print(json.dumps({{"event": event, **fields}}), flush=True)
if calls <= failures:
    say("tap-replies: " + os.environ["STAND_IN_LINE"], name="tap-replies--acme", stdio="stderr")
    say("Extractor failed", level="error")
    # As Meltano reports it: the tap's own exit code (tap_replies/failures.py).
    code = int(os.environ.get("STAND_IN_TAP_EXIT", "1"))
    say("Block run completed", exit_codes={{"extractors": code}})
    sys.exit(1)
metric = {{"metric": "record_count", "value": 7, "tags": {{"stream": "tuco_replies"}}}}
say("METRIC: " + json.dumps(metric), name="tap-replies--acme", stdio="stderr")
"""


@pytest.fixture
def stand_in(tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
             ) -> MeltanoProject:
    """A one-workspace project whose `meltano` is the stand-in above."""
    server = postgres.create_database("orchestration_units")
    project_ = make_project(tmp_path, ["acme"])
    meltano = tmp_path / "meltano"
    meltano.write_text(STAND_IN_MELTANO.format(python=sys.executable))
    meltano.chmod(0o755)
    for name, value in {**server.env(), "MELTANO_BIN": str(meltano),
                        "STAND_IN_COUNTER": str(tmp_path / "calls")}.items():
        monkeypatch.setenv(name, value)
    return project_


def materialize_acme(project_: MeltanoProject) -> dg.ExecuteInProcessResult:
    defs = definitions.build_definitions(
        project_, retry_policy=dg.RetryPolicy(max_retries=2, delay=0.1,
                                              backoff=dg.Backoff.EXPONENTIAL))
    raw = defs.resolve_assets_def(assets.RAW_LOAD)  # with its resources
    with dg.DagsterInstance.ephemeral() as instance:
        assets.keep_partitions_in_step(instance, project_.workspaces())
        return dg.materialize([raw], instance=instance, partition_key="acme",
                              raise_on_error=False)


def attempts(result: dg.ExecuteInProcessResult) -> int:
    return 1 + sum(e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
                   for e in result.all_events)


def test_a_load_that_failed_on_an_outage_is_retried_and_then_materialises(
        stand_in: MeltanoProject, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STAND_IN_FAILURES", "1")
    monkeypatch.setenv("STAND_IN_LINE", SMARTLEAD_LINE.format(status="503 Service Unavailable"))
    monkeypatch.setenv("STAND_IN_TAP_EXIT", str(TRANSIENT_EXIT_CODE))
    result = materialize_acme(stand_in)
    assert result.success
    assert attempts(result) == 2
    [materialization] = result.asset_materializations_for_node("tap_replies_raw")
    assert materialization.metadata["records_per_stream"].value == {"tuco_replies": 7}


def test_a_wrong_key_fails_once_in_one_line_naming_the_workspace(
        stand_in: MeltanoProject, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STAND_IN_FAILURES", "9")
    monkeypatch.setenv("STAND_IN_LINE", SMARTLEAD_LINE.format(status="401 Unauthorized"))
    monkeypatch.setenv("STAND_IN_TAP_EXIT", str(REFUSED_EXIT_CODE))
    result = materialize_acme(stand_in)
    assert not result.success
    assert attempts(result) == 1
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    described = failure.step_failure_data.user_failure_data
    assert described is not None
    assert described.description == "workspace acme: " + SMARTLEAD_LINE.format(
        status="401 Unauthorized")


def test_an_unreachable_state_database_is_retried_and_then_named(
        stand_in: MeltanoProject, monkeypatch: pytest.MonkeyPatch):
    closed = socket_nobody_listens_on()
    monkeypatch.setenv("MELTANO_DATABASE_URI", f"postgresql+psycopg://u@127.0.0.1:{closed}/d")
    monkeypatch.setenv("STAND_IN_FAILURES", "0")
    result = materialize_acme(stand_in)
    assert not result.success
    assert attempts(result) == 3  # the first try and max_retries=2
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    described = failure.step_failure_data.user_failure_data
    assert described is not None
    assert described.description.startswith(
        "workspace acme: Meltano's system database (PostgreSQL) is unreachable: ")


def test_a_missing_meltano_is_named_in_one_line_and_not_retried(
        stand_in: MeltanoProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("MELTANO_BIN", str(tmp_path / "no-such-meltano"))
    monkeypatch.setenv("STAND_IN_FAILURES", "0")
    result = materialize_acme(stand_in)
    assert attempts(result) == 1
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    described = failure.step_failure_data.user_failure_data
    assert described is not None
    assert described.description.startswith(
        f"workspace acme: cannot start {tmp_path / 'no-such-meltano'}: No such file")


def socket_nobody_listens_on() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- the job, the schedule, the marts ------------------------------------------------------------


def model_tests(manifest: dict[str, t.Any]) -> set[str]:
    """Every dbt test on a model: the asset checks there should be."""
    return {node["name"] for node in manifest["nodes"].values()
            if node["resource_type"] == "test"
            and any(d.startswith("model.") for d in node["depends_on"]["nodes"])}


def test_every_dbt_model_is_an_asset_downstream_of_the_one_partitioned_raw_load(tmp_path: Path):
    project_ = make_project(tmp_path, ["acme", "beta"], dbt=True)
    defs = definitions.build_definitions(project_)
    graph = defs.resolve_asset_graph()
    manifest = dbt_project.DbtProjectFiles(project_).manifest()
    models = {n["name"] for n in manifest["nodes"].values()
              if n["resource_type"] in ("model", "snapshot")}  # snapshots: the history tables
    keys = set(graph.get_all_asset_keys())
    assert {k.path[-1] for k in keys} == models | {"tap_replies_raw"}
    assert assets.RAW_LOAD in keys
    assert len(keys) == len(models) + 1
    staging = {k for k in keys if graph.get(k).group_name == "staging"}
    assert staging
    assert all(graph.get(k).parent_keys == {assets.RAW_LOAD} for k in staging)
    marts = {dg.AssetKey(["analytics", m]) for m in dbt_project.marts(manifest)}
    assert marts
    assert marts <= keys
    assert all(graph.get(m).parent_keys <= keys - {assets.RAW_LOAD} for m in marts)
    checks = {key.name for key in graph.asset_check_keys} - {freshness.CHECK_NAME}
    assert checks == model_tests(manifest)
    assert graph.get(assets.RAW_LOAD).partitions_def == assets.WORKSPACES
    assert defs.resolve_assets_def(assets.RAW_LOAD).op.retry_policy == assets.RETRY


def test_the_marts_are_the_models_under_marts_or_tagged_mart():
    node = {"resource_type": "model", "fqn": ["tap_replies", "marts", "replies"], "tags": []}
    assert dbt_project.is_mart(node)
    assert dbt_project.is_mart({**node, "fqn": ["tap_replies", "dashboard", "x"], "tags": ["mart"]})
    assert not dbt_project.is_mart({**node, "fqn": ["tap_replies", "staging", "stg_x"]})
    assert not dbt_project.is_mart({**node, "resource_type": "test"})


def test_without_the_dbt_utility_there_is_the_load_but_no_marts(tmp_path: Path):
    defs = definitions.build_definitions(make_project(tmp_path, ["acme"]))
    assert list(defs.resolve_asset_graph().get_all_asset_keys()) == [assets.RAW_LOAD]


def test_the_partitions_follow_the_workspace_files(tmp_path: Path):
    project_ = make_project(tmp_path, ["acme", "beta"])
    with dg.instance_for_test() as instance:
        assert assets.keep_partitions_in_step(instance, project_.workspaces()) == (
            ["acme", "beta"], [])
        (tmp_path / "workspaces" / "beta.meltano.yml").unlink()
        MeltanoProject(tmp_path, environ={}).add_workspace("gamma")
        assert assets.keep_partitions_in_step(
            instance, MeltanoProject(tmp_path, environ={}).workspaces()) == (["gamma"], ["beta"])
        assert instance.get_dynamic_partitions("workspaces") == ["acme", "gamma"]


def test_a_hundred_workspace_files_are_a_hundred_partitions_of_one_asset(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    names = [f"client_{i:03d}" for i in range(100)]
    environ = {f"TAP_REPLIES__{n.upper()}_TUCO_API_KEY": f"key-{i // 2}"  # pairs share a key
               for i, n in enumerate(names)}
    # ... each reading campaigns of its own (one account's campaigns twice would be refused).
    environ |= {f"TAP_REPLIES__{n.upper()}_TUCO_CAMPAIGN_IDS": f'["{n}"]' for n in names}
    project_ = make_project(tmp_path, names, dbt=True, environ=environ)
    defs = definitions.build_definitions(project_)
    graph = defs.resolve_asset_graph()
    manifest = dbt_project.DbtProjectFiles(project_).manifest()
    models = [n for n in manifest["nodes"].values()
              if n["resource_type"] in ("model", "snapshot")]
    assert len(graph.get_all_asset_keys()) == len(models) + 1
    assert len(graph.asset_check_keys) == len(model_tests(manifest)) + 1
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(tmp_path))
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    schedule = defs.resolve_schedule_def("sync_workspaces_every_15_minutes")
    with dg.instance_for_test() as instance:
        requests = schedule(dg.build_schedule_context(instance))
        assert isinstance(requests, list)
        assert [r.partition_key for r in requests] == names
        assert instance.get_dynamic_partitions("workspaces") == names
        groups = [r.tags[definitions.KEY_GROUP_TAG] for r in requests]
        assert len(set(groups)) == 50
        assert groups[0] == groups[1] == "client_000+client_001"
    locks = [set(WorkspaceLocks(project_, w, "postgresql://unused").ids)
             for w in project_.workspaces()]
    assert locks[0] & locks[1]
    assert not locks[1] & locks[2]


def test_the_schedule_asks_a_run_per_workspace_and_skips_while_a_sync_is_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    make_project(tmp_path, ["acme", "beta"])
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(tmp_path))
    defs = definitions.build_definitions(MeltanoProject(tmp_path))
    schedule = defs.resolve_schedule_def("sync_workspaces_every_15_minutes")
    assert schedule.cron_schedule == "*/15 * * * *"
    assert schedule.job_name == "sync_workspaces"
    with dg.instance_for_test() as instance:
        requests = schedule(dg.build_schedule_context(instance))
        assert isinstance(requests, list)
        assert [(r.partition_key, r.tags[definitions.KEY_GROUP_TAG]) for r in requests] == [
            ("acme", "acme"), ("beta", "beta")]
        instance.add_run(dg.DagsterRun(job_name="sync_workspaces",
                                       status=dg.DagsterRunStatus.STARTED))
        skipped = schedule(dg.build_schedule_context(instance))
        assert isinstance(skipped, dg.SkipReason)
        assert "still syncing" in str(skipped.skip_message)


def test_schedules_and_the_marts_sensor_are_off_unless_automation_is_asked_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(definitions.AUTOMATION_VARIABLE, raising=False)
    assert definitions.default_schedule_status() == dg.DefaultScheduleStatus.STOPPED
    assert definitions.default_sensor_status() == dg.DefaultSensorStatus.STOPPED
    monkeypatch.setenv(definitions.AUTOMATION_VARIABLE, "on")
    assert definitions.default_schedule_status() == dg.DefaultScheduleStatus.RUNNING
    assert definitions.default_sensor_status() == dg.DefaultSensorStatus.RUNNING
    defs = definitions.build_definitions(make_project(tmp_path, ["acme"]))
    # The partitions sensor starts no run: on in development too.
    assert defs.resolve_sensor_def("workspace_partitions").default_status == (
        dg.DefaultSensorStatus.RUNNING)


def test_the_marts_build_once_the_loads_are_done_even_when_one_failed(tmp_path: Path):
    project_ = make_project(tmp_path, ["acme", "beta"], dbt=True)
    defs = definitions.build_definitions(project_)
    dbt_keys = {k for k in defs.resolve_asset_graph().get_all_asset_keys() if k != assets.RAW_LOAD}
    with dg.DagsterInstance.ephemeral() as instance:
        assets.keep_partitions_in_step(instance, project_.workspaces())
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert first.total_requested == 0
        # acme loaded; beta failed (no materialization): the marts do not wait for beta.
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=assets.RAW_LOAD, partition="acme"))
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                   cursor=first.cursor)
        assert second.total_requested == len(dbt_keys)
        third = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                  cursor=second.cursor)
        assert third.total_requested == 0  # nothing new since


def test_the_dbt_vars_name_each_workspace_and_its_schema():
    assert json.loads(dbt_project.dbt_vars([Workspace("acme"), Workspace("beta")])) == {
        "tap_replies_workspaces": [{"name": "acme", "schema": "tap_replies__acme"},
                                   {"name": "beta", "schema": "tap_replies__beta"}]}


# -- freshness -----------------------------------------------------------------------------------


def test_a_workspace_is_stale_when_not_loaded_within_the_window():
    now = 1_000_000.0
    latest = {"acme": now - 600, "beta": now - 2 * 3600, "gamma": None}
    assert freshness.stale(latest, now) == {"beta": "last loaded 120 min ago",
                                            "gamma": "never loaded"}
    assert freshness.stale({"acme": now - 600}, now) == {}


def test_the_freshness_check_fails_naming_each_workspace_not_loaded_in_the_window(
        tmp_path: Path):
    project_ = make_project(tmp_path, ["acme", "beta"])
    clock = {"now": 0.0}
    check = freshness.freshness_check(assets.RAW_LOAD, "workspaces", clock=lambda: clock["now"])
    with dg.instance_for_test() as instance:
        assets.keep_partitions_in_step(instance, project_.workspaces())
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=assets.RAW_LOAD, partition="acme"))
        [loaded_at] = freshness.latest_loads(instance, assets.RAW_LOAD, ["acme"]).values()
        assert loaded_at is not None
        clock["now"] = loaded_at + 60
        result = check(dg.build_asset_check_context(instance=instance))
        assert not result.passed
        assert result.description == "beta: never loaded"
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=assets.RAW_LOAD, partition="beta"))
        assert check(dg.build_asset_check_context(instance=instance)).passed
        clock["now"] = loaded_at + freshness.WINDOW_SECONDS + 120
        late = check(dg.build_asset_check_context(instance=instance))
        assert not late.passed
        assert late.description.startswith("acme: last loaded 62 min ago")


# -- the locks, and what a dead load leaves ------------------------------------------------------

HOLD_A_LOCK = """\
import sys, time, psycopg
conn = psycopg.connect(sys.argv[1], autocommit=True)
conn.execute("SELECT pg_advisory_lock(%s)", (int(sys.argv[2]),))
print("held", flush=True)
time.sleep(600)
"""


def test_a_shared_key_waits_for_its_holder_and_a_killed_holder_frees_it(
        tmp_path: Path, postgres: PostgresServer):
    server = postgres.create_database("orchestration_locks")
    project_ = make_project(tmp_path, ["acme", "beta", "gamma"], environ={
        "TAP_REPLIES__ACME_TUCO_API_KEY": "agency", "TAP_REPLIES__BETA_TUCO_API_KEY": "agency",
        "TAP_REPLIES__ACME_TUCO_CAMPAIGN_IDS": '["a"]',
        "TAP_REPLIES__BETA_TUCO_CAMPAIGN_IDS": '["b"]',
        "TAP_REPLIES__GAMMA_TUCO_API_KEY": "own"})
    uri = (f"postgresql://{server.user}:{server.password}@{server.host}:{server.port}/"
           f"{server.database}")
    acme, beta, gamma = (WorkspaceLocks(project_, w, uri) for w in project_.workspaces())
    [shared] = set(acme.ids) & set(beta.ids)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_A_LOCK, uri, str(shared)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        said: list[str] = []
        with gamma.held(said.append):  # shares nothing with the holder: no wait
            assert said == []
        waiting = threading.Thread(target=lambda: beta_waits(beta, said))
        waiting.start()
        wait_for(lambda: bool(said))
        assert said[0].startswith("workspace beta waits:")
        assert waiting.is_alive()  # still waiting: the holder is alive
        holder.send_signal(signal.SIGKILL)
        waiting.join(timeout=60)
        assert not waiting.is_alive()
        assert said[-1] == "beta held"
    finally:
        holder.kill()
        holder.communicate()  # and closes its stdout


def beta_waits(beta: WorkspaceLocks, said: list[str]) -> None:
    with beta.held(said.append):
        said.append("beta held")


def wait_for(condition: t.Callable[[], bool], limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_holding_the_lock_ends_meltanos_dead_runs_and_removes_their_config(
        tmp_path: Path, postgres: PostgresServer):
    server = postgres.create_database("orchestration_dead_runs")
    project_ = make_project(tmp_path, ["acme"], environ={
        "MELTANO_SYS_DIR_ROOT": str(tmp_path / ".meltano")})
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE runs (id serial, job_name text, state text, "
                     "ended_at timestamptz)")
        conn.execute("INSERT INTO runs (job_name, state) VALUES "
                     "('dev:tap-replies--acme-to-target-postgres', 'RUNNING'), "
                     "('dev:tap-replies--beta-to-target-postgres', 'RUNNING')")
    folder = tmp_path / ".meltano" / "run" / "tap-replies--acme"
    folder.mkdir(parents=True)
    left = folder / "tap.0b5e.config.json"
    left.write_text('{"tuco": {"api_key": "secret"}}')
    (folder / "tap.properties.json").write_text("{}")  # the catalog: no secret, Meltano reuses it
    uri = (f"postgresql://{server.user}:{server.password}@{server.host}:{server.port}/"
           f"{server.database}")
    [acme] = project_.workspaces()
    locks = WorkspaceLocks(project_, acme, uri)
    with locks.held(print) as conn:
        assert locks.end_dead_meltano_runs(conn, "dev:tap-replies--acme-to-target-postgres") == 1
        assert locks.remove_dead_run_files() == 1
    assert not left.exists()
    assert (folder / "tap.properties.json").exists()
    with psycopg.connect(server.dsn()) as conn:
        rows = dict(conn.execute("SELECT job_name, state FROM runs").fetchall())
    assert rows == {"dev:tap-replies--acme-to-target-postgres": "FAIL",
                    "dev:tap-replies--beta-to-target-postgres": "RUNNING"}  # not ours to end


def killed_but_not_reaped() -> tuple[str, subprocess.Popen[bytes]]:
    """The worker tag of a process that was killed and is a zombie (nobody waited for it yet),
    as a run worker whose parent died with it is until init reaps it."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stat = Path(f"/proc/{child.pid}/stat")
    started = stat.read_text().rsplit(")", 1)[1].split()[19]
    child.kill()
    for _ in range(500):  # until the kernel has made it a zombie (never waited for here)
        if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.01)
    return f"{socket.gethostname()}:{child.pid}:{started}", child


def test_a_run_whose_worker_is_gone_is_marked_failed_and_a_live_ones_is_not():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is free now
    with dg.instance_for_test() as instance:
        gone = instance.add_run(dg.DagsterRun(
            job_name="sync_workspaces", status=dg.DagsterRunStatus.STARTED,
            tags={recovery.WORKER_TAG: f"{socket.gethostname()}:{dead.pid}:1"}))
        alive = instance.add_run(dg.DagsterRun(
            job_name="sync_workspaces", status=dg.DagsterRunStatus.STARTED,
            tags={recovery.WORKER_TAG: recovery.this_worker()}))
        elsewhere = instance.add_run(dg.DagsterRun(
            job_name="sync_workspaces", status=dg.DagsterRunStatus.STARTED,
            tags={recovery.WORKER_TAG: f"another-host:{dead.pid}:1"}))
        worker, child = killed_but_not_reaped()
        zombie = instance.add_run(dg.DagsterRun(
            job_name="sync_workspaces", status=dg.DagsterRunStatus.STARTED,
            tags={recovery.WORKER_TAG: worker}))
        failed = recovery.fail_dead_runs(instance)
        child.wait()
        assert sorted(failed) == sorted([gone.run_id, zombie.run_id])
        statuses = {run.run_id: instance.get_run_by_id(run.run_id).status  # type: ignore[union-attr]
                    for run in (gone, alive, elsewhere, zombie)}
    assert statuses == {gone.run_id: dg.DagsterRunStatus.FAILURE,
                        zombie.run_id: dg.DagsterRunStatus.FAILURE,
                        alive.run_id: dg.DagsterRunStatus.STARTED,
                        elsewhere.run_id: dg.DagsterRunStatus.STARTED}


def test_sync_all_names_a_missing_dbt_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    make_project(tmp_path, ["acme"], dbt=True)
    (tmp_path / "transform" / "target" / "dagster" / "manifest.json").unlink()
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(tmp_path))
    monkeypatch.setenv("MELTANO_SYS_DIR_ROOT", str(tmp_path / "no-plugins"))
    for name, value in {"TARGET_POSTGRES_HOST": "db", "TARGET_POSTGRES_USER": "loader",
                        "TARGET_POSTGRES_DATABASE": "raw"}.items():
        monkeypatch.setenv(name, value)
    lines: list[str] = []
    assert sync_all.sync_all(echo=lines.append) == 2
    assert lines == [f"sync-all: {tmp_path}/no-plugins/utilities/dbt-postgres/venv/bin/dbt not "
                     "found: run `make plugins` (installs Meltano's dbt-postgres utility, whose "
                     "dbt builds the manifest)"]
