"""A response of a shape the docs do not allow stops its stream; every documented shape is read.

Read as an empty or short page, an unexpected shape once ended a stream quietly with exit 0 and
the bookmark past replies never read. Now it is one line naming the provider, the endpoint, what
was expected and what came, a non-zero exit, and no bookmark moved.
"""

from __future__ import annotations

import typing as t

import pytest

from tap_replies.failures import UNEXPECTED_EXIT_CODE
from tap_replies.http.shapes import ListShape, UnexpectedShape
from tap_replies.sandbox.core import Response
from tests.syncing import SyncResult, run_tap_cli

INBOX = "smartlead_inbox_replies"


def last_line(result: SyncResult) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def assert_one_line_failure(result: SyncResult, *pieces: str) -> None:
    line = last_line(result)
    assert result.returncode == UNEXPECTED_EXIT_CODE, result.stderr[-2000:]
    assert "| ERROR" in line
    assert "tap-replies: " in line
    for piece in pieces:
        assert piece in line, (piece, line)
    assert "Traceback" not in result.stderr
    assert sum("| ERROR" in row for row in result.stderr.splitlines()) == 1


def bookmarks(result: SyncResult, stream: str) -> dict[str, t.Any]:
    return t.cast("dict[str, t.Any]", result.final_state.get("bookmarks", {}).get(stream) or {})


def passed_through(body: t.Any) -> t.Any:
    return body


def test_a_bare_list_from_the_inbox_stops_the_stream_before_its_bookmark_moves(sandbox):
    """The inbox's second page answers with the messages as a bare list (no total_count)."""
    sandbox.override("smartlead", "/master-inbox/", passed_through)
    sandbox.override("smartlead", "/master-inbox/", lambda body: body["messages"])
    result = run_tap_cli({"smartlead": sandbox.tap_config()["smartlead"]})

    assert_one_line_failure(
        result, "Smartlead POST /api/v1/master-inbox/inbox-replies: expected an object with a "
        "'messages' array, got an array of 20 items", "no bookmark moved")
    assert "replication_key_value" not in bookmarks(result, INBOX)
    # What the first page emitted is checkpointed, and only that.
    assert len(result.records[INBOX]) == 20
    assert bookmarks(result, INBOX)["resume"]["emitted"]


def test_a_wrapped_list_where_a_bare_one_is_documented_stops_the_stream(sandbox):
    sandbox.override("smartlead", "/api/v1/campaigns/", lambda body: {"campaigns": body})
    result = run_tap_cli({"smartlead": sandbox.tap_config()["smartlead"]})
    assert_one_line_failure(result, "Smartlead GET /api/v1/campaigns/: expected a JSON array, "
                                    "got an object with keys 'campaigns'",
                            "check smartlead.api_url")
    assert result.records["smartlead_campaigns"] == []


@pytest.mark.parametrize(("provider", "path", "stream", "expected"), [
    ("tuco", "/api/replies", "tuco_replies",
     "Tuco AI GET /api/replies: expected an object with a 'replies' array, got null"),
    ("leadterra", "/v1/replies", "leadterra_replies",
     "Leadterra GET /v1/replies: expected a JSON array, or an object with a 'replies' or 'data' "
     "array, got null"),
    ("leadterra", "/v1/sdrs", "leadterra_sdrs",
     "Leadterra GET /v1/sdrs: expected an object with a 'data' array, got null"),
])
def test_a_json_null_body_is_not_read_as_an_empty_page(sandbox, provider, path, stream,
                                                       expected):
    sandbox.override(provider, path, Response(200, None))
    result = run_tap_cli({provider: sandbox.tap_config()[provider]})
    assert_one_line_failure(result, expected)
    assert result.records[stream] == []
    assert "replication_key_value" not in bookmarks(result, stream)


def test_an_unknown_key_in_a_tuco_page_after_the_first_keeps_the_bookmark(sandbox):
    """A bookmark from an earlier sync stays where it was when a later page is unrecognised."""
    config = {"tuco": sandbox.tap_config()["tuco"]}
    first = run_tap_cli(config)
    assert first.returncode == 0
    before = bookmarks(first, "tuco_replies")["replication_key_value"]
    sandbox.add_activity(150)  # more than a page of new replies
    sandbox.override("tuco", "/api/replies", passed_through)
    sandbox.override("tuco", "/api/replies", lambda body: {"items": body["replies"]})
    second = run_tap_cli(config, state=first.final_state)
    assert_one_line_failure(second, "got an object with keys 'items'")
    assert bookmarks(second, "tuco_replies")["replication_key_value"] == before


@pytest.mark.parametrize(("shape", "body", "came"), [
    (ListShape(bare=True), {"data": [{"id": 1}]}, "an object with keys 'data'"),
    (ListShape(keys=("messages",)), [{"id": 1}], "an array of 1 item"),
    (ListShape(keys=("messages",)), {"messages": None}, "an object whose 'messages' is null"),
    (ListShape(keys=("messages",)), {"messages": {"id": 1}},
     "an object whose 'messages' is an object with keys 'id'"),
    (ListShape(bare=True), [{"id": 1}, "x"], "an array holding a string at position 1"),
    (ListShape(bare=True), [None], "an array holding null at position 0"),
    (ListShape(bare=True, keys=("data",)), "ok", "a string"),
    (ListShape(bare=True, keys=("data",)), {}, "an empty object"),
])
def test_what_came_is_named_in_a_few_words(shape, body, came):
    with pytest.raises(UnexpectedShape) as caught:
        shape.records_in(body)
    assert caught.value.came == came


@pytest.mark.parametrize(("shape", "body"), [
    (ListShape(bare=True), []),
    (ListShape(bare=True, keys=("data",)), {"data": [{"id": 1}]}),
    (ListShape(bare=True, keys=("replies", "data")), {"replies": [{"id": 1}], "pagination": {}}),
    (ListShape(keys=("messages",)), {"messages": [], "total_count": 0}),
])
def test_every_documented_shape_is_read(shape, body):
    assert shape.records_in(body) == (body if isinstance(body, list) else
                                      next(v for v in body.values() if isinstance(v, list)))
