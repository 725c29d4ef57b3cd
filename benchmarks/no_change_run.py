"""What the deletion and history work (issue 18) adds to a no-change incremental run.

    .venv/bin/python benchmarks/no_change_run.py [--runs 3] [--base main]

Starts the demo's sandbox (seed 1, scale 1), loads it into a fresh DuckDB file twice with
`meltano run tap-replies target-duckdb` (the second load is the no-change incremental one, timed),
then times the dbt step on that file: this checkout's dbt project and the `--base` revision's
(`git archive`), each parsed once untimed and then built `--runs` times (median), both with the
dbt-duckdb utility's own dbt. The difference is what the deletion marking (pre-hooks), the
snapshots, the history marts and the intermediate models cost per run. Prints medians; nothing
in the repository is written.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MELTANO = Path(sys.executable).parent / "meltano"
DBT = ROOT / ".meltano/utilities/dbt-duckdb/venv/bin/dbt"

from tap_replies.sandbox import Sandbox  # noqa: E402


def timed(command: list[str], env: dict[str, str], cwd: Path = ROOT) -> float:
    started = time.monotonic()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return seconds


def base_project(revision: str, folder: Path) -> Path:
    archive = subprocess.run(["git", "archive", revision, "transform"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "transform"


def dbt_build(project: Path, target: Path) -> list[str]:
    return [str(DBT), "build", "--project-dir", str(project), "--profiles-dir",
            str(project / "profiles"), "--target", "duckdb", "--target-path", str(target),
            "--log-path", str(target / "logs")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--base", default="main")
    args = parser.parse_args()
    with Sandbox(seed=1, scale=1) as sandbox, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
               "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
               "TARGET_DUCKDB_FILEPATH": str(tmp / "replies.duckdb"),
               "MELTANO_DATABASE_URI": f"sqlite:///{tmp}/meltano.db"}
        for provider, block in sandbox.tap_config().items():
            prefix = f"TAP_REPLIES_{provider.upper()}_"
            env.update({prefix + "API_URL": block["api_url"], prefix + "API_KEY": block["api_key"],
                        prefix + "REQUESTS_PER_MINUTE": "100000"})
        load = [str(MELTANO), "run", "tap-replies", "target-duckdb"]
        timed(load, env)
        no_change_load = timed(load, env)
        projects = {"this checkout": ROOT / "transform",
                    f"base {args.base}": base_project(args.base, tmp / "base")}
        seconds: dict[str, list[float]] = {}
        for name, project in projects.items():
            command = dbt_build(project, tmp / f"target-{len(seconds)}")
            timed(command, env)  # the first parse, as only a project's first run pays it
            seconds[name] = [timed(command, env) for _ in range(args.runs)]
    print(f"no-change incremental load (meltano run tap-replies target-duckdb): "
          f"{no_change_load:.1f} s")
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    for name, value in medians.items():
        print(f"dbt build after it, {name:<20} median of {args.runs}: {value:6.1f} s  "
              f"({', '.join(f'{v:.1f}' for v in seconds[name])})")
    current, base = medians["this checkout"], medians[f"base {args.base}"]
    print(f"the dbt step's added cost: {current - base:+.1f} s "
          f"({(current - base) / (no_change_load + base) * 100:+.0f}% of a no-change run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
