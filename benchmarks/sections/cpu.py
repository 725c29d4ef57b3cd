"""CPU per record: a full sync to /dev/null by the tap and by the bare client, same pages.

The bare client (bare_client.py) replays the successful requests of one tap sync of the same
workload, so both sides read exactly the same pages. Tap and bare client alternate against one
sandbox process; the sandbox's own CPU is shown beside theirs because it bounds the wall time.
"""

from __future__ import annotations

from harness.children import run_bare, run_tap
from harness.context import CpuRun, Run
from harness.figures import fmt, median, per_10k, spread
from harness.report import Block
from harness.sandbox import SandboxProcess, Workload

TARGET_RATIO = 2.0


def measure(run: Run, workload: Workload) -> list[CpuRun]:
    """`run.runs` tap syncs, each followed by a bare-client replay; kept for other sections."""
    replay, auth = run.replay(workload), run.auth_file()
    runs: list[CpuRun] = []
    with SandboxProcess(workload.seed, workload.scale) as server:
        config = run.json_file("cpu-config.json", workload.config(server.base_url))
        for _ in range(run.runs):
            before = server.cpu_seconds()
            tap, tap_records = run_tap(config, "tap sync")
            between = server.cpu_seconds()
            bare, bare_records = run_bare(server.base_url, replay, auth)
            runs.append(CpuRun(tap, tap_records, bare, bare_records, between - before,
                               server.cpu_seconds() - between))
    run.cpu_runs[workload.name] = runs
    return runs


def tap_10k(runs: list[CpuRun]) -> float:
    return median(per_10k(r.tap.cpu, r.tap_records) for r in runs)


def bare_10k(runs: list[CpuRun]) -> float:
    return median(per_10k(r.bare.cpu, r.bare_records) for r in runs)


def ratios(runs: list[CpuRun]) -> list[float]:
    """Tap over bare CPU per record, run by run (each pair ran back to back)."""
    return [per_10k(r.tap.cpu, r.tap_records) / per_10k(r.bare.cpu, r.bare_records)
            for r in runs]


def detail_rows(runs: list[CpuRun]) -> list[list[str]]:
    rows = []
    for name, procs, counts, server_cpu in (
        ("tap-replies", [r.tap for r in runs], [r.tap_records for r in runs],
         [r.server_cpu_tap for r in runs]),
        ("bare client", [r.bare for r in runs], [r.bare_records for r in runs],
         [r.server_cpu_bare for r in runs]),
    ):
        pairs = list(zip(procs, counts, strict=True))
        rows.append([
            name, f"{counts[0]:,}", fmt(median(c / p.wall for p, c in pairs), 0),
            fmt(median(per_10k(p.cpu, c) for p, c in pairs), 3),
            spread((per_10k(p.cpu, c) for p, c in pairs), 3),
            fmt(median(p.wall for p in procs)), fmt(median(p.cpu for p in procs)),
            fmt(median(p.maxrss_mb for p in procs), 0), fmt(median(server_cpu), 1),
        ])
    return rows


def run(run: Run, workload: Workload, out: Block) -> None:
    runs = measure(run, workload)
    ratio = tap_10k(runs) / bare_10k(runs)
    out.table(["client", "records", "records/s (wall)", "CPU-s/10k", "CPU-s/10k min-max",
               "wall s", "CPU s", "peak RSS MB", "sandbox CPU s"], detail_rows(runs))
    out.say(f"tap CPU per record = {ratio:.2f}x the bare client (per-run {spread(ratios(runs))}); "
            f"target <= {TARGET_RATIO:g}x: {'met' if ratio <= TARGET_RATIO else 'NOT met'}")
    out.target(f"tap CPU per record <= {TARGET_RATIO:g}x the bare client ({workload.name})",
               f"{ratio:.2f}x ({fmt(tap_10k(runs), 3)} vs {fmt(bare_10k(runs), 3)} CPU-s/10k)",
               ratio <= TARGET_RATIO)
    out.say("(CPU-s are the client process's own; wall time is bounded by the sandbox, a Python "
            f"server sharing the {run.info['cpus']} CPUs: see its CPU column. The bare client "
            "counts every row of every page, the tap what it emitted: Tuco's time-cursor pages "
            "repeat one row each, which the tap drops)")
