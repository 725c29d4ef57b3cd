"""The benchmark's sections, in the order they run. Adding one is a module and an entry here.

A section's module has `run(run: Run, workload: Workload, out: Block) -> None` (see
harness.context, harness.sandbox and harness.report). It runs once per workload (its entry's
defaults, or `--provider`'s), measures, says what it found with `out.say` / `out.table`, and
records each target it checks with `out.target`. Each (section, workload) becomes one block of
BENCHMARKS.md's generated part, replaced whenever that pair runs again. A section with no
workloads (`workloads=()`) sets up its own sandbox: its `run(run, out)` runs once, in one block.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from sections import (
    cpu,
    experiments,
    list_rss,
    mixed,
    pipeline,
    profile,
    rate,
    requests,
    rss,
)


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    run: t.Callable[..., None]
    # The workloads it runs by default (harness.sandbox.WORKLOADS); `single`: one provider only.
    workloads: tuple[str, ...] = ("mixed",)
    single: bool = False


SECTIONS: list[Section] = [
    Section("requests", "Requests: full sync, and incremental after a small change", requests.run,
            ("tuco", "mixed")),
    Section("mixed", "CPU per record on the mixed workload: the tap vs the bare client, per "
                     "provider and overall", mixed.run),
    Section("cpu", "CPU per record: the tap vs the bare client, full sync to /dev/null", cpu.run,
            ("tuco",)),
    # Tuco: its pages are bounded, so the tap must hold a page, not a stream. Leadterra's reply
    # list comes unpaged, one response holding every reply: the list-rss section's question.
    Section("rss", "Memory: peak RSS of the tap when the data triples", rss.run, ("tuco",)),
    Section("list-rss", "Memory: Leadterra's unpaged reply list (array shape), 1x / 3x / 10x",
            list_rss.run, ()),
    Section("rate", "Rate-limited sync", rate.run, ("tuco",), single=True),
    Section("pipeline", "Pipeline: tap-replies -> target-duckdb", pipeline.run, ("tuco",)),
    Section("experiments", "Experiments: the same sync with benchmark-only patches "
                           "(benchmarks/tap_variant.py)", experiments.run, ("tuco",)),
    Section("profile", "Profile of the tap as is (cProfile on the CPU clock)", profile.run),
]
