"""One benchmark run: its options, work directory, workloads, and what sections hand on.

Sections share measurements through the run rather than through each other: the requests
section's full sync is the replay the CPU section's bare client reads, the CPU runs give the
memory section its 1x figure and the experiments their bare-client yardstick.
"""

from __future__ import annotations

import argparse
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from harness.children import PY, ROOT, Proc
from harness.report import machine
from harness.sandbox import WORKLOADS, Workload, auth_headers, record_sync, write_json
from tap_replies.sandbox import Sandbox


@dataclass
class CpuRun:
    """One tap sync and one bare-client replay of it, against the same sandbox process."""

    tap: Proc
    tap_records: int
    bare: Proc
    bare_records: int
    server_cpu_tap: float = 0.0
    server_cpu_bare: float = 0.0


@dataclass
class Run:
    """The options of this run, its scratch directory, and what its sections hand on."""

    args: argparse.Namespace
    work: Path
    runs: int
    heavy_runs: int
    records: int
    rate_seconds: float
    target: Path | None = None
    info: dict[str, str] = field(default_factory=dict)
    cpu_runs: dict[str, list[CpuRun]] = field(default_factory=dict)
    _workloads: dict[str, Workload] = field(default_factory=dict)
    _replays: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.target = find_target(self.args.target)
        self.info = machine(self.target)

    def workload(self, name: str) -> Workload:
        if name not in self._workloads:
            self._workloads[name] = Workload.sized(name, self.records, self.args.seed)
        return self._workloads[name]

    def workloads(self, defaults: t.Sequence[str], *, single: bool = False) -> list[Workload]:
        """`--provider`'s workloads if given (single-provider ones only when `single`), else
        the section's `defaults`."""
        chosen = [n for n in self.args.provider or () if not single or len(WORKLOADS[n]) == 1]
        return [self.workload(name) for name in chosen or defaults]

    def json_file(self, name: str, value: t.Any) -> Path:
        return write_json(self.work, name, value)

    def keep_replay(self, workload: Workload, replay: list[dict[str, t.Any]]) -> Path:
        self._replays[workload.name] = self.json_file(f"replay-{workload.name}.json", replay)
        return self._replays[workload.name]

    def replay(self, workload: Workload) -> Path:
        """The requests of one full tap sync of `workload`, for the bare client to replay (both
        sides then read exactly the same pages); recorded once per run."""
        if workload.name not in self._replays:
            with Sandbox(seed=workload.seed, scale=workload.scale) as sandbox:
                config = self.json_file("replay-config.json", workload.config(sandbox.base_url))
                synced = record_sync(sandbox, config, self.work / "replay.jsonl",
                                     f"full sync ({workload.name}, recording its requests)")
                synced.output.unlink()
            self.keep_replay(workload, synced.replay())
        return self._replays[workload.name]

    def auth_file(self) -> Path:
        return self.json_file("auth.json", auth_headers())


def find_target(explicit: str | None = None) -> Path | None:
    if explicit:
        return Path(explicit) if Path(explicit).exists() else None
    candidates = [
        ROOT / ".meltano" / "loaders" / "target-duckdb" / "venv" / "bin" / "target-duckdb",
        Path(PY).parent / "target-duckdb",
    ]
    return next((c for c in candidates if c.exists()), None)
