"""Pipeline: tap-replies -> target-duckdb, beside each side alone, to find the bottleneck.

The loader is the Meltano-installed target-duckdb (config `filepath` + `default_target_schema`);
alone it reads a saved copy of the tap's output. Rows loaded are counted in the DuckDB file.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.children import HERE, PY, Proc, check, collect, launch, run_child, run_tap, tap_command
from harness.context import Run
from harness.figures import fmt, median
from harness.report import Block
from harness.sandbox import SandboxProcess, Workload


@dataclass
class PipelineRun:
    wall: float
    tap: Proc
    target: Proc
    rows: int | None


def fresh_target_config(run: Run) -> tuple[Path, Path]:
    """A target config writing to an empty DuckDB file, so every run creates its tables."""
    database = run.work / "bench.duckdb"
    for stale in run.work.glob("bench.duckdb*"):
        stale.unlink()
    config = run.json_file("target-config.json",
                           {"filepath": str(database), "default_target_schema": "bench"})
    return config, database


def count_rows(database: Path) -> int | None:
    try:
        import duckdb

        with duckdb.connect(str(database), read_only=True) as con:
            tables = con.execute(
                "select table_catalog, table_schema, table_name from information_schema.tables"
            ).fetchall()
            return sum(int(con.execute(f'select count(*) from "{c}"."{s}"."{n}"').fetchone()[0])
                       for c, s, n in tables)
    except Exception:
        return None


def target_alone(run: Run, target: Path, feed: Path) -> tuple[Proc, int | None]:
    """The loader reading a saved tap output: its speed with an infinitely fast tap."""
    target_config, database = fresh_target_config(run)
    with feed.open("rb") as handle:
        proc = check(run_child([str(target), "-c", str(target_config)], stdin=handle,
                               cwd=run.work), "target-duckdb (alone)")
    return proc, count_rows(database)


def piped(run: Run, config: Path, target: Path) -> PipelineRun:
    target_config, database = fresh_target_config(run)
    tap_result, target_result = run.work / "pipe-tap.json", run.work / "pipe-target.json"
    with tempfile.TemporaryFile() as tap_err, tempfile.TemporaryFile() as target_err:
        started = time.perf_counter()
        tap = launch(tap_command(config), tap_result, stdout=subprocess.PIPE, stderr=tap_err)
        loader = subprocess.Popen(
            [PY, "-S", str(HERE / "measure.py"), str(target_result), str(target), "-c",
             str(target_config)],
            stdin=tap.stdout, stdout=subprocess.DEVNULL, stderr=target_err, cwd=run.work)
        assert tap.stdout is not None
        tap.stdout.close()  # the loader holds the only read end, so a dead loader stops the tap
        tap_proc = collect(tap, tap_result, tap_err)
        target_proc = collect(loader, target_result, target_err)
        wall = time.perf_counter() - started
    check(tap_proc, "tap (pipeline)")
    check(target_proc, "target-duckdb (pipeline)")
    return PipelineRun(wall, tap_proc, target_proc, count_rows(database))


def bottleneck(tap_alone: float, loader_alone: float, wall: float, cpus: str) -> str:
    side = "target-duckdb" if loader_alone > tap_alone else "the tap (with the sandbox)"
    overlap = (tap_alone + loader_alone - wall) / max(1e-9, min(tap_alone, loader_alone))
    if overlap < 0.1:
        how = ("the two sides hardly overlap: target-duckdb buffers rows (up to its "
               "batch_size_rows, 100,000 by default) and loads them after, so the pipeline takes "
               "about the sum of the two")
    else:
        how = f"the two sides overlap for {min(overlap, 1.0) * 100:.0f}% of the shorter one's time"
    return (f"bottleneck: {side}: the pipeline takes {wall:.1f} s; the tap alone {tap_alone:.1f} s "
            f"(bounded by the sandbox sharing the {cpus} CPUs), the loader alone "
            f"{loader_alone:.1f} s; {how}.")


def measure(run: Run, workload: Workload, target: Path, out: Block) -> None:
    feed = run.work / "pipe-input.jsonl"
    with SandboxProcess(workload.seed, workload.scale) as server:
        config = run.json_file("pipe-config.json", workload.config(server.base_url))
        with feed.open("wb") as handle:
            fed, records = run_tap(config, "tap (feed)", stdout=handle)
        alone, pipes = [], []
        for _ in range(run.heavy_runs):
            alone.append(target_alone(run, target, feed))
            pipes.append(piped(run, config, target))
    feed.unlink()
    wall, loader_wall = median(p.wall for p in pipes), median(p.wall for p, _ in alone)
    # The CPU section's syncs of this workload (to /dev/null) stand for the tap alone if it ran.
    taps = [r.tap for r in run.cpu_runs.get(workload.name, [])] or [fed]
    tap_wall = median(p.wall for p in taps)

    def rows(found: int | None) -> str:
        return str(found) if found is not None else "n/a"

    out.table(["run", "records", "rows loaded", "wall s", "records/s", "tap CPU s",
               "target CPU s", "target peak RSS MB"], [
        ["tap -> target-duckdb", f"{records:,}", rows(pipes[0].rows), fmt(wall, 1),
         fmt(records / wall, 0), fmt(median(p.tap.cpu for p in pipes), 1),
         fmt(median(p.target.cpu for p in pipes), 1),
         fmt(median(p.target.maxrss_mb for p in pipes), 0)],
        ["tap alone (no loader)", f"{records:,}", "-", fmt(tap_wall, 1),
         fmt(records / tap_wall, 0), fmt(median(p.cpu for p in taps), 1), "-", "-"],
        ["target alone (< file)", f"{records:,}", rows(alone[0][1]), fmt(loader_wall, 1),
         fmt(records / loader_wall, 0), "-", fmt(median(p.cpu for p, _ in alone), 1),
         fmt(median(p.maxrss_mb for p, _ in alone), 0)],
    ])
    out.say(bottleneck(tap_wall, loader_wall, wall, run.info["cpus"]))


def run(run: Run, workload: Workload, out: Block) -> None:
    if run.target is None:
        out.say("skipped: target-duckdb is not installed (run `meltano install` first, or pass "
                "--target PATH; looked in .meltano/loaders/target-duckdb/venv/bin and the "
                "tap's venv)")
        return
    measure(run, workload, run.target, out)
