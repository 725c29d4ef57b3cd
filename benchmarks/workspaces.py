"""Many workspaces in parallel: N workspaces synced at once through Dagster against one alone.

    .venv/bin/python benchmarks/workspaces.py                  # N = 1, 3, 10; writes BENCHMARKS.md
    .venv/bin/python benchmarks/workspaces.py --counts 1,3 --output -    # print only

Each workspace is a `workspaces/<name>.meltano.yml` in a temporary copy of the Meltano project,
with a sandbox of its own (its own keys, so its own rate budget) paced at the providers' published
limits: Smartlead 60 requests/min, Tuco 120/min (Leadterra publishes none). The tap paces itself
at its defaults, the same numbers. Every sandbox has the same seed and scale, so every workspace
does the same work and "alone" (N = 1) is the slowest one alone. Each N runs
`python -m orchestration sync-all` (what `make sync-all` runs: the Dagster loads job with the
multiprocess executor, then the marts) into a fresh database of one throwaway PostgreSQL server,
and reads the step times back from the Dagster instance. Needs `make plugins` (target-postgres).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402

from orchestration.project import MeltanoProject  # noqa: E402
from tap_replies.registry import PROVIDERS  # noqa: E402
from tap_replies.sandbox import Sandbox  # noqa: E402
from tests.postgres_cluster import PostgresCluster  # noqa: E402
from tests.workspace_harness import REAL_DBT, Workspace, base_env, make_project  # noqa: E402

RATES = {"smartlead": 60, "tuco": 120}  # requests per minute, as the providers publish them
SEED = 1
SCALE = 1
START, END = ("<!-- workspaces:start (written by benchmarks/workspaces.py) -->",
              "<!-- workspaces:end -->")


@dataclass
class Result:
    workspaces: int
    returncode: int
    wall: float  # the whole sync-all: both runs and their start-up
    loads: float  # the sync_workspaces run, start to end
    slowest: float  # the slowest workspace step
    mean: float
    marts: float  # the build_marts run
    requests: int  # per workspace, Smartlead
    records: int  # per workspace
    rate_limited: int  # 429s answered, all sandboxes together
    load: float  # the machine's 1-minute load average when the run started


def run_duration(instance: dg.DagsterInstance, job: str) -> tuple[float, str]:
    [record] = instance.get_run_records(dg.RunsFilter(job_name=job), limit=1)
    return (record.end_time or 0) - (record.start_time or 0), record.dagster_run.run_id


def step_durations(instance: dg.DagsterInstance, run_id: str) -> list[float]:
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        if entry.dagster_event_type == dg.DagsterEventType.STEP_START and entry.step_key:
            starts.setdefault(entry.step_key, entry.timestamp)
        elif entry.dagster_event_type == dg.DagsterEventType.STEP_SUCCESS and entry.step_key:
            ends[entry.step_key] = entry.timestamp
    return [ends[step] - starts[step] for step in ends]


def measure(count: int, cluster_server, folder: Path) -> Result:
    load = os.getloadavg()[0]
    server = cluster_server.create_database(f"bench_{count}")
    project = make_project(folder)
    sandboxes = [Sandbox(seed=SEED, scale=SCALE, rates=RATES).start() for _ in range(count)]
    try:
        env = base_env(project, server)
        for index, sandbox in enumerate(sandboxes):
            name = f"client{index:02d}"
            MeltanoProject(project).add_workspace(name)
            env.update(Workspace(name, dict.fromkeys(PROVIDERS, sandbox)).env())
            for provider in PROVIDERS:  # the tap's own defaults
                env.pop(f"TAP_REPLIES__{name.upper()}_{provider.upper()}_REQUESTS_PER_MINUTE")
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "orchestration", "sync-all"], cwd=ROOT,
                              env=env, capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
        print(proc.stdout.strip(), file=sys.stderr)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"sync-all exited {proc.returncode}: {proc.stderr[-3000:]}")
        with dg.DagsterInstance.from_config(str(project / ".dagster")) as instance:
            loads, run_id = run_duration(instance, "sync_workspaces")
            marts, _ = run_duration(instance, "build_marts")
            steps = step_durations(instance, run_id)
        statuses = Counter(r.status for s in sandboxes for r in s.request_log)
        smartlead = len(sandboxes[0].requests_for("smartlead"))
        records = sum(len(rows) for rows in sandboxes[0].ground_truth().values())
    finally:
        for sandbox in sandboxes:
            sandbox.stop()
    return Result(count, proc.returncode, wall, loads, max(steps or [0]),
                  sum(steps) / max(len(steps), 1), marts, smartlead, records, statuses[429],
                  load)


def table(results: list[Result], seconds: float) -> str:
    alone = next((r for r in results if r.workspaces == 1), results[0])
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"in {seconds:.0f} s: `.venv/bin/python benchmarks/workspaces.py`. Sandbox seed {SEED}, "
        f"scale {SCALE} per workspace ({alone.records:,} records; {alone.requests} Smartlead "
        "requests), "
        f"paced at Smartlead {RATES['smartlead']}/min and Tuco {RATES['tuco']}/min; dbt build "
        + ("real." if REAL_DBT else "a stand-in (issue 12's project not merged yet)."),
        "",
        "| Workspaces | sync-all wall | loads run | slowest workspace | mean workspace | marts run "
        "| loads run / alone | 429s | exit | load avg at start |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        lines.append(
            f"| {r.workspaces} | {r.wall:.0f} s | {r.loads:.0f} s | {r.slowest:.0f} s "
            f"| {r.mean:.0f} s | {r.marts:.0f} s | {r.loads / alone.loads:.2f}x "
            f"| {r.rate_limited} | {r.returncode} | {r.load:.1f} |")
    return "\n".join(lines)


def write(text: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text()
    block = f"{START}\n{text}\n{END}"
    if START in current:
        head, rest = current.split(START, 1)
        current = head + block + rest.split(END, 1)[1]
    else:
        current += f"\n## Many workspaces in parallel (issue 13)\n\n{block}\n"
    path.write_text(current)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1,3,10")
    parser.add_argument("--output", default="BENCHMARKS.md", help="BENCHMARKS.md or - to print")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    started = time.monotonic()
    cluster = PostgresCluster()
    results = []
    try:
        server = cluster.start()
        for count in counts:
            with tempfile.TemporaryDirectory(prefix=f"bench-workspaces-{count}-") as folder:
                results.append(measure(count, server, Path(folder)))
                print(results[-1], file=sys.stderr)
    finally:
        cluster.stop()
    text = table(results, time.monotonic() - started)
    print(text)
    if args.output != "-":
        write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
