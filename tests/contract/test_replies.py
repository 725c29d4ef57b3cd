"""What every provider's replies must do, written once and run for each provider of the registry
(and for the tests' own fourth, tests/contract/instantly.py). A provider's own test file keeps
only its quirks."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import typing as t

from tap_replies.registry import Provider
from tap_replies.sandbox import Sandbox
from tap_replies.sandbox.core import iso
from tap_replies.tap import TapReplies
from tap_replies.timestamps import parse_timestamp
from tests.contract.instantly import REGISTRY
from tests.syncing import SyncResult, run_tap

TOMORROW = iso(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1))
Row = dict[str, t.Any]


# -- what a test reads of a provider -----------------------------------------------------------


def config_for(sandbox: Sandbox, provider: Provider, **settings: t.Any) -> dict[str, t.Any]:
    """The provider's block alone: every test reads one provider."""
    return {provider.name: sandbox.tap_config()[provider.name], **settings}


def key_of(provider: Provider, row: Row) -> tuple[t.Any, ...]:
    return tuple(row[k] for k in provider.replies.primary_keys or ())


def reply_time(provider: Provider, row: Row) -> dt.datetime:
    stamp = parse_timestamp(row[t.cast("str", provider.replies.replication_key)])
    assert stamp is not None, row
    return stamp


def emitted_replies(provider: Provider, result: SyncResult) -> dict[tuple[t.Any, ...], Row]:
    rows = result.records.get(provider.replies.name, [])
    by_key = {key_of(provider, row): row for row in rows}
    assert len(by_key) == len(rows), "a reply emitted twice"
    return by_key


def true_replies(sandbox: Sandbox, provider: Provider) -> list[Row]:
    return sandbox.providers[provider.name].ground_truth()[provider.replies.name]


def partitions(state: dict[str, t.Any], stream: str) -> list[dict[str, t.Any]]:
    stream_state = state.get("bookmarks", {}).get(stream) or {}
    return list(stream_state.get("partitions") or [stream_state])


def bookmarks(state: dict[str, t.Any], stream: str) -> list[str]:
    return [p["replication_key_value"] for p in partitions(state, stream)
            if "replication_key_value" in p]


def reply_requests(sandbox: Sandbox, provider: Provider) -> list[t.Any]:
    return sandbox.requests_for(provider.name, t.cast("str", provider.replies.path))


# -- the contract -------------------------------------------------------------------------------


def test_a_full_sync_emits_exactly_the_ground_truth_of_every_stream(
        sandbox: Sandbox, provider: Provider, contract_tap: type[TapReplies]) -> None:
    result = run_tap(config_for(sandbox, provider), tap_class=contract_tap)
    emulator = sandbox.providers[provider.name]
    truth, keys = emulator.ground_truth(), emulator.primary_keys()

    assert set(result.records) == set(truth)
    for stream, rows in truth.items():
        emitted = {tuple(r[k] for k in keys[stream]): r for r in result.records[stream]}
        assert len(emitted) == len(result.records[stream]), f"{stream}: duplicates"
        assert emitted == {tuple(r[k] for k in keys[stream]): r for r in rows}, stream


def test_a_reply_at_the_bookmark_instant_is_not_lost(
        sandbox: Sandbox, provider: Provider, contract_tap: type[TapReplies]) -> None:
    config, stream = config_for(sandbox, provider), provider.replies.name
    first = run_tap(config, tap_class=contract_tap)
    (bookmark,) = bookmarks(first.final_state, stream)
    at = parse_timestamp(bookmark)
    assert at is not None
    # Same second as the bookmark, but not yet listed when the first sync read it.
    late = sandbox.providers[provider.name].add_reply(at)

    second = run_tap(config, state=first.final_state, tap_class=contract_tap)
    emitted = emitted_replies(provider, second)
    assert late in emitted
    assert all(reply_time(provider, row) >= at for row in emitted.values())
    assert [parse_timestamp(b) for b in bookmarks(second.final_state, stream)] == [at]


def test_the_first_sync_starts_at_start_date(
        sandbox: Sandbox, provider: Provider, contract_tap: type[TapReplies]) -> None:
    truth = true_replies(sandbox, provider)
    stamps = sorted(reply_time(provider, row) for row in truth)
    start = stamps[len(stamps) // 2].replace(microsecond=0)
    result = run_tap(config_for(sandbox, provider, start_date=iso(start)),
                     tap_class=contract_tap)

    expected = {key_of(provider, row) for row in truth if reply_time(provider, row) >= start}
    assert 0 < len(expected) < len(truth)
    assert set(emitted_replies(provider, result)) == expected


def test_a_start_date_in_the_future_sends_no_request_and_warns_once(
        sandbox: Sandbox, provider: Provider, contract_tap: type[TapReplies]) -> None:
    with captured_logs(logging.INFO) as logs:
        result = run_tap(config_for(sandbox, provider, start_date=TOMORROW),
                         tap_class=contract_tap)
    stream = provider.replies.name

    assert emitted_replies(provider, result) == {}
    assert reply_requests(sandbox, provider) == []
    warnings = [line for line in logs.getvalue().splitlines()
                if line.startswith(f"{stream}:") and "after now" in line]
    assert len(warnings) == 1
    assert TOMORROW in warnings[0]


def test_the_api_key_is_never_printed_even_at_debug_through_faults(
        provider: Provider, contract_tap: type[TapReplies]) -> None:
    """Every stream, with faults drawn at random on top of three certain ones, on the fake clock."""
    with captured_logs(logging.DEBUG) as logs, Sandbox(
            seed=11, scale=1, fault_rate=0.3, registry=REGISTRY) as faulty:
        for fault in ("500", "429", "reset"):  # whatever the draw, each at least once
            faulty.override(provider.name, t.cast("str", provider.replies.path), fault)
        result = run_tap(config_for(faulty, provider, max_retries=20), tap_class=contract_tap)
        faults = [r for r in faulty.requests_for(provider.name) if r.status != 200]
        streams = set(faulty.providers[provider.name].ground_truth())

    assert len(faults) >= 3
    assert "retry" in logs.getvalue()
    assert all(result.records.get(stream) for stream in streams)
    key = provider.emulator.api_key
    for output in (logs.getvalue(), result.stdout, result.stderr, json.dumps(result.states)):
        assert key not in output


def test_a_checkpoint_follows_every_page_of_replies(
        sandbox: Sandbox, provider: Provider, contract_tap: type[TapReplies]) -> None:
    result = run_tap(config_for(sandbox, provider), tap_class=contract_tap)
    stream = provider.replies.name
    pages = len(reply_requests(sandbox, provider))
    checkpoints = [state for state in result.states
                   if any("resume" in p for p in partitions(state, stream))]

    assert pages >= 1
    assert len(checkpoints) == pages
    # The last one is the finished window: its bookmark, and no note left to resume from.
    assert not any("resume" in p for p in partitions(result.final_state, stream))
    assert bookmarks(result.final_state, stream)


@contextlib.contextmanager
def captured_logs(level: int) -> t.Iterator[io.StringIO]:
    """Every log line written inside, at `level` and above, as text."""
    buffer, root = io.StringIO(), logging.getLogger()
    handler, before = logging.StreamHandler(buffer), root.level
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(before)
