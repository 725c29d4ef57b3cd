"""Running the tap against the sandbox and reading what it wrote, in-process or as a real CLI."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import typing as t
from collections import defaultdict
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

from tap_replies.providers.full_table import READ_VERSION, READS_STREAM
from tap_replies.tap import TapReplies


@dataclass
class SyncResult:
    messages: list[dict[str, t.Any]]
    stderr: str = ""
    stdout: str = ""
    returncode: int = 0
    # Each stream's records as the provider sent them: without the read stamp of a full-table
    # stream (`stamped` keeps it), and the tap's own `full_table_reads` log kept apart (`reads`).
    records: dict[str, list[dict[str, t.Any]]] = field(default_factory=lambda: defaultdict(list))
    stamped: dict[str, list[dict[str, t.Any]]] = field(default_factory=lambda: defaultdict(list))
    reads: list[dict[str, t.Any]] = field(default_factory=list)
    states: list[dict[str, t.Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for message in self.messages:
            if message.get("type") == "RECORD" and message["stream"] == READS_STREAM:
                self.reads.append(message["record"])
            elif message.get("type") == "RECORD":
                record = message["record"]
                self.stamped[message["stream"]].append(record)
                self.records[message["stream"]].append(
                    {k: v for k, v in record.items() if k != READ_VERSION}
                    if READ_VERSION in record else record)
            elif message.get("type") == "STATE":
                self.states.append(message["value"])

    @property
    def final_state(self) -> dict[str, t.Any]:
        return self.states[-1] if self.states else {}

    def keys(self, stream: str, primary_key: t.Sequence[str]) -> set[tuple[t.Any, ...]]:
        return {tuple(r[k] for k in primary_key) for r in self.records.get(stream, [])}


def parse_messages(text: str) -> list[dict[str, t.Any]]:
    messages = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            messages.append(json.loads(line))
    return messages


def run_tap(
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
    *,
    tap_class: type[TapReplies] = TapReplies,
) -> SyncResult:
    """Sync in this process (fast; a fake clock can be injected on `tap_class`)."""
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    stderr = io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        tap = tap_class(config=config, state=state, catalog=catalog, parse_env_config=False)
        tap.sync_all()
        sys.stdout.flush()
    stdout.seek(0)
    text = stdout.read()
    return SyncResult(parse_messages(text), stderr=stderr.getvalue(), stdout=text)


def run_tap_cli(
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None = None,
    *,
    args: t.Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> SyncResult:
    """Sync through the real `tap-replies` command line, as Meltano would run it."""
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp, "config.json")
        config_path.write_text(json.dumps(config))
        command = [sys.executable, "-m", "tap_replies", "--config", str(config_path), *args]
        if state is not None:
            state_path = Path(tmp, "state.json")
            state_path.write_text(json.dumps(state))
            command += ["--state", str(state_path)]
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, **(env or {})},
        )
    return SyncResult(parse_messages(proc.stdout), stderr=proc.stderr, stdout=proc.stdout,
                      returncode=proc.returncode)
