"""What a scheduled run that finds nothing new costs (issue 23).

    .venv/bin/python benchmarks/scheduled_run.py [--runs 3] [--job replies-duckdb] [--rpm 100000]
                                                 [--new-percent 0]

Starts the demo's sandbox (seed 1, scale 1) in this process (its CPU is never counted), loads it
once with `meltano run JOB` into a fresh DuckDB file and Meltano system database (not measured),
then runs the same job N more times with nothing new in the sandbox (or, with --new-percent P,
about P% new replies added before each run) and prints the median CPU-seconds and wall of a run.

CPU is split by process: Meltano drops PYTHONPATH for its plugins, so no hook can ride along;
instead a thread polls the process tree under `meltano` every few milliseconds and keeps each
process's last user+system CPU (/proc/PID/stat) and command line, filed under meltano, tap
(`tap-replies`; discovery and sync are two starts), target (`target-*`), dbt (`dbt`) or other (the
warehouse check). `total` is the kernel's figure for the whole tree (`os.wait4` of `meltano`), so
`unattributed` (total minus the parts) is what the poll missed: each process's last few ms.
Requests are the sandbox's log, per provider.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MELTANO = Path(sys.executable).parent / "meltano"
sys.path.insert(0, str(ROOT))

from tap_replies.sandbox import Sandbox  # noqa: E402

PARTS = ("meltano", "tap", "target", "dbt", "other")

TICKS = os.sysconf("SC_CLK_TCK")
POLL_SECONDS = 0.005


class TreePoll(threading.Thread):
    """Every process under `root`, polled: its last CPU-seconds and command line, by pid."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.cpu: dict[int, float] = {}
        self.argv: dict[int, list[str]] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for pid in self._tree():
                self._read(pid)
            time.sleep(POLL_SECONDS)

    def _tree(self) -> list[int]:
        found, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            found.append(pid)
            with contextlib.suppress(OSError):
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo += [int(c) for c in (task / "children").read_text().split()]
        return found

    def _read(self, pid: int) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            self.cpu[pid] = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
            # Read every time: a child seen between fork and exec still shows its parent's
            # (and an exited one shows none).
            argv = [w.decode() for w in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if w]
            if argv:
                self.argv[pid] = argv


def part_of(argv: list[str]) -> str:
    """Which part of the run one process is, from its command line."""
    words = [Path(word).name for word in argv[:3]]
    if "tap-replies" in words or any("tap_replies" in word for word in argv[:3]):
        return "tap"
    if any(word.startswith("target-") for word in words):
        return "target"
    if "dbt" in words:
        return "dbt"
    if "meltano" in words:
        return "meltano"
    return "other"


def sandbox_env(sandbox: Sandbox, rpm: int) -> dict[str, str]:
    env: dict[str, str] = {}
    for provider, block in sandbox.tap_config().items():
        prefix = f"TAP_REPLIES_{provider.upper()}_"
        env[prefix + "API_URL"] = block["api_url"]
        env[prefix + "API_KEY"] = block["api_key"]
        env[prefix + "REQUESTS_PER_MINUTE"] = str(rpm)
    return env


def run_job(job: str, env: dict[str, str], log: Path) -> dict[str, float]:
    """One `meltano run JOB`: CPU-s per part, the tree's total, wall and tap starts."""
    started = time.perf_counter()
    pid = os.posix_spawn(str(MELTANO), [str(MELTANO), "run", job], env,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                                       (os.POSIX_SPAWN_OPEN, 2, str(log),
                                        os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)])
    poll = TreePoll(pid)
    poll.start()
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    poll.done.set()
    poll.join()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"meltano run {job} failed:\n{log.read_text()[-3000:]}")
    figures: dict[str, float] = dict.fromkeys(PARTS, 0.0)
    figures["tap starts"] = 0
    for child, cpu in poll.cpu.items():
        part = part_of(poll.argv.get(child, []))
        figures[part] += cpu
        figures["tap starts"] += part == "tap"
    figures["total"] = usage.ru_utime + usage.ru_stime
    figures["unattributed"] = figures["total"] - sum(figures[p] for p in PARTS)
    figures["wall"] = wall
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--job", default="replies-duckdb")
    parser.add_argument("--rpm", type=int, default=100_000,
                        help="every provider's requests_per_minute (the demo's: 100000)")
    parser.add_argument("--new-percent", type=float, default=0.0,
                        help="add about this % of new replies to the sandbox before each run")
    args = parser.parse_args()
    runs: list[dict[str, float]] = []
    requests: list[Counter[str]] = []
    with tempfile.TemporaryDirectory() as tmp, Sandbox(seed=1, scale=1) as sandbox:
        log = Path(tmp, "meltano.log")
        env = {**os.environ, **sandbox_env(sandbox, args.rpm),
               "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
               "TARGET_DUCKDB_FILEPATH": f"{tmp}/replies.duckdb",
               "MELTANO_DATABASE_URI": f"sqlite:///{tmp}/meltano.db",
               }
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        run_job(args.job, env, log)  # the first load: everything is new
        records = sum(len(rows) for rows in sandbox.ground_truth().values())
        for n in range(args.runs):
            if args.new_percent:
                sandbox.add_activity(max(1, round(records * args.new_percent / 100 / 3)))
            sandbox.clear_log()
            runs.append(run_job(args.job, env, log))
            requests.append(Counter(r.provider for r in sandbox.requests_for()))
            print(f"run {n + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in runs[-1].items())
                  + f"; requests {dict(requests[-1])}", flush=True)
    kind = f"{args.new_percent:g}% new" if args.new_percent else "no-change"
    print(f"\n{kind} `meltano run {args.job}`, median of {args.runs} "
          f"(CPU-seconds; wall seconds; rpm {args.rpm}):")
    for name in (*PARTS, "unattributed", "total", "wall", "tap starts"):
        print(f"  {name:<14} {statistics.median(r[name] for r in runs):6.2f}")
    for provider in sorted({p for c in requests for p in c}):
        print(f"  requests {provider:<10} {statistics.median(c[provider] for c in requests):4.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
