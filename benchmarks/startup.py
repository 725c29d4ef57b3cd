"""What a start of the tap costs, per command, and what it imports (issue 23, item 3).

    .venv/bin/python benchmarks/startup.py [--runs 5]

Per command: the median CPU-seconds (user+system, `os.wait4`) of N starts, and from one more start
under `python -X importtime` the modules imported, how many of them are the tap's own
(tap_replies.*) and singer-sdk's (singer_sdk.*), and the import time of the tap's own modules
alone (their "self" column; wall-clock microseconds, so noisy on a shared machine). Commands:
`python -c pass` (the interpreter), `import singer_sdk` (the SDK's floor: every command but a
cached discovery pays it), `--about`, `--discover` with the catalog cache off and on (a hit), and
a sync of Tuco alone against a sandbox in this process (its ~300 records to /dev/null).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tap_replies.sandbox import Sandbox  # noqa: E402

PYTHON = sys.executable
# `python -m tap_replies`, from STARTUP_SOURCE when set (the editable install's finder would win
# over PYTHONPATH, not over sys.path).
TAP = [PYTHON, "-c", "import os, runpy, sys; "
       "sys.path[:0] = [p for p in [os.environ.get('STARTUP_SOURCE')] if p]; "
       "runpy.run_module('tap_replies', run_name='__main__', alter_sys=True)"]


def cpu_of(command: list[str], env: dict[str, str]) -> float:
    pid = os.posix_spawn(command[0], command, env, file_actions=[
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command)} failed")
    return usage.ru_utime + usage.ru_stime


def imports_of(command: list[str], env: dict[str, str]) -> dict[str, float]:
    proc = subprocess.run([command[0], "-X", "importtime", *command[1:]], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=True)
    rows = [line.split("|") for line in proc.stderr.splitlines()
            if line.startswith("import time:") and "self [us]" not in line]
    names = [row[2].strip() for row in rows]
    own = [int(row[0].split(":")[1]) for row in rows if row[2].strip().startswith("tap_replies")]
    return {"modules": len(names),
            "tap_replies": sum(n.startswith("tap_replies") for n in names),
            "singer_sdk": sum(n.startswith("singer_sdk") for n in names),
            "own import ms": sum(own) / 1000,
            "sandbox imported": any(n.startswith("tap_replies.sandbox") for n in names)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--source", type=Path,
                        help="measure the tap_replies package in this folder instead, "
                             "e.g. a `git worktree` of an older commit")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Sandbox(seed=1, scale=1) as sandbox:
        full = Path(tmp, "all.json")
        full.write_text(json.dumps(sandbox.tap_config()))
        tuco = Path(tmp, "tuco.json")
        tuco.write_text(json.dumps({"tuco": {**sandbox.tap_config()["tuco"],
                                             "requests_per_minute": 100_000}}))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        if args.source:
            env["STARTUP_SOURCE"] = str(args.source.resolve())
        off = {**env, "TAP_REPLIES_CATALOG_CACHE": "off"}
        on = {**env, "TAP_REPLIES_CATALOG_CACHE": f"{tmp}/cache"}
        commands = {
            "python -c pass": ([PYTHON, "-c", "pass"], env),
            "import singer_sdk": ([PYTHON, "-c", "import singer_sdk"], env),
            "--about": ([*TAP, "--about"], off),
            "--discover, no cache": ([*TAP, "--config", str(full), "--discover"], off),
            "--discover, cached": ([*TAP, "--config", str(full), "--discover"], on),
            "sync, Tuco alone": ([*TAP, "--config", str(tuco)], off),
        }
        cpu_of(*commands["--discover, cached"])  # fills the cache
        print(f"median of {args.runs} starts; imports from one start under -X importtime\n")
        print(f"| command | CPU-s | modules | tap_replies.* | singer_sdk.* | "
              f"tap_replies.* import ms | sandbox imported |\n|{'---|' * 7}")
        for name, (command, command_env) in commands.items():
            cpu = statistics.median(cpu_of(command, command_env) for _ in range(args.runs))
            found = imports_of(command, command_env)
            print(f"| {name} | {cpu:.3f} | {found['modules']} | {found['tap_replies']} | "
                  f"{found['singer_sdk']} | {found['own import ms']:.0f} | "
                  f"{'yes' if found['sandbox imported'] else 'no'} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
