"""Reliability against the sandbox: faults, rate limits, kill-and-resume, bad input, secrets.

Waits are kept short by injecting the clock (in process, or in a CLI run through a one-line
launcher that sets `TapReplies.clock`), never by sleeping; only the rate-limit test runs on the
real clock, because the sandbox's own limiter does.
"""

from __future__ import annotations

import concurrent.futures
import email.utils
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import typing as t
from collections import Counter
from pathlib import Path

import pytest
import requests

from tap_replies.http.retry import RETRYABLE_EXCEPTIONS
from tap_replies.sandbox import Sandbox
from tap_replies.sandbox.core import Response
from tap_replies.tap import TapReplies
from tap_replies.timestamps import parse_timestamp
from tests.clock import FAKE_CLOCK_CLI
from tests.syncing import SyncResult, parse_messages, run_tap

REPO = Path(__file__).resolve().parent.parent
TUCO_KEY = "tuco_sk_sandbox_5d1e88b2"


def cli_command(config_path: Path, *, instant: bool, state_path: Path | None = None,
                catalog_path: Path | None = None) -> list[str]:
    launcher = ["-c", FAKE_CLOCK_CLI] if instant else ["-m", "tap_replies"]
    command = [sys.executable, *launcher, "--config", str(config_path)]
    if state_path is not None:
        command += ["--state", str(state_path)]
    if catalog_path is not None:
        command += ["--catalog", str(catalog_path)]
    return command


def run_cli(config: dict[str, t.Any], *, instant: bool = True, env: dict[str, str] | None = None,
            state: dict[str, t.Any] | None = None,
            catalog: dict[str, t.Any] | None = None) -> SyncResult:
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, value in (("config", config), ("state", state), ("catalog", catalog)):
            if value is not None:
                paths[name] = Path(tmp, f"{name}.json")
                paths[name].write_text(json.dumps(value))
        proc = subprocess.run(
            cli_command(paths["config"], instant=instant, state_path=paths.get("state"),
                        catalog_path=paths.get("catalog")),
            capture_output=True, text=True, timeout=120, cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        )
    return SyncResult(parse_messages(proc.stdout), stderr=proc.stderr, stdout=proc.stdout,
                      returncode=proc.returncode)


def catalog_selecting(config: dict[str, t.Any], names: set[str]) -> dict[str, t.Any]:
    catalog = TapReplies(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if not metadata["breadcrumb"]:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in names
    return catalog


def keys_of(records: t.Iterable[dict[str, t.Any]], pk: t.Sequence[str]) -> list[tuple[t.Any, ...]]:
    return [tuple(record.get(k) for k in pk) for record in records]


def last_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


# -- 1. faults --------------------------------------------------------------------------------


def test_a_sync_with_many_injected_faults_returns_exactly_the_ground_truth(fast_tap, fake_clock):
    with Sandbox(seed=11, scale=2, fault_rate=0.15) as sandbox:
        result = run_tap(sandbox.tap_config(max_retries=12), tap_class=fast_tap)
        statuses = Counter(entry.status for entry in sandbox.request_log)
        truth = sandbox.ground_truth()
        primary_keys = sandbox.primary_keys()
    faults = sum(n for status, n in statuses.items() if status != 200)
    assert faults >= 0.10 * sum(statuses.values())
    assert statuses[0] > 0  # resets and cut-short bodies were among them
    for stream, expected in truth.items():
        got = keys_of(result.records.get(stream, []), primary_keys[stream])
        assert sorted(got, key=repr) == sorted(keys_of(expected, primary_keys[stream]), key=repr), \
            stream
    # The truncated fault's body holds records with id "cut": none of them got through.
    assert not any(r.get("id") == "cut" for rs in result.records.values() for r in rs)
    assert fake_clock.slept > 0  # backoff happened, on the injected clock


@pytest.mark.parametrize(
    ("fault", "raised"),
    [("reset", requests.exceptions.ConnectionError),
     ("truncated", requests.exceptions.ChunkedEncodingError),
     ("timeout", requests.exceptions.Timeout)],
)
def test_the_sandbox_faults_raise_what_the_tap_retries(sandbox, fault, raised):
    sandbox.override("tuco", "/api/replies", fault)
    with pytest.raises(raised) as caught:
        requests.get(f"{sandbox.base_url}/api/replies", timeout=1,
                     headers={"Authorization": f"Bearer {TUCO_KEY}"})
    assert isinstance(caught.value, RETRYABLE_EXCEPTIONS)


@pytest.mark.parametrize("fault", ["reset", "truncated", "timeout", "502", "504"])
def test_each_transport_fault_is_retried_and_yields_nothing_extra(sandbox, fault, fast_tap):
    sandbox.override("tuco", "/api/replies", fault, times=1 if fault == "timeout" else 2)
    config = {"tuco": sandbox.tap_config()["tuco"], "request_timeout": 1}
    result = run_tap(config, tap_class=fast_tap)
    truth = keys_of(sandbox.ground_truth()["tuco_replies"], ["leadId"])
    assert sorted(keys_of(result.records["tuco_replies"], ["leadId"])) == sorted(truth)


@pytest.mark.parametrize("header", ["Retry-After: date", "Retry-After: seconds",
                                    "x-ratelimit-reset: epoch", "x-ratelimit-reset: seconds"])
def test_a_429_waits_as_long_as_the_server_asks_on_the_taps_clock(sandbox, header, fast_tap,
                                                                   fake_clock):
    name, kind = header.split(": ")
    now = time.time()
    value = {"date": email.utils.formatdate(now + 40, usegmt=True), "seconds": "40",
             "epoch": str(int(now + 40))}[kind]
    sandbox.override("tuco", "/api/replies", Response(429, {"error": "Rate limit exceeded"},
                                                      {name: value}))
    result = run_tap({"tuco": sandbox.tap_config()["tuco"]}, tap_class=fast_tap)
    assert len(result.records["tuco_replies"]) == len(sandbox.ground_truth()["tuco_replies"])
    assert 38.0 <= fake_clock.slept <= 42.0  # the whole wait, no more (no backoff on top)


# -- 2. rate limits ---------------------------------------------------------------------------


def test_a_rate_limited_sync_sees_at_most_2_percent_429s_and_never_outruns_the_limit():
    rpm = 300
    with Sandbox(seed=5, scale=3, rates={"tuco": rpm, "smartlead": rpm}) as sandbox:
        config = sandbox.tap_config()
        for provider in ("tuco", "smartlead"):
            config[provider]["requests_per_minute"] = rpm
        del config["leadterra"]
        result = run_tap(config)
        log = list(sandbox.request_log)
    assert result.records["tuco_replies"]
    rejected = sum(1 for entry in log if entry.status == 429)
    assert rejected <= 0.02 * len(log), Counter(entry.status for entry in log)
    interval = 60.0 / rpm
    for provider in ("tuco", "smartlead"):
        times = sorted(entry.at for entry in log if entry.provider == provider)
        # A full bucket lets 2 s worth of requests through at once; after that, one per interval.
        # Only a lower bound: how close to it a sync gets is measured by `make bench`.
        burst = int(2.0 / interval)
        minimum = max(0, len(times) - burst - 1) * interval
        assert times[-1] - times[0] >= minimum * 0.95, (provider, len(times))


# -- 3. kill and resume -----------------------------------------------------------------------


def run_until_killed(command: list[str], after_messages: int) -> list[dict[str, t.Any]]:
    """Read the real CLI's stdout line by line and SIGKILL it after `after_messages`."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    messages: list[dict[str, t.Any]] = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("{"):
                messages.append(json.loads(line))
            if len(messages) >= after_messages:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    return messages


def partition_states(state: dict[str, t.Any], stream: str) -> dict[str, dict[str, t.Any]]:
    """Each partition's state by campaign id ("" for a stream without partitions)."""
    stream_state = state.get("bookmarks", {}).get(stream) or {}
    if "partitions" not in stream_state:
        return {"": stream_state}
    return {str(p["context"].get("campaign_id")): p for p in stream_state["partitions"]}


def bookmark_is_safe(partition_state: dict[str, t.Any], replication_key: str,
                     truth: list[dict[str, t.Any]], emitted: set[tuple[t.Any, ...]],
                     pk: t.Sequence[str]) -> bool:
    """No record older than the bookmark (which the next run starts from) was left unemitted."""
    bookmark = parse_timestamp(partition_state.get("replication_key_value"))
    if bookmark is None:
        return True
    return all(
        tuple(r[k] for k in pk) in emitted
        for r in truth
        if (ts := parse_timestamp(r.get(replication_key))) is not None and ts < bookmark
    )


@pytest.mark.parametrize(
    ("provider", "stream", "replication_key", "page_size", "scale", "partitioned"),
    [("tuco", "tuco_replies", "respondedAtUtc", 100, 2, False),
     ("tuco", "tuco_replies", "respondedAtUtc", 100, 2, True),
     ("smartlead", "smartlead_inbox_replies", "received_at", 20, 3, False),
     # One bare array per campaign: a page is a campaign's whole list (84 at most here).
     ("leadterra", "leadterra_replies", "receivedAt", 84, 2, True)],
    ids=["tuco", "tuco-per-campaign", "smartlead-inbox", "leadterra-per-campaign"],
)
def test_a_run_killed_at_random_points_resumes_without_losing_or_repeating_much(
    tmp_path, provider, stream, replication_key, page_size, scale, partitioned
):
    """Four kill points per case, sixteen in all; each resumed from the last STATE received."""
    kills = 4
    with Sandbox(seed=21, scale=scale) as sandbox:
        config = {provider: sandbox.tap_config()[provider]}
        truth = sandbox.ground_truth()[stream]
        truth_by_partition = {"": truth}
        if partitioned:
            emulator = t.cast("t.Any", sandbox.providers[provider])
            config[provider]["campaign_ids"] = list(emulator.campaign_ids)
            truth_by_partition = {c: emulator.replies_of(c) for c in emulator.campaign_ids}
        catalog = catalog_selecting(config, {stream})
        pk = sandbox.primary_keys()[stream]
        truth_keys = set(keys_of(truth, pk))
        config_path, catalog_path = tmp_path / "config.json", tmp_path / "catalog.json"
        config_path.write_text(json.dumps(config))
        catalog_path.write_text(json.dumps(catalog))
        command = cli_command(config_path, instant=False, catalog_path=catalog_path)
        # Roughly: a SCHEMA, one RECORD per record and a STATE per page.
        total_messages = len(truth) + len(truth) // page_size + 3
        rng = random.Random(f"kill:{stream}:{partitioned}")
        kill_points = sorted(rng.sample(range(2, total_messages), kills))
        with concurrent.futures.ThreadPoolExecutor(max_workers=kills) as pool:
            killed_runs = list(pool.map(lambda n: run_until_killed(command, n), kill_points))

        for kill_point, messages in zip(kill_points, killed_runs, strict=True):
            records = [m["record"] for m in messages if m["type"] == "RECORD"]
            emitted: set[tuple[t.Any, ...]] = set()
            state: dict[str, t.Any] = {}
            for message in messages:
                if message["type"] == "RECORD":
                    emitted.add(tuple(message["record"][k] for k in pk))
                elif message["type"] == "STATE":
                    state = message["value"]
                    for part, part_state in partition_states(state, stream).items():
                        assert bookmark_is_safe(part_state, replication_key,
                                                truth_by_partition[part], emitted, pk), part
            resumed = run_tap(config, state=state, catalog=catalog)
            again = keys_of(resumed.records[stream], pk)
            killed_keys = set(keys_of(records, pk))
            lost = truth_keys - killed_keys - set(again)
            assert not lost, f"kill after {kill_point} messages lost {len(lost)} records"
            # At most the page it was on; plus, as after any finished sync, the records sharing
            # a finished partition's bookmark instant (the lower bound is inclusive).
            at_bookmarks = 0
            for part, part_state in partition_states(state, stream).items():
                bookmark = part_state.get("replication_key_value")
                if bookmark and "resume" not in part_state:
                    at_bookmarks += sum(
                        1 for r in truth_by_partition[part]
                        if parse_timestamp(r[replication_key]) == parse_timestamp(bookmark))
            repeated = [key for key in again if key in killed_keys]
            assert len(repeated) <= page_size + at_bookmarks, \
                f"kill after {kill_point}: {len(repeated)} again"
            for part, part_state in partition_states(resumed.final_state, stream).items():
                assert "resume" not in part_state
                if truth_by_partition[part]:
                    newest = max(parse_timestamp(r[replication_key])
                                 for r in truth_by_partition[part])
                    assert parse_timestamp(part_state["replication_key_value"]) == newest


def test_a_leads_sync_killed_at_random_points_resumes_at_its_checkpoint(tmp_path):
    """smartlead_campaign_leads has no replication key: each campaign checkpoints its offset
    after every page and writes its event_time_gt bookmark only once read to the end."""
    stream, pk, page_size = "smartlead_campaign_leads", ("campaign_id", "id"), 100
    with Sandbox(seed=21, scale=2) as sandbox:
        config = {"smartlead": sandbox.tap_config()["smartlead"]}
        truth_keys = set(keys_of(sandbox.ground_truth()[stream], pk))
        catalog = catalog_selecting(config, {stream})
        config_path, catalog_path = tmp_path / "config.json", tmp_path / "catalog.json"
        config_path.write_text(json.dumps(config))
        catalog_path.write_text(json.dumps(catalog))
        command = cli_command(config_path, instant=False, catalog_path=catalog_path)
        total_messages = len(truth_keys) + len(truth_keys) // page_size + 20
        kill_points = sorted(random.Random("kill:leads").sample(range(2, total_messages), 4))
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            killed_runs = list(pool.map(lambda n: run_until_killed(command, n), kill_points))
        for kill_point, messages in zip(kill_points, killed_runs, strict=True):
            killed_keys = {tuple(m["record"][k] for k in pk) for m in messages
                           if m["type"] == "RECORD"}
            states = [m["value"] for m in messages if m["type"] == "STATE"]
            resumed = run_tap(config, state=states[-1] if states else None, catalog=catalog)
            again = keys_of(resumed.records[stream], pk)
            assert not truth_keys - killed_keys - set(again), f"kill after {kill_point} lost"
            repeated = [key for key in again if key in killed_keys]
            assert len(repeated) <= page_size, f"kill after {kill_point}: {len(repeated)} again"
            for part_state in partition_states(resumed.final_state, stream).values():
                assert "resume" not in part_state
                assert part_state.get("event_time_gt")


# -- 4. bad input -----------------------------------------------------------------------------

def rows(body: t.Any) -> list[dict[str, t.Any]]:
    """The records of a response body in any of the providers' list shapes."""
    if isinstance(body, list):
        return body
    for key in ("replies", "data", "messages"):
        if isinstance(body, dict) and isinstance(body.get(key), list):
            return t.cast("list[dict[str, t.Any]]", body[key])
    return []


def first_row(change: t.Callable[[dict[str, t.Any]], None]) -> t.Callable[[t.Any], t.Any]:
    def rewrite(body: t.Any) -> t.Any:
        change(rows(body)[0])
        return body

    return rewrite


class Case(t.NamedTuple):
    provider: str
    config: dict[str, t.Any]  # merged into the provider's block ("top" for top-level settings)
    override: tuple[str, t.Any] | None  # (path, outcome) for the sandbox
    fails_with: tuple[str, ...]  # pieces of the last stderr line; () when the sync succeeds
    check: t.Callable[[SyncResult, Sandbox], None] | None = None
    times: int | None = 1  # how many requests the override answers


def all_records_kept(stream: str, pk: str) -> t.Callable[[SyncResult, Sandbox], None]:
    def check(result: SyncResult, sandbox: Sandbox) -> None:
        expected = {r[pk] for r in sandbox.ground_truth()[stream]}
        assert {r[pk] for r in result.records[stream]} == expected

    return check


def record_kept(stream: str, field: str, value: t.Any,
                warning: str | None = None) -> t.Callable[[SyncResult, Sandbox], None]:
    def check(result: SyncResult, sandbox: Sandbox) -> None:
        assert any(r.get(field) == value for r in result.records[stream]), (field, value)
        assert len(result.records[stream]) == len(sandbox.ground_truth()[stream])
        if warning:
            assert warning in result.stderr

    return check


def skipped_without_key(result: SyncResult, sandbox: Sandbox) -> None:
    assert len(result.records["tuco_replies"]) == len(sandbox.ground_truth()["tuco_replies"]) - 1
    assert "tuco_replies: skipped a record with no leadId (1 skipped so far)" in result.stderr
    assert "1 skipped without leadId" in result.stderr  # and the summary counts them


def extra_field_tolerated(result: SyncResult, sandbox: Sandbox) -> None:
    assert len(result.records["tuco_replies"]) == len(sandbox.ground_truth()["tuco_replies"])
    assert all("surpriseField" not in r for r in result.records["tuco_replies"])


HTML_PAGE = b"<!DOCTYPE html><html><head><title>502</title></head><body>nginx</body></html>"

BAD_INPUT: dict[str, Case] = {
    "missing api_key": Case("tuco", {"api_key": None}, None,
                            ("tuco.api_key is missing or empty", "TAP_REPLIES_TUCO_API_KEY")),
    "empty api_key": Case("tuco", {"api_key": "   "}, None, ("tuco.api_key is missing or empty",)),
    "api_url not http": Case("tuco", {"api_url": "ftp://app.tuco.ai"}, None,
                             ("tuco.api_url 'ftp://app.tuco.ai' is not an http(s) URL",)),
    "api_url not a URL": Case("leadterra", {"api_url": "app.leadterra.co"}, None,
                              ("leadterra.api_url", "use e.g. https://app.leadterra.co")),
    "unparseable start_date": Case("tuco", {"top": {"start_date": "last tuesday"}}, None,
                                   ("start_date 'last tuesday' is not an ISO 8601",)),
    "campaign_ids not a list": Case("tuco", {"campaign_ids": "abc"}, None,
                                    ("tuco.campaign_ids must be a list of strings",)),
    "smartlead campaign_ids not integers": Case(
        "smartlead", {"campaign_ids": ["first"]}, None,
        ("smartlead.campaign_ids must be a list of integers", "'first' is not one")),
    "unknown campaign (404)": Case(
        "tuco", {"campaign_ids": ["ffffffffffffffffffffffff"]}, None,
        ("Tuco AI GET /api/replies: 404", "Campaign not found", "tuco.campaign_ids")),
    "wrong key (401)": Case("tuco", {"api_key": "tuco_sk_not_the_right_one"}, None,
                            ("Tuco AI GET /api/replies: 401", "check tuco.api_key")),
    "Tuco workspace read-only (402)": Case(
        "tuco", {}, ("/api/replies", Response(402, {"error": "Workspace is read-only",
                                                    "code": "WORKSPACE_READ_ONLY"})),
        ("Tuco AI GET /api/replies: 402", "Workspace is read-only", "reactivate it")),
    "422 from Leadterra": Case(
        "leadterra", {}, ("/v1/sdrs", Response(422, {"error": "Validation failed: limit"})),
        ("Leadterra GET /v1/sdrs: 422", "Validation failed: limit", "check leadterra.")),
    "HTML error page, once (retried)": Case(
        "tuco", {}, ("/api/replies", Response(502, HTML_PAGE, {"Content-Type": "text/html"})),
        (), all_records_kept("tuco_replies", "leadId")),
    "HTML page instead of the API (403)": Case(
        "tuco", {}, ("/api/replies", Response(403, HTML_PAGE, {"Content-Type": "text/html"})),
        ("Tuco AI GET /api/replies: 403", "HTML page", "check tuco.api_key")),
    "invalid JSON, once (retried)": Case(
        "tuco", {}, ("/api/replies", Response(200, b'{"replies": [{"leadId": ')),
        (), all_records_kept("tuco_replies", "leadId")),
    "invalid JSON every time": Case(
        "tuco", {"top": {"max_retries": 2}},
        ("/api/replies", Response(200, b"{'replies': []}")),
        ("Tuco AI GET /api/replies: gave up after 3 attempts (a body that is not JSON)",
         "check tuco.api_url"), times=None),
    "record missing its primary key": Case(
        "tuco", {}, ("/api/replies", first_row(lambda row: row.pop("leadId"))), (),
        skipped_without_key),
    "nulls where the docs show values": Case(
        "tuco", {}, ("/api/replies", first_row(lambda row: row.update(
            message=None, recipientEmail=None, name=None, recentReplies=None))), (),
        record_kept("tuco_replies", "recentReplies", None)),
    "unreadable timestamp": Case(
        "tuco", {}, ("/api/replies", first_row(lambda row: row.update(respondedAtUtc="soon"))),
        (), record_kept("tuco_replies", "respondedAtUtc", "soon", "has no readable")),
    "unknown classification": Case(
        "leadterra", {}, ("/v1/replies", first_row(lambda row: row.update(
            classification="maybe_later"))), (),
        record_kept("leadterra_replies", "classification", "maybe_later",
                    warning="classification 'maybe_later' is not one of Leadterra's")),
    "NUL bytes and emoji in text": Case(
        "tuco", {}, ("/api/replies", first_row(lambda row: row.update(
            message="nul\x00here 🎉 ok"))), (),
        record_kept("tuco_replies", "message", "nul\x00here 🎉 ok")),
    "extra fields": Case(
        "tuco", {}, ("/api/replies", first_row(lambda row: row.update(surpriseField={"a": 1}))),
        (), extra_field_tolerated),
}


@pytest.mark.parametrize("case", list(BAD_INPUT.values()), ids=list(BAD_INPUT))
def test_bad_input(sandbox, caplog, case, fast_tap):
    """Settings and auth problems fail fast, as one line from the real CLI; odd data is kept
    (checked in process, where it is quicker) unless a record has no primary key."""
    block = dict(sandbox.tap_config()[case.provider])
    config: dict[str, t.Any] = {case.provider: block, "max_retries": 3}
    for key, value in case.config.items():
        if key == "top":
            config.update(value)
        elif value is None:
            block.pop(key, None)
        else:
            block[key] = value
    if case.override is not None:
        sandbox.override(case.provider, case.override[0], case.override[1], times=case.times)
    if case.fails_with:
        result = run_cli(config)
        line = last_line(result.stderr)
        assert result.returncode != 0
        assert "| ERROR" in line
        assert "tap-replies: " in line
        for piece in case.fails_with:
            assert piece in line, (piece, line)
        assert "Traceback" not in result.stderr
        assert "?" not in line.split("tap-replies: ", 1)[1].split(" — ")[0]  # no query string
        key = block.get("api_key")
        assert not (isinstance(key, str) and key.strip() and key in result.stderr)
    else:
        assert case.check is not None
        with caplog.at_level(logging.INFO):
            result = run_tap(config, tap_class=fast_tap)
        result.stderr = caplog.text
        case.check(result, sandbox)


def test_connection_refused_is_one_line_with_the_fix():
    with Sandbox(seed=1) as closed:
        url = closed.base_url
    result = run_cli({"smartlead": {"api_key": "sl_refused_key_77", "api_url": url},
                      "max_retries": 2})
    line = last_line(result.stderr)
    assert result.returncode != 0
    assert "Smartlead GET /api/v1/campaigns/: gave up after 3 attempts (connection refused)" in line
    assert "check smartlead.api_url" in line
    assert "sl_refused_key_77" not in result.stderr


BROKEN_CLI = """
from tap_replies.providers.base import ProviderStream
from tap_replies.tap import TapReplies
def broken(self, response):
    raise KeyError("surprise")
ProviderStream.parse_response = broken
TapReplies.cli()
"""


def test_an_unexpected_error_still_names_provider_endpoint_and_what_to_do(sandbox, tmp_path):
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps({"tuco": sandbox.tap_config()["tuco"]}))
    proc = subprocess.run([sys.executable, "-c", BROKEN_CLI, "--config", str(config_path)],
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    line = last_line(proc.stderr)
    assert proc.returncode != 0
    assert "tap-replies: Tuco AI GET /api/replies (tuco_replies): unexpected error KeyError: " \
        "'surprise'" in line
    assert "TAP_REPLIES_LOGLEVEL=DEBUG" in line
    assert "Traceback" not in proc.stderr


# -- 5. secrets -------------------------------------------------------------------------------


def test_no_key_appears_anywhere_at_debug_with_faults(tmp_path):
    keys: list[str] = []
    outputs: list[str] = []
    debug = {"TAP_REPLIES_LOGLEVEL": "DEBUG"}
    with Sandbox(seed=13, scale=1, fault_rate=0.2) as sandbox:
        config = sandbox.tap_config(max_retries=12)
        keys += [block["api_key"] for block in config.values() if isinstance(block, dict)]
        result = run_cli(config, env=debug)
        assert result.returncode == 0, last_line(result.stderr)
        assert "| DEBUG" in result.stderr
        assert "METRIC" in result.stderr
        outputs += [result.stdout, result.stderr, json.dumps(result.states)]
        # Failing paths at DEBUG too: a wrong key, an error body, retries exhausted.
        wrong = "sl_wrong_key_for_redaction_test"
        keys.append(wrong)
        config["smartlead"]["api_key"] = wrong
        failed = run_cli({"smartlead": config["smartlead"]}, env=debug)
        outputs += [failed.stdout, failed.stderr]
        assert failed.returncode != 0
    with Sandbox(seed=1) as closed:
        url = closed.base_url
    refused = run_cli({"smartlead": {"api_key": "sl_key_of_a_closed_port", "api_url": url},
                       "max_retries": 1}, env=debug)
    keys.append("sl_key_of_a_closed_port")
    outputs += [refused.stdout, refused.stderr]
    assert "Traceback" in refused.stderr  # the traceback is there, at DEBUG...
    for key in keys:
        for text in outputs:
            assert key not in text  # ...and no key in it, or anywhere


# -- 6. the writer, the summary, progress -----------------------------------------------------


def test_each_stream_ends_with_a_summary_line(sandbox, caplog):
    with caplog.at_level(logging.INFO):
        run_tap({"tuco": sandbox.tap_config()["tuco"]})
    summaries = [r.getMessage() for r in caplog.records
                 if r.getMessage().startswith("tuco_replies: 300 records,")]
    assert summaries == [
        "tuco_replies: 300 records, 4 requests (0 retried), 0 429s waited out (0.0s), "
        + summaries[0].rsplit(", ", 1)[1]
    ]


def test_records_survive_the_fast_writer_byte_for_byte(sandbox):
    result = run_tap({"leadterra": sandbox.tap_config()["leadterra"]})
    truth = {r["id"]: r for r in sandbox.ground_truth()["leadterra_replies"]}
    for record in result.records["leadterra_replies"]:
        assert record["threadSnippet"] == truth[record["id"]].get("threadSnippet")
