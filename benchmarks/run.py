"""tap-replies benchmarks: CPU per record, memory, requests, rate-limit pacing, the ELT pipeline.

    .venv/bin/python benchmarks/run.py                   # every section; rewrites BENCHMARKS.md
    .venv/bin/python benchmarks/run.py --quick           # ~20k records, 1 run, prints only
    .venv/bin/python benchmarks/run.py --sections mixed --records 60000 --output -

Each section is a module of benchmarks/sections/ (the registry is sections/__init__.py); what
they share (child processes, the sandbox, workloads, the report) is in benchmarks/harness/.
Every tap run is the real CLI in a child process, so its CPU time and peak RSS come from the
kernel's accounting of that one process (os.wait4), never from the benchmark or the sandbox.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.children import ROOT
from harness.context import Run
from harness.report import Block, machine_lines, write_results
from harness.sandbox import WORKLOADS, Workload
from sections import SECTIONS, Section


def names(known: list[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        chosen = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in chosen if n not in known]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(f"expected some of {','.join(known)}")
        return chosen

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    epilog = "sections, in the order they run:\n" + "\n".join(
        f"  {s.name:<12} {s.title} [{', '.join(s.workloads) or 'own sandbox'}]" for s in SECTIONS)
    parser = argparse.ArgumentParser(description=__doc__, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    section_names = [s.name for s in SECTIONS]
    parser.add_argument("--quick", action="store_true",
                        help="~20k records, 1 run, short rate test; prints only")
    parser.add_argument("--sections", type=names(section_names), default=section_names,
                        help=f"comma list of: {','.join(section_names)} (all)")
    parser.add_argument("--provider", type=names(list(WORKLOADS)),
                        help="workload(s), comma list of mixed,tuco,smartlead,leadterra, for "
                             "every section that takes one (rate: single providers only); "
                             "default: each section's own, in brackets below")
    parser.add_argument("--runs", type=int, help="runs per measurement, median reported (3)")
    parser.add_argument("--heavy-runs", type=int,
                        help="runs of the 3x-data sync, the pipeline and each experiment (1)")
    parser.add_argument("--records", type=int, help="records per workload (200000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate-seconds", type=float, help="length of the rate-limited sync (30)")
    parser.add_argument("--rpm", type=float,
                        help="rate limit, default the provider's documented one")
    parser.add_argument("--requests-scale", type=int, default=2,
                        help="sandbox scale of the experiments' same-records check (2)")
    parser.add_argument("--target", help="the target-duckdb executable (default: Meltano's)")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"),
                        help="file whose generated block gets the sections run ('-' for none)")
    return parser.parse_args(argv)


def run_section(section: Section, workload: Workload | None, run: Run, command: str) -> Block:
    """One section on one workload (or on none: it sets up its own), as one block."""
    block = Block(f"{section.name}:{workload.name}" if workload else section.name)
    started = time.perf_counter()
    block.say(f"## {section.title}" + (f" ({workload.name})" if workload else ""))
    block.say(f"Run: `{command}` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; "
              f"{run.runs} run(s) per figure (median), {run.heavy_runs} of each heavy one")
    if workload is None:
        section.run(run, block)
    else:
        block.say(f"Workload {workload.describe()}")
        section.run(run, workload, block)
    block.say(f"(took {time.perf_counter() - started:,.0f} s)")
    block.say()
    return block


def planned(run: Run, chosen: list[str]) -> list[tuple[Section, Workload | None]]:
    """Each chosen section with each of its workloads, in the registry's order."""
    return [(s, w) for s in SECTIONS if s.name in chosen
            for w in (run.workloads(s.workloads, single=s.single) if s.workloads else [None])]


def block_names() -> list[str]:
    """Every block the generated part may hold, in the order it holds them."""
    return [name for s in SECTIONS
            for name in ([f"{s.name}:{w}" for w in WORKLOADS] if s.workloads else [s.name])]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python benchmarks/run.py " + " ".join(map(shlex.quote, argv or sys.argv[1:]))
    with tempfile.TemporaryDirectory(prefix="tap-bench-") as tmp:
        run = Run(args, Path(tmp), runs=args.runs or (1 if args.quick else 3),
                  heavy_runs=args.heavy_runs or 1,
                  records=args.records or (20_000 if args.quick else 200_000),
                  rate_seconds=args.rate_seconds or (10.0 if args.quick else 30.0))
        header = machine_lines(run.info)
        print("\n".join(header), end="\n\n", flush=True)
        blocks = [run_section(s, w, run, command.strip()) for s, w in planned(run, args.sections)]
    if args.output != "-" and not args.quick:
        write_results(Path(args.output), "\n\n".join(header),
                      {b.name: b.markdown() for b in blocks}, block_names())
        print(f"results written to {args.output} (sections {', '.join(args.sections)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
