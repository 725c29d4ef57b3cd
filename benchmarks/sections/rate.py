"""Rate-limited sync: one provider at its documented limit, enforced by the sandbox and the tap.

The floor is requests / allowed rate. Both the sandbox's limiter and the tap's bucket start with a
2-second burst, so a run can come in slightly under it; the tap's wall includes its start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.children import run_tap
from harness.context import Run
from harness.figures import fmt, median
from harness.report import Block
from harness.sandbox import DOCUMENTED_RPM, Workload, record_sync

from tap_replies.sandbox import Sandbox

TARGET_WALL = 1.1
TARGET_429_SHARE = 0.01


@dataclass
class RateRun:
    wall: float
    span: float
    ok: int
    limited: int
    other: int


def measure(run: Run, workload: Workload, rpm: float) -> RateRun:
    provider = workload.providers[0]
    with Sandbox(seed=workload.seed, scale=workload.scale, rates={provider: rpm}) as sandbox:
        config = run.json_file("rate-config.json", workload.config(sandbox.base_url, rpm=rpm))
        proc, _ = run_tap(config, "rate-limited sync")
        log = list(sandbox.request_log)
    ok = sum(1 for r in log if r.status == 200)
    limited = sum(1 for r in log if r.status == 429)
    span = log[-1].at - log[0].at if log else 0.0
    return RateRun(proc.wall, span, ok, limited, len(log) - ok - limited)


def requests_per_scale(run: Run, workload: Workload) -> float:
    """Successful requests of an unpaced full sync per unit of scale (from scales 1 and 2)."""
    counts = []
    for scale in (1, 2):
        with Sandbox(seed=workload.seed, scale=scale) as sandbox:
            config = run.json_file("rate-config.json", workload.config(sandbox.base_url))
            synced = record_sync(sandbox, config, run.work / "rate-size.jsonl", "sizing sync")
            synced.output.unlink()
            counts.append(sum(1 for r in synced.log if r.status == 200))
    return max(1.0, counts[1] - counts[0])


def run(run: Run, sized: Workload, out: Block) -> None:
    provider = sized.providers[0]
    rpm = run.args.rpm or DOCUMENTED_RPM[provider]
    scale = max(1, round(rpm / 60.0 * run.rate_seconds / requests_per_scale(run, sized)))
    rate_runs = [measure(run, sized.at_scale(scale), rpm) for _ in range(run.runs)]
    ok = median(r.ok for r in rate_runs)
    floor = ok / (rpm / 60.0)
    wall, span = median(r.wall for r in rate_runs), median(r.span for r in rate_runs)
    share = median(r.limited / max(1, r.ok + r.limited + r.other) for r in rate_runs)
    out.say(f"sandbox --rate {provider}={rpm:g}, tap {provider}.requests_per_minute={rpm:g}, "
            f"scale {scale}")
    out.table(["requests (200)", "429s", "other errors", "floor s", "tap wall s", "wall / floor",
               "first->last request s", "span / floor"], [[
               str(int(ok)), str(int(median(r.limited for r in rate_runs))),
               str(int(median(r.other for r in rate_runs))), fmt(floor, 1), fmt(wall, 1),
               fmt(wall / floor, 3), fmt(span, 1), fmt(span / floor, 3)]])
    out.say(f"target wall <= {TARGET_WALL}x floor: "
            f"{'met' if wall / floor <= TARGET_WALL else 'NOT met'}; 429s {share * 100:.2f}% of "
            f"requests, target <= {TARGET_429_SHARE:.0%}: "
            f"{'met' if share <= TARGET_429_SHARE else 'NOT met'}")
    out.target(f"rate-limited wall <= {TARGET_WALL}x floor ({provider})", f"{wall / floor:.3f}x",
               wall / floor <= TARGET_WALL)
    out.target(f"429s <= {TARGET_429_SHARE:.0%} of requests ({provider})", f"{share * 100:.2f}%",
               share <= TARGET_429_SHARE)
