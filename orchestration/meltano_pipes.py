"""Run one `meltano` command inside a Dagster Pipes session: the external side of an asset.

Dagster starts this script with `PipesSubprocessClient` (the asset's process stays light, and a
cancelled run forwards SIGINT here and so to Meltano). It runs Meltano with JSON logs, writes a
readable line per log event to stderr (the step's compute log), and reports one structured
outcome back to the asset: success, records per stream, and on failure the one line a person
acts on — the tap's own error line when there is one — and whether a retry can help, decided
from the tap's exit code (tap_replies/failures.py, README "Exit codes"), never from its wording.

It exits 0 once that outcome is reported, even when Meltano failed: the asset turns the outcome
into the step's failure, and `PipesSubprocessClient.run` would drop the reported messages if this
process exited non-zero. Only imports `dagster_pipes` and the standard library.

    python meltano_pipes.py -- meltano --log-format=json run tap-replies--acme target-postgres
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import typing as t
from collections import Counter
from dataclasses import dataclass, field

from dagster_pipes import open_dagster_pipes

TAP_LINE = "tap-replies: "  # how the tap starts its one-line failure (tap_replies/tap.py)
METRIC = re.compile(r"METRIC: (\{.*\})")
# The tap's exit codes no retry fixes (tap_replies/failures.py; only the standard library is
# imported here, so they are restated): bad settings or state, refused by the API.
TAP_PERMANENT_EXIT_CODES = frozenset({2, 3})
# How Meltano reports a plugin that failed before the run (the tap's discovery, say).
RETURNED = re.compile(r"returned (\d+) with stderr")
DBT_FAILURE = re.compile(r"\b(Error|Failure) in\b")


@dataclass
class MeltanoLog:
    """What the run's log says, read one line at a time."""

    records: Counter[str] = field(default_factory=Counter)
    tap_failure: str | None = None
    plugin_lines: dict[str, str] = field(default_factory=dict)  # last stderr line per plugin
    failed_plugin: str | None = None
    settings_error: bool = False  # some plugin exited 2: its settings must change
    tap_exit_code: int | None = None
    output_failure: str | None = None  # `meltano invoke` output (dbt) that is not a log event
    last_output: str | None = None

    def feed(self, raw: str) -> str:
        """Take one line of Meltano's output; return it as a person should read it."""
        try:
            event = json.loads(raw)
        except ValueError:
            event = None
        if not isinstance(event, dict) or "event" not in event:
            return self._plain(raw.rstrip("\n"))
        text = str(event["event"])
        name = str(event.get("name") or "meltano")
        if text.startswith(TAP_LINE):
            self.tap_failure = text.removeprefix(TAP_LINE)
        elif metric := METRIC.search(text):
            self._count(metric.group(1))
        if event.get("stdio") == "stderr" and text.strip():
            self.plugin_lines[name] = text.strip().splitlines()[-1]
        self._note_failure(event)
        return f"{str(event.get('timestamp', ''))[11:19]} {name:<22} {text}"

    def failure_line(self, returncode: int) -> str:
        if self.tap_failure:
            return self.tap_failure
        if self.failed_plugin and self.failed_plugin in self.plugin_lines:
            return f"{self.failed_plugin}: {self.plugin_lines[self.failed_plugin]}"
        return (self.output_failure or self.last_output
                or f"meltano exited with code {returncode}")

    @property
    def retryable(self) -> bool:
        return not (self.settings_error or self.tap_exit_code in TAP_PERMANENT_EXIT_CODES)

    def _plain(self, line: str) -> str:
        if line.strip():
            self.last_output = line.strip()
            if self.output_failure is None and DBT_FAILURE.search(line):
                self.output_failure = line.strip()
        return line

    def _count(self, payload: str) -> None:
        try:
            metric = json.loads(payload)
        except ValueError:
            return
        if metric.get("metric") == "record_count":
            self.records[str(metric.get("tags", {}).get("stream"))] += int(metric["value"])

    def _note_failure(self, event: dict[str, t.Any]) -> None:
        text = str(event["event"])
        if text in ("Extractor failed", "Loader failed", "Mapper failed"):
            self.failed_plugin = self.failed_plugin or self._plugin_of(text)
        codes = event.get("exit_codes") or {}
        returned = RETURNED.search(str(event.get("err") or text))  # the tap's discovery
        for code in (codes.get("extractors"), int(returned.group(1)) if returned else None):
            if isinstance(code, int) and code:
                self.tap_exit_code = code
        if 2 in codes.values() or (returned and returned.group(1) == "2"):
            self.settings_error = True

    def _plugin_of(self, text: str) -> str | None:
        kind = "tap" if text.startswith("Extractor") else "target"
        return next((name for name in reversed(self.plugin_lines) if name.startswith(kind)), None)


def run(command: list[str]) -> dict[str, t.Any]:
    started = time.monotonic()
    log = MeltanoLog()
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, encoding="utf-8", errors="replace")
    except OSError as exc:
        return {"ok": False, "returncode": None, "retryable": False, "records": {}, "seconds": 0,
                "failure": f"cannot start {command[0]}: {exc.strerror or exc} — run `make "
                           "plugins` (or set MELTANO_BIN)"}
    with proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            print(log.feed(raw), file=sys.stderr, flush=True)
    ok = proc.returncode == 0
    return {
        "ok": ok,
        "returncode": proc.returncode,
        "failure": None if ok else log.failure_line(proc.returncode),
        "retryable": log.retryable,
        "records": dict(sorted(log.records.items())),
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv: list[str]) -> int:
    command = argv[argv.index("--") + 1:] if "--" in argv else argv
    # Meltano writes each plugin's config (API keys, the warehouse password) to .meltano/run/:
    # readable by the owner only.
    os.umask(0o077)
    with open_dagster_pipes() as pipes:
        outcome = run(command)
        if outcome["failure"]:
            pipes.log.error(outcome["failure"])
        pipes.report_custom_message(outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
