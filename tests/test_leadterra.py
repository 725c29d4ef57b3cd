"""Leadterra against the sandbox: replies (shapes, bookmarks, partitions, errors), SDRs, due
follow-ups, and the emulator's documented bounds."""

from __future__ import annotations

import logging
import typing as t

import pytest
import requests

from tap_replies.sandbox.core import iso, now_utc
from tap_replies.sandbox.leadterra import (
    FOLLOWUP_LIMIT_MAX,
    NEW_LABEL,
    LeadterraEmulator,
)
from tests.syncing import SyncResult, run_tap, run_tap_cli

REPLIES = "leadterra_replies"
SDRS = "leadterra_sdrs"
FOLLOWUPS = "leadterra_followups"


def leadterra(sandbox) -> LeadterraEmulator:
    emulator = sandbox.providers["leadterra"]
    assert isinstance(emulator, LeadterraEmulator)
    return emulator


def config(sandbox, *, start_date: str | None = None, **block: t.Any) -> dict[str, t.Any]:
    """Only the Leadterra block, so a sync touches nothing else."""
    settings: dict[str, t.Any] = {"leadterra": {**sandbox.tap_config()["leadterra"], **block}}
    if start_date is not None:
        settings["start_date"] = start_date
    return settings


def by_id(records: t.Iterable[dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    return {r["id"]: r for r in records}


def bookmark(state: dict[str, t.Any]) -> str:
    return t.cast("str", state["bookmarks"][REPLIES]["replication_key_value"])


def partition_bookmarks(state: dict[str, t.Any]) -> dict[str, str | None]:
    return {
        p["context"]["campaign_id"]: p.get("replication_key_value")
        for p in state["bookmarks"][REPLIES]["partitions"]
    }


def replies_requests(sandbox) -> list[t.Any]:
    return sandbox.requests_for("leadterra", "/v1/replies")


def error_lines(result: SyncResult, marker: str) -> list[str]:
    return [line for line in result.stderr.splitlines() if marker in line]


# -- full syncs ---------------------------------------------------------------------------


# Every stream's full sync against the ground truth, the key never printed, the bookmark instant,
# start_date, a future start, a checkpoint per page: tests/contract/, as for every provider.


@pytest.mark.parametrize("shape", ["array", "data", "paginated"])
def test_each_response_shape_of_replies_is_read_in_full(sandbox, shape):
    emulator = leadterra(sandbox)
    emulator.replies_shape = shape
    result = run_tap(config(sandbox))
    assert by_id(result.records[REPLIES]) == by_id(emulator.ground_truth()[REPLIES])
    pages = replies_requests(sandbox)
    if shape == "paginated":
        total = len(emulator.ground_truth()[REPLIES])
        assert len(pages) == -(-total // emulator.per_page_default) > 1
        later_pages = [r.query.get("page") for r in pages[1:]]
        assert later_pages == [[str(n)] for n in range(2, len(pages) + 1)]
    else:
        assert len(pages) == 1


def test_a_campaign_of_exactly_one_page_is_one_request(sandbox):
    emulator = leadterra(sandbox)
    emulator.replies_shape = "paginated"
    campaign = emulator.full_page_campaign_id
    result = run_tap(config(sandbox, campaign_ids=[campaign]))
    assert len(result.records[REPLIES]) == emulator.per_page_default
    assert by_id(result.records[REPLIES]) == by_id(emulator.replies_of(campaign))
    assert len(replies_requests(sandbox)) == 1


def test_an_unknown_classification_label_is_kept(sandbox):
    emulator = leadterra(sandbox)
    (added,) = emulator.add_reply(now_utc(), classification="positive_reply_v2")
    result = run_tap(config(sandbox))
    labels = {r["id"]: r["classification"] for r in result.records[REPLIES]}
    assert labels[added] == "positive_reply_v2"
    assert NEW_LABEL in labels.values()


def test_followups_ask_for_the_most_the_endpoint_gives_and_keep_extra_fields(sandbox):
    result = run_tap(config(sandbox))
    (request,) = sandbox.requests_for("leadterra", "/v1/sdr/followups/due")
    assert request.query["limit"] == [str(FOLLOWUP_LIMIT_MAX)]
    followups = result.records[FOLLOWUPS]
    assert followups
    fields = {"id", "threadId", "sdrId", "status", "dueAt", "replyId", "step"}
    assert all(fields <= set(f) for f in followups)


def test_a_full_due_list_is_read_and_flagged_as_possibly_cut(sandbox, caplog):
    emulator = leadterra(sandbox)
    for _ in range(FOLLOWUP_LIMIT_MAX - len(emulator.followups) + 1):
        emulator.add_activity(1)  # one more due each time; past the cap the oldest is completed
    assert len(emulator.followups) == FOLLOWUP_LIMIT_MAX
    with caplog.at_level(logging.WARNING):
        result = run_tap(config(sandbox))
    assert by_id(result.records[FOLLOWUPS]) == by_id(emulator.ground_truth()[FOLLOWUPS])
    assert "the most this endpoint returns" in caplog.text


def test_only_the_read_endpoints_are_called(sandbox):
    run_tap(config(sandbox, campaign_ids=[leadterra(sandbox).campaign_ids[0]]))
    calls = {(r.method, r.path) for r in sandbox.requests_for("leadterra")}
    assert calls == {("GET", "/v1/replies"), ("GET", "/v1/sdrs"), ("GET", "/v1/sdr/followups/due")}


# -- incremental --------------------------------------------------------------------------


def test_incremental_sync_emits_new_replies_and_of_the_old_only_bookmark_ties(sandbox):
    emulator = leadterra(sandbox)
    first = run_tap(config(sandbox))
    old = by_id(first.records[REPLIES])
    previous_bookmark = bookmark(first.final_state)
    emulator.add_activity(5)

    second = run_tap(config(sandbox), state=first.final_state)
    emitted = by_id(second.records[REPLIES])
    new_ids = set(by_id(emulator.ground_truth()[REPLIES])) - set(old)
    assert len(new_ids) == 5
    assert new_ids <= set(emitted)
    assert all(emitted[i]["receivedAt"] == previous_bookmark for i in set(emitted) & set(old))
    assert bookmark(second.final_state) == max(emitted[i]["receivedAt"] for i in new_ids)


def test_the_bookmark_second_holds_several_replies_and_the_next_sync_emits_them_again(sandbox):
    """The seed puts several replies in the newest second, so the contract's reply at the
    bookmark instant (tests/contract/) joins a tie that straddles the bookmark."""
    first = run_tap(config(sandbox))
    previous_bookmark = bookmark(first.final_state)
    at_bookmark = {r["id"] for r in first.records[REPLIES] if r["receivedAt"] == previous_bookmark}
    assert len(at_bookmark) >= 2

    second = run_tap(config(sandbox), state=first.final_state)
    assert set(by_id(second.records[REPLIES])) == at_bookmark
    assert bookmark(second.final_state) == previous_bookmark


def test_ties_across_a_page_boundary_at_the_bookmark_are_all_read(sandbox):
    emulator = leadterra(sandbox)
    emulator.replies_shape = "paginated"
    newest_first = emulator.ground_truth()[REPLIES]
    per_page = emulator.per_page_default
    tie = newest_first[per_page]["receivedAt"]
    assert newest_first[per_page - 1]["receivedAt"] == tie  # the seed straddles page 1 / page 2
    state = {"bookmarks": {REPLIES: {"replication_key": "receivedAt",
                                     "replication_key_value": tie}}}

    result = run_tap(config(sandbox), state=state)
    expected = {r["id"] for r in newest_first if r["receivedAt"] >= tie}
    assert set(by_id(result.records[REPLIES])) == expected
    # Page 2 ends below the bookmark, so the rest of the list is older still and is not asked for.
    assert len(replies_requests(sandbox)) == 2


def test_an_incremental_sync_of_the_paginated_shape_stops_below_the_bookmark(sandbox):
    emulator = leadterra(sandbox)
    emulator.replies_shape = "paginated"
    first = run_tap(config(sandbox))
    emulator.add_activity(3)
    sandbox.clear_log()
    second = run_tap(config(sandbox), state=first.final_state)
    assert len(replies_requests(sandbox)) == 1
    new_ids = set(by_id(emulator.ground_truth()[REPLIES])) - set(by_id(first.records[REPLIES]))
    assert new_ids <= set(by_id(second.records[REPLIES]))


# -- campaigns ----------------------------------------------------------------------------


def test_each_campaign_is_a_partition_with_its_own_bookmark(sandbox):
    emulator = leadterra(sandbox)
    first_campaign, second_campaign = emulator.campaign_ids[:2]
    campaigns = [first_campaign, second_campaign, emulator.empty_campaign_id]
    first = run_tap(config(sandbox, campaign_ids=campaigns))

    expected = emulator.replies_of(first_campaign) + emulator.replies_of(second_campaign)
    assert by_id(first.records[REPLIES]) == by_id(expected)
    assert {r.query["campaignId"][0] for r in replies_requests(sandbox)} == set(campaigns)
    bookmarks = partition_bookmarks(first.final_state)
    assert bookmarks == {
        first_campaign: emulator.replies_of(first_campaign)[0]["receivedAt"],
        second_campaign: emulator.replies_of(second_campaign)[0]["receivedAt"],
        emulator.empty_campaign_id: None,
    }

    at = now_utc()
    (late,) = emulator.add_reply(at, campaign_id=first_campaign)
    second = run_tap(config(sandbox, campaign_ids=campaigns), state=first.final_state)
    emitted = by_id(second.records[REPLIES])
    assert late in emitted
    assert all(r["campaignId"] == first_campaign or r["receivedAt"] == bookmarks[r["campaignId"]]
               for r in emitted.values())
    after = partition_bookmarks(second.final_state)
    assert after[first_campaign] == iso(at)
    assert after[second_campaign] == bookmarks[second_campaign]


@pytest.mark.parametrize(
    ("campaign", "status"),
    [("camp_not_in_this_workspace", "404"), ("campaign-42!", "400")],
)
def test_a_bad_campaign_id_is_one_line_naming_it(sandbox, campaign, status):
    result = run_tap_cli(config(sandbox, campaign_ids=[campaign]))
    assert result.returncode != 0
    lines = error_lines(result, "fix leadterra.campaign_ids")
    assert len(lines) == 1
    assert f"'{campaign}'" in lines[0]
    assert f": {status} " in lines[0]
    assert leadterra(sandbox).api_key not in result.stderr + result.stdout


# -- the emulator's documented bounds ------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "status", "count"),
    [(None, 200, 50), ("1", 200, 1), ("200", 200, "all"), ("0", 422, None), ("201", 422, None),
     ("ten", 400, None)],
)
def test_the_due_followups_limit_is_bounded_as_documented(sandbox, limit, status, count):
    emulator = leadterra(sandbox)
    response = requests.get(
        f"{sandbox.base_url}/v1/sdr/followups/due",
        params={} if limit is None else {"limit": limit},
        headers={"Authorization": f"Bearer {emulator.api_key}"},
        timeout=10,
    )
    assert response.status_code == status
    body = response.json()
    if count is None:
        assert set(body) == {"error"}
    else:
        assert len(body["data"]) == (len(emulator.followups) if count == "all" else count)


def test_the_sandbox_rejects_a_wrong_key(sandbox):
    response = requests.get(f"{sandbox.base_url}/v1/sdrs",
                            headers={"Authorization": "Bearer sk_live_wrong"}, timeout=10)
    assert response.status_code == 401
    assert "error" in response.json()


@pytest.mark.parametrize(
    ("params", "status"),
    [({"page": "2", "perPage": "10"}, 200), ({"perPage": "201"}, 400), ({"page": "0"}, 400),
     ({"page": "x"}, 400)],
)
def test_the_paginated_shape_honours_page_and_per_page(sandbox, params, status):
    emulator = leadterra(sandbox)
    emulator.replies_shape = "paginated"
    response = requests.get(f"{sandbox.base_url}/v1/replies", params=params,
                            headers={"Authorization": f"Bearer {emulator.api_key}"}, timeout=10)
    assert response.status_code == status
    if status == 200:
        body = response.json()
        newest_first = emulator.ground_truth()[REPLIES]
        assert body["replies"] == newest_first[10:20]
        assert body["pagination"] == {"total": len(newest_first), "page": 2, "perPage": 10}
