"""make demo: sandbox → `meltano run replies-duckdb` (tap → target-duckdb → dbt build) → a summary.

The sandbox runs in this process (so the demo can read its request log and add activity), on a
free loopback port; Meltano runs the job as it would on a schedule — the tap, the loader, then
dbt's models and tests (transform/) — with every provider pointed at the sandbox through the same
environment variables a real deployment uses. The summary is read from the marts dbt built.

Run it again and it first adds fresh sandbox activity, then shows that the second run asked only
for what changed (Meltano kept the bookmarks in its system database) and loaded only that.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import typing as t
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
from summary import summary  # scripts/summary.py, beside this file

from tap_replies.sandbox import Sandbox
from tap_replies.tap import TapReplies

ROOT = Path(__file__).resolve().parent.parent
# DEMO_OUTPUT: where the demo writes (tests/test_readme.py runs it there, with its own system
# database in MELTANO_DATABASE_URI, so a test never touches a user's output/ or state).
OUTPUT = Path(os.environ.get("DEMO_OUTPUT") or ROOT / "output")
DATABASE = OUTPUT / "replies.duckdb"
HISTORY = OUTPUT / "demo-runs.json"
RUN_LOG = OUTPUT / "meltano-run.log"
# make demo installs meltano beside this interpreter; MELTANO_BIN picks another one.
MELTANO = Path(os.environ.get("MELTANO_BIN") or Path(sys.executable).parent / "meltano")
SEED = 1
JOB = "replies-duckdb"
LOADED_SCHEMA = "tap_replies"
# The sandbox has no server-side limit in the demo, so the tap's own pace would only slow it down.
DEMO_REQUESTS_PER_MINUTE = 100_000
LOADING = re.compile(r"Loading (\d+) rows into '.*?\"([a-z0-9_]+)\"'")
# dbt's closing lines: "Finished running 3 table models, 40 data tests, 8 view models in 0 hours
# 0 minutes and 3.12 seconds" and "Done. PASS=51 WARN=0 ERROR=0 SKIP=0 …".
DBT_FINISHED = re.compile(r"Finished running (.*?) in [0-9 a-z]*?([0-9.]+) seconds")
DBT_COUNT = re.compile(r"(\d+) (data tests|[a-z]+ models)")
DBT_DONE = re.compile(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+)")


def sandbox_env(sandbox: Sandbox) -> dict[str, str]:
    """TAP_REPLIES_<PROVIDER>_<SETTING> for every provider: exactly how Meltano takes settings."""
    env: dict[str, str] = {}
    for provider, block in sandbox.tap_config().items():
        block = {**block, "requests_per_minute": DEMO_REQUESTS_PER_MINUTE}
        for key, value in block.items():
            if value is not None:
                env[f"TAP_REPLIES_{provider.upper()}_{key.upper()}"] = str(value)
    return env


def table_counts(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [row[0] for row in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
            "ORDER BY table_name", [LOADED_SCHEMA]).fetchall()]
        counts: dict[str, int] = {}
        for table in tables:
            row = con.execute(f'SELECT count(*) FROM "{LOADED_SCHEMA}"."{table}"').fetchone()
            counts[table] = int(row[0]) if row else 0
        return counts
    finally:
        con.close()


@dataclass
class JobRun:
    """What `meltano run replies-duckdb` did, read from its log."""

    code: int
    seconds: float
    loaded: Counter[str]  # rows target-duckdb wrote, per table
    models: int  # dbt models built
    tests: int  # dbt data tests run
    passed: int  # models built and tests passed
    dbt_seconds: float


def meltano_run(sandbox: Sandbox, *, full_refresh: bool) -> JobRun:
    """`meltano run replies-duckdb`: load, then dbt build the models and run their tests."""
    env = {**os.environ, **sandbox_env(sandbox), "TARGET_DUCKDB_FILEPATH": str(DATABASE),
           "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    command = [str(MELTANO), "run", JOB]
    if full_refresh:
        command.insert(2, "--full-refresh")
    started = time.monotonic()
    with RUN_LOG.open("w", encoding="utf-8") as log:
        proc = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                              check=False)
    seconds = time.monotonic() - started
    text = RUN_LOG.read_text(encoding="utf-8", errors="replace")
    loaded: Counter[str] = Counter()
    for match in LOADING.finditer(text):
        loaded[match.group(2)] += int(match.group(1))
    finished = DBT_FINISHED.search(text)
    counts = Counter[str]()
    for number, kind in DBT_COUNT.findall(finished.group(1) if finished else ""):
        counts["tests" if kind == "data tests" else "models"] += int(number)
    done = DBT_DONE.search(text)
    return JobRun(proc.returncode, seconds, loaded, counts["models"], counts["tests"],
                  int(done.group(1)) if done else 0,
                  float(finished.group(2)) if finished else 0.0)


def incremental_streams(sandbox: Sandbox) -> set[str]:
    """Streams that resume from a bookmark; the rest (SDRs, categories…) are re-read every run."""
    tap = TapReplies(config=sandbox.tap_config(), parse_env_config=False)
    return {name for name, stream in tap.streams.items()
            if stream.replication_method == "INCREMENTAL"}


def requests_by_provider(sandbox: Sandbox) -> Counter[str]:
    return Counter(r.provider for r in sandbox.request_log if r.provider)


def main() -> int:
    OUTPUT.mkdir(exist_ok=True)
    history: list[dict[str, t.Any]] = (
        json.loads(HISTORY.read_text()) if HISTORY.exists() and DATABASE.exists() else []
    )
    first = not DATABASE.exists()
    run_no = len(history) + 1

    with Sandbox(seed=SEED, scale=1) as sandbox:
        print(f"▶ sandbox: Leadterra, Smartlead and Tuco AI emulated at {sandbox.base_url}")
        if first:
            print(f"▶ run 1: full sync into {shown(DATABASE)}")
        else:
            added = sandbox.add_activity()
            news = ", ".join(f"{p} {sum(c.values())}" for p, c in added.items())
            print(f"▶ run {run_no}: the sandbox adds fresh activity ({news} new or changed "
                  "records); Meltano resumes from its bookmarks")
        before = table_counts(DATABASE)
        print(f"▶ meltano run {JOB}: tap-replies → target-duckdb → dbt build  "
              f"(log: {shown(RUN_LOG)})", flush=True)
        run = meltano_run(sandbox, full_refresh=first)
        requests = requests_by_provider(sandbox)
        incremental = incremental_streams(sandbox)
    if run.code != 0:
        print(RUN_LOG.read_text(encoding="utf-8", errors="replace")[-4000:], file=sys.stderr)
        print(f"meltano run failed (exit {run.code}); full log in {shown(RUN_LOG)}",
              file=sys.stderr)
        return run.code
    loaded, seconds = run.loaded, run.seconds
    after = table_counts(DATABASE)

    print(f"  done in {seconds:.1f}s: {sum(requests.values())} API requests "
          f"({', '.join(f'{p} {n}' for p, n in sorted(requests.items()))})")
    rows = [[table, loaded.get(table, 0), after[table] - before.get(table, 0), after[table]]
            for table in sorted(after)]
    print(_rows_table(rows))
    tests_passed = run.passed - run.models
    print(f"▶ dbt build (transform/): {run.models} models built, {tests_passed} of {run.tests} "
          f"tests passed in {run.dbt_seconds:.1f}s → analytics.replies, campaign_reply_rates, "
          "followups_due_by_sdr\n")
    print(summary(DATABASE))

    record = {"run": run_no, "requests": dict(requests), "loaded": dict(loaded),
              "incremental_loaded": sum(n for s, n in loaded.items() if s in incremental),
              "rows": after, "seconds": round(seconds, 1)}
    history.append(record)
    HISTORY.write_text(json.dumps(history, indent=2))
    print()
    if first or len(history) < 2:
        print("Run `make demo` again: the sandbox adds activity and the next run is incremental.")
    else:
        full = history[0]
        print(f"Incremental: run {run_no} made {sum(requests.values())} requests (the first, full "
              f"run: {sum(full['requests'].values())}) and read {record['incremental_loaded']} "
              f"rows from the bookmarked streams ({', '.join(sorted(incremental))}) against "
              f"{full.get('incremental_loaded', 0)} the first time; the small full-table streams "
              "are re-read every run.")
        print("Bookmarks live in Meltano's system database (.meltano/meltano.db): "
              "`.venv/bin/meltano state get dev:tap-replies-to-target-duckdb`.")
    print(f"Query it: {query_command(DATABASE)}")
    print("Look at it: `make dashboard`, then open http://127.0.0.1:8765/ (README: Dashboard).")
    if importlib.util.find_spec("plotly"):  # the dashboard extra, once `make dashboard` ran
        snapshot = subprocess.run(
            [sys.executable, "-m", "dashboard", "--warehouse", "duckdb", "--snapshot",
             str(OUTPUT / "dashboard.html")],
            cwd=ROOT, env={**os.environ, "TARGET_DUCKDB_FILEPATH": str(DATABASE)},
            capture_output=True, text=True, check=False)
        if snapshot.returncode == 0:
            print(f"A copy to share: {shown(OUTPUT / 'dashboard.html')}")
    return 0


def shown(path: Path) -> Path:
    """A path as the demo prints it: from the project root when it is inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def query_command(database: Path) -> str:
    """The one-liner the demo ends with. The connection is kept in a name: a relation does not
    keep its connection alive, and duckdb 1.0.0 closes one nobody holds before printing."""
    path = shown(database)
    return (f".venv/bin/python -c \"import duckdb; con = duckdb.connect('{path}', read_only=True); "
            "print(con.sql('from analytics.replies limit 5'))\"")


def _rows_table(rows: list[list[t.Any]]) -> str:
    """Rows loaded per table: `new rows` the table did not have, `updated` the rows it had
    (upserted in place: changed at the provider, or read again at the bookmark's second)."""
    header = f"  {'table':<28} {'loaded':>7} {'new rows':>9} {'updated':>8} {'total':>7}"
    lines = [header, "  " + "-" * (len(header) - 2)]
    lines += [f"  {t_:<28} {n:>7} {d:>9} {max(0, n - d):>8} {tot:>7}" for t_, n, d, tot in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
