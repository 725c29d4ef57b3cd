"""`make dagster-dev`: the UI comes up, and a SIGTERM to make stops every process it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import typing as t
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def processes_with(marker: str) -> list[int]:
    """The pids whose environment holds `marker` (DAGSTER_HOME=<this test's folder>)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in environ:
            found.append(int(entry.name))
    return found


def wait_until(condition: t.Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return condition()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (http, loopback)
            return bool(response.status == 200)
    except OSError:
        return False


def test_a_sigterm_to_make_dagster_dev_stops_every_process_it_started(tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    manifest = yaml.safe_load((ROOT / "meltano.yml").read_text())
    manifest["plugins"]["utilities"] = []  # the code location without dbt: quicker to load
    (project / "meltano.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    home = tmp_path / "dagster_home"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER", "MELTANO"))}
    env.update(MELTANO_PROJECT_ROOT=str(project), DAGSTER_HOME=str(home))
    make = subprocess.Popen(["make", "--no-print-directory", "dagster-dev",
                             f"DAGSTER_HOME={home}", f"DAGSTER_PORT={port}"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    marker = f"DAGSTER_HOME={home}"
    try:
        assert wait_until(lambda: answers(f"http://127.0.0.1:{port}/server_info"), 240)
        started = processes_with(marker)
        assert len(started) >= 3  # dg dev, the webserver, the daemon (and a code server)
        make.send_signal(signal.SIGTERM)
        make.wait(timeout=60)
        assert wait_until(lambda: not processes_with(marker), 60), processes_with(marker)
        assert not answers(f"http://127.0.0.1:{port}/server_info")
        assert (home / "dagster.yaml").exists()
    finally:
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)
        if make.poll() is None:
            make.kill()
