"""A server asking for a longer wait than max_wait_seconds: checkpoint, then stop at once.

`Retry-After: 3600` was waited out in 15-minute slices, up to 8 times: a scheduled run hung for two
hours. Waits up to max_wait_seconds (default 300) are still honoured in full. The tap's clock is
swapped for one that jumps instead of sleeping, so a wait the tap does honour costs no time.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_replies.failures import TRANSIENT_EXIT_CODE
from tap_replies.providers.base import ProviderError
from tap_replies.sandbox.core import Response
from tap_replies.tap import TapReplies
from tests.clock import FAKE_CLOCK_CLI
from tests.syncing import SyncResult, parse_messages, run_tap

REPO = Path(__file__).resolve().parent.parent
STREAM = "tuco_replies"

def run_instant_cli(config: dict[str, t.Any]) -> SyncResult:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "config.json")
        path.write_text(json.dumps(config))
        proc = subprocess.run([sys.executable, "-c", FAKE_CLOCK_CLI, "--config", str(path)],
                              capture_output=True, text=True, timeout=120, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    return SyncResult(parse_messages(proc.stdout), stderr=proc.stderr, stdout=proc.stdout,
                      returncode=proc.returncode)


def rate_limited(header: str, seconds: float) -> Response:
    now = time.time()
    value = {"Retry-After": str(int(seconds)),
             "Retry-After (date)": email.utils.formatdate(now + seconds, usegmt=True),
             "x-ratelimit-reset": str(int(now + seconds))}[header]
    return Response(429, {"error": "Rate limit exceeded"}, {header.split(" ")[0]: value})


def first_page_then(sandbox, outcome: Response, times: int | None = None) -> None:
    sandbox.override("tuco", "/api/replies", lambda body: body)
    sandbox.override("tuco", "/api/replies", outcome, times=times)


def resume_time(line: str) -> dt.datetime:
    found = re.search(r"may be asked again after (\S+Z)", line)
    assert found, line
    return dt.datetime.fromisoformat(found.group(1).replace("Z", "+00:00"))


def test_an_hour_long_wait_checkpoints_and_stops_with_the_time_to_resume(sandbox):
    first_page_then(sandbox, rate_limited("Retry-After", 3600))
    asked_at = dt.datetime.now(dt.timezone.utc)
    result = run_instant_cli({"tuco": sandbox.tap_config()["tuco"]})

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == TRANSIENT_EXIT_CODE, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert sum("| ERROR" in line for line in lines) == 1
    line = lines[-1]
    assert "tap-replies: Tuco AI GET /api/replies: 429 Too Many Requests (rate limit) — the " \
           "server asks to wait 3600s (Retry-After), more than max_wait_seconds (300)" in line
    assert abs((resume_time(line) - asked_at).total_seconds() - 3600) < 120
    # Stopped at once: the page before, the one 429, no retry.
    assert len(sandbox.requests_for("tuco", "/api/replies")) == 2
    # What was emitted is checkpointed: the last STATE names the first page, no bookmark moved.
    assert len(result.records[STREAM]) == 100
    state = result.final_state["bookmarks"][STREAM]
    assert state["resume"]["emitted"]
    assert "replication_key_value" not in state


@pytest.mark.parametrize("header", ["Retry-After (date)", "x-ratelimit-reset"])
def test_every_form_of_a_long_wait_stops_the_sync(sandbox, header, fast_tap, fake_clock):
    first_page_then(sandbox, rate_limited(header, 3600))
    asked_at = dt.datetime.now(dt.timezone.utc)
    with pytest.raises(ProviderError) as caught:
        run_tap({"tuco": sandbox.tap_config()["tuco"]}, tap_class=fast_tap)
    assert f"({header.split(' ')[0]}), more than max_wait_seconds (300)" in str(caught.value)
    assert abs((resume_time(str(caught.value)) - asked_at).total_seconds() - 3600) < 120
    assert fake_clock.slept == 0.0  # not a second waited
    assert len(sandbox.requests_for("tuco", "/api/replies")) == 2


def test_a_wait_up_to_max_wait_seconds_is_waited_out(sandbox, fast_tap, fake_clock):
    first_page_then(sandbox, rate_limited("Retry-After", 3600), times=1)
    result = run_tap({"tuco": sandbox.tap_config()["tuco"], "max_wait_seconds": 3600},
                     tap_class=fast_tap)
    assert len(result.records[STREAM]) == len(sandbox.ground_truth()[STREAM])
    assert 3600 <= fake_clock.slept < 3700


def test_the_default_cap_is_300_seconds(sandbox, fast_tap, fake_clock):
    first_page_then(sandbox, rate_limited("Retry-After", 290), times=1)
    result = run_tap({"tuco": sandbox.tap_config()["tuco"]}, tap_class=fast_tap)
    assert len(result.records[STREAM]) == len(sandbox.ground_truth()[STREAM])
    assert fake_clock.slept >= 290


def test_a_negative_max_wait_seconds_is_a_configuration_error(sandbox):
    result = run_instant_cli({"tuco": sandbox.tap_config()["tuco"], "max_wait_seconds": -1})
    assert result.returncode == 2
    assert "max_wait_seconds must be a whole number of at least 0, not -1" in \
        result.stderr.splitlines()[-1]
    assert not sandbox.requests_for("tuco")


@pytest.mark.parametrize("value", ["soon", 1.5, True])
def test_max_wait_seconds_must_be_a_whole_number(sandbox, value):
    with pytest.raises(ConfigValidationError, match="max_wait_seconds"):
        TapReplies(config={"tuco": sandbox.tap_config()["tuco"], "max_wait_seconds": value},
                   parse_env_config=False)
