"""How much the dbt step adds to a demo run (issue 12).

    .venv/bin/python benchmarks/dbt_step.py [--runs 3]

Starts the demo's sandbox (seed 1, scale 1) and, per run, times two full syncs into a fresh DuckDB
file with a fresh Meltano system database: `meltano run tap-replies target-duckdb` (load only)
and `meltano run replies-duckdb` (the demo's job: the same load, then `dbt-duckdb:build`). It also
times the dbt step alone (`meltano invoke dbt-duckdb:build` on the loaded file, twice: the first
parse of the project in a new target folder, then a partial parse, as every later demo run does).
Prints medians; nothing is written.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MELTANO = Path(sys.executable).parent / "meltano"

from tap_replies.sandbox import Sandbox  # noqa: E402


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return seconds


def one_run(sandbox: Sandbox) -> dict[str, float]:
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                "DBT_DUCKDB_TARGET_PATH": f"{tmp}/dbt-target", "DBT_DUCKDB_LOG_PATH": f"{tmp}/dbt"}
        for provider, block in sandbox.tap_config().items():
            prefix = f"TAP_REPLIES_{provider.upper()}_"
            base.update({prefix + "API_URL": block["api_url"], prefix + "API_KEY": block["api_key"],
                         prefix + "REQUESTS_PER_MINUTE": "100000"})
        for name, command in (("load only", ["run", "tap-replies", "target-duckdb"]),
                              ("load + dbt build", ["run", "replies-duckdb"])):
            env = {**base, "TARGET_DUCKDB_FILEPATH": f"{tmp}/{name[:4]}.duckdb",
                   "MELTANO_DATABASE_URI": f"sqlite:///{tmp}/{name[:4]}.db"}
            seconds[name] = timed([str(MELTANO), *command], env)
        env = {**base, "TARGET_DUCKDB_FILEPATH": f"{tmp}/load.duckdb",
               "DBT_DUCKDB_TARGET_PATH": f"{tmp}/dbt-target-alone"}
        seconds["dbt build alone, first parse"] = timed(
            [str(MELTANO), "invoke", "dbt-duckdb:build"], env)
        seconds["dbt build alone, partial parse"] = timed(
            [str(MELTANO), "invoke", "dbt-duckdb:build"], env)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs: list[dict[str, float]] = []
    with Sandbox(seed=1, scale=1) as sandbox:
        for n in range(args.runs):
            runs.append(one_run(sandbox))
            print(f"run {n + 1}: " + ", ".join(f"{k} {v:.1f} s" for k, v in runs[-1].items()),
                  flush=True)
    medians = {name: statistics.median(r[name] for r in runs) for name in runs[0]}
    print(f"\nmedians of {args.runs} runs (wall-clock seconds):")
    for name, value in medians.items():
        print(f"  {name:<32} {value:6.1f}")
    added = medians["load + dbt build"] - medians["load only"]
    print(f"  {'the dbt step adds':<32} {added:6.1f}  "
          f"({added / medians['load only'] * 100:.0f}% of a load-only run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
