"""The tap as a whole: the SDK's built-in suite and the settings contract."""

from __future__ import annotations

import atexit
import decimal
import json
import subprocess
import sys
import typing as t

import pytest
from singer_sdk.testing import get_tap_test_class

from tap_replies.sandbox import Sandbox
from tap_replies.tap import TapReplies
from tests.syncing import run_tap

# The SDK suite builds its tests at import time, so it gets a sandbox of its own for the session.
_SUITE_SANDBOX = Sandbox(seed=3, scale=1).start()
atexit.register(_SUITE_SANDBOX.stop)

# Tuco per campaign, so the suite sees the campaign_id the tap adds to those rows.
_SUITE_CONFIG = _SUITE_SANDBOX.tap_config()
_SUITE_CONFIG["tuco"]["campaign_ids"] = list(
    t.cast("t.Any", _SUITE_SANDBOX.providers["tuco"]).campaign_ids)

TestTapReplies = get_tap_test_class(TapReplies, config=_SUITE_CONFIG)


def test_a_config_with_no_provider_is_one_line_naming_the_blocks(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"start_date": "2025-01-01T00:00:00Z"}))
    proc = subprocess.run(
        [sys.executable, "-m", "tap_replies", "--config", str(config), "--discover"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if "no provider configured" in line]
    assert len(errors) == 1
    assert all(name in errors[0] for name in ("'leadterra'", "'smartlead'", "'tuco'"))


def test_a_provider_left_out_contributes_no_streams(sandbox):
    tap = TapReplies(config={"tuco": sandbox.tap_config()["tuco"]}, parse_env_config=False)
    assert all(name.startswith("tuco_") for name in tap.streams)


def test_nested_settings_come_from_environment_variables(monkeypatch):
    monkeypatch.setenv("TAP_REPLIES_SMARTLEAD_API_KEY", "sl_from_env_1234")
    monkeypatch.setenv("TAP_REPLIES_SMARTLEAD_CAMPAIGN_IDS", "[11, 12]")
    monkeypatch.setenv("TAP_REPLIES_SMARTLEAD_REQUESTS_PER_MINUTE", "30")
    tap = TapReplies(config={}, parse_env_config=True)
    settings = tap.provider_settings("smartlead")
    assert settings.api_key == "sl_from_env_1234"
    assert list(settings.campaign_ids) == [11, 12]
    assert settings.requests_per_minute == 30
    assert settings.api_url == "https://server.smartlead.ai"


@pytest.mark.parametrize(
    ("provider", "default_url", "default_rpm"),
    [("leadterra", "https://app.leadterra.co", None),
     ("smartlead", "https://server.smartlead.ai", 60),
     ("tuco", "https://app.tuco.ai", 120)],
)
def test_provider_defaults(provider, default_url, default_rpm):
    tap = TapReplies(config={provider: {"api_key": "key_for_defaults"}}, parse_env_config=False)
    settings = tap.provider_settings(provider)
    assert settings.api_url == default_url
    assert settings.requests_per_minute == default_rpm


def test_sample_config_is_accepted_by_discovery():
    proc = subprocess.run([sys.executable, "-m", "tap_replies", "--config", "sample_config.json",
                           "--discover"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    catalog = json.loads(proc.stdout)
    assert isinstance(catalog["streams"], list)


def test_records_hold_only_the_properties_their_schema_declares(sandbox):
    """Also with per-campaign partitions, whose keys the SDK adds to each record."""
    truth = sandbox.ground_truth()
    config = sandbox.tap_config()
    config["leadterra"]["campaign_ids"] = sorted({r["campaignId"] for r in
                                                  truth["leadterra_replies"]})[:2]
    config["smartlead"]["campaign_ids"] = [c["id"] for c in truth["smartlead_campaigns"]][:2]
    config["tuco"]["campaign_ids"] = [sandbox.providers["tuco"].full_pages_campaign_id]
    result = run_tap(config)
    tap = TapReplies(config=config, parse_env_config=False)
    for name, records in result.records.items():
        schema = tap.streams[name].schema
        if schema.get("additionalProperties"):
            continue
        assert records, name
        assert all(record.keys() <= schema["properties"].keys() for record in records), name


def test_a_fractional_requests_per_minute_from_a_config_file_paces_the_provider():
    # The SDK's command line reads a config file's 0.5 as a Decimal.
    text = '{"tuco": {"api_key": "tuco_key_0001", "requests_per_minute": 0.5}}'
    config = json.loads(text, parse_float=decimal.Decimal)
    tap = TapReplies(config=config, parse_env_config=False)
    assert tap.config_errors() == []
    assert tap.client_for("tuco").bucket.interval == 120.0  # one request every two minutes
