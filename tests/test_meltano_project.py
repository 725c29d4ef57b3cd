"""meltano.yml stays in the form Meltano writes; `make` reinstalls plugins only for a new pip_url.

A `meltano config set` rewrites the whole file in Meltano's own layout (key order, quoting, one
line per description); the repository keeps it in that layout, so the command's diff is its own
lines. The plugins' install stamp follows what installs them (each pip_url), not the file's mtime.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MELTANO = Path(sys.executable).parent / "meltano"
QUIET = {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "NO_COLOR": "1"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com",
                           *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The Meltano project's tracked files in a git repository of their own."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("meltano.yml", "pyproject.toml", "Makefile", ".gitignore"):
        shutil.copy(REPO / name, root / name)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "as shipped")
    return root


def meltano(root: Path, *args: str) -> None:
    env = {**os.environ, **QUIET}
    env.pop("MELTANO_PROJECT_ROOT", None)
    subprocess.run([str(MELTANO), *args], cwd=root, env=env, capture_output=True, text=True,
                   check=True, timeout=120)


def diff_numstat(root: Path) -> list[tuple[int, int, str]]:
    rows = [line.split("\t") for line in git(root, "diff", "--numstat").splitlines()]
    return [(int(added), int(deleted), name) for added, deleted, name in rows]


def test_config_set_changes_only_its_own_lines_of_meltano_yml(project: Path):
    meltano(project, "config", "set", "tap-replies", "start_date", "2025-01-01T00:00:00Z")
    meltano(project, "config", "set", "target-postgres", "batch_size_rows", "5000")
    # `config:` and its setting, twice: nothing re-quoted, re-ordered or re-wrapped.
    assert diff_numstat(project) == [(4, 0, "meltano.yml")]


def test_a_secret_set_with_meltano_goes_to_the_ignored_env_file_only(project: Path):
    meltano(project, "config", "set", "tap-replies", "smartlead.api_key", "sl_test_key_0001")
    assert diff_numstat(project) == []
    assert "sl_test_key_0001" in (project / ".env").read_text()
    assert git(project, "status", "--porcelain") == ""  # .env is git-ignored


def test_config_set_then_unset_leaves_meltano_yml_as_it_was(project: Path):
    meltano(project, "config", "set", "tap-replies", "max_retries", "3")
    meltano(project, "config", "unset", "tap-replies", "max_retries")
    assert diff_numstat(project) == []


STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
"""


def make_plugins(root: Path, stubs: Path) -> list[str]:
    """`make plugins` with stand-ins for meltano and uv: the install commands it would run."""
    log = stubs / "calls.log"
    log.write_text("")
    subprocess.run(["make", "--no-print-directory", "plugins", f"BIN={stubs}"], cwd=root,
                   capture_output=True, text=True, check=True, timeout=60)
    return log.read_text().splitlines()


def test_the_plugins_are_reinstalled_for_a_new_pip_url_not_for_a_config_set(
        project: Path, tmp_path: Path):
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in ("meltano", "uv"):
        (stubs / name).write_text(STUB.format(log=stubs / "calls.log"))
        (stubs / name).chmod(stat.S_IRWXU)
    (project / ".venv").mkdir()
    (project / ".venv" / ".installed").touch()  # the project's venv is up to date
    first = make_plugins(project, stubs)
    assert [call.split()[:2] for call in first] == [["meltano", "install"], ["uv", "pip"]]

    meltano(project, "config", "set", "tap-replies", "start_date", "2025-01-01T00:00:00Z")
    assert make_plugins(project, stubs) == []  # meltano.yml is newer, its pip_urls are not

    text = (project / "meltano.yml").read_text()
    (project / "meltano.yml").write_text(text.replace("target-jsonl==0.1.4", "target-jsonl==0.1.5"))
    assert [call.split()[:2] for call in make_plugins(project, stubs)][:1] == [
        ["meltano", "install"]]


def test_make_demo_installs_only_what_the_demo_runs(project: Path):
    # From a fresh clone (no .venv, no .meltano): the commands make would run, not run.
    plan = subprocess.run(["make", "--no-print-directory", "-n", "demo"], cwd=project,
                          capture_output=True, text=True, check=True, timeout=60).stdout
    installs = [line for line in plan.splitlines() if " install " in line]
    assert [line.split("/")[-1] for line in installs if "meltano install" in line] == [
        "meltano install tap-replies target-duckdb dbt-duckdb"]
    assert [line.split(" -e ")[-1] for line in installs if " -e " in line] == ["'.[demo]'"]
    assert not [line for line in installs if "dagster" in line or "fakesnow" in line]
