"""Child processes and what the kernel says they cost.

Every measured process is started through measure.py, which posix_spawns it and reads os.wait4:
user+system CPU and ru_maxrss of that one process, never of the benchmark or the sandbox.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import typing as t
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # benchmarks/
ROOT = HERE.parent
PY = sys.executable


@dataclass
class Proc:
    """What the kernel says one child process cost."""

    wall: float
    user: float
    system: float
    maxrss_mb: float
    returncode: int
    stderr: str = ""

    @property
    def cpu(self) -> float:
        return self.user + self.system


def child_env(patches: str = "", **extra: str) -> dict[str, str]:
    """The environment of a measured child: ours, with Python's bytecode cache allowed.

    An installed tap starts from cached bytecode; a shell that sets PYTHONDONTWRITEBYTECODE
    would make every tap start compile its ~500 modules again (about 0.8 CPU-s here), a cost no
    user pays. `patches` picks tap_variant.py's benchmark-only patches.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["TAP_BENCH_PATCHES"] = patches
    env.update(extra)
    return env


def launch(cmd: list[str], result: Path, **popen: t.Any) -> subprocess.Popen[bytes]:
    """Start `cmd` through measure.py, which records its CPU, peak RSS and wall time."""
    popen.setdefault("cwd", ROOT)
    popen.setdefault("env", child_env())
    return subprocess.Popen([PY, "-S", str(HERE / "measure.py"), str(result), *cmd], **popen)


def collect(launcher: subprocess.Popen[bytes], result: Path, stderr: t.IO[bytes]) -> Proc:
    launcher.wait()
    stderr.seek(0)
    text = stderr.read().decode("utf-8", "replace")
    try:
        usage = json.loads(result.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Proc(0.0, 0.0, 0.0, 0.0, launcher.returncode or 1, text)
    finally:
        result.unlink(missing_ok=True)
    return Proc(usage["wall"], usage["user"], usage["system"], usage["maxrss_kb"] / 1024,
                usage["returncode"], text)


def run_child(cmd: list[str], *, stdout: t.Any = subprocess.DEVNULL,
              stdin: t.Any = subprocess.DEVNULL, env: dict[str, str] | None = None,
              cwd: Path = ROOT) -> Proc:
    handle, name = tempfile.mkstemp(suffix=".json", prefix="tap-bench-usage-")
    os.close(handle)
    with tempfile.TemporaryFile() as err:
        launcher = launch(cmd, Path(name), stdin=stdin, stdout=stdout, stderr=err,
                          env=env or child_env(), cwd=cwd)
        return collect(launcher, Path(name), err)


def check(proc: Proc, what: str) -> Proc:
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"{what} failed with exit code {proc.returncode}:\n{tail}")
    return proc


def tap_command(config: Path, *, state: Path | None = None, variant: bool = False) -> list[str]:
    """The installed `tap-replies` CLI, or tap_variant.py (the same CLI, patchable)."""
    cli = Path(PY).parent / "tap-replies"
    cmd = [PY, str(HERE / "tap_variant.py")] if variant or not cli.exists() else [str(cli)]
    cmd += ["--config", str(config)]
    if state is not None:
        cmd += ["--state", str(state)]
    return cmd


_RECORD_COUNT = re.compile(r'METRIC: (\{.*"metric":\s*"record_count".*\})')


def records_per_stream(stderr: str) -> dict[str, int]:
    """Records the tap says it emitted, per stream (the SDK's record_count metrics)."""
    counts: dict[str, int] = {}
    for match in _RECORD_COUNT.finditer(stderr):
        try:
            point = json.loads(match.group(1))
            stream = str(point.get("tags", {}).get("stream", "?"))
            counts[stream] = counts.get(stream, 0) + int(point["value"])
        except (ValueError, KeyError, AttributeError):
            continue
    return counts


def metric_records(stderr: str) -> int:
    return sum(records_per_stream(stderr).values())


def run_tap(config: Path, what: str, *, patches: str = "", variant: bool = False,
            stdout: t.Any = subprocess.DEVNULL) -> tuple[Proc, int]:
    """One measured tap sync; its records as the tap's own metrics count them."""
    proc = check(run_child(tap_command(config, variant=variant or bool(patches)),
                           stdout=stdout, env=child_env(patches)),
                 f"{what} {patches}".strip())
    return proc, metric_records(proc.stderr)


def run_bare(base_url: str, replay: Path, auth: Path) -> tuple[Proc, int]:
    """The bare client replaying a tap sync's requests; its records as it counts them."""
    proc = check(run_child([PY, str(HERE / "bare_client.py"), base_url, str(replay), str(auth)]),
                 "bare client")
    summary = json.loads(proc.stderr.strip().splitlines()[-1])
    return proc, int(summary["records"])
