"""Tuco AI: the `tuco_replies` stream and the emulated `GET /api/replies`, all on loopback."""

from __future__ import annotations

import datetime as dt
import time
import typing as t

import pytest
import requests

from tap_replies.providers.base import ProviderError
from tap_replies.sandbox import Sandbox
from tap_replies.sandbox.core import Response, now_utc, parse_iso
from tap_replies.sandbox.tuco import MAX_LIMIT, TucoEmulator
from tap_replies.timestamps import parse_timestamp
from tests.syncing import SyncResult, run_tap, run_tap_cli

STREAM = "tuco_replies"


@pytest.fixture(scope="module")
def untouched() -> t.Iterator[Sandbox]:
    """One sandbox for the tests that only read from it: each fresh one costs half a second."""
    with Sandbox(seed=7, scale=1) as server:
        yield server


# -- helpers ------------------------------------------------------------------------------


def tuco(sandbox: Sandbox) -> TucoEmulator:
    return t.cast("TucoEmulator", sandbox.providers["tuco"])


def tuco_config(sandbox: Sandbox, **settings: t.Any) -> dict[str, t.Any]:
    """A config with the Tuco block only, so the other providers' streams stay out of the way."""
    return {"tuco": {**sandbox.tap_config()["tuco"], **settings}}


def by_lead(rows: t.Iterable[dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    return {row["leadId"]: row for row in rows}


def bookmark(state: dict[str, t.Any]) -> str:
    return state["bookmarks"][STREAM]["replication_key_value"]


def partition_bookmarks(state: dict[str, t.Any]) -> dict[str, str | None]:
    return {
        p["context"]["campaign_id"]: p.get("replication_key_value")
        for p in state["bookmarks"][STREAM]["partitions"]
    }


def tuco_queries(sandbox: Sandbox) -> list[dict[str, str]]:
    logged = sandbox.requests_for("tuco", "/api/replies")
    return [{name: values[0] for name, values in r.query.items()} for r in logged]


def error_lines(result: SyncResult) -> list[str]:
    return [line for line in result.stderr.splitlines() if "tap-replies: Tuco" in line]


def get_replies(sandbox: Sandbox, **params: t.Any) -> requests.Response:
    return requests.get(
        f"{sandbox.base_url}/api/replies",
        params=params,
        headers={"Authorization": f"Bearer {TucoEmulator.api_key}"},
        timeout=10,
    )


# -- the stream ---------------------------------------------------------------------------


# A full sync, the bookmark instant, start_date, a future start, the key, a checkpoint per page:
# tests/contract/, as for every provider.


def test_the_ground_truth_holds_the_awkward_cases(sandbox):
    truth = sandbox.ground_truth()[STREAM]
    stamps = [row["respondedAtUtc"] for row in truth]
    assert len(set(stamps)) < len(stamps), "several leads share a respondedAtUtc"
    assert stamps == sorted(stamps, reverse=True), "newest first"
    assert any(row["name"] is None for row in truth)
    assert any(row["recipientEmail"] is None for row in truth)
    assert any(row["recipientPhone"] is None for row in truth)
    assert any(any(ord(ch) > 0xFFFF for ch in row["message"]) for row in truth), "emoji"
    assert max(len(row["recentReplies"]) for row in truth) == 10
    assert max(len(row["parentMessages"]) for row in truth) == 10
    assert tuco(sandbox).replies_of(tuco(sandbox).empty_campaign_id) == []
    assert len(tuco(sandbox).replies_of(tuco(sandbox).full_pages_campaign_id)) % MAX_LIMIT == 0


def test_new_leads_and_leads_replying_again_are_emitted_after_a_sync(sandbox):
    first = run_tap(tuco_config(sandbox))
    added = tuco(sandbox).add_activity(6)
    activity = tuco(sandbox).last_activity
    assert added == {STREAM: 9}
    assert len(activity["new"]) == 6
    assert len(activity["replied_again"]) == 3

    second = run_tap(tuco_config(sandbox), state=first.final_state)

    emitted = by_lead(second.records[STREAM])
    truth = by_lead(sandbox.ground_truth()[STREAM])
    for lead_id in activity["new"] + activity["replied_again"]:
        assert emitted[lead_id] == truth[lead_id]
    for lead_id in activity["replied_again"]:
        before = by_lead(first.records[STREAM])[lead_id]
        after = emitted[lead_id]
        assert after["messageId"] != before["messageId"]
        assert after["respondedAtUtc"] > before["respondedAtUtc"]
        assert after["recentReplies"][0]["messageId"] == after["messageId"]
        assert after["recentReplies"][1:] == before["recentReplies"][:9]


def test_an_incremental_sync_asks_from_the_bookmark_and_emits_nothing_older(sandbox):
    first = run_tap(tuco_config(sandbox))
    previous = bookmark(first.final_state)
    tuco(sandbox).add_activity(4)
    sandbox.clear_log()

    second = run_tap(tuco_config(sandbox), state=first.final_state)

    queries = tuco_queries(sandbox)
    assert queries
    assert all(q["dateFrom"] == previous for q in queries)
    assert all(r["respondedAtUtc"] >= previous for r in second.records[STREAM])
    assert bookmark(second.final_state) > previous


def test_a_lead_replying_again_at_the_bookmark_instant_is_not_lost(sandbox):
    first = run_tap(tuco_config(sandbox))
    previous = bookmark(first.final_state)
    quiet_lead = next(r["leadId"] for r in reversed(first.records[STREAM]))
    tuco(sandbox).reply(quiet_lead, "Late, but yes 🙂", at=int(parse_iso(previous).timestamp()))

    second = run_tap(tuco_config(sandbox), state=first.final_state)

    emitted = by_lead(second.records[STREAM])
    assert emitted[quiet_lead]["message"] == "Late, but yes 🙂"
    assert emitted[quiet_lead]["respondedAtUtc"] == previous


def test_start_date_is_sent_as_datefrom(sandbox):
    start = "2026-05-01T00:00:00Z"
    result = run_tap({**tuco_config(sandbox), "start_date": start})
    assert tuco_queries(sandbox)
    assert all(q["dateFrom"] == start for q in tuco_queries(sandbox))
    assert result.records[STREAM]


def test_dateto_is_the_moment_the_sync_started(sandbox):
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    result = run_tap(tuco_config(sandbox))
    queries = tuco_queries(sandbox)
    first = parse_timestamp(queries[0]["dateTo"])
    assert first is not None
    assert before <= first <= dt.datetime.now(dt.timezone.utc)
    assert queries[0]["dateTo"] >= bookmark(result.final_state)
    # Later pages lower the bound to the oldest reply read so far: it never rises.
    uppers = [q["dateTo"] for q in queries]
    assert uppers == sorted(uppers, reverse=True)


def test_a_result_that_is_an_exact_multiple_of_the_page_size_is_read_completely(sandbox):
    campaign = tuco(sandbox).full_pages_campaign_id
    expected = tuco(sandbox).replies_of(campaign)
    assert len(expected) == MAX_LIMIT

    result = run_tap(tuco_config(sandbox, campaign_ids=[campaign]))

    # Read per campaign, each row also names the campaign it was read for.
    assert by_lead(result.records[STREAM]) == by_lead(
        {**row, "campaign_id": campaign} for row in expected)
    # No total is returned, so the full page is followed by one more request: the contract.
    # It asks at or before the oldest reply read, and finds only that one (a repeat).
    queries = tuco_queries(sandbox)
    assert len(queries) == 2
    assert queries[1]["dateTo"] == min(r["respondedAtUtc"] for r in expected)


def test_each_campaign_keeps_its_own_bookmark(sandbox):
    emulator = tuco(sandbox)
    busy, quiet = emulator.ordinary_campaign_ids[:2]
    campaigns = [busy, quiet, emulator.empty_campaign_id]
    first = run_tap(tuco_config(sandbox, campaign_ids=campaigns))
    bookmarks = partition_bookmarks(first.final_state)
    for campaign in (busy, quiet):
        assert bookmarks[campaign] == emulator.replies_of(campaign)[0]["respondedAtUtc"]
    assert bookmarks[emulator.empty_campaign_id] is None

    (new_lead,) = emulator.add_reply(now_utc(), busy)
    sandbox.clear_log()
    second = run_tap(tuco_config(sandbox, campaign_ids=campaigns), state=first.final_state)

    date_from = {q["campaignId"]: q.get("dateFrom") for q in tuco_queries(sandbox)}
    assert date_from == {busy: bookmarks[busy], quiet: bookmarks[quiet],
                         emulator.empty_campaign_id: None}
    assert new_lead in by_lead(second.records[STREAM])
    after = partition_bookmarks(second.final_state)
    assert after[busy] > bookmarks[busy]
    assert after[quiet] == bookmarks[quiet]


def test_no_request_asks_for_more_than_the_documented_limit(sandbox):
    run_tap(tuco_config(sandbox))
    run_tap(tuco_config(sandbox, campaign_ids=tuco(sandbox).campaign_ids))
    limits = [int(q["limit"]) for q in tuco_queries(sandbox)]
    assert limits
    assert max(limits) <= MAX_LIMIT


# -- errors: one line naming the cause, non-zero exit ----------------------------------------


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("bad_campaign_id", ("400", "Invalid campaignId", "'not-a-campaign'", "tuco.campaign_ids")),
        ("bad_api_key", ("401", "Unauthorized", "tuco.api_key")),
        ("read_only", ("402", "read-only", "reactivate it in Tuco", "nothing was changed")),
        ("unknown_campaign", ("404", "Campaign not found", "'" + "0" * 24 + "'",
                              "tuco.campaign_ids")),
    ],
)
def test_an_error_is_one_line_naming_its_cause(sandbox, case, expected):
    settings: dict[str, t.Any] = {
        "bad_campaign_id": {"campaign_ids": ["not-a-campaign"]},
        "bad_api_key": {"api_key": "tuco_sk_wrong_key_123456"},
        "read_only": {},
        "unknown_campaign": {"campaign_ids": ["0" * 24]},
    }[case]
    tuco(sandbox).read_only = case == "read_only"

    result = run_tap_cli(tuco_config(sandbox, **settings), timeout=60)

    assert result.returncode != 0
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    for fragment in expected:
        assert fragment in lines[0]
    assert "tuco_sk_" not in result.stderr
    assert result.records[STREAM] == []


def test_a_wrong_api_url_is_named_in_the_error(sandbox):
    config = tuco_config(sandbox, api_url=f"{sandbox.base_url}/not-tuco")
    with pytest.raises(ProviderError, match=r"404 .* check tuco\.api_url"):
        run_tap(config)


# -- the emulator itself ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"leadId": "123"}, 400, "Invalid leadId"),
        ({"leadId": "f" * 24}, 404, "Lead not found or access denied"),
        ({"campaignId": "abc"}, 400, "Invalid campaignId"),
        ({"campaignId": "f" * 24}, 404, "Campaign not found"),
        ({"lineId": "zz" * 12}, 400, "Invalid lineId"),
        ({"lineId": "a" * 23}, 400, "Invalid lineId"),
        ({"dateFrom": "yesterday"}, 400, "Invalid dateFrom"),
        ({"dateTo": "2026-13-45"}, 400, "Invalid dateTo"),
        ({"dateFrom": "2026-02-01T00:00:00Z", "dateTo": "2026-01-01T00:00:00Z"}, 400,
         "dateFrom must be <= dateTo"),
        ({"page": "0"}, 400, "page must be at least 1"),
        ({"limit": "0"}, 400, "limit must be between 1 and 100"),
        ({"limit": "101"}, 400, "limit must be between 1 and 100"),
        ({"limit": "ten"}, 400, "Invalid limit"),
    ],
)
def test_the_emulator_refuses_bad_parameters_as_documented(untouched, params, status, error):
    response = get_replies(untouched, **params)
    assert response.status_code == status
    assert response.json() == {"error": error}


def test_the_emulator_answers_402_when_the_workspace_is_read_only(sandbox):
    tuco(sandbox).read_only = True
    response = get_replies(sandbox)
    assert response.status_code == 402
    assert response.json() == {"error": "Workspace is read-only", "code": "WORKSPACE_READ_ONLY"}


def test_the_emulator_needs_the_bearer_key(untouched):
    response = requests.get(f"{untouched.base_url}/api/replies", timeout=10,
                            headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized"}


def test_the_emulator_pages_newest_first_with_a_default_limit_of_50(untouched):
    truth = untouched.ground_truth()[STREAM]
    first = get_replies(untouched).json()["replies"]
    second = get_replies(untouched, page=2, limit=50).json()["replies"]
    assert first == truth[:50]
    assert second == truth[50:100]
    assert get_replies(untouched, page=1000).json() == {"replies": []}


def test_the_emulator_date_bounds_are_inclusive(untouched):
    truth = untouched.ground_truth()[STREAM]
    stamp = truth[0]["respondedAtUtc"]
    sharing = [row for row in truth if row["respondedAtUtc"] == stamp]
    assert len(sharing) > 1
    rows = get_replies(untouched, dateFrom=stamp, dateTo=stamp, limit=100).json()["replies"]
    assert rows == sharing


def test_the_emulator_filters_by_lead_email_phone_and_line(untouched):
    emulator = tuco(untouched)
    truth = untouched.ground_truth()[STREAM]
    row = next(r for r in truth if r["recipientEmail"] and r["recipientPhone"]
               and r["recipientPhone"].startswith("+1"))
    lead = emulator.leads[row["leadId"]]

    assert get_replies(untouched, leadId=row["leadId"]).json()["replies"] == [row]
    by_email = get_replies(untouched, recipientEmail=row["recipientEmail"].upper())
    assert by_email.json()["replies"] == [row]
    # E.164 or the normalised digits, with or without the country code.
    for phone in (row["recipientPhone"], row["recipientPhone"][1:], row["recipientPhone"][2:]):
        assert row in get_replies(untouched, recipientPhone=phone).json()["replies"]
    on_line = get_replies(untouched, lineId=lead.line_id, limit=100).json()["replies"]
    assert on_line
    assert all(emulator.leads[r["leadId"]].line_id == lead.line_id for r in on_line)
    never_replied = next(x for x in emulator.leads.values() if x.responded_at is None)
    assert get_replies(untouched, leadId=never_replied.lead_id).json() == {"replies": []}
    assert get_replies(untouched, campaignId=emulator.empty_campaign_id).json() == {"replies": []}


def test_the_emulator_data_is_deterministic():
    assert TucoEmulator(5, 1).ground_truth() == TucoEmulator(5, 1).ground_truth()
    assert TucoEmulator(5, 1).ground_truth() != TucoEmulator(6, 1).ground_truth()


def test_a_lead_replying_again_mid_sync_does_not_hide_the_next_page_s_first_reply(sandbox):
    emulator = tuco(sandbox)
    listed = sandbox.ground_truth()[STREAM]  # newest first, as the API lists them
    first_of_page_two = listed[MAX_LIMIT]["leadId"]
    mover = listed[10]["leadId"]  # read on page 1, then replies again: it leaves the window

    def reply_again_after_page_one(body):
        emulator.reply(mover, "again", at=int(time.time()) + 5)
        return body

    sandbox.override("tuco", "/api/replies", reply_again_after_page_one, times=1)
    first = run_tap(tuco_config(sandbox))
    second = run_tap(tuco_config(sandbox), state=first.final_state)

    assert first_of_page_two in {r["leadId"] for r in first.records[STREAM]}
    emitted = {r["leadId"] for r in first.records[STREAM] + second.records[STREAM]}
    assert emitted == {r["leadId"] for r in sandbox.ground_truth()[STREAM]}


def test_a_date_refused_by_tuco_is_one_line_naming_the_bounds_sent(sandbox):
    sandbox.override("tuco", "/api/replies", Response(400, {"error": "Invalid dateFrom"}))
    result = run_tap_cli(tuco_config(sandbox), timeout=60)
    assert result.returncode != 0
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert "400" in lines[0]
    assert "Invalid dateFrom" in lines[0]
    assert "dateTo=" in lines[0]
    assert "start_date" in lines[0]
    # The only ERROR line: the SDK's own "unhandled error" announcement is at DEBUG.
    assert [line for line in result.stderr.splitlines() if "| ERROR" in line] == lines
