"""Leadterra's unpaged reply list is decoded one reply at a time, so its length sets no memory.

A body larger than IN_MEMORY_BYTES is spooled to a temporary file inside the retried request (a
body cut short is retried as before) and then decoded incrementally with ijson. Every documented
shape still reads in full; an unknown one still stops the stream.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import typing as t
from pathlib import Path

import pytest
import requests

from tap_replies.http.shapes import (
    IN_MEMORY_BYTES,
    ListShape,
    SpooledBody,
    StreamedList,
    UnexpectedShape,
    decode,
)
from tap_replies.sandbox import Sandbox
from tap_replies.sandbox.core import Response
from tests.syncing import run_tap, run_tap_cli

REPO = Path(__file__).resolve().parent.parent
STREAM = "leadterra_replies"
REPLIES_SHAPE = ListShape(bare=True, keys=("replies", "data"), beside={"replies": ("pagination",)})


@pytest.fixture
def big_list() -> t.Iterator[Sandbox]:
    """Only Leadterra, with 10,000 replies: a body over twice IN_MEMORY_BYTES."""
    with Sandbox(seed=7, scale=40, only={"leadterra"}) as server:
        yield server


def emulator(sandbox: Sandbox) -> t.Any:
    return sandbox.providers["leadterra"]


def body_bytes(sandbox: Sandbox) -> int:
    return len(json.dumps(sandbox.ground_truth()[STREAM], ensure_ascii=False).encode())


def ids(records: t.Iterable[dict[str, t.Any]]) -> list[str]:
    return sorted(r["id"] for r in records)


@pytest.mark.parametrize(("shape", "per_page", "pages"),
                         [("array", None, 1), ("data", None, 1), ("paginated", 5000, 2)])
def test_each_shape_of_a_long_list_is_read_in_full(big_list, shape, per_page, pages):
    assert body_bytes(big_list) > 2 * IN_MEMORY_BYTES
    emulator(big_list).replies_shape = shape
    if per_page:
        emulator(big_list).per_page_default = per_page  # pages over IN_MEMORY_BYTES too
    result = run_tap({"leadterra": big_list.tap_config()["leadterra"]})
    assert ids(result.records[STREAM]) == ids(big_list.ground_truth()[STREAM])
    assert len(big_list.requests_for("leadterra", "/v1/replies")) == pages


def test_a_long_list_cut_short_is_asked_again_and_read_once(big_list):
    cut = int(body_bytes(big_list) * 0.6)
    big_list.override("leadterra", "/v1/replies", lambda body: Response(200, body, cut_after=cut))
    result = run_tap({"leadterra": big_list.tap_config()["leadterra"]})
    assert ids(result.records[STREAM]) == ids(big_list.ground_truth()[STREAM])  # no repeats
    assert len(big_list.requests_for("leadterra", "/v1/replies")) == 2


@pytest.mark.parametrize(("rewrite", "came"), [
    (lambda body: {"items": body}, "got an object with keys 'items'"),
    (lambda body: [*body[:3000], "x", *body[3000:]], "got an array holding a string at position "
                                                     "3000"),
])
def test_a_long_list_of_an_unknown_shape_stops_the_stream(big_list, rewrite, came):
    big_list.override("leadterra", "/v1/replies", rewrite)
    result = run_tap_cli({"leadterra": big_list.tap_config()["leadterra"]})
    line = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1
    assert "Leadterra GET /v1/replies: expected a JSON array, or an object with a 'replies' or " \
           "'data' array, " + came in line
    assert "Traceback" not in result.stderr
    stream_state = result.final_state.get("bookmarks", {}).get(STREAM) or {}
    assert "replication_key_value" not in stream_state
    assert "resume" not in stream_state


def peak_rss_mb(config: dict[str, t.Any]) -> float:
    """The tap's own peak RSS, from the kernel (benchmarks/measure.py spawns and waits on it)."""
    with tempfile.TemporaryDirectory() as tmp:
        config_path, usage = Path(tmp, "config.json"), Path(tmp, "usage.json")
        config_path.write_text(json.dumps(config))
        subprocess.run(
            [sys.executable, "-S", str(REPO / "benchmarks" / "measure.py"), str(usage),
             sys.executable, "-m", "tap_replies", "--config", str(config_path)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
        return float(json.loads(usage.read_text())["maxrss_kb"]) / 1024


def test_peak_memory_does_not_grow_with_the_length_of_the_list():
    """5x the replies (about 7.5k, then 37.5k): read whole, this cost ~0.9 KB per reply."""
    peaks = []
    for scale in (30, 150):
        with Sandbox(seed=7, scale=scale, only={"leadterra"}) as server:
            peaks.append(peak_rss_mb({"leadterra": server.tap_config()["leadterra"]}))
    assert peaks[1] - peaks[0] < 3.0, peaks


def spooled(data: bytes) -> SpooledBody:
    response = requests.Response()
    response.raw = io.BytesIO(data)
    return SpooledBody(response)


def test_a_lone_surrogate_escape_decodes_as_json_does():
    rows = [{"id": f"r{n}", "threadSnippet": "x" * 300} for n in range(4000)]
    rows[5]["threadSnippet"] = "\ud800 lone, then a pair \U0001f600"
    data = json.dumps(rows).encode()  # ASCII only: every non-ASCII character escaped
    assert len(data) > IN_MEMORY_BYTES
    decoded = decode(REPLIES_SHAPE, spooled(data))
    assert isinstance(decoded, StreamedList)
    assert list(decoded) == json.loads(data)


def test_the_pagination_after_a_streamed_list_is_read_for_the_paginator():
    rows = [{"id": f"r{n}", "threadSnippet": "x" * 300} for n in range(4000)]
    page = {"replies": rows, "pagination": {"total": 9000, "page": 1, "perPage": 4000}}
    decoded = decode(REPLIES_SHAPE, spooled(json.dumps(page).encode()))
    assert isinstance(decoded, StreamedList)
    assert sum(1 for _ in decoded) == 4000
    assert decoded.meta["pagination"] == page["pagination"]


def test_a_streamed_body_of_an_unknown_shape_is_refused_before_any_record():
    data = json.dumps({"results": [{"id": "r"}] * 100_000}).encode()
    with pytest.raises(UnexpectedShape, match="got an object with keys 'results'"):
        decode(REPLIES_SHAPE, spooled(data))
