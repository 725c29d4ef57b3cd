"""Workspaces that are safe to sync together, or refused in one line before any sync: a broken
workspace file, two workspaces (or one and the parent) reading one account's campaigns, two
landing in one schema. `list` and `check` say what is what. No sync runs here; one test asks
the real Meltano where it would load, to hold our reading of its rules to it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration import definitions, sync_all
from orchestration.__main__ import main as cli
from orchestration.project import MeltanoProject, ProjectError
from tests.test_orchestration import make_project

ROOT = Path(__file__).resolve().parent.parent
MELTANO = Path(sys.executable).parent / "meltano"
pytestmark = [pytest.mark.filterwarnings("ignore::dagster.PreviewWarning"),
              pytest.mark.filterwarnings("ignore::dagster.BetaWarning")]


def refusal(project: MeltanoProject) -> str:
    with pytest.raises(ProjectError) as raised:
        project.workspaces()
    return str(raised.value)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / "workspaces" / f"{name}.meltano.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
            folder: Path, environ: dict[str, str], *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(folder))
    for name in [k for k in os.environ
                 if k.startswith(("TAP_REPLIES", "TARGET_POSTGRES", "MELTANO_DATABASE"))]:
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    code = cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# -- a broken workspace file ---------------------------------------------------------------------

BROKEN = {
    "a YAML error": ("plugins:\n  extractors:\n  - name: tap-replies--beta\n"
                     "   inherit_from: tap-replies\n", "not valid YAML"),
    "an extractor without a name": ("plugins:\n  extractors:\n  - inherit_from: tap-replies\n",
                                    "plugins.extractors[0] has no 'name:'"),
    "extractors that are not a list": ("plugins:\n  extractors:\n    name: tap-replies--beta\n",
                                       "plugins.extractors must be a list"),
    "plugins that are not a mapping": ("plugins:\n- name: tap-replies--beta\n",
                                       "'plugins' must map a plugin type"),
    "a plugin another file defines": ("plugins:\n  extractors:\n  - name: tap-replies--acme\n"
                                      "    inherit_from: tap-replies\n", "defined in "),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_a_broken_workspace_file_fails_list_sync_all_and_the_definitions_naming_the_file(
        case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]):
    text, said = BROKEN[case]
    make_project(tmp_path, ["acme"])
    broken = write(tmp_path, "beta", text)
    code, out, err = run_cli(monkeypatch, capsys, tmp_path, {}, "list")
    assert (code, out) == (2, "")
    [line] = err.splitlines()
    assert str(broken) in line, line
    assert said in line, line
    lines: list[str] = []
    assert sync_all.sync_all(echo=lines.append) == 2
    assert lines == [f"sync-all: {err.strip().removeprefix('orchestration: ')}"]
    with pytest.raises(ProjectError, match=re.escape(str(broken))):
        definitions.build_definitions(MeltanoProject(tmp_path))


def test_a_plugin_defined_twice_names_both_files(tmp_path: Path):
    make_project(tmp_path, ["acme"])
    copy = write(tmp_path, "acme_copy", (tmp_path / "workspaces/acme.meltano.yml").read_text())
    with pytest.raises(ProjectError) as raised:
        MeltanoProject(tmp_path)
    assert str(raised.value) == (
        f"plugin 'tap-replies--acme' is defined in {tmp_path}/workspaces/acme.meltano.yml and "
        f"in {copy}: keep one (Meltano refuses every command while a plugin is defined twice)")


# -- one account read twice ----------------------------------------------------------------------


def test_two_workspaces_on_one_key_and_every_campaign_are_refused_naming_both(tmp_path: Path):
    project = make_project(tmp_path, ["acme", "beta"], environ={
        "TAP_REPLIES__ACME_SMARTLEAD_API_KEY": "agency-key",
        "TAP_REPLIES__BETA_SMARTLEAD_API_KEY": "agency-key"})
    line = refusal(project)
    assert line.startswith("workspace acme and workspace beta would both read the same "
                           "Smartlead account (one key at https://server.smartlead.ai) and "
                           "every campaign: give workspace beta its own key "
                           "(TAP_REPLIES__BETA_SMARTLEAD_API_KEY) or smartlead.campaign_ids")
    assert "agency-key" not in line


def test_a_shared_agency_key_with_different_campaigns_is_allowed(tmp_path: Path):
    project = make_project(tmp_path, ["acme", "beta"], environ={
        "TAP_REPLIES_SMARTLEAD_API_KEY": "agency-key",  # the parent's: every workspace's too
        "TAP_REPLIES__ACME_SMARTLEAD_CAMPAIGN_IDS": "[1, 2]",
        "TAP_REPLIES__BETA_SMARTLEAD_CAMPAIGN_IDS": "[3]"})
    assert [w.name for w in project.workspaces()] == ["acme", "beta"]


def test_campaigns_in_both_workspaces_on_one_key_are_refused_naming_them(tmp_path: Path):
    project = make_project(tmp_path, ["acme", "beta", "gamma"], environ={
        "TAP_REPLIES_TUCO_API_KEY": "agency-key",
        "TAP_REPLIES__ACME_TUCO_CAMPAIGN_IDS": '["c1", "c2"]',
        "TAP_REPLIES__BETA_TUCO_CAMPAIGN_IDS": '["c2", "c3"]',
        "TAP_REPLIES__GAMMA_TUCO_CAMPAIGN_IDS": '["c4"]'})
    assert refusal(project).startswith(
        "workspace acme and workspace beta would both read the same Tuco AI account "
        "(one key at https://app.tuco.ai) and campaign c2:")


def test_a_workspace_without_a_filter_reads_the_campaigns_of_another_on_its_key(tmp_path: Path):
    project = make_project(tmp_path, ["acme", "beta"], environ={
        "TAP_REPLIES__ACME_SMARTLEAD_API_KEY": "agency-key",
        "TAP_REPLIES__BETA_SMARTLEAD_API_KEY": "agency-key",
        "TAP_REPLIES__ACME_SMARTLEAD_CAMPAIGN_IDS": "[1]"})
    assert refusal(project).startswith("workspace acme and workspace beta would both read the "
                                       "same Smartlead account (one key at "
                                       "https://server.smartlead.ai) and campaign 1: ")


def test_a_workspace_inheriting_the_parents_key_and_campaigns_is_refused(tmp_path: Path):
    # The README's order: the parent's keys first, then `orchestration add`.
    project = make_project(tmp_path, ["acme"], environ={"TAP_REPLIES_LEADTERRA_API_KEY": "k"})
    assert refusal(project).startswith(
        "the parent tap-replies and workspace acme would both read the same Leadterra account "
        "(one key at https://app.leadterra.co) and every campaign: give workspace acme its own "
        "key (TAP_REPLIES__ACME_LEADTERRA_API_KEY)")


def test_the_same_key_at_another_api_url_is_another_account(tmp_path: Path):
    project = make_project(tmp_path, ["acme", "beta"], environ={
        "TAP_REPLIES__ACME_SMARTLEAD_API_KEY": "k",
        "TAP_REPLIES__BETA_SMARTLEAD_API_KEY": "k",
        "TAP_REPLIES__BETA_SMARTLEAD_API_URL": "https://eu.example.invalid/"})
    assert len(project.workspaces()) == 2


def test_sync_all_refuses_a_shared_account_before_any_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    make_project(tmp_path, ["acme", "beta"])
    run_cli(monkeypatch, capsys, tmp_path, {"TAP_REPLIES_TUCO_API_KEY": "one-for-all"}, "list")
    lines: list[str] = []
    assert sync_all.sync_all(echo=lines.append) == 2
    [line] = lines
    assert line.startswith("sync-all: the parent tap-replies and workspace acme would both read")
    assert line.endswith("(and 2 more: python -m orchestration check)")
    assert not (tmp_path / ".dagster").exists()  # no run was started


# -- one schema for two --------------------------------------------------------------------------


def test_a_load_schema_taken_from_another_workspace_is_refused_naming_both(tmp_path: Path):
    make_project(tmp_path, ["acme"])
    write(tmp_path, "beta", "plugins:\n  extractors:\n  - name: tap-replies--beta\n"
                            "    inherit_from: tap-replies\n    load_schema: tap_replies__acme\n")
    assert refusal(MeltanoProject(tmp_path, environ={})).startswith(
        "workspace acme and workspace beta would both load into schema tap_replies__acme "
        "(workspace beta: load_schema tap_replies__acme): give each workspace a schema of its "
        "own (remove the setting: a workspace's default is tap_replies__<name>)")


def test_a_fixed_loader_schema_puts_every_workspace_with_the_parent(tmp_path: Path):
    project = make_project(tmp_path, ["acme"],
                           environ={"TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": "raw"})
    assert refusal(project).startswith(
        "the parent tap-replies and workspace acme would both load into schema raw (the parent "
        "tap-replies: target-postgres default_target_schema is raw; workspace acme: "
        "target-postgres default_target_schema is raw)")


def test_a_schema_other_than_its_own_is_refused_and_listed_as_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    make_project(tmp_path, ["acme", "beta"])
    environ = {"TAP_REPLIES__BETA__LOAD_SCHEMA": "client_beta"}
    code, _, err = run_cli(monkeypatch, capsys, tmp_path, environ, "list")
    assert (code, err) == (2, "orchestration: workspace beta would load into schema client_beta, "
                              "not tap_replies__beta where every dbt build finds a workspace: "
                              "remove the setting that moves it\n")
    listed = MeltanoProject(tmp_path, environ=environ).workspaces(checked=False)
    assert [w.schema for w in listed] == ["tap_replies__acme", "client_beta"]


def meltanos_load_schema(folder: Path, plugin: str, environ: dict[str, str]) -> str:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("TAP_REPLIES", "MELTANO_"))},
           **environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
           "MELTANO_SYS_DIR_ROOT": str(ROOT / ".meltano")}
    proc = subprocess.run([str(MELTANO), "config", "list", "--all", "--extras", plugin],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120,
                          check=True)
    match = re.search(r"^_load_schema .*current value: '([^']*)'", proc.stdout, re.M)
    assert match, proc.stdout + proc.stderr
    return match.group(1)


def test_the_load_schema_is_read_as_meltano_reads_it(tmp_path: Path):
    if not MELTANO.exists():
        pytest.fail(f"{MELTANO} not found: run `make plugins`")
    make_project(tmp_path, ["acme", "gamma"])
    write(tmp_path, "beta", "plugins:\n  extractors:\n  - name: tap-replies--beta\n"
                            "    inherit_from: tap-replies\n    load_schema: from_the_file\n")
    environ = {"TAP_REPLIES__ACME__LOAD_SCHEMA": "from_a_variable"}
    ours = {w.plugin: w.schema
            for w in MeltanoProject(tmp_path, environ=environ).workspaces(checked=False)}
    assert ours == {"tap-replies--acme": "from_a_variable", "tap-replies--beta": "from_the_file",
                    "tap-replies--gamma": "tap_replies__gamma"}
    assert {plugin: meltanos_load_schema(tmp_path, plugin, environ) for plugin in ours} == ours


# -- list and check ------------------------------------------------------------------------------


def test_list_without_workspaces_says_how_to_add_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    make_project(tmp_path)
    assert run_cli(monkeypatch, capsys, tmp_path, {}, "list") == (
        0, f"no workspaces in {tmp_path}: add one with `python -m orchestration add <name>` "
           "(writes workspaces/<name>.meltano.yml)\n", "")


def test_list_says_a_key_is_shared_only_when_another_workspace_has_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    make_project(tmp_path, ["acme", "beta", "gamma", "delta"])
    code, out, _ = run_cli(monkeypatch, capsys, tmp_path, {
        "TAP_REPLIES__ACME_SMARTLEAD_API_KEY": "own",
        "TAP_REPLIES__BETA_TUCO_API_KEY": "agency",
        "TAP_REPLIES__BETA_TUCO_CAMPAIGN_IDS": '["b"]',
        "TAP_REPLIES__GAMMA_TUCO_API_KEY": "agency",
        "TAP_REPLIES__GAMMA_TUCO_CAMPAIGN_IDS": '["g"]',
    }, "list")
    assert code == 0
    said = {line.split("\t")[0]: line.split("\t")[3] for line in out.splitlines()}
    assert said == {"acme": "keys of its own",
                    "beta": "shares a key with gamma (syncs in turn)",
                    "gamma": "shares a key with beta (syncs in turn)",
                    "delta": "no keys yet"}


def test_check_prints_every_problem_at_once_and_ok_when_there_is_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    make_project(tmp_path, ["acme", "beta", "gamma"])
    write(tmp_path, "delta", "plugins:\n  extractors:\n  - name: tap-replies--delta\n"
                             "    inherit_from: tap-replies\n    load_schema: tap_replies__acme\n")
    warehouse = {"TARGET_POSTGRES_HOST": "db", "TARGET_POSTGRES_USER": "loader",
                 "TARGET_POSTGRES_DATABASE": "raw"}
    code, out, _ = run_cli(monkeypatch, capsys, tmp_path, {
        **warehouse, "TAP_REPLIES__ACME_SMARTLEAD_API_KEY": "k",
        "TAP_REPLIES__BETA_SMARTLEAD_API_KEY": "k", "TAP_REPLIES__DELTA_TUCO_API_KEY": "d"},
        "check")
    lines = out.splitlines()
    assert code == 2
    assert [line.split(" would ")[0] for line in lines if " would " in line] == [
        "check: workspace acme and workspace delta", "check: workspace delta",
        "check: workspace acme and workspace beta"]
    assert lines[-1] == ("check: workspace gamma has no provider key: set one, e.g. "
                         "TAP_REPLIES__GAMMA_SMARTLEAD_API_KEY")
    assert len(lines) == 4
    (tmp_path / "workspaces/delta.meltano.yml").unlink()
    code, out, _ = run_cli(monkeypatch, capsys, tmp_path, {
        **warehouse,
        **{f"TAP_REPLIES__{n}_SMARTLEAD_API_KEY": n for n in ("ACME", "BETA", "GAMMA")}},
        "check")
    assert (code, out) == (0, "check: ok, 3 workspaces (acme, beta, gamma), each reading its "
                              "own accounts into its own schema\n")


def test_check_names_a_missing_warehouse(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    make_project(tmp_path, ["acme"])
    code, out, _ = run_cli(monkeypatch, capsys, tmp_path,
                           {"TAP_REPLIES__ACME_TUCO_API_KEY": "k"}, "check")
    assert code == 2
    [line] = out.splitlines()
    assert line.startswith("check: the warehouse is not set: TARGET_POSTGRES_HOST")
