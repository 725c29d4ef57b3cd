"""`scripts/sync-all` keeps sync-all's exit status (0 / 1 / 2) for cron and CI; make names it.

The script and the Makefile run in a copy of the project whose `.venv/bin` holds stand-ins: `python`
(for `python -m orchestration sync-all`) exits with the status the test asks for, `meltano` and
`uv` (the plugins' install) only record that they ran.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STAND_IN = """#!/bin/sh
echo "$(basename "$0") $* DAGSTER_HOME=$DAGSTER_HOME" >> "$STAND_IN_LOG"
[ "$(basename "$0")" = python ] && exit "${{STAND_IN_EXIT:-0}}"
exit 0
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    for name in ("Makefile", "meltano.yml", "pyproject.toml", "scripts/sync-all"):
        shutil.copy2(REPO / name, root / name)
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "meltano", "uv"):
        (bin_dir / name).write_text(STAND_IN.format())
        (bin_dir / name).chmod(stat.S_IRWXU)
    (root / ".venv" / ".installed").touch()  # newer than pyproject.toml: the venv is set up
    return root


def run(project: Path, command: list[str], status: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "MAKEFLAGS")}
    env |= {"STAND_IN_LOG": str(project / "calls.log"), "STAND_IN_EXIT": str(status)}
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.parametrize("status", [0, 1, 2])
def test_scripts_sync_all_exits_with_the_status_sync_all_gave(project: Path, status: int):
    proc = run(project, ["scripts/sync-all"], status)
    assert proc.returncode == status, proc.stderr
    calls = (project / "calls.log").read_text().splitlines()
    # Set up first (the plugins), then the sync itself, on the project's Dagster instance.
    assert calls[0].startswith("meltano install tap-replies")
    assert calls[-1] == f"python -m orchestration sync-all DAGSTER_HOME={project}/.dagster"


def test_make_sync_all_names_the_status_it_cannot_keep(project: Path):
    proc = run(project, ["make", "--no-print-directory", "sync-all"], 1)
    assert proc.returncode == 2  # make's own status for any failed recipe
    assert "make: scripts/sync-all exited 1 (1: a workspace failed, 2: setup missing)" in \
        proc.stderr
    assert "cron and CI run scripts/sync-all" in proc.stderr


def test_make_sync_all_succeeds_when_every_workspace_loaded(project: Path):
    assert run(project, ["make", "--no-print-directory", "sync-all"], 0).returncode == 0
