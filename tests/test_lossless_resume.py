"""A resumed run loses nothing that arrived in the second its killed run's window ended.

Every incremental stream writes a checkpoint after each page. The checkpoint of a newest-first
stream names what the killed run emitted; a reply stamped in the window's last second but listed
only after that page was read must not be named in it, or the resumed run skips it and the
bookmark then passes it for good. Each case here kills the real CLI right after its first
checkpoint, adds replies stamped in that second and the next, resumes from the checkpoint and
checks that nothing is missing and that no checkpoint ever named a record it had not emitted.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest

from tap_replies.providers.newest_first import _Window
from tap_replies.registry import PROVIDERS
from tap_replies.sandbox import Sandbox
from tap_replies.tap import TapReplies
from tap_replies.timestamps import parse_timestamp
from tests.syncing import run_tap

REPO = Path(__file__).resolve().parent.parent
UTC = dt.timezone.utc


def catalog_selecting(config: dict[str, t.Any], stream: str) -> dict[str, t.Any]:
    catalog = TapReplies(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if not metadata["breadcrumb"]:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] == stream
    return catalog


def partitions(state: dict[str, t.Any], stream: str) -> list[dict[str, t.Any]]:
    stream_state = state.get("bookmarks", {}).get(stream) or {}
    return list(stream_state.get("partitions") or [stream_state])


def run_until_first_checkpoint(tmp_path: Path, config: dict[str, t.Any], stream: str
                               ) -> list[dict[str, t.Any]]:
    """The real CLI, SIGKILLed as soon as it wrote a STATE holding a resume checkpoint."""
    config_path, catalog_path = tmp_path / "config.json", tmp_path / "catalog.json"
    config_path.write_text(json.dumps(config))
    catalog_path.write_text(json.dumps(catalog_selecting(config, stream)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tap_replies", "--config", str(config_path),
         "--catalog", str(catalog_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    messages: list[dict[str, t.Any]] = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if not line.startswith("{"):
                continue
            messages.append(json.loads(line))
            if messages[-1]["type"] == "STATE" and any(
                    "resume" in p for p in partitions(messages[-1]["value"], stream)):
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert messages, "no output"
    assert messages[-1]["type"] == "STATE", "no checkpoint before the end"
    return messages


def checkpoint(messages: list[dict[str, t.Any]], stream: str) -> dict[str, t.Any]:
    (note,) = [p["resume"] for p in partitions(messages[-1]["value"], stream) if "resume" in p]
    return t.cast("dict[str, t.Any]", note)


def window_end_second(note: dict[str, t.Any]) -> dt.datetime:
    """The second the killed run's window ended in: the latest instant its checkpoint names."""
    instants = [parse_timestamp(pair[1]) for pair in note.get("emitted", [])]
    instants += [parse_timestamp(edge[0]) for edge in note.get("edges", [])]
    latest = max(i for i in instants if i is not None)
    return dt.datetime.fromtimestamp(math.ceil(latest.timestamp()), UTC)


def wait_until(moment: dt.datetime) -> None:
    """Until the wall clock has passed `moment`: the resumed run's window must hold it."""
    time.sleep(max(0.0, moment.timestamp() - time.time() + 0.05))


def claimed_but_not_emitted(note: dict[str, t.Any], rows: list[dict[str, t.Any]],
                            emitted: set[tuple[t.Any, ...]], replication_key: str,
                            pk: tuple[str, ...]) -> list[tuple[t.Any, ...]]:
    """Records the checkpoint says a resumed run may skip that the killed run never emitted."""
    window = _Window(None, dt.datetime.now(UTC), note)
    wrong = []
    for row in rows:
        key = tuple(row[k] for k in pk)
        ts = parse_timestamp(row[replication_key])
        if ts is not None and window.skip(ts, key) and key not in emitted:
            wrong.append(key)
    return wrong


class Case(t.NamedTuple):
    provider: str
    stream: str
    replication_key: str
    pk: tuple[str, ...]

    def add_reply_at(self, sandbox: Sandbox, at: dt.datetime) -> None:
        sandbox.providers[self.provider].add_reply(at)


# The real CLI reads the registry's providers only: the tests' fourth is not among them.
CASES = [Case(name, provider.replies.name, t.cast("str", provider.replies.replication_key),
              tuple(provider.replies.primary_keys or ())) for name, provider in PROVIDERS.items()]


@pytest.mark.parametrize("case", CASES, ids=[c.stream for c in CASES])
def test_replies_stamped_in_the_checkpoints_last_second_survive_a_kill(sandbox, tmp_path, case):
    config = {case.provider: sandbox.tap_config()[case.provider]}
    killed = run_until_first_checkpoint(tmp_path, config, case.stream)
    emitted = {tuple(m["record"][k] for k in case.pk) for m in killed if m["type"] == "RECORD"}
    note = checkpoint(killed, case.stream)
    second = window_end_second(note)
    for at in (second, second, second + dt.timedelta(seconds=1)):
        case.add_reply_at(sandbox, at)
    truth = sandbox.ground_truth()[case.stream]

    assert not claimed_but_not_emitted(note, truth, emitted, case.replication_key, case.pk)
    wait_until(second + dt.timedelta(seconds=1))
    resumed = run_tap(config, state=killed[-1]["value"],
                      catalog=catalog_selecting(config, case.stream))
    again = {tuple(r[k] for k in case.pk) for r in resumed.records[case.stream]}
    missing = {tuple(r[k] for k in case.pk) for r in truth} - emitted - again
    assert not missing, f"{len(missing)} lost, stamped {second:%H:%M:%S} or the second after"


def test_lead_changes_in_the_checkpoints_second_reach_the_next_sync(sandbox, tmp_path):
    """smartlead_campaign_leads checkpoints an offset, not a time range, and its bookmark is the
    read's start less five minutes: a lead changed in that second, or the next, on a page the
    killed run had already read is emitted by the resumed run or the sync after it."""
    stream, pk = "smartlead_campaign_leads", ("campaign_id", "id")
    config = {"smartlead": sandbox.tap_config()["smartlead"]}
    killed = run_until_first_checkpoint(tmp_path, config, stream)
    (part,) = [p for p in partitions(killed[-1]["value"], stream) if "resume" in p]
    started = parse_timestamp(part["resume"]["sync_started_at"])
    assert started is not None
    campaign_id = part["context"]["campaign_id"]
    emulator = t.cast("t.Any", sandbox.providers["smartlead"])
    already_read = [lead["id"] for lead in emulator.leads[campaign_id][:2]]
    for lead_id, at in zip(already_read, (started, started + dt.timedelta(seconds=1)),
                           strict=True):
        emulator.touch_lead(campaign_id, lead_id, at)
    wait_until(started + dt.timedelta(seconds=1))
    catalog = catalog_selecting(config, stream)
    resumed = run_tap(config, state=killed[-1]["value"], catalog=catalog)
    following = run_tap(config, state=resumed.final_state, catalog=catalog)

    truth = {tuple(r[k] for k in pk): r for r in sandbox.ground_truth()[stream]}
    seen: dict[tuple[t.Any, ...], list[dict[str, t.Any]]] = {}
    for run in ([m["record"] for m in killed if m["type"] == "RECORD"],
                resumed.records[stream], following.records[stream]):
        for record in run:
            seen.setdefault(tuple(record[k] for k in pk), []).append(record)
    assert set(truth) <= set(seen)
    for lead_id in already_read:
        latest = truth[(campaign_id, lead_id)]
        assert seen[(campaign_id, lead_id)][-1]["category_id"] == latest["category_id"]


def test_a_checkpoint_names_the_replies_of_its_last_second_by_id_only():
    upper = dt.datetime(2025, 6, 1, tzinfo=UTC)
    window = _Window(None, upper, {})
    for key, at in (("a", upper), ("b", upper - dt.timedelta(hours=1))):
        window.see(at, key=(key,))
        window.emitted(at)
    window.page_done()
    resumed = _Window(None, upper + dt.timedelta(days=1), window.resume_note())
    assert resumed.skip(upper, ("a",))
    assert not resumed.skip(upper, ("late",))  # stamped in that second, listed after the page
    assert resumed.skip(upper - dt.timedelta(microseconds=1), ("anything",))
