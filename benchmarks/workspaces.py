"""Many workspaces through Dagster: N workspace files, one partition each, against the sandbox.

    .venv/bin/python benchmarks/workspaces.py                    # N = 1, 10, 100; BENCHMARKS.md
    .venv/bin/python benchmarks/workspaces.py --counts 1,10 --output -     # print only

Each workspace is a `workspaces/<name>.meltano.yml` in a temporary copy of the Meltano project with
a sandbox of its own (its own keys, so its own rate budget) paced at the providers' published
limits: Smartlead 60 requests/min, Tuco 120/min. Every sandbox has the same seed and scale, so
every workspace does the same work. For each N, into a fresh database of one throwaway PostgreSQL
server: the code location's load time with N files (`import orchestration.definitions`, the dbt
manifest cached), then `python -m orchestration sync-all` (a `sync_workspaces` run per partition,
SYNC_ALL_MAX_PARALLEL at a time, then the dbt build), then a second sync-all with nothing new
(the per-workspace fixed cost). A sampler reads /proc every 0.2 s: the peak RSS of the sync-all
process (the Dagster process) and of its whole tree, and each descendant's CPU-seconds by kind
(meltano, tap, target, dbt, Dagster's run workers); a process's last <0.2 s is missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from orchestration.project import MeltanoProject  # noqa: E402
from tap_replies.registry import PROVIDERS  # noqa: E402
from tap_replies.sandbox import Sandbox  # noqa: E402
from tests.postgres_cluster import PostgresCluster  # noqa: E402
from tests.workspace_harness import Workspace, base_env, make_project  # noqa: E402

RATES = {"smartlead": 60, "tuco": 120}  # requests per minute, as the providers publish them
SEED = 1
SCALE = 1
TICK = os.sysconf("SC_CLK_TCK")
START, END = ("<!-- workspaces:start (written by benchmarks/workspaces.py) -->",
              "<!-- workspaces:end -->")


@dataclass
class TreeSample:
    """What the sampler saw of one process tree."""

    cpu_by_pid: dict[int, tuple[str, float]] = field(default_factory=dict)
    root_peak_kib: int = 0
    tree_peak_kib: int = 0

    def cpu_by_kind(self) -> Counter[str]:
        kinds: Counter[str] = Counter()
        for kind, seconds in self.cpu_by_pid.values():
            kinds[kind] += seconds
        return kinds


def kind_of(argv: list[str]) -> str:
    joined = " ".join(argv)
    if "meltano_pipes.py" in joined:
        return "pipes child"
    for kind, marker in (("tap", "/tap-replies"), ("target", "target-postgres"),
                         ("dbt", "/bin/dbt"), ("meltano", "/meltano")):
        if any(a.endswith(marker) or a.endswith(marker.lstrip("/")) for a in argv[:2]):
            return kind
    return "dagster (sync-all, run workers)"


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def sample(root: int, into: TreeSample) -> None:
    total = 0
    for pid in descendants(root):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            status = Path(f"/proc/{pid}/status").read_text()
        except (OSError, ValueError):
            continue
        rss = int(next((line.split()[1] for line in status.splitlines()
                        if line.startswith("VmRSS:")), 0))
        total += rss
        if pid == root:
            into.root_peak_kib = max(into.root_peak_kib, rss)
        into.cpu_by_pid[pid] = (kind_of(argv), (int(stat[11]) + int(stat[12])) / TICK)
    into.tree_peak_kib = max(into.tree_peak_kib, total)


def run_sampled(command: list[str], env: dict[str, str]) -> tuple[int, str, float, TreeSample]:
    seen = TreeSample()
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            sample(proc.pid, seen)
            done.wait(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    output, _ = proc.communicate()
    wall = time.monotonic() - started
    done.set()
    watcher.join()
    return proc.returncode, output, wall, seen


@dataclass
class Result:
    workspaces: int
    parallel: int
    definitions_seconds: float
    returncode: int
    wall: float
    cpu: float  # CPU-s of the whole first sync-all
    root_peak_mib: float
    tree_peak_mib: float
    no_change_wall: float
    no_change_cpu: Counter[str]  # CPU-s by kind of the second sync-all (nothing new)
    load: float
    summary: str


def definitions_load(env: dict[str, str]) -> float:
    code = ("import time; t = time.perf_counter(); import orchestration.definitions; "
            "print(time.perf_counter() - t)")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # parses the dbt manifest into the cache
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)
    return float(proc.stdout.strip().splitlines()[-1])


def setup(count: int, folder: Path, server: t.Any) -> tuple[dict[str, str], list[Sandbox]]:
    project = make_project(folder)
    sandboxes = [Sandbox(seed=SEED, scale=SCALE, rates=RATES).start() for _ in range(count)]
    env = base_env(project, server)
    for index, sandbox in enumerate(sandboxes):
        name = f"client{index:03d}"
        MeltanoProject(project).add_workspace(name)
        env.update(Workspace(name, dict.fromkeys(PROVIDERS, sandbox)).env())
        for provider in PROVIDERS:  # the tap's own defaults
            env.pop(f"TAP_REPLIES__{name.upper()}_{provider.upper()}_REQUESTS_PER_MINUTE")
    return env, sandboxes


def measure(count: int, parallel: int, cluster_server: t.Any, folder: Path,
            no_change: bool = True) -> Result:
    load = os.getloadavg()[0]
    server = cluster_server.create_database(f"bench_{count}")
    env, sandboxes = setup(count, folder, server)
    env["SYNC_ALL_MAX_PARALLEL"] = str(parallel)
    command = [sys.executable, "-m", "orchestration", "sync-all"]
    try:
        seconds = definitions_load(env)
        code, output, wall, first = run_sampled(command, env)
        print(output.strip(), file=sys.stderr)
        if code not in (0, 1):
            raise SystemExit(f"sync-all exited {code}: {output[-3000:]}")
        no_change_wall, second = 0.0, TreeSample()
        if no_change:
            _, again, no_change_wall, second = run_sampled(command, env)
            print(again.strip(), file=sys.stderr)
    finally:
        for sandbox in sandboxes:
            sandbox.stop()
    summary = next((line for line in output.splitlines() if " loaded" in line), "")
    return Result(count, parallel, seconds, code, wall, sum(first.cpu_by_kind().values()),
                  first.root_peak_kib / 1024, first.tree_peak_kib / 1024, no_change_wall,
                  second.cpu_by_kind(), load, summary)


def table(results: list[Result], seconds: float) -> str:
    kinds = sorted({k for r in results for k in r.no_change_cpu})
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"in {seconds:.0f} s: `.venv/bin/python benchmarks/workspaces.py --counts "
        f"{','.join(str(r.workspaces) for r in results)}`. Sandbox seed {SEED}, scale {SCALE} "
        f"per workspace, paced at Smartlead {RATES['smartlead']}/min and Tuco "
        f"{RATES['tuco']}/min; the real dbt build.",
        "",
        "| Workspaces | parallel | definitions load | sync-all wall | CPU-s | CPU-s per workspace "
        "| sync-all RSS peak | tree RSS peak | exit | load avg at start |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        lines.append(
            f"| {r.workspaces} | {r.parallel} | {r.definitions_seconds:.1f} s | {r.wall:.0f} s "
            f"| {r.cpu:.0f} | {r.cpu / r.workspaces:.1f} | {r.root_peak_mib:.0f} MiB "
            f"| {r.tree_peak_mib:.0f} MiB | {r.returncode} | {r.load:.1f} |")
    lines += ["", "The second sync-all, nothing new (CPU-s per workspace, by process kind):", "",
              "| Workspaces | wall | " + " | ".join(kinds) + " |",
              "|--:|--:|" + "--:|" * len(kinds)]
    for r in results:
        lines.append(f"| {r.workspaces} | {r.no_change_wall:.0f} s | " + " | ".join(
            f"{r.no_change_cpu[k] / r.workspaces:.2f}" for k in kinds) + " |")
    return "\n".join(lines)


def write(text: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text()
    block = f"{START}\n{text}\n{END}"
    if START in current:
        head, rest = current.split(START, 1)
        current = head + block + rest.split(END, 1)[1]
    else:
        current += f"\n## Many workspaces\n\n{block}\n"
    path.write_text(current)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1,10,100")
    parser.add_argument("--parallel", type=int, default=10, help="SYNC_ALL_MAX_PARALLEL")
    parser.add_argument("--output", default="BENCHMARKS.md", help="BENCHMARKS.md or - to print")
    parser.add_argument("--first-sync-only", action="store_true",
                        help="skip the second, no-change sync-all")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    started = time.monotonic()
    cluster = PostgresCluster()
    results = []
    try:
        server = cluster.start()
        for count in counts:
            with tempfile.TemporaryDirectory(prefix=f"bench-workspaces-{count}-") as folder:
                results.append(measure(count, args.parallel, server, Path(folder),
                                       no_change=not args.first_sync_only))
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
