"""`tap-replies --test` checks every configured provider and says how each one answered, one line
each; one failing provider does not hide the others."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

from singer_sdk import plugin_base

from tap_replies.connection_check import first_to_act_on
from tap_replies.http.errors import ProviderError, RetriesExhausted, UnexpectedFailure
from tap_replies.sandbox import Sandbox
from tests.syncing import parse_messages

REPO = Path(__file__).resolve().parent.parent


def connection_test(tmp_path: Path, config: dict[str, t.Any], *extra: str
                    ) -> subprocess.CompletedProcess[str]:
    """The real command line, as `meltano invoke tap-replies --test` runs it (a catalog file
    given), under Python's development mode so an unclosed file would be reported."""
    config_path, catalog_path = tmp_path / "config.json", tmp_path / "tap.properties.json"
    config_path.write_text(json.dumps(config))
    catalog = subprocess.run([sys.executable, "-m", "tap_replies", "--config", str(config_path),
                              "--discover"], capture_output=True, text=True, check=True, cwd=REPO)
    catalog_path.write_text(catalog.stdout)
    return subprocess.run([sys.executable, "-X", "dev", "-m", "tap_replies", "--config",
                           str(config_path), "--catalog", str(catalog_path), *extra],
                          capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def check_lines(stderr: str) -> list[str]:
    return [line.split(" | ", 3)[-1] for line in stderr.splitlines() if "| --test: " in line]


def test_every_provider_is_checked_and_a_failing_one_hides_no_other(tmp_path: Path):
    with Sandbox(seed=3) as sandbox:
        config = sandbox.tap_config()
        config["smartlead"]["api_key"] = "sl_wrong_key_for_the_test_0001"
        proc = connection_test(tmp_path, config, "--test")
    assert proc.returncode == 3  # refused by the API: the key must change (README, Exit codes)
    assert check_lines(proc.stderr) == [
        "--test: Leadterra ok — 3 streams answered (3 requests)",
        "--test: Smartlead FAILED — Smartlead GET /api/v1/campaigns/: 401 Unauthorized — Invalid "
        "or missing API key — check smartlead.api_key (Settings → API key in Smartlead); it is "
        "sent as the api_key query parameter",
        "--test: Tuco AI ok — 1 stream answered (1 request)",
    ]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.endswith("tap-replies: --test: 1 of 3 providers failed (Smartlead); each one's "
                         "line above names the fix")
    assert "Traceback" not in proc.stderr
    assert "ResourceWarning" not in proc.stderr
    assert "sl_wrong_key_for_the_test_0001" not in proc.stderr + proc.stdout


def test_a_test_where_every_provider_answers_exits_0_with_one_line_each(tmp_path: Path):
    with Sandbox(seed=3) as sandbox:
        proc = connection_test(tmp_path, sandbox.tap_config(), "--test")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [line.split(" — ")[0] for line in check_lines(proc.stderr)] == [
        "--test: Leadterra ok", "--test: Smartlead ok", "--test: Tuco AI ok",
        "--test: every configured provider answered (Leadterra, Smartlead, Tuco AI)"]
    assert "ResourceWarning" not in proc.stderr
    # As the SDK's test does: at most one record of each stream on stdout.
    records = [m["stream"] for m in parse_messages(proc.stdout) if m["type"] == "RECORD"]
    assert records
    assert len(records) == len(set(records))


def test_an_unconfigured_provider_is_not_checked(tmp_path: Path):
    with Sandbox(seed=3) as sandbox:
        proc = connection_test(tmp_path, {"tuco": sandbox.tap_config()["tuco"]}, "--test")
    assert proc.returncode == 0
    assert check_lines(proc.stderr)[0] == "--test: Tuco AI ok — 1 stream answered (1 request)"
    assert len(check_lines(proc.stderr)) == 2


def test_test_schema_is_still_the_sdks_schema_only_test(tmp_path: Path):
    with Sandbox(seed=3) as sandbox:
        proc = connection_test(tmp_path, {"tuco": sandbox.tap_config()["tuco"]}, "--test=schema")
    assert proc.returncode == 0
    assert [m["type"] for m in parse_messages(proc.stdout)] == ["SCHEMA"]
    assert check_lines(proc.stderr) == []


def test_the_sdk_still_hands_the_test_its_config_as_config_and_parse_env():
    # TapReplies.cb_test builds its tap from what cb_config returns: these two fields.
    fields = {field.name for field in dataclasses.fields(plugin_base._ConfigInput)}
    assert {"config", "parse_env"} <= fields


def test_the_run_ends_with_the_kind_of_failure_to_act_on_first():
    # A refusal (exit 3) needs a fix whatever else failed; a transient one (4) may pass later.
    assert first_to_act_on([RetriesExhausted, ProviderError]) is ProviderError
    assert first_to_act_on([RetriesExhausted, UnexpectedFailure]) is UnexpectedFailure
    assert first_to_act_on([RetriesExhausted]) is RetriesExhausted
