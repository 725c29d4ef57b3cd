"""Peak memory and CPU of the tap on Leadterra's unpaged reply list, as the list grows.

`GET /v1/replies` has no paging in two of its three shapes: the whole list is one response. Its
length must not set the tap's memory. This syncs `leadterra_replies` alone (a catalog selects only
it) from a sandbox serving only Leadterra, at 1x, 3x and 10x of a base list (31,250 replies, the
size issue 11 reported), and reads each run's peak RSS and CPU from the kernel (measure.py).

    .venv/bin/python benchmarks/list_memory.py [--runs 3] [--shape array|data|paginated]
    .venv/bin/python benchmarks/run.py --sections list-rss --output -    # the same, as a section
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from harness.children import PY, check, metric_records, run_child
from harness.figures import fmt, median, table
from harness.sandbox import SandboxProcess, write_json

from tap_replies.sandbox.leadterra import LeadterraEmulator

STREAM = "leadterra_replies"
BASE_REPLIES = 31_250
REPLIES_PER_SCALE = 250  # the sandbox's Leadterra seeds 250 replies per unit of scale
MULTIPLES = (1, 3, 10)


def catalog_of_replies_only(config: Path, work: Path) -> Path:
    """The tap's own catalog with only leadterra_replies selected."""
    with (work / "catalog.json").open("wb") as handle:
        check(run_child([PY, "-m", "tap_replies", "--config", str(config), "--discover"],
                        stdout=handle), "discovery")
    catalog = json.loads((work / "catalog.json").read_text(encoding="utf-8"))
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if not metadata["breadcrumb"]:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] == STREAM
    return write_json(work, "catalog.json", catalog)


def sync_once(base_url: str, work: Path) -> tuple[float, float, int]:
    """(peak RSS MB, CPU s, records) of one full sync of the reply list to /dev/null."""
    block = LeadterraEmulator(seed=1, scale=1).config(base_url)
    config = write_json(work, "list-config.json", {"leadterra": block})
    catalog = catalog_of_replies_only(config, work)
    proc = check(run_child([PY, "-m", "tap_replies", "--config", str(config),
                            "--catalog", str(catalog)]), "leadterra_replies sync")
    return proc.maxrss_mb, proc.cpu, metric_records(proc.stderr)


def measure(seed: int, runs: int, shape: str) -> list[tuple[int, float, float, int]]:
    """Per multiple: (multiple, median peak RSS MB, median CPU s, records)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="tap-bench-list-") as tmp:
        work = Path(tmp)
        for multiple in MULTIPLES:
            scale = BASE_REPLIES * multiple // REPLIES_PER_SCALE
            with SandboxProcess(seed, scale, only="leadterra", leadterra_shape=shape) as server:
                results = [sync_once(server.base_url, work) for _ in range(runs)]
            rows.append((multiple, median(r[0] for r in results), median(r[1] for r in results),
                         results[0][2]))
    return rows


def title(shape: str = "array") -> str:
    return f"Memory: Leadterra's unpaged reply list ({shape} shape), 1x / 3x / 10x"


def section(seed: int = 1, runs: int = 3, shape: str = "array") -> list[str]:
    """The report's lines (after its title): a table, the growth, CPU per record net of start-up."""
    rows = measure(seed, runs, shape)
    lines = [table(["list", "replies", "peak RSS MB", "CPU s", "CPU-s/10k"], [
                 [f"{m}x", f"{n:,}", fmt(rss, 1), fmt(cpu, 2), fmt(cpu / n * 10_000, 3)]
                 for m, rss, cpu, n in rows])]
    (_, rss_1, cpu_1, n_1), (_, rss_10, cpu_10, n_10) = rows[0], rows[-1]
    growth = (rss_10 / rss_1 - 1) * 100
    per_reply = (rss_10 - rss_1) * 1024 / max(1, n_10 - n_1)
    lines.append(f"peak RSS 10x vs 1x: {rss_10 - rss_1:+.1f} MB ({growth:+.1f}%), "
                 f"{per_reply:.3f} KB per added reply")
    if n_10 > n_1:
        marginal = (cpu_10 - cpu_1) / (n_10 - n_1) * 1e6
        lines.append(f"CPU per reply net of start-up (10x minus 1x): {marginal:.1f} µs")
    lines.append(f"({runs} run(s) per size, median; sandbox in its own process serving only "
                 "Leadterra; the tap syncs leadterra_replies alone to /dev/null)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shape", default="array", choices=("array", "data", "paginated"))
    args = parser.parse_args(argv)
    print(f"## {title(args.shape)}", flush=True)
    for line in section(args.seed, args.runs, args.shape):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

