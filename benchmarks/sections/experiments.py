"""Experiments: the same sync with each benchmark-only patch of tap_variant.py.

Every patch in tap_variant.PATCHES runs, and each is checked to emit the same records as the tap
as is: every RECORD but time_extracted, all providers' streams at `--requests-scale`.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

from harness.children import run_bare, run_tap
from harness.context import Run
from harness.figures import fmt, median, per_10k
from harness.report import Block
from harness.sandbox import WORKLOADS, SandboxProcess, Workload
from tap_variant import PATCHES

from sections.cpu import bare_10k

BASELINE = "baseline (tap-replies as is)"
EXPERIMENTS = [(BASELINE, ""), *((label, name) for name, (label, _) in PATCHES.items())]


def records_digest(path: Path) -> tuple[int, str]:
    """RECORD messages of a run, minus time_extracted: equal digests mean equal output."""
    digest = hashlib.sha256()
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            message = json.loads(line)
            if message.get("type") != "RECORD":
                continue
            message.pop("time_extracted", None)
            digest.update(json.dumps(message, sort_keys=True).encode())
            count += 1
    return count, digest.hexdigest()[:12]


def equivalence(run: Run) -> dict[str, tuple[int, str]]:
    """Each variant's records for every provider's streams at a small scale."""
    found: dict[str, tuple[int, str]] = {}
    everything = Workload("mixed", WORKLOADS["mixed"], run.args.seed, run.args.requests_scale, 0)
    with SandboxProcess(everything.seed, everything.scale) as server:
        config = run.json_file("equal-config.json", everything.config(server.base_url))
        out = run.work / "equal.jsonl"
        for label, patches in EXPERIMENTS:
            with out.open("wb") as handle:
                run_tap(config, "equivalence run", patches=patches, variant=True, stdout=handle)
            found[label] = records_digest(out)
        out.unlink()
    return found


def measure(run: Run, workload: Workload) -> tuple[dict[str, list[float]], dict[str, list[float]],
                                                   float]:
    """CPU-s per 10k records and peak RSS of each variant, and the bare client's CPU-s per 10k."""
    cpu: dict[str, list[float]] = defaultdict(list)
    rss: dict[str, list[float]] = defaultdict(list)
    cpu_runs = run.cpu_runs.get(workload.name)
    with SandboxProcess(workload.seed, workload.scale) as server:
        bare = bare_10k(cpu_runs) if cpu_runs else median(
            per_10k(p.cpu, n) for p, n in (run_bare(server.base_url, run.replay(workload),
                                                    run.auth_file()) for _ in range(run.runs)))
        config = run.json_file("experiment-config.json", workload.config(server.base_url))
        for _ in range(run.heavy_runs):
            for label, patches in EXPERIMENTS:
                proc, records = run_tap(config, "tap sync", patches=patches, variant=True)
                cpu[label].append(per_10k(proc.cpu, records))
                rss[label].append(proc.maxrss_mb)
    return cpu, rss, bare


def run(run: Run, workload: Workload, out: Block) -> None:
    same = equivalence(run)
    cpu, rss, bare = measure(run, workload)
    base = median(cpu[BASELINE])
    out.table(["variant", "TAP_BENCH_PATCHES", "CPU-s/10k", "vs baseline", "x bare",
               "peak RSS MB", "same records"], [
        [label, patches or "-", fmt(median(cpu[label]), 3),
         f"{(median(cpu[label]) / base - 1) * 100:+.0f}%", fmt(median(cpu[label]) / bare, 2),
         fmt(median(rss[label]), 0),
         "yes" if same[label] == same[BASELINE] else f"NO ({same[label][0]} records)"]
        for label, patches in EXPERIMENTS])
    out.say(f"(same records: every RECORD but time_extracted equal to the baseline's, all "
            f"providers' streams at scale {run.args.requests_scale}, {same[BASELINE][0]} records; "
            f"{run.heavy_runs} run(s) per variant)")
