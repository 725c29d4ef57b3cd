"""CPU per record on the mixed workload, per provider and overall: the tap vs the bare client.

One sandbox process serves all three providers at one scale, each at its real record shape
(Leadterra's and Smartlead's short records beside Tuco's long ones). For each subset of providers
(all three, then each alone) the tap syncs with a config naming only that subset, and the bare
client replays only that subset's requests of one recorded full sync: both read the same pages.
The two alternate, subset by subset, `--runs` times; medians are reported with the per-run range.

CPU is user+system of the child process alone (os.wait4 in measure.py), so other work on the
machine changes it little. Each client's fixed cost (imports, start-up) is measured apart, by
running it with nothing to do (the tap: `--discover`; the bare client: an empty replay), and the
ratio is given both whole-process and net of that start-up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.children import Proc, check, child_env, run_bare, run_child, run_tap, tap_command
from harness.context import CpuRun, Run
from harness.figures import fmt, median, per_10k, spread
from harness.report import Block
from harness.sandbox import SandboxProcess, Workload

TARGET_RATIO = 2.0


@dataclass
class Subset:
    """Some of the workload's providers: the tap's config and the bare client's replay."""

    name: str
    providers: tuple[str, ...]
    config: Path
    replay: Path
    runs: list[CpuRun]
    tap_startup: list[float]
    bare_startup: list[float]


def subsets(run: Run, workload: Workload, base_url: str) -> list[Subset]:
    everything = json.loads(run.replay(workload).read_text(encoding="utf-8"))
    chosen = [("overall", workload.providers), *((p, (p,)) for p in workload.providers)]
    found = []
    for name, providers in chosen:
        config = run.json_file(f"mixed-config-{name}.json",
                               workload.config(base_url) if name == "overall" else
                               {p: workload.config(base_url)[p] for p in providers})
        replay = run.json_file(f"mixed-replay-{name}.json",
                               [r for r in everything if r["provider"] in providers])
        found.append(Subset(name, providers, config, replay, [], [], []))
    return found


def startup(run: Run, subset: Subset, base_url: str) -> None:
    """Each client's CPU with nothing to sync: the tap's discovery, an empty replay."""
    discover = [*tap_command(subset.config), "--discover"]
    subset.tap_startup.append(check(run_child(discover, env=child_env()), "tap --discover").cpu)
    empty = run.json_file("mixed-empty-replay.json", [])
    bare, _ = run_bare(base_url, empty, run.auth_file())
    subset.bare_startup.append(bare.cpu)


def measure(run: Run, workload: Workload) -> list[Subset]:
    with SandboxProcess(workload.seed, workload.scale) as server:
        found = subsets(run, workload, server.base_url)
        for _ in range(run.runs):
            for subset in found:
                before = server.cpu_seconds()
                tap, tap_records = run_tap(subset.config, f"tap sync ({subset.name})")
                between = server.cpu_seconds()
                bare, bare_records = run_bare(server.base_url, subset.replay, run.auth_file())
                subset.runs.append(CpuRun(tap, tap_records, bare, bare_records,
                                          between - before, server.cpu_seconds() - between))
                startup(run, subset, server.base_url)
    run.cpu_runs[workload.name] = found[0].runs
    return found


def net_10k(proc: Proc, fixed: float, records: int) -> float:
    return per_10k(proc.cpu - fixed, records)


def figures(subset: Subset) -> dict[str, float]:
    """The medians of one subset's runs: CPU per 10k records, whole and net of start-up."""
    tap_fixed, bare_fixed = median(subset.tap_startup), median(subset.bare_startup)
    runs = subset.runs
    return {
        "tap": median(per_10k(r.tap.cpu, r.tap_records) for r in runs),
        "bare": median(per_10k(r.bare.cpu, r.bare_records) for r in runs),
        "tap_net": median(net_10k(r.tap, tap_fixed, r.tap_records) for r in runs),
        "bare_net": median(net_10k(r.bare, bare_fixed, r.bare_records) for r in runs),
        "tap_fixed": tap_fixed, "bare_fixed": bare_fixed,
        "rss": median(r.tap.maxrss_mb for r in runs),
        "bare_rss": median(r.bare.maxrss_mb for r in runs),
    }


def row(subset: Subset) -> list[str]:
    f = figures(subset)
    ratios = [per_10k(r.tap.cpu, r.tap_records) / per_10k(r.bare.cpu, r.bare_records)
              for r in subset.runs]
    first = subset.runs[0]
    return [subset.name, f"{first.tap_records:,} / {first.bare_records:,}",
            fmt(f["tap"], 3), fmt(f["bare"], 3), f"{f['tap'] / f['bare']:.2f}x",
            spread(ratios), fmt(f["tap_fixed"], 2), fmt(f["bare_fixed"], 2),
            f"{f['tap_net'] / f['bare_net']:.2f}x", fmt(f["rss"], 0), fmt(f["bare_rss"], 0)]


def run(run: Run, workload: Workload, out: Block) -> None:
    found = measure(run, workload)
    out.table(["providers", "records (tap / bare)", "tap CPU-s/10k", "bare CPU-s/10k",
               "tap / bare", "per-run range", "tap start-up CPU s", "bare start-up CPU s",
               "tap / bare net of start-up", "tap peak RSS MB", "bare peak RSS MB"],
              [row(s) for s in found])
    overall = figures(found[0])
    ratio = overall["tap"] / overall["bare"]
    out.say(f"overall: tap CPU per record = {ratio:.2f}x the bare client "
            f"({overall['tap_net'] / overall['bare_net']:.2f}x net of start-up); target <= "
            f"{TARGET_RATIO:g}x: {'met' if ratio <= TARGET_RATIO else 'NOT met'}")
    out.target(f"tap CPU per record <= {TARGET_RATIO:g}x the bare client (mixed, per provider "
               "and overall)", f"{ratio:.2f}x overall ({fmt(overall['tap'], 3)} vs "
               f"{fmt(overall['bare'], 3)} CPU-s/10k)", ratio <= TARGET_RATIO)
    out.say(f"(each row: the tap configured for those providers only, the bare client replaying "
            f"their requests, against the same sandbox; {run.runs} run(s), median; CPU-s are the "
            "client process's own user+system; the bare client counts every row of every page, "
            "the tap what it emitted: Tuco's time-cursor pages repeat one row each, which the tap "
            "drops; start-up = `tap-replies --discover` / an empty replay)")
