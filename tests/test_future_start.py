"""A start after now: no request carries an inverted window, the stream syncs nothing, one warning.

Smartlead's inbox answers an inverted `replyTimeBetween` with a 422 (the sandbox does too) and Tuco
an inverted `dateFrom`/`dateTo` with a 400; Leadterra takes no window but would read its whole
list only to drop every reply.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest

from tap_replies.registry import PROVIDERS
from tap_replies.timestamps import parse_timestamp
from tests.syncing import run_tap_cli

REPLY_STREAMS = [provider.replies.name for provider in PROVIDERS.values()]
TOMORROW = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def windows_sent(sandbox) -> list[tuple[str, str]]:
    """(from, to) of every request that carried a time window."""
    sent = []
    for request in sandbox.request_log:
        if request.provider == "tuco" and "dateFrom" in request.query:
            sent.append((request.query["dateFrom"][0], request.query["dateTo"][0]))
        if request.provider == "smartlead" and isinstance(request.body, dict):
            between = (request.body.get("filters") or {}).get("replyTimeBetween")
            if between:
                sent.append((between[0], between[1]))
    return sent


def warnings_about(stderr: str, stream: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| WARNING" in line and f"{stream}:" in line
            and "after now" in line]


@pytest.mark.parametrize("per_campaign", [False, True], ids=["all", "per-campaign"])
def test_a_start_date_tomorrow_syncs_no_replies_warns_once_per_stream_and_exits_0(
        sandbox, per_campaign):
    config: dict[str, t.Any] = {**sandbox.tap_config(), "start_date": TOMORROW}
    if per_campaign:
        for provider in PROVIDERS:
            emulator = t.cast("t.Any", sandbox.providers[provider])
            ids = [c["id"] for c in emulator.campaigns] if provider == "smartlead" else (
                list(emulator.campaign_ids))
            config[provider]["campaign_ids"] = ids[:7]
    result = run_tap_cli(config)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "| ERROR" not in result.stderr
    for stream in REPLY_STREAMS:
        assert result.records[stream] == [], stream
        assert len(warnings_about(result.stderr, stream)) == 1, stream
        assert TOMORROW in warnings_about(result.stderr, stream)[0]
    assert all(parse_timestamp(low) <= parse_timestamp(high)  # type: ignore[operator]
               for low, high in windows_sent(sandbox))
    for name, provider in PROVIDERS.items():
        assert not sandbox.requests_for(name, t.cast("str", provider.replies.path)), name
    # The tables without a reply time are read as ever.
    assert result.records["smartlead_campaigns"]
    assert result.records["leadterra_sdrs"]


def test_a_bookmark_after_now_is_kept_and_sends_no_inverted_window(sandbox):
    config = {"smartlead": sandbox.tap_config()["smartlead"]}
    state = {"bookmarks": {"smartlead_inbox_replies": {
        "replication_key": "received_at", "replication_key_value": TOMORROW}}}
    result = run_tap_cli(config, state=state)

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.records["smartlead_inbox_replies"] == []
    assert not sandbox.requests_for("smartlead", "/master-inbox/")
    (warning,) = warnings_about(result.stderr, "smartlead_inbox_replies")
    assert "bookmark" in warning
    assert result.final_state["bookmarks"]["smartlead_inbox_replies"][
        "replication_key_value"] == TOMORROW
