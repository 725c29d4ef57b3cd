"""`make dagster-dev`: Dagster 1.13's `dg dev` on this code location, stopped whole on Ctrl-C/TERM.

    .venv/bin/python scripts/dagster_dev.py [--port 3000]

`dg dev` starts the webserver, the daemon and a code server, and the daemon starts a process per
run. They all run in a process group of their own here: Ctrl-C or SIGTERM (to this script, or to
the `make` that started it) asks `dg dev` to stop, and whatever of the group is left after
GRACE_SECONDS is killed. Started by `make`, this script also stops when `make` is gone (a SIGTERM
to make is not passed on to its children). A run stopped here is marked failed by the next
`sync-all` or schedule tick (orchestration/recovery.py).

The schedules and the dbt sensor are off unless TAP_REPLIES_AUTOMATION=on (`make dagster-dev
AUTOMATION=on`): opening the UI to look syncs nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

GRACE_SECONDS = 10
DG = Path(sys.executable).parent / "dg"


def stop(group: int) -> None:
    """SIGTERM to the whole group, then SIGKILL to whatever is left after the grace period."""
    for sig, wait in ((signal.SIGTERM, GRACE_SECONDS), (signal.SIGKILL, 0)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/dagster_dev.py")
    parser.add_argument("--port", default="3000")
    args = parser.parse_args(argv)
    command = [str(DG), "dev", "-m", "orchestration.definitions", "--host", "127.0.0.1",
               "--port", args.port]
    child = subprocess.Popen(command, start_new_session=True)
    stopping = False

    def on_signal(signum: int, frame: types.FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    parent = os.getppid()
    while child.poll() is None and not stopping and os.getppid() == parent:
        time.sleep(0.5)
    stop(child.pid)
    child.wait()
    print("dagster-dev: stopped dg dev and every process it started", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
