"""The printed report, and its Markdown in BENCHMARKS.md: one block per section.

The generated part of BENCHMARKS.md lies between RESULTS_START and RESULTS_END: a header (the
machine), then one block per section, each opened by a `<!-- section:NAME -->` marker and
closed by a `<!-- targets: [...] -->` comment holding its target rows (a block is one section on
one workload, NAME = `cpu:mixed`). A run replaces the header and the blocks it ran and keeps the
others, so blocks measured at different times share the file; the Targets table at the end is
rebuilt from every block's comment.
"""

from __future__ import annotations

import json
import os
import platform
import re
import typing as t
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from harness.figures import table, verdict

RESULTS_START = "<!-- results:start (written by benchmarks/run.py) -->"
RESULTS_END = "<!-- results:end -->"
_SECTION = re.compile(r"^<!-- section:([\w:-]+) -->$", re.MULTILINE)
_TARGETS = re.compile(r"^<!-- targets: (.*) -->$", re.MULTILINE)


@dataclass
class Block:
    """What one section printed, and the targets it checked."""

    name: str
    lines: list[str] = field(default_factory=list)
    targets: list[list[str]] = field(default_factory=list)

    def say(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)

    def table(self, headers: list[str], rows: list[list[str]]) -> None:
        self.say(table(headers, rows))

    def target(self, what: str, measured: str, ok: bool) -> None:
        """A target row for the Targets table (the section says its verdict in its own words)."""
        self.targets.append([what, measured, verdict(ok)])

    def markdown(self) -> str:
        text = f"<!-- section:{self.name} -->\n{markdown(chr(10).join(self.lines)).strip()}\n"
        return text + f"<!-- targets: {json.dumps(self.targets, ensure_ascii=False)} -->"


def markdown(text: str) -> str:
    """The printed report as Markdown: a blank line wherever a table or a paragraph ends."""
    out: list[str] = []
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and out and out[-1] and line:
            table_before, table_now = out[-1].startswith("|"), line.startswith("|")
            if table_before != table_now or not table_now:
                out.append("")
        out.append(line)
    return "\n".join(out)


def split_blocks(generated: str) -> tuple[str, dict[str, str]]:
    """(header, {section: block}) of a generated part; the Targets block is left out."""
    parts = _SECTION.split(generated)
    header, blocks = parts[0], {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name != "targets":
            blocks[name] = f"<!-- section:{name} -->{body.rstrip()}"
    return header.strip(), blocks


def targets_block(blocks: t.Iterable[str]) -> str:
    rows = [row for block in blocks for found in _TARGETS.findall(block)
            for row in json.loads(found)]
    if not rows:
        return ""
    return ("<!-- section:targets -->\n## Targets (issues 8 and 14), from the sections above\n\n"
            + table(["target", "measured", "verdict"], rows))


def merged(current: str, header: str, fresh: dict[str, str], order: list[str]) -> str:
    """The generated part: `fresh` blocks replace their namesakes in `current`'s, in `order`."""
    _, blocks = split_blocks(current)
    blocks.update(fresh)
    kept = [blocks[name] for name in order if name in blocks]
    targets = targets_block(kept)
    return "\n\n".join([header, *kept, *([targets] if targets else [])])


def write_results(path: Path, header: str, fresh: dict[str, str], order: list[str]) -> None:
    """Rewrite the generated part of BENCHMARKS.md, keeping the hand-written parts around it."""
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    head, rest = current, ""
    generated = ""
    if RESULTS_START in current and RESULTS_END in current:
        head, rest = current.split(RESULTS_START, 1)
        generated, rest = rest.split(RESULTS_END, 1)
    else:
        head = current.rstrip() + "\n\n"
    block = merged(generated, header, fresh, order)
    path.write_text(f"{head}{RESULTS_START}\n{block}\n{RESULTS_END}{rest}", encoding="utf-8")


def machine(target: Path | None) -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for package in ("singer-sdk", "msgspec", "duckdb", "requests"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    target_version = "not installed"
    if target is not None:
        found = sorted(target.parent.parent.glob("lib/python*/site-packages/target_duckdb-*"))
        target_version = found[0].name.split("-")[1].removesuffix(".dist") if found else "installed"
    return {"cpus": str(os.cpu_count()), "cpu_model": cpu, "os": platform.platform(),
            "python": platform.python_version(), **versions, "target-duckdb": target_version}


def machine_lines(info: dict[str, str]) -> list[str]:
    return [
        f"Machine: {info['cpus']} x {info['cpu_model']}; {info['os']}",
        f"Python {info['python']}, singer-sdk {info['singer-sdk']}, msgspec {info['msgspec']}, "
        f"duckdb {info['duckdb']}, requests {info['requests']}, "
        f"target-duckdb {info['target-duckdb']}",
    ]
