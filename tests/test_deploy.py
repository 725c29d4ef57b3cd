"""The deployment's instance (orchestration/deploy/dagster.yaml): Dagster's runs, events and
schedule state in PostgreSQL, so they survive a restart of every Dagster process."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster_postgres import PostgresRunStorage, PostgresScheduleStorage

from tests.postgres_cluster import PostgresServer

DEPLOY = Path(__file__).resolve().parent.parent / "orchestration" / "deploy"


def test_the_deployed_instance_keeps_its_runs_in_postgres_across_a_restart(
        postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server = postgres.create_database("dagster_instance")
    for name, value in {"DAGSTER_PG_HOST": server.host, "DAGSTER_PG_PORT": str(server.port),
                        "DAGSTER_PG_USER": server.user, "DAGSTER_PG_PASSWORD": server.password,
                        "DAGSTER_PG_DB": server.database}.items():
        monkeypatch.setenv(name, value)
    shutil.copyfile(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        assert instance.run_monitoring_enabled
        run = instance.add_run(dg.DagsterRun(job_name="sync_workspaces",
                                             tags={"dagster/partition": "acme"}))
        instance.add_dynamic_partitions("workspaces", ["acme"])
    with dg.DagsterInstance.from_config(str(tmp_path)) as restarted:  # a new process would
        assert restarted.get_run_by_id(run.run_id) is not None
        assert restarted.get_dynamic_partitions("workspaces") == ["acme"]


@pytest.mark.parametrize(("name", "launcher"), [
    ("run_launcher.k8s.yaml", {"module": "dagster_k8s", "class": "K8sRunLauncher"}),
    ("run_launcher.docker.yaml", {"module": "dagster_docker", "class": "DockerRunLauncher"}),
])
def test_the_untested_launcher_configs_say_so_and_are_a_run_launcher_block(
        name: str, launcher: dict[str, str]):
    text = (DEPLOY / name).read_text()
    assert text.startswith("# NOT TESTED HERE")
    config = yaml.safe_load(text)
    assert list(config) == ["run_launcher"]
    assert {k: config["run_launcher"][k] for k in ("module", "class")} == launcher
