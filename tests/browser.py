"""Headless Chromium for the tests that look at a page as a person would: the DOM after every
script ran, and a screenshot. A new profile per call, nothing fetched but the page (loopback).

Chromium is the Debian package (`.ci/run` installs it when missing); without it a test fails
under CI and is skipped elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
# Virtual time lets the page's scripts (plotly drawing every chart) finish before the DOM is
# read, without a wall-clock wait.
VIRTUAL_TIME_MS = 20000


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        message = "chromium not found: `apt-get install chromium` (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _run(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}",
             f"--virtual-time-budget={VIRTUAL_TIME_MS}", *extra, url],
            capture_output=True, text=True, timeout=120, check=False)


def rendered_dom(url: str) -> str:
    """The page's DOM once its scripts ran."""
    proc = _run(url, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def screenshot(url: str, path: Path, size: str = "1400,3400") -> Path:
    proc = _run(url, f"--screenshot={path}", f"--window-size={size}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return path


def body_attribute(dom: str, name: str) -> str | None:
    body = re.search(r"<body([^>]*)>", dom)
    match = re.search(rf'{name}="([^"]*)"', body.group(1)) if body else None
    return match.group(1) if match else None


def totals(dom: str) -> dict[str, str]:
    """Every figure the page shows with a data-total, by name."""
    return dict(re.findall(r'data-total="([a-z_]+)">([^<]*)<', dom))
