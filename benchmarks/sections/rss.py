"""Memory: the tap's peak RSS when the data triples.

Tuco by default: its pages are bounded, so the tap must hold a page, not a stream. (Leadterra's
reply list comes unpaged, one response holding every reply; how that grows is its own question.)
Two sizes also split the tap's CPU into a per-record and a fixed (start-up) part.
"""

from __future__ import annotations

from harness.children import Proc, run_tap
from harness.context import Run
from harness.figures import fmt, median, per_10k
from harness.report import Block
from harness.sandbox import SandboxProcess, Workload

TARGET_GROWTH = 25.0


def syncs(run: Run, workload: Workload, count: int) -> list[tuple[Proc, int]]:
    with SandboxProcess(workload.seed, workload.scale) as server:
        config = run.json_file("rss-config.json", workload.config(server.base_url))
        return [run_tap(config, "tap sync") for _ in range(count)]


def at_1x(run: Run, workload: Workload) -> list[tuple[Proc, int]]:
    """The CPU section's tap runs of this workload when there are some."""
    cpu_runs = run.cpu_runs.get(workload.name)
    if cpu_runs:
        return [(r.tap, r.tap_records) for r in cpu_runs]
    return syncs(run, workload, run.runs)


def run(run: Run, workload: Workload, out: Block) -> None:
    small = at_1x(run, workload)
    big = syncs(run, workload.at_scale(workload.scale * 3), run.heavy_runs)
    rss_1x, rss_3x = (median(p.maxrss_mb for p, _ in s) for s in (small, big))
    growth = (rss_3x / rss_1x - 1) * 100
    out.table(["data", "records", "peak RSS MB", "CPU-s/10k"], [
        [f"{size}x", f"{s[0][1]:,}", fmt(median(p.maxrss_mb for p, _ in s), 1),
         fmt(median(per_10k(p.cpu, n) for p, n in s), 3)] for size, s in ((1, small), (3, big))])
    out.say(f"growth {growth:+.1f}%; target < {TARGET_GROWTH:g}%: "
            f"{'met' if growth < TARGET_GROWTH else 'NOT met'}")
    out.target(f"peak RSS growth < {TARGET_GROWTH:g}% when data triples ({workload.name})",
               f"{growth:+.1f}% ({rss_1x:.1f} -> {rss_3x:.1f} MB)", growth < TARGET_GROWTH)
    small_n, big_n = small[0][1], big[0][1]
    if big_n > small_n:
        small_cpu, big_cpu = (median(p.cpu for p, _ in s) for s in (small, big))
        marginal = (big_cpu - small_cpu) / (big_n - small_n) * 10_000
        fixed = small_cpu - marginal * small_n / 10_000
        out.say(f"from the two sizes: {marginal:.3f} CPU-s per 10k records plus "
                f"{fixed:.2f} CPU-s fixed per run (start-up, imports)")
