"""Settings and state written by hand: each mistake is one line naming it and the fix, before
anything is emitted; and where a mistake is harmless (a pasted key's newline), it just works.

Run through the real command line where the exit code and the last line matter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_replies.state_checks import StateError, parse_state_file
from tap_replies.tap import TapReplies
from tests.syncing import SyncResult, parse_messages, run_tap

REPO = Path(__file__).resolve().parent.parent
CONFIG_ERROR = 2  # bad settings or state, as click exits on bad usage


def run_cli(tmp_path: Path, config: dict[str, t.Any], *, state_text: str | None = None,
            args: t.Sequence[str] = (), env: dict[str, str] | None = None) -> SyncResult:
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_replies", "--config", str(config_path), *args]
    if state_text is not None:
        state_path = tmp_path / "state.json"
        state_path.write_text(state_text)
        command += ["--state", str(state_path)]
    # Any request to a non-loopback host goes to a proxy on a closed loopback port, so a test
    # whose setting were lost could never reach a real API.
    no_network = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
                  "NO_PROXY": "127.0.0.1,localhost"}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, **no_network, **(env or {})})
    return SyncResult(parse_messages(proc.stdout), stderr=proc.stderr, stdout=proc.stdout,
                      returncode=proc.returncode)


def the_one_error_line(result: SyncResult) -> str:
    """The failure's line: the only ERROR, the last line, no traceback, nothing emitted."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "| ERROR" in line]
    assert len(errors) == 1, result.stderr
    assert lines[-1] == errors[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == "", "nothing may be emitted"
    return errors[0].split("tap-replies: ", 1)[1]


# -- the state --------------------------------------------------------------------------------


def test_a_state_file_that_is_not_json_is_one_line_naming_the_file_and_the_fix(sandbox, tmp_path):
    result = run_cli(tmp_path, {"tuco": sandbox.tap_config()["tuco"]},
                     state_text="{'bookmarks': {}}")
    line = the_one_error_line(result)
    assert result.returncode == CONFIG_ERROR
    assert line == (
        f"the state file {tmp_path / 'state.json'} is not JSON (Expecting property name enclosed "
        "in double quotes, line 1 column 2): with Meltano, run `meltano state clear <state-id>` "
        "(`meltano state list` shows the ids) to sync everything again; otherwise fix the file "
        "or leave out --state")
    assert sandbox.requests_for() == []


@pytest.mark.parametrize(("text", "problem"),
                         [("", "is empty"), (" \n", "is empty"),
                          ("[]", "holds a JSON list, not an object")])
def test_a_state_file_that_is_not_a_json_object_is_refused(text, problem):
    with pytest.raises(StateError, match=f"^the state file state.json {problem}: "):
        parse_state_file(text, "state.json")


def a_state_for_every_provider() -> dict[str, t.Any]:
    good = "2026-01-01T00:00:00Z"
    return {"bookmarks": {
        "leadterra_replies": {"replication_key": "receivedAt", "replication_key_value": good},
        "tuco_replies": {"replication_key": "respondedAtUtc", "replication_key_value": good},
        "smartlead_campaign_leads": {"partitions": [
            {"context": {"campaign_id": 1}, "event_time_gt": good}]},
    }}


def test_a_bookmark_that_is_not_a_date_stops_the_sync_before_anything_is_emitted(
    sandbox, tmp_path
):
    """Leadterra syncs before Tuco: without the check up front, its records would be out."""
    state = a_state_for_every_provider()
    state["bookmarks"]["tuco_replies"]["replication_key_value"] = "last tuesday"
    result = run_cli(tmp_path, sandbox.tap_config(), state_text=json.dumps(state))
    line = the_one_error_line(result)
    assert result.returncode == CONFIG_ERROR
    assert line == (
        "the state's bookmark tuco_replies.replication_key_value 'last tuesday' is not an ISO "
        "8601 date-time: delete that bookmark (the tuco_replies entry under 'bookmarks') with "
        "`meltano state edit <state-id>` (`meltano state list` shows the ids) or in the --state "
        "file, or run `meltano state clear <state-id>` to sync everything again")
    assert sandbox.requests_for() == []


@pytest.mark.parametrize(
    ("break_it", "named"),
    [(lambda s: s["tuco_replies"].update(replication_key_value=1767225600),
      "bookmark tuco_replies.replication_key_value 1767225600 is not an ISO 8601 date-time"),
     (lambda s: s["smartlead_campaign_leads"]["partitions"][0].update(event_time_gt="soon"),
      "bookmark smartlead_campaign_leads.event_time_gt (campaign_id=1) 'soon' is not an ISO"),
     (lambda s: s.update(tuco_replies="2026-01-01"), "the bookmark of tuco_replies is not an"),
     (lambda s: s["smartlead_campaign_leads"].update(partitions="campaign 1"),
      "smartlead_campaign_leads.partitions is not a list")],
    ids=["a number", "in a partition", "not an object", "partitions not a list"],
)
def test_each_kind_of_broken_bookmark_is_refused_with_its_name(sandbox, break_it, named):
    state = a_state_for_every_provider()
    break_it(state["bookmarks"])
    with pytest.raises(StateError, match="meltano state edit <state-id>") as raised:
        TapReplies(config=sandbox.tap_config(), state=state, parse_env_config=False)
    assert named in str(raised.value)


def test_a_bookmark_of_a_provider_no_longer_configured_is_left_alone(sandbox):
    state = {"bookmarks": {"smartlead_inbox_replies": {"replication_key_value": "junk"}}}
    result = run_tap({"tuco": sandbox.tap_config()["tuco"]}, state=state)
    assert len(result.records["tuco_replies"]) == len(sandbox.ground_truth()["tuco_replies"])


# -- the API key ------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["tuco", "smartlead"], ids=["in a header", "in the query"])
def test_a_key_pasted_with_a_trailing_newline_and_spaces_still_syncs(sandbox, provider):
    block = sandbox.tap_config()[provider]
    block["api_key"] = f"  {block['api_key']} \n"
    if provider == "smartlead":
        block["campaign_ids"] = [sandbox.ground_truth()["smartlead_campaigns"][0]["id"]]
    result = run_tap({provider: block})
    assert result.records, "the key was sent as pasted"
    for request in sandbox.requests_for(provider):
        assert request.status == 200


def test_a_key_with_a_control_character_inside_is_one_line_naming_the_setting(sandbox, tmp_path):
    block = sandbox.tap_config()["tuco"]
    block["api_key"] = "tuco_sk_sand\nbox_5d1e88b2\n"
    result = run_cli(tmp_path, {"tuco": block})
    line = the_one_error_line(result)
    assert result.returncode == CONFIG_ERROR
    assert line == ("Tuco AI: tuco.api_key has a control character inside it (a line break or "
                    "tab pasted with it?): set it again as the bare key")
    for part in ("tuco_sk_sand", "box_5d1e88b2"):
        assert part not in result.stderr
    assert sandbox.requests_for() == []


# -- where settings come from -----------------------------------------------------------------


def test_environment_variables_merge_key_by_key_into_the_files_provider_block(sandbox, tmp_path):
    """`--config FILE --config ENV`: the environment's key, the file's URL and campaigns."""
    emulator = t.cast("t.Any", sandbox.providers["tuco"])
    campaign = emulator.ordinary_campaign_ids[0]
    block = {"api_key": "tuco_sk_the_old_revoked_key", "api_url": sandbox.base_url,
             "requests_per_minute": 6000, "campaign_ids": [campaign]}
    result = run_cli(tmp_path, {"tuco": block, "max_retries": 0}, args=["--config", "ENV"],
                     env={"TAP_REPLIES_TUCO_API_KEY": emulator.api_key})
    assert result.returncode == 0, result.stderr
    expected = {r["leadId"] for r in emulator.replies_of(campaign)}
    assert expected
    assert {r["leadId"] for r in result.records["tuco_replies"]} == expected
    requests = sandbox.requests_for("tuco")
    assert requests
    assert all(r.query.get("campaignId") == [campaign] and r.status == 200 for r in requests)
    assert emulator.api_key not in result.stderr


def test_settings_precedence_is_defaults_then_the_file_then_the_environment(monkeypatch):
    monkeypatch.setenv("TAP_REPLIES_TUCO_API_KEY", "tuco_sk_from_the_environment")
    monkeypatch.setenv("TAP_REPLIES_MAX_RETRIES", "2")
    file_config = {"tuco": {"api_key": "tuco_sk_from_the_file", "campaign_ids": ["a" * 24],
                            "requests_per_minute": 30},
                   "max_retries": 5, "request_timeout": 9}
    tap = TapReplies(config=file_config, parse_env_config=True)
    settings = tap.provider_settings("tuco")
    assert settings.api_key == "tuco_sk_from_the_environment"  # the environment wins
    assert list(settings.campaign_ids) == ["a" * 24]  # the file's, kept beside it
    assert settings.requests_per_minute == 30
    assert settings.api_url == "https://app.tuco.ai"  # in neither: the default
    assert tap.config["max_retries"] == 2
    assert tap.config["request_timeout"] == 9
    assert file_config["tuco"]["api_key"] == "tuco_sk_from_the_file"  # the input is not changed


# -- names ------------------------------------------------------------------------------------


def test_a_misspelt_provider_block_is_one_line_naming_it_and_the_closest_name(
    sandbox, tmp_path
):
    config = sandbox.tap_config()
    config["smartleed"] = config.pop("smartlead")
    result = run_cli(tmp_path, config)
    assert result.returncode == CONFIG_ERROR
    assert the_one_error_line(result) == (
        "unknown setting 'smartleed': did you mean 'smartlead'? (an unknown setting would "
        "otherwise be ignored)")
    assert sandbox.requests_for() == []


@pytest.mark.parametrize(
    ("change", "error"),
    [(lambda c: c.update(max_retry=3), "unknown setting 'max_retry': did you mean 'max_retries'?"),
     (lambda c: c["tuco"].update(api_kye="x"),
      "Tuco AI: unknown setting 'tuco.api_kye': did you mean 'tuco.api_key'?"),
     (lambda c: c.update(colour="blue"),
      "unknown setting 'colour': `tap-replies --about` lists the settings"),
     (lambda c: c.update(smartleed=c.pop("smartlead"), leadtera=c.pop("leadterra"),
                         tuko=c.pop("tuco")),
      "unknown setting 'smartleed': did you mean 'smartlead'?")],
    ids=["a top-level setting", "inside a block", "nothing close", "every block misspelt"],
)
def test_an_unknown_setting_is_named_with_the_closest_valid_name(sandbox, change, error):
    config = sandbox.tap_config()
    change(config)
    with pytest.raises(ConfigValidationError) as raised:
        TapReplies(config=config, parse_env_config=False)
    assert raised.value.errors[0].startswith(error)


def test_the_sdks_own_settings_stay_valid(sandbox):
    config = sandbox.tap_config(
        stream_maps={"tuco_replies": {"message": None}}, stream_map_config={},
        flattening_enabled=False, flattening_max_depth=1, faker_config={"locale": "en_US"},
        batch_config={"encoding": {"format": "jsonl"}, "storage": {"root": "file:///tmp"}},
        user_agent="acme-etl/1.0",
    )
    tap = TapReplies(config=config, parse_env_config=False)
    assert tap.config_errors() == []
