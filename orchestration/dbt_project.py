"""The dbt project in the asset graph: an asset per model, an asset check per dbt test.

dagster-dbt reads the manifest, which the dbt of Meltano's dbt-postgres utility venv writes
(`dbt parse`, cached in transform/target/dagster/ until a file of the dbt project changes), and
runs `dbt build` with that same executable: dbt-core is not installed beside Dagster. Every dbt
source is the one raw-load asset (the tap's tables, a partition per workspace), so the staging
models that read them sit downstream of it. The marts are the models under models/marts/ or
tagged `mart`: read from the manifest, so a model added there appears without a list to edit.
"""


import json
import os
import subprocess
import typing as t
from pathlib import Path

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)
from typing_extensions import override

from orchestration.project import MeltanoProject, ProjectError
from orchestration.recovery import system_dir

DBT_UTILITY = "dbt-postgres"
TARGET = "postgres"
MANIFEST_DIR = Path("target") / "dagster"  # inside the dbt project
# Settings the profile's postgres output reads with env_var(); `dbt parse` connects to nothing,
# so a project without a warehouse configured still parses with these stand-ins.
PARSE_ONLY_ENV = {"TARGET_POSTGRES_HOST": "parse-only", "TARGET_POSTGRES_USER": "parse-only",
                  "TARGET_POSTGRES_DATABASE": "parse-only"}
SOURCES_OF_THE_DBT_PROJECT = ("dbt_project.yml", "models", "macros", "tests", "profiles")


class DbtProjectFiles:
    """Where the dbt project, its profiles and the utility's `dbt` are, for one Meltano project."""

    def __init__(self, project: MeltanoProject) -> None:
        self.meltano = project
        self.project_dir = project.root / "transform"
        self.profiles_dir = self.project_dir / "profiles"
        self.manifest_path = self.project_dir / MANIFEST_DIR / "manifest.json"

    @property
    def executable(self) -> Path:
        return system_dir(self.meltano) / "utilities" / DBT_UTILITY / "venv" / "bin" / "dbt"

    def resource(self) -> DbtCliResource:
        self._require_dbt()
        return DbtCliResource(project_dir=str(self.project_dir),
                              profiles_dir=str(self.profiles_dir), target=TARGET,
                              dbt_executable=str(self.executable))

    def manifest(self) -> dict[str, t.Any]:
        """The parsed manifest, parsing again only when a file of the dbt project is newer."""
        if not self._manifest_is_current():
            self._parse()
        loaded: dict[str, t.Any] = json.loads(self.manifest_path.read_text())
        return loaded

    def _manifest_is_current(self) -> bool:
        if not self.manifest_path.exists():
            return False
        built = self.manifest_path.stat().st_mtime
        for name in SOURCES_OF_THE_DBT_PROJECT:
            path = self.project_dir / name
            files = [path] if path.is_file() else path.rglob("*") if path.exists() else []
            if any(f.stat().st_mtime > built for f in files):
                return False
        return True

    def _require_dbt(self) -> None:
        if not self.executable.exists():
            raise ProjectError(f"{self.executable} not found: run `make plugins` (installs "
                               f"Meltano's {DBT_UTILITY} utility, whose dbt builds the manifest)")

    def _parse(self) -> None:
        self._require_dbt()
        command = [str(self.executable), "parse", "--target", TARGET,
                   "--target-path", str(MANIFEST_DIR), "--profiles-dir", str(self.profiles_dir),
                   "--no-use-colors"]
        env = {**PARSE_ONLY_ENV, **os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        proc = subprocess.run(command, cwd=self.project_dir, env=env, capture_output=True,
                              text=True, check=False, timeout=600)
        if proc.returncode != 0:
            last = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
            raise ProjectError(f"`dbt parse` of {self.project_dir} failed: {last[0].strip()}")


def is_mart(node: t.Mapping[str, t.Any]) -> bool:
    """A model under models/marts/ or tagged `mart`."""
    return node.get("resource_type") == "model" and (
        "mart" in (node.get("tags") or []) or "marts" in (node.get("fqn") or [])[1:-1])


def marts(manifest: t.Mapping[str, t.Any]) -> list[str]:
    return sorted(node["name"] for node in manifest["nodes"].values() if is_mart(node))


class WarehouseTranslator(DagsterDbtTranslator):
    """A model's key is its schema and name (`analytics/replies`); every source is the raw load."""

    def __init__(self, raw_load: dg.AssetKey,
                 automation_condition: dg.AutomationCondition | None) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(
            enable_duplicate_source_asset_keys=True))
        self.raw_load = raw_load
        self.automation_condition = automation_condition

    @override
    def get_asset_key(self, dbt_resource_props: t.Mapping[str, t.Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return self.raw_load
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props["schema"]
        return dg.AssetKey([schema, dbt_resource_props["name"]])

    @override
    def get_group_name(self, dbt_resource_props: t.Mapping[str, t.Any]) -> str | None:
        """`marts`, `snapshots`, else the model's folder under models/ (staging, intermediate)."""
        if is_mart(dbt_resource_props):
            return "marts"
        if dbt_resource_props.get("resource_type") == "snapshot":
            return "snapshots"
        fqn = dbt_resource_props.get("fqn") or []
        return str(fqn[1]) if len(fqn) > 2 else "dbt"

    @override
    def get_automation_condition(self, dbt_resource_props: t.Mapping[str, t.Any]
                                 ) -> dg.AutomationCondition | None:
        return self.automation_condition


def dbt_vars(workspaces: t.Sequence[t.Any]) -> str:
    """The dbt project's var: which workspaces to union, and the schema each one's tables are in."""
    entries = [{"name": w.name, "schema": w.schema} for w in workspaces]
    return json.dumps({"tap_replies_workspaces": entries})


def warehouse_env(project: MeltanoProject, loader: str) -> dict[str, str]:
    """The loader's connection settings as the profile's env_var()s read them (its `.env` too)."""
    values = {f"TARGET_POSTGRES_{name.upper()}": project.setting(loader, name)
              for name in ("host", "port", "user", "password", "database")}
    return {name: str(value) for name, value in values.items() if value not in (None, "")}


def loaded_workspaces(instance: dg.DagsterInstance, project: MeltanoProject,
                      raw_load: dg.AssetKey) -> list[t.Any]:
    """The workspaces whose load has succeeded at least once: their tables are complete."""
    done = instance.get_materialized_partitions(raw_load)
    return [w for w in project.workspaces() if w.name in done]


def dbt_project_assets(files: DbtProjectFiles, raw_load: dg.AssetKey, loader: str,
                       automation_condition: dg.AutomationCondition | None,
                       retry_policy: dg.RetryPolicy) -> dg.AssetsDefinition:
    """`dbt build` of every model (an asset each) and test (an asset check each)."""
    translator = WarehouseTranslator(raw_load, automation_condition)

    @dbt_assets(manifest=files.manifest(), dagster_dbt_translator=translator, name="dbt_build",
                retry_policy=retry_policy)
    def build(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> t.Iterator[t.Any]:
        project = files.meltano
        loaded = loaded_workspaces(context.instance, project, raw_load)
        if not loaded:
            raise dg.Failure(description="dbt build: no workspace has loaded yet",
                             allow_retries=False)
        context.log.info(f"dbt build over {', '.join(w.name for w in loaded)}")
        os.environ.update(warehouse_env(project, loader))  # dbt reads them with env_var()
        invocation = dbt.cli(["build", "--vars", dbt_vars(loaded)], context=context,
                             raise_on_error=False)
        yield from invocation.stream()
        if not invocation.is_successful():
            error = invocation.get_error()
            first = str(error).strip().splitlines()[0] if error else "dbt build failed"
            raise dg.Failure(description=f"dbt build: {first}")

    return build
