"""The small commands around the pipeline: a mistake is one line naming the fix, not a traceback."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from tap_replies.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent


def script(name: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], input=stdin,
                          capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)


def test_summary_of_a_missing_file_is_one_line_naming_the_fix(tmp_path: Path):
    proc = script("summary.py", str(tmp_path / "nowhere.duckdb"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"summary.py: no DuckDB file at {tmp_path / 'nowhere.duckdb'} — run `make demo` (or "
        "`meltano run replies-duckdb`) first, or give the file's path"]


def test_summary_of_a_file_without_marts_says_to_build_them(tmp_path: Path):
    import duckdb

    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    proc = script("summary.py", str(empty))
    assert proc.returncode == 2
    assert "has no marts (schema analytics)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_last_state_prints_the_value_of_the_last_state_message():
    messages = "\n".join(json.dumps(m) for m in (
        {"type": "STATE", "value": {"bookmarks": {"a": 1}}},
        {"type": "RECORD", "stream": "a", "record": {}},
        {"type": "STATE", "value": {"bookmarks": {"a": 2}}}))
    proc = script("last_state.py", "-", stdin=messages + "\n")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {"bookmarks": {"a": 2}}


def test_last_state_of_a_run_that_wrote_none_says_so(tmp_path: Path):
    empty = tmp_path / "messages.jsonl"
    empty.write_text("")
    proc = script("last_state.py", str(empty))
    assert proc.returncode == 1
    assert "no STATE message in" in proc.stderr
    assert script("last_state.py", str(tmp_path / "missing.jsonl")).returncode == 2


def test_the_readmes_own_file_names_are_git_ignored():
    names = ["catalog.json", "state.json", "messages.jsonl", "config.json"]
    proc = subprocess.run(["git", "check-ignore", *names], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert proc.stdout.split() == names


def test_the_sandboxes_follow_ups_fall_due_around_now():
    with Sandbox(seed=1) as sandbox:
        followups = sandbox.ground_truth()["leadterra_followups"]
    now = dt.datetime.now(dt.timezone.utc)
    due = [dt.datetime.fromisoformat(f["dueAt"].replace("Z", "+00:00")) for f in followups]
    assert all(now - dt.timedelta(days=4) < d < now + dt.timedelta(days=8) for d in due)
    before = now - dt.timedelta(minutes=1)  # due before the sandbox was made, whatever its speed
    overdue = [f for f, d in zip(followups, due, strict=True) if d < before]
    assert 0 < len(overdue) < len(followups)  # some overdue, not all: due != overdue
    assert all(f["status"] == "overdue" for f in overdue)
