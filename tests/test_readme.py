"""The README works as written: its settings table is the tap's, and every command it shows runs.

Every command line in the README's ```bash blocks (and every command `make demo` prints) is listed
in COVERAGE with the test that runs it — most are run below, as written, in a scratch checkout —
or, for the few that cannot run here, why not. A command added to the README without an entry
fails `test_every_readme_command_is_covered`.

Run `python -m tests.test_readme` to rewrite the settings table after changing a setting.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tap_replies.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"
HERE = "tests/test_readme.py::"
NOT_RUN = "not run: "

# Each README command -> the test that runs it, or NOT_RUN and why.
COVERAGE: dict[str, str] = {
    "make demo": HERE + "test_make_demo_twice_then_every_command_it_prints",
    "make test": NOT_RUN + "it is the whole suite, this test included (CI runs it: .ci/run)",
    ".venv/bin/python -m tap_replies.sandbox --port 0 --seed 1 --scale 1 [--rate smartlead=60] "
    "[--latency-ms 20] [--fault-rate 0.1]": HERE + "test_the_sandbox_prints_what_the_tap_runs_with",
    ".venv/bin/tap-replies --config ENV --test":
        HERE + "test_the_sandbox_prints_what_the_tap_runs_with",
    "cp sample_config.json config.json": HERE + "test_the_by_hand_commands_work_on_a_first_run",
    "$EDITOR config.json": HERE + "test_the_by_hand_commands_work_on_a_first_run",
    ".venv/bin/tap-replies --config config.json --test":
        HERE + "test_the_by_hand_commands_work_on_a_first_run",
    ".venv/bin/tap-replies --config config.json --discover > catalog.json":
        HERE + "test_the_by_hand_commands_work_on_a_first_run",
    ".venv/bin/tap-replies --config config.json --catalog catalog.json > messages.jsonl":
        HERE + "test_the_by_hand_commands_work_on_a_first_run",
    ".venv/bin/python scripts/last_state.py messages.jsonl > state.json":
        HERE + "test_the_by_hand_commands_work_on_a_first_run",
    ".venv/bin/tap-replies --config config.json --catalog catalog.json --state state.json > "
    "messages.jsonl": HERE + "test_the_by_hand_commands_work_on_a_first_run",
    ".venv/bin/meltano run replies-duckdb":
        "tests/test_elt.py::test_first_run_loads_exactly_the_sandbox_ground_truth",
    ".venv/bin/meltano run replies-postgres": "tests/test_warehouses.py::"
        "test_replies_postgres_loads_and_builds_in_one_job_configured_by_target_postgres_vars",
    ".venv/bin/meltano run replies-snowflake":
        NOT_RUN + "needs a real Snowflake account (README: what the Snowflake test cannot prove)",
    ".venv/bin/meltano install tap-replies target-duckdb dbt-duckdb":
        HERE + "test_the_install_commands_are_the_makefiles",
    "mkdir -p output": HERE + "test_make_demo_twice_then_every_command_it_prints",
    ".venv/bin/python scripts/summary.py output/replies.duckdb":
        HERE + "test_make_demo_twice_then_every_command_it_prints",
    ".venv/bin/meltano state list": HERE + "test_make_demo_twice_then_every_command_it_prints",
    ".venv/bin/meltano state get dev:tap-replies-to-target-duckdb":
        HERE + "test_make_demo_twice_then_every_command_it_prints",
    ".venv/bin/meltano run --full-refresh replies-duckdb":
        HERE + "test_make_demo_twice_then_every_command_it_prints",
    ".venv/bin/meltano config set tap-replies smartlead.api_key 'YOUR_SMARTLEAD_KEY'":
        HERE + "test_the_meltano_config_commands_run",
    ".venv/bin/meltano config set tap-replies tuco.api_key 'tuco_sk_…'":
        HERE + "test_the_meltano_config_commands_run",
    ".venv/bin/meltano config set tap-replies start_date 2025-01-01T00:00:00Z":
        HERE + "test_the_meltano_config_commands_run",
    ".venv/bin/meltano config list tap-replies": HERE + "test_the_meltano_config_commands_run",
    ".venv/bin/python -c \"import duckdb; con = duckdb.connect('output/replies.duckdb', "
    "read_only=True); print(con.sql('select provider, classification, count(*) from "
    "analytics.replies group by all order by all'))\"":
        HERE + "test_make_demo_twice_then_every_command_it_prints",
    "export TARGET_POSTGRES_HOST=db.example.com TARGET_POSTGRES_USER=loader "
    "TARGET_POSTGRES_PASSWORD='…' TARGET_POSTGRES_DATABASE=analytics": "tests/test_warehouses.py::"
        "test_replies_postgres_loads_and_builds_in_one_job_configured_by_target_postgres_vars",
    ".venv/bin/meltano install target-snowflake":
        NOT_RUN + "installs a loader only a real Snowflake account can exercise",
    "export TARGET_SNOWFLAKE_ACCOUNT=xy12345.eu-west-1 TARGET_SNOWFLAKE_USER=LOADER "
    "TARGET_SNOWFLAKE_PRIVATE_KEY_PATH=~/.ssh/snowflake_loader.p8 TARGET_SNOWFLAKE_DATABASE=RAW "
    "TARGET_SNOWFLAKE_WAREHOUSE=LOADING": NOT_RUN + "a real Snowflake account's settings "
        "(their check: tests/test_warehouse_check.py)",
    ".venv/bin/meltano invoke tap-replies --test":
        HERE + "test_the_sandbox_prints_what_the_tap_runs_with",
    ".venv/bin/meltano invoke dbt-duckdb:debug":
        HERE + "test_make_demo_twice_then_every_command_it_prints",
    ".venv/bin/meltano invoke dbt-postgres:build": "tests/test_warehouses.py::"
        "test_replies_postgres_loads_and_builds_in_one_job_configured_by_target_postgres_vars",
    **{command: "tests/test_warehouses.py::"
       "test_the_readmes_dbt_postgres_commands_run_on_the_loaded_warehouse"
       for command in (".venv/bin/meltano invoke dbt-postgres:test",
                       ".venv/bin/meltano invoke dbt-postgres:freshness",
                       ".venv/bin/meltano invoke dbt-postgres:docs-generate",
                       ".venv/bin/meltano invoke dbt-postgres build --vars "
                       "'{tap_replies_max_load_age_hours: 24}'")},
    ".venv/bin/python -m orchestration add acme": HERE + "test_the_workspace_commands_run",
    ".venv/bin/meltano config set tap-replies--acme smartlead.api_key 'KEY'":
        HERE + "test_the_workspace_commands_run",
    "export TAP_REPLIES__ACME_TUCO_API_KEY='tuco_sk_…'": HERE + "test_the_workspace_commands_run",
    ".venv/bin/python -m orchestration list": HERE + "test_the_workspace_commands_run",
    "export TARGET_POSTGRES_HOST=db.example.com TARGET_POSTGRES_PORT=5432 "
    "TARGET_POSTGRES_USER=loader TARGET_POSTGRES_PASSWORD='…' TARGET_POSTGRES_DATABASE=analytics":
        "tests/test_workspaces.py::test_each_workspace_lands_in_its_own_schema_equal_to_its_sandbox",
    "make sync-all":
        "tests/test_sync_all_exit.py::test_make_sync_all_names_the_status_it_cannot_keep",
    "*/15 * * * * cd /srv/replies && .venv/bin/meltano schedule run "
    "replies-postgres-every-15-minutes": NOT_RUN + "a crontab line; the schedule it runs: "
        "tests/test_workspaces.py",
    "make dagster-dev":
        "tests/test_dagster_dev.py::test_a_sigterm_to_make_dagster_dev_stops_every_process_it_started",
    **{command: "tests/test_dashboard.py::test_every_dashboard_command_in_the_readme_runs"
       for command in ("make dashboard", ".venv/bin/meltano invoke dashboard:serve",
                       ".venv/bin/meltano invoke dashboard:snapshot",
                       ".venv/bin/python -m dashboard --snapshot output/dashboard.html")},
    **{f".venv/bin/python -m orchestration {args}":
       "tests/test_workspace_state.py::test_the_readmes_workspace_commands_run_as_written"
       for args in ("check", "state", "state acme --json", "reset acme")},
}


# -- the README's commands ---------------------------------------------------------------------


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, re.DOTALL | re.MULTILINE)


def commands(block: str) -> list[str]:
    """The block's command lines: continuations joined, comments and blank lines dropped."""
    found = []
    for line in re.sub(r"\\\n\s*", " ", block).splitlines():
        command = re.split(r"(?:^|\s)#\s", line, maxsplit=1)[0].strip()
        if command and not command.startswith("#"):
            found.append(" ".join(command.split()))
    return found


def readme_commands() -> list[str]:
    return [command for block in bash_blocks(README.read_text()) for command in commands(block)]


def test_every_readme_command_is_covered():
    shown = set(readme_commands())
    assert sorted(shown - set(COVERAGE)) == [], "add each new README command to COVERAGE"
    assert sorted(set(COVERAGE) - shown) == [], "a COVERAGE entry the README no longer shows"


@pytest.mark.parametrize("where", sorted({w for w in COVERAGE.values() if not
                                          w.startswith(NOT_RUN)}))
def test_each_covering_test_exists(where: str):
    path, name = where.split("::")
    assert re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.MULTILINE), where


def run_commands(covered_by: str, cwd: Path, env: dict[str, str], *, block_with: str,
                 skip: str = "\0") -> subprocess.CompletedProcess[str]:
    """The README block holding `block_with`, as one bash script (so its exports carry), with
    only the commands `covered_by` (a test's name) runs, less those containing `skip`."""
    block = next(b for b in bash_blocks(README.read_text()) if block_with in b)
    mine = [c for c in commands(block) if COVERAGE[c] == HERE + covered_by and skip not in c]
    assert mine, block_with
    return subprocess.run(["bash", "-euc", "\n".join(mine)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def checkout(tmp_path: Path) -> Path:
    """A scratch folder that looks like the repository to the README's commands: the project's
    files copied (commands may write them), .venv and .meltano linked (never written here)."""
    root = tmp_path / "checkout"
    root.mkdir()
    for name in ("meltano.yml", "sample_config.json", "pyproject.toml", ".gitignore"):
        shutil.copy(ROOT / name, root / name)
    for name in (".venv", ".meltano", "scripts", "transform", "tap_replies", "orchestration"):
        (root / name).symlink_to(ROOT / name)
    return root


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TAP_REPLIES", "TARGET_", "MELTANO_", "DBT_"))}
    return {**env, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}", **extra}


# -- the commands, run -------------------------------------------------------------------------


def test_the_sandbox_prints_what_the_tap_runs_with(tmp_path: Path):
    command = next(c for c in readme_commands() if "-m tap_replies.sandbox" in c)
    required = shlex.split(re.sub(r"\[.*?\]", "", command))  # the [optional] flags left out
    sandbox = subprocess.Popen([str(ROOT / required[0]), *required[1:]], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert sandbox.stdout is not None
        url = sandbox.stdout.readline().strip()
        exports: dict[str, str] = {}
        for line in sandbox.stdout:
            if line.startswith("# or as a config file"):
                break
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                exports[name] = shlex.split(value)[0]
        assert exports["TAP_REPLIES_TUCO_API_URL"] == url
        assert {"TAP_REPLIES_LEADTERRA_API_KEY", "TAP_REPLIES_SMARTLEAD_API_KEY"} <= set(exports)
        env = base_env(tmp_path, **exports, MELTANO_PROJECT_ROOT=str(ROOT))
        tap = run_commands("test_the_sandbox_prints_what_the_tap_runs_with", ROOT, env,
                           block_with="--config ENV --test")
        assert tap.returncode == 0, tap.stderr[-2000:]
        assert "--test: every configured provider answered (Leadterra, Smartlead, Tuco AI)" in \
            tap.stderr
        meltano = run_commands("test_the_sandbox_prints_what_the_tap_runs_with", ROOT, env,
                               block_with="meltano invoke tap-replies --test")
        output = meltano.stdout + meltano.stderr
        assert meltano.returncode == 0, output[-2000:]
        assert "--test: Tuco AI ok" in output
        assert "ResourceWarning" not in output
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
        if sandbox.stdout is not None:
            sandbox.stdout.close()


EDITOR = """#!/bin/sh
cp "{config}" "$1"
"""


def test_the_by_hand_commands_work_on_a_first_run(tmp_path: Path):
    root = checkout(tmp_path)
    with Sandbox(seed=5) as sandbox:
        # What a person types into config.json: the sandbox's accounts, paced for a test.
        filled = tmp_path / "filled.json"
        filled.write_text(json.dumps({name: {**block, "requests_per_minute": 100_000}
                                      for name, block in sandbox.tap_config().items()}))
        editor = tmp_path / "editor"
        editor.write_text(EDITOR.format(config=filled))
        editor.chmod(0o700)
        proc = run_commands("test_the_by_hand_commands_work_on_a_first_run", root,
                            base_env(tmp_path, EDITOR=str(editor)),
                            block_with="cp sample_config.json config.json")
        assert proc.returncode == 0, proc.stderr[-3000:]
        states = [json.loads(line)["value"] for line in
                  (root / "messages.jsonl").read_text().splitlines()
                  if line.startswith("{") and json.loads(line)["type"] == "STATE"]
    first_state = json.loads((root / "state.json").read_text())
    assert set(first_state["bookmarks"]) >= {"tuco_replies", "leadterra_replies"}
    # The run from state.json resumed from it: its first STATE carries the same bookmarks.
    assert states
    assert states[0]["bookmarks"]["tuco_replies"].get("replication_key_value") == \
        first_state["bookmarks"]["tuco_replies"].get("replication_key_value")


def test_the_meltano_config_commands_run(tmp_path: Path):
    root = checkout(tmp_path)
    proc = run_commands("test_the_meltano_config_commands_run", root, base_env(tmp_path),
                        block_with="meltano config set tap-replies smartlead.api_key")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "YOUR_SMARTLEAD_KEY" in (root / ".env").read_text()  # a key goes to .env
    assert "YOUR_SMARTLEAD_KEY" not in proc.stdout + (root / "meltano.yml").read_text()
    assert "start_date" in proc.stdout  # config list shows what is set


def test_the_workspace_commands_run(tmp_path: Path):
    root = checkout(tmp_path)
    proc = run_commands("test_the_workspace_commands_run", root,
                        base_env(tmp_path, MELTANO_PROJECT_ROOT=str(root)),
                        block_with="-m orchestration add acme")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (root / "workspaces" / "acme.meltano.yml").exists()
    assert re.search(r"^acme\tschema tap_replies__acme\t", proc.stdout, re.MULTILINE), proc.stdout


def test_the_install_commands_are_the_makefiles():
    # `make demo` from a fresh clone runs this very command (the Makefile's DEMO_PLUGINS recipe);
    # run here it would reinstall the plugins the rest of the suite is using.
    shown = next(c for c in readme_commands() if c.startswith(".venv/bin/meltano install tap-"))
    makefile = (ROOT / "Makefile").read_text()
    names = re.search(r"^DEMO_PLUGIN_NAMES := (.*)$", makefile, re.MULTILINE)
    assert names
    assert shown == f".venv/bin/meltano install {names.group(1)}"
    assert "$(BIN)/meltano install $(DEMO_PLUGIN_NAMES)" in makefile


# -- make demo, twice, and what it prints -----------------------------------------------------


def printed_commands(output: str) -> list[str]:
    found = re.findall(r"`((?:\.venv/bin/|make )[^`]+)`", output)
    found += re.findall(r"^Query it: (.+)$", output, re.MULTILINE)
    return found


@pytest.mark.elt
def test_make_demo_twice_then_every_command_it_prints(tmp_path: Path,
                                                      meltano_project: Path):
    root = checkout(tmp_path)
    output = root / "output"
    env = base_env(tmp_path, DEMO_OUTPUT=str(output), MELTANO_PROJECT_ROOT=str(meltano_project),
                   TARGET_DUCKDB_FILEPATH=str(output / "replies.duckdb"),
                   **{f"DBT_DUCKDB_{s}": str(tmp_path / f"dbt-{s.lower()}")
                      for s in ("TARGET_PATH", "LOG_PATH")})
    runs = []
    for _ in range(2):
        demo = subprocess.run(["make", "--no-print-directory", "demo"], cwd=meltano_project,
                              env=env, capture_output=True, text=True, timeout=600, check=False)
        assert demo.returncode == 0, (demo.stdout + demo.stderr)[-4000:]
        runs.append(demo.stdout)
    first, second = runs
    assert "meltano run --full-refresh" not in first  # the demo's own command, checked below
    # What the demo shows reads as data, not as bugs (issue 19, item 11).
    assert "(no name in the API)" in first
    followups = first.split("Leadterra follow-ups due per SDR", 1)[1].splitlines()[3:]
    due_overdue = [[int(n) for n in re.findall(r"\s(\d+)(?=\s)", line)[:2]]
                   for line in followups]
    due_overdue = [pair for pair in due_overdue if len(pair) == 2]
    assert any(due != overdue for due, overdue in due_overdue), first
    assert re.search(r"^\s+table\s+loaded\s+new rows\s+updated\s+total$", second, re.MULTILINE)
    assert "\x1b[" not in (output / "meltano-run.log").read_text()  # no ANSI colours in the log

    shown = printed_commands(first) + printed_commands(second)
    assert {c.split()[0] for c in shown} >= {"make", ".venv/bin/python", ".venv/bin/meltano"}
    for command in shown:
        if command == "make demo" or not COVERAGE.get(command, HERE).startswith(HERE):
            continue  # the second run above, or a README command another test runs
        proc = subprocess.run(["bash", "-euc", command], cwd=root, env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert proc.returncode == 0, (command, proc.stderr[-2000:])
    # The demo's first run is the README's full refresh.
    demo_source = (ROOT / "scripts" / "demo.py").read_text()
    assert 'command.insert(2, "--full-refresh")' in demo_source

    readme = run_commands("test_make_demo_twice_then_every_command_it_prints", root, env,
                          block_with="scripts/summary.py output/replies.duckdb")
    assert readme.returncode == 0, readme.stderr[-3000:]
    assert "Replies per provider and classification" in readme.stdout
    for block_with in ("count(*) from analytics.replies", "meltano invoke dbt-duckdb:debug"):
        proc = run_commands("test_make_demo_twice_then_every_command_it_prints", root, env,
                            block_with=block_with)
        assert proc.returncode == 0, (block_with, proc.stderr[-3000:])
    # The state commands (the full refresh is the demo's first run, above).
    state = run_commands("test_make_demo_twice_then_every_command_it_prints", root, env,
                         block_with=".venv/bin/meltano state list", skip="--full-refresh")
    assert state.returncode == 0, state.stderr[-3000:]
    assert "dev:tap-replies-to-target-duckdb" in state.stdout
    assert "tuco_replies" in state.stdout


# -- the settings table ------------------------------------------------------------------------


def settings_table() -> str:
    about = subprocess.run([sys.executable, "-m", "tap_replies", "--about", "--format=markdown"],
                           capture_output=True, text=True, check=True).stdout
    rows = [line for line in about.splitlines() if line.startswith("|")]
    # Only the table: the SDK's capability settings (stream maps, batch…) are linked, not listed.
    return "\n".join(row for row in rows if not re.match(
        r"\| (stream_maps|stream_map_config|faker_config|flattening_|batch_config)", row))


def test_readme_settings_table_matches_about_output():
    text = README.read_text()
    current = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert current == settings_table(), "run: python -m tests.test_readme"


if __name__ == "__main__":
    text = README.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{settings_table()}\n{END}{tail}")

