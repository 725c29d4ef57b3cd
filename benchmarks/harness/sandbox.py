"""The sandbox the tap reads from, the configs pointing at it, and the workloads it serves.

Where the sandbox's CPU must not count as the tap's it runs as its own process
(`python -m tap_replies.sandbox`); where its request log or `add_activity` is needed it runs in a
thread of the benchmark (`Sandbox`) and only the tap's wall time and the log are read.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
import typing as t
from dataclasses import dataclass
from pathlib import Path

from harness.children import PY, ROOT, check, run_child, tap_command
from tap_replies.registry import PROVIDERS
from tap_replies.sandbox import Sandbox
from tap_replies.settings import bearer_auth

EMULATORS = [provider.emulator for provider in PROVIDERS.values()]

# Which providers' streams each workload syncs. "mixed" is all three at one sandbox scale: per
# unit of scale the emulated workspaces hold 300 replying Tuco leads, 250 Leadterra replies (plus
# 12 SDRs and at most 180 due follow-ups) and ~250 Smartlead campaign leads (plus ~67 inbox
# replies, 12 campaigns, 8 categories), so each provider brings about a third of the records,
# each at its own shape: a team running all three tools at a similar volume.
WORKLOADS: dict[str, tuple[str, ...]] = {
    "mixed": tuple(PROVIDERS),
    **{name: (name,) for name in PROVIDERS},
}
# The rate limits the providers publish (shared/api-docs, each spec's default), requests per
# minute; a provider that publishes none (Leadterra) is rate-limited at 120, Tuco's figure.
DOCUMENTED_RPM = {name: provider.spec.requests_per_minute or 120
                  for name, provider in PROVIDERS.items()}


def write_json(directory: Path, name: str, value: t.Any) -> Path:
    path = directory / name
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def provider_config(base_url: str, providers: t.Iterable[str],
                    rpm: float | None = None) -> dict[str, t.Any]:
    """A tap config reading `providers` from the sandbox, unpaced unless `rpm` is given."""
    config: dict[str, t.Any] = {}
    for emulator_class in EMULATORS:
        if emulator_class.name in providers:
            block = emulator_class(seed=1, scale=1).config(base_url)
            # A whole number as an integer: the tap reads a JSON float such as 120.0 as a
            # Decimal and rejects it (reported; `--rpm 120` is a float here).
            block["requests_per_minute"] = int(rpm) if rpm is not None and rpm == int(rpm) else rpm
            config[emulator_class.name] = block
    return config


def auth_headers() -> dict[str, dict[str, str]]:
    """Header auth per provider (Smartlead's key rides in the logged query string already)."""
    return {name: {"Authorization": f"Bearer {provider.emulator.api_key}"}
            for name, provider in PROVIDERS.items() if provider.spec.auth is bearer_auth}


def ground_truth(seed: int, scale: int, providers: t.Iterable[str]) -> dict[str, list[t.Any]]:
    """Every record the sandbox holds for `providers`' streams, by stream (no server started)."""
    wanted = set(providers)
    truth: dict[str, list[t.Any]] = {}
    for emulator_class in EMULATORS:
        if emulator_class.name in wanted:
            truth.update(emulator_class(seed=seed, scale=scale).ground_truth())
    return truth


def stream_names(providers: t.Iterable[str]) -> list[str]:
    """The streams the sandbox serves for `providers` (the tap syncs the same ones)."""
    return [name for p in providers for name in ground_truth(1, 1, [p])]


class SandboxProcess:
    """`python -m tap_replies.sandbox` as a child, so its CPU is never counted as the tap's."""

    def __init__(self, seed: int, scale: int, rates: dict[str, float] | None = None,
                 only: str | None = None, leadterra_shape: str | None = None) -> None:
        cmd = [PY, "-m", "tap_replies.sandbox", "--port", "0", "--seed", str(seed),
               "--scale", str(scale)]
        cmd += ["--only", only] if only else []
        cmd += ["--leadterra-shape", leadterra_shape] if leadterra_shape else []
        for provider, rpm in (rates or {}).items():
            cmd += ["--rate", f"{provider}={rpm:g}"]
        started = time.perf_counter()
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT, text=True)
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            self.stop()
            raise SystemExit(f"sandbox did not start: {cmd}")
        self.startup_seconds = time.perf_counter() - started

    def cpu_seconds(self) -> float:
        """CPU the server has used so far (from /proc; 0 where there is none)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Workload:
    """Some providers' streams at the sandbox scale that holds about the records asked for."""

    name: str
    providers: tuple[str, ...]
    seed: int
    scale: int
    expected: int

    @classmethod
    def sized(cls, name: str, records: int, seed: int) -> Workload:
        """The smallest scale with at least `records` records. Sizes are linear in scale from
        scale 2 on (Leadterra's due follow-ups stop growing at 180 there)."""
        providers = WORKLOADS[name]
        two, three = (sum(map(len, ground_truth(seed, s, providers).values())) for s in (2, 3))
        per_unit = max(1, three - two)
        fixed = two - 2 * per_unit
        scale = max(1, math.ceil((records - fixed) / per_unit))
        return cls(name, providers, seed, scale, fixed + per_unit * scale)

    def at_scale(self, scale: int) -> Workload:
        return Workload(self.name, self.providers, self.seed, scale,
                        round(self.expected * scale / self.scale))

    def streams(self) -> list[str]:
        return stream_names(self.providers)

    def config(self, base_url: str, rpm: float | None = None) -> dict[str, t.Any]:
        return provider_config(base_url, self.providers, rpm)

    def describe(self) -> str:
        """Its streams and scale; for several providers, each one's share of the records (per
        unit of scale, so what grows with it) and their average size as JSON."""
        text = (f"{self.name}: {', '.join(self.streams())} at sandbox seed {self.seed} scale "
                f"{self.scale} (~{self.expected:,} records)")
        if len(self.providers) == 1:
            return text
        two, three = (ground_truth(self.seed, s, self.providers) for s in (2, 3))
        grown = {p: sum(len(three[n]) - len(two[n]) for n in stream_names([p]))
                 for p in self.providers}
        shares = []
        for provider in self.providers:
            rows = [r for name in stream_names([provider]) for r in two[name]]
            size = sum(len(json.dumps(r, ensure_ascii=False)) for r in rows) / max(1, len(rows))
            shares.append(f"{provider} {grown[provider] / sum(grown.values()) * 100:.0f}% "
                          f"(~{size:,.0f} B/record)")
        return f"{text}; records by provider: {', '.join(shares)}"


@dataclass
class RecordedSync:
    """A full sync against the in-process sandbox: its output and the server's request log."""

    sandbox: Sandbox
    output: Path
    log: list[t.Any]
    proc: t.Any

    def replay(self) -> list[dict[str, t.Any]]:
        """The successful requests, as bare_client.py replays them."""
        return [{"provider": r.provider, "method": r.method, "path": r.path, "query": r.query,
                 "body": r.body} for r in self.log if r.status == 200]


def record_sync(sandbox: Sandbox, config: Path, output: Path, what: str,
                state: Path | None = None) -> RecordedSync:
    """Run the tap against a started in-process sandbox, keeping its output and the log."""
    sandbox.clear_log()
    with output.open("wb") as handle:
        proc = check(run_child(tap_command(config, state=state), stdout=handle), what)
    return RecordedSync(sandbox, output, list(sandbox.request_log), proc)
