"""Smartlead against the sandbox: ground truth, incremental leads, inbox chunks, paging, secrets."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import math
import sys
import typing as t
from contextlib import redirect_stderr, redirect_stdout

import pytest
import requests

from tap_replies.providers.base import ProviderError
from tap_replies.providers.smartlead import EVENT_TIME_OVERLAP
from tap_replies.sandbox import Sandbox
from tap_replies.sandbox.smartlead import SmartleadEmulator
from tap_replies.tap import TapReplies
from tests.syncing import SyncResult, parse_messages, run_tap, run_tap_cli

STREAMS = ("smartlead_campaigns", "smartlead_campaign_leads", "smartlead_inbox_replies",
           "smartlead_lead_categories")
LEADS_PATH = "/api/v1/campaigns/{}/leads"


# -- helpers --------------------------------------------------------------------------------


def smartlead_config(sandbox: Sandbox, **settings: t.Any) -> dict[str, t.Any]:
    return {"smartlead": {**sandbox.tap_config()["smartlead"], **settings}}


def emulator(sandbox: Sandbox) -> SmartleadEmulator:
    return t.cast("SmartleadEmulator", sandbox.providers["smartlead"])


def by_key(records: t.Iterable[dict[str, t.Any]], pk: t.Sequence[str]) -> dict[tuple, dict]:
    return {tuple(r[k] for k in pk): r for r in records}


def leads_requests(sandbox: Sandbox, campaign_id: int | None = None) -> list[t.Any]:
    """Requests to the campaign-leads endpoint ("/leads" alone also matches fetch-categories)."""
    return [r for r in sandbox.requests_for("smartlead", "/api/v1/campaigns/")
            if r.path.rstrip("/").endswith("/leads")
            and (campaign_id is None or r.path.rstrip("/") == LEADS_PATH.format(campaign_id))]


def inbox_requests(sandbox: Sandbox) -> list[t.Any]:
    return sandbox.requests_for("smartlead", "/master-inbox/inbox-replies")


def run_until_failure(tap_class: type[TapReplies], config: dict[str, t.Any],
                      state: dict[str, t.Any] | None = None
                      ) -> tuple[SyncResult, BaseException | None]:
    """Like `run_tap`, but a sync that fails still returns what it wrote before failing."""
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    failure: BaseException | None = None
    with redirect_stdout(stdout), redirect_stderr(io.StringIO()):
        try:
            tap_class(config=config, state=state, parse_env_config=False).sync_all()
        except ProviderError as exc:
            failure = exc
        sys.stdout.flush()
    stdout.seek(0)
    text = stdout.read()
    return SyncResult(parse_messages(text), stdout=text), failure


def partition_state(state: dict[str, t.Any], campaign_id: int) -> dict[str, t.Any]:
    partitions = state["bookmarks"]["smartlead_campaign_leads"]["partitions"]
    return next(p for p in partitions if p["context"] == {"campaign_id": campaign_id})


def multi_page_campaign(sandbox: Sandbox) -> int:
    em = emulator(sandbox)
    return next(cid for cid, leads in em.leads.items() if len(leads) > 100)


# -- full sync ------------------------------------------------------------------------------


# Every stream's full sync against the ground truth: tests/contract/, as for every provider.


def test_every_lead_row_names_its_campaign_from_the_request_path(sandbox, fast_tap):
    result = run_tap(smartlead_config(sandbox), tap_class=fast_tap)
    assert result.records["smartlead_campaign_leads"]
    assert all("campaign_id" in r for r in result.records["smartlead_campaign_leads"])


def test_nested_lead_fields_keep_their_structure(sandbox, fast_tap):
    result = run_tap(smartlead_config(sandbox), tap_class=fast_tap)
    leads = result.records["smartlead_campaign_leads"]
    assert all(set(r["email_stats"]) == {"is_opened", "is_clicked", "is_replied", "is_bounced"}
               for r in leads)
    custom_keys = {key for r in leads for key in r["custom_fields"]}
    assert {"🎯 priority", "employees"} <= custom_keys  # free-form keys survive, emoji included
    assert any(r["custom_fields"] == {} for r in leads)


def test_inbox_reply_time_is_a_top_level_field_and_the_bookmark(sandbox, fast_tap):
    result = run_tap(smartlead_config(sandbox), tap_class=fast_tap)
    replies = result.records["smartlead_inbox_replies"]
    assert all(r["received_at"] == r["last_message"]["received_at"] for r in replies)
    bookmark = result.final_state["bookmarks"]["smartlead_inbox_replies"]
    newest = max(r["received_at"] for r in replies)
    assert bookmark["replication_key_value"].startswith(newest.rstrip("Z"))


def test_leads_pages_stop_on_total_and_never_ask_for_more_than_100(sandbox, fast_tap):
    run_tap(smartlead_config(sandbox), tap_class=fast_tap)
    em = emulator(sandbox)
    assert all(int(r.query["limit"][0]) <= 100 for r in leads_requests(sandbox))
    for campaign_id, leads in em.leads.items():
        offsets = [int(r.query["offset"][0]) for r in leads_requests(sandbox, campaign_id)]
        # No empty-page probe: exactly the pages that hold leads, one for an empty campaign.
        assert offsets == [100 * i for i in range(max(1, math.ceil(len(leads) / 100)))]
    assert len(leads_requests(sandbox, em.empty_campaign_id)) == 1
    assert len(leads_requests(sandbox, em.full_page_campaign_id)) == 1
    assert len(em.leads[em.full_page_campaign_id]) == 100


def test_inbox_pages_are_twenty_newest_first_and_stop_on_total_count(sandbox, fast_tap):
    result = run_tap(smartlead_config(sandbox), tap_class=fast_tap)
    bodies = [r.body for r in inbox_requests(sandbox)]
    total = len(result.records["smartlead_inbox_replies"])
    assert [b["offset"] for b in bodies] == list(range(0, total, 20))
    assert all(b["limit"] == 20 and b["sortBy"] == "REPLY_TIME_DESC" for b in bodies)
    lower, upper = bodies[0]["filters"]["replyTimeBetween"]
    assert lower == "2000-01-01T00:00:00Z"
    assert upper.endswith("Z")


def test_start_date_is_the_inbox_lower_bound(sandbox, fast_tap):
    start = "2026-05-01T00:00:00Z"
    result = run_tap({**smartlead_config(sandbox), "start_date": start}, tap_class=fast_tap)
    assert inbox_requests(sandbox)
    assert all(r.body["filters"]["replyTimeBetween"][0] == start for r in inbox_requests(sandbox))
    assert result.records["smartlead_inbox_replies"]


# -- incremental ----------------------------------------------------------------------------


def test_sync_after_activity_emits_new_replies_and_changed_leads_only(sandbox, fast_tap):
    config = smartlead_config(sandbox)
    first = run_tap(config, tap_class=fast_tap)
    em = emulator(sandbox)
    before = by_key(first.records["smartlead_campaign_leads"], ("campaign_id", "id"))
    added = em.add_activity(5)
    sandbox.clear_log()

    second = run_tap(config, state=copy.deepcopy(first.final_state), tap_class=fast_tap)

    truth, keys = sandbox.ground_truth(), sandbox.primary_keys()
    new_replies = {r["id"] for r in truth["smartlead_inbox_replies"]} - {
        r["id"] for r in first.records["smartlead_inbox_replies"]}
    assert len(new_replies) == added["smartlead_inbox_replies"] == 5
    assert new_replies <= {r["id"] for r in second.records["smartlead_inbox_replies"]}

    current = by_key(truth["smartlead_campaign_leads"], keys["smartlead_campaign_leads"])
    changed = {key for key, lead in current.items() if before[key] != lead}
    assert len(changed) == added["smartlead_campaign_leads"]
    emitted = by_key(second.records["smartlead_campaign_leads"], keys["smartlead_campaign_leads"])
    assert set(emitted) == changed
    assert all(emitted[key] == current[key] for key in changed)  # the new values

    for campaign_id in set(em.leads) - em.touched_campaign_ids:
        requested = leads_requests(sandbox, campaign_id)
        assert len(requested) == 1, campaign_id  # the one that confirms nothing changed
        # The previous read's start, less the overlap the strict "gt" and clock skew need.
        started = partition_state(first.final_state, campaign_id)["event_time_gt"]
        expected = (dt.datetime.fromisoformat(started.replace("Z", "+00:00"))
                    - EVENT_TIME_OVERLAP)
        assert requested[0].query["event_time_gt"] == [expected.strftime("%Y-%m-%dT%H:%M:%SZ")]
    for campaign_id in em.touched_campaign_ids:
        assert all(r.query.get("event_time_gt") for r in leads_requests(sandbox, campaign_id))


def test_leads_bookmark_is_the_sync_start_and_first_syncs_have_no_filter(sandbox, fast_tap):
    em = emulator(sandbox)
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    first = run_tap(smartlead_config(sandbox), tap_class=fast_tap)
    assert not any("event_time_gt" in r.query for r in leads_requests(sandbox))
    bookmarks = {p["context"]["campaign_id"]: p for p in
                 first.final_state["bookmarks"]["smartlead_campaign_leads"]["partitions"]}
    assert set(bookmarks) == set(em.leads)
    assert all("resume" not in p and p["event_time_gt"] > "2026-06-01" for p in bookmarks.values())
    # Each campaign's bookmark is when its own read started: before its first request.
    for campaign_id, partition in bookmarks.items():
        bookmark = dt.datetime.fromisoformat(partition["event_time_gt"].replace("Z", "+00:00"))
        first_request = leads_requests(sandbox, campaign_id)[0]
        assert before <= bookmark <= dt.datetime.fromtimestamp(first_request.at, dt.timezone.utc)


def test_killed_leads_sync_resumes_at_the_checkpoint_offset(sandbox, fast_tap):
    config = smartlead_config(sandbox)
    em = emulator(sandbox)
    campaign_id = multi_page_campaign(sandbox)
    em.fail_leads_once[(campaign_id, 100)] = 403  # the run dies asking for the second page

    killed, failure = run_until_failure(fast_tap, config)
    assert isinstance(failure, ProviderError)
    checkpoint = partition_state(killed.final_state, campaign_id)
    assert checkpoint["resume"]["offset"] == 100
    assert "event_time_gt" not in checkpoint  # the bookmark waits for the last page
    sandbox.clear_log()

    resumed, failure = run_until_failure(fast_tap, config, state=copy.deepcopy(killed.final_state))
    assert failure is None
    requested = leads_requests(sandbox, campaign_id)
    assert int(requested[0].query["offset"][0]) == 100
    assert "event_time_gt" not in requested[0].query  # the same filter as the killed run
    emitted = [r["id"] for r in resumed.records["smartlead_campaign_leads"]
               if r["campaign_id"] == campaign_id]
    assert emitted == [lead["id"] for lead in em.leads[campaign_id][100:]]
    done = partition_state(resumed.final_state, campaign_id)
    assert "resume" not in done
    assert done["event_time_gt"] == checkpoint["resume"]["sync_started_at"]


def test_a_lead_deleted_mid_read_hides_no_other_lead_even_across_a_kill(sandbox, fast_tap):
    config = smartlead_config(sandbox)
    em = emulator(sandbox)
    campaign_id = multi_page_campaign(sandbox)
    listed = [lead["id"] for lead in em.leads[campaign_id]]
    deleted = listed[5]  # on the first page, deleted once it has been read

    def delete_after_the_first_page(body):
        if deleted in [lead["id"] for lead in body.get("leads", [])]:
            em.remove_lead(campaign_id, deleted)
        return body

    sandbox.override("smartlead", f"/campaigns/{campaign_id}/leads",
                     delete_after_the_first_page, times=1)
    em.fail_leads_once[(campaign_id, 99)] = 403  # dies on the page that steps back a place
    killed, failure = run_until_failure(fast_tap, config)
    assert isinstance(failure, ProviderError)
    assert partition_state(killed.final_state, campaign_id)["resume"]["offset"] == 99

    resumed, failure = run_until_failure(fast_tap, config, state=copy.deepcopy(killed.final_state))
    assert failure is None
    emitted = {r["id"] for run in (killed, resumed) for r in run.records["smartlead_campaign_leads"]
               if r["campaign_id"] == campaign_id}
    assert set(listed) - {deleted} <= emitted


# -- campaign filter ------------------------------------------------------------------------


def test_campaign_ids_go_to_the_inbox_in_chunks_of_at_most_five(sandbox, fast_tap):
    em = emulator(sandbox)
    chosen = sorted(em.leads)[:7]
    result = run_tap(smartlead_config(sandbox, campaign_ids=chosen), tap_class=fast_tap)

    series = {tuple(r.body["filters"]["campaignId"]) for r in inbox_requests(sandbox)}
    assert len(series) == 2
    assert all(len(ids) <= 5 for ids in series)
    assert sorted(i for ids in series for i in ids) == chosen
    assert not any(r.status == 422 for r in sandbox.requests_for("smartlead"))

    truth, keys = sandbox.ground_truth(), sandbox.primary_keys()
    wanted = {
        "smartlead_campaigns": [c for c in truth["smartlead_campaigns"] if c["id"] in chosen],
        "smartlead_campaign_leads": [r for r in truth["smartlead_campaign_leads"]
                                     if r["campaign_id"] in chosen],
        "smartlead_inbox_replies": [r for r in truth["smartlead_inbox_replies"]
                                    if r["campaign"]["id"] in chosen],
    }
    for stream, records in wanted.items():
        assert by_key(result.records[stream], keys[stream]) == by_key(records, keys[stream])
    assert {tuple(p["context"]["campaign_ids"]) for p in
            result.final_state["bookmarks"]["smartlead_inbox_replies"]["partitions"]} == series


def test_a_campaign_id_not_in_the_account_is_named_in_a_warning(sandbox, caplog, fast_tap):
    real = sorted(emulator(sandbox).leads)[0]
    with caplog.at_level("WARNING"):
        result = run_tap(smartlead_config(sandbox, campaign_ids=[real, 4242]), tap_class=fast_tap)
    assert [c["id"] for c in result.records["smartlead_campaigns"]] == [real]
    assert any("4242" in r.getMessage() and "smartlead.campaign_ids" in r.getMessage()
               for r in caplog.records)


def test_fetch_message_history_is_passed_through_and_in_the_schema(sandbox, fast_tap):
    result = run_tap(smartlead_config(sandbox, fetch_message_history=True), tap_class=fast_tap)
    assert all(r.query["fetch_message_history"] == ["true"] for r in inbox_requests(sandbox))
    replies = result.records["smartlead_inbox_replies"]
    assert replies
    assert all(isinstance(r["history"], list) and r["history"] for r in replies)
    assert {"id", "type", "body", "time"} <= set(replies[0]["history"][0])  # kept whole
    schema = fast_tap(config=smartlead_config(sandbox, fetch_message_history=True),
                     parse_env_config=False).streams["smartlead_inbox_replies"].schema
    assert "history" in schema["properties"]


# -- catalog --------------------------------------------------------------------------------


def test_catalog_declares_leads_incremental_without_a_replication_key(sandbox, fast_tap):
    tap = fast_tap(config=smartlead_config(sandbox), parse_env_config=False)
    entries = {e["tap_stream_id"]: e for e in tap.catalog_dict["streams"]}
    leads = entries["smartlead_campaign_leads"]
    assert leads["replication_method"] == "INCREMENTAL"
    assert leads.get("replication_key") is None
    assert list(leads["key_properties"]) == ["campaign_id", "id"]
    root = next(m for m in leads["metadata"] if m["breadcrumb"] == [])
    assert root["metadata"]["forced-replication-method"] == "INCREMENTAL"
    assert entries["smartlead_inbox_replies"]["replication_key"] == "received_at"
    assert entries["smartlead_campaigns"]["replication_method"] == "FULL_TABLE"
    assert "history" not in entries["smartlead_inbox_replies"]["schema"]["properties"]


# -- secrets --------------------------------------------------------------------------------


def test_api_key_never_appears_in_any_output_at_debug_with_faults():
    with Sandbox(seed=7, scale=1, fault_rate=0.3) as faulty:
        em = emulator(faulty)
        small = sorted((cid for cid, leads in em.leads.items() if 0 < len(leads) < 100),
                       key=lambda cid: len(em.leads[cid]))[:3]
        chosen = [em.empty_campaign_id, em.full_page_campaign_id, multi_page_campaign(faulty),
                  *small]
        config = {**smartlead_config(faulty, campaign_ids=chosen), "max_retries": 15}
        result = run_tap_cli(config, env={"TAP_REPLIES_LOGLEVEL": "DEBUG", "LOGLEVEL": "DEBUG"})
        statuses = {r.status for r in faulty.requests_for("smartlead")}
    assert result.returncode == 0, result.stderr[-2000:]
    assert statuses & {0, 429, 500, 503}, "no fault was injected"
    assert "DEBUG" in result.stderr  # the run really logged at DEBUG
    assert "retry" in result.stderr
    for stream in STREAMS:
        assert result.records[stream], stream
    key = SmartleadEmulator.api_key
    assert key not in result.stdout
    assert key not in result.stderr
    assert key not in json.dumps(result.states)


# The key in no log line of a faulty in-process sync at DEBUG: tests/contract/, every provider.


def test_api_key_stays_out_of_connection_errors_at_debug():
    key = SmartleadEmulator.api_key
    config = {"smartlead": {"api_key": key, "api_url": "http://127.0.0.1:9"}, "max_retries": 1}
    result = run_tap_cli(config, env={"TAP_REPLIES_LOGLEVEL": "DEBUG"})
    assert result.returncode != 0
    assert "gave up" in result.stderr  # the connection really failed, and was reported
    assert key not in result.stdout + result.stderr


def test_an_auth_failure_names_the_setting_not_the_key(sandbox, fast_tap):
    wrong_key = "sl_wrong_key_that_must_stay_secret"
    with pytest.raises(ProviderError) as failure:
        run_tap(smartlead_config(sandbox, api_key=wrong_key), tap_class=fast_tap)
    message = str(failure.value)
    assert "401" in message
    assert "smartlead.api_key" in message
    assert wrong_key not in message


# -- the sandbox's contract -----------------------------------------------------------------


@pytest.fixture
def api(sandbox):
    def call(method: str, path: str, *, params: dict | None = None, body: t.Any = None):
        query = {"api_key": SmartleadEmulator.api_key, **(params or {})}
        return requests.request(method, sandbox.base_url + path, params=query, json=body,
                                timeout=10)
    return call


@pytest.mark.parametrize(("params", "status"), [
    ({"limit": 101}, 400), ({"limit": 0}, 400), ({"offset": -1}, 400),
    ({"event_time_gt": "yesterday"}, 400), ({"limit": 100}, 200),
])
def test_sandbox_leads_limits(sandbox, api, params, status):
    campaign_id = multi_page_campaign(sandbox)
    response = api("GET", LEADS_PATH.format(campaign_id), params=params)
    assert response.status_code == status
    if status != 200:
        assert set(response.json()) == {"message", "statusCode"}


def test_sandbox_unknown_campaign_is_404(api):
    response = api("GET", LEADS_PATH.format(999_999))
    assert response.status_code == 404
    assert response.json() == {"message": "Campaign not found", "statusCode": 404}


@pytest.mark.parametrize("body", [
    {"limit": 21}, {"limit": 0}, {"offset": -1},
    {"filters": {"campaignId": [1, 2, 3, 4, 5, 6]}},
    {"filters": {"replyTimeBetween": ["not a date", "2026-01-01T00:00:00Z"]}},
    {"filters": {"replyTimeBetween": ["2026-01-01T00:00:00Z"]}},
    {"sortBy": "REPLY_TIME_ASC"},
])
def test_sandbox_inbox_validation_is_422(api, body):
    response = api("POST", "/api/v1/master-inbox/inbox-replies", body=body)
    assert response.status_code == 422
    assert response.json()["statusCode"] == 422


def test_sandbox_filters_leads_by_hidden_event_time(sandbox, api):
    em = emulator(sandbox)
    em.add_activity(3)
    campaign_id = next(iter(em.touched_campaign_ids))
    page = api("GET", LEADS_PATH.format(campaign_id),
               params={"event_time_gt": "2026-06-02T00:00:00Z"}).json()
    assert 0 < page["total"] == len(page["leads"]) < len(em.leads[campaign_id])
    assert all("_event" not in lead and "event_time" not in lead for lead in page["leads"])
    ids = [lead["id"] for lead in api("GET", LEADS_PATH.format(campaign_id)).json()["leads"]]
    assert ids == sorted(ids)


def test_sandbox_inbox_is_newest_first_with_shared_reply_times(api):
    times: list[str] = []
    offset = 0
    while True:
        page = api("POST", "/api/v1/master-inbox/inbox-replies",
                   body={"offset": offset, "limit": 20}).json()
        times += [m["last_message"]["received_at"] for m in page["messages"]]
        offset += 20
        if offset >= page["total_count"]:
            break
    assert times == sorted(times, reverse=True)
    assert max(times.count(ts) for ts in times) > 20  # more than a page share one reply time
    inclusive = api("POST", "/api/v1/master-inbox/inbox-replies",
                    body={"filters": {"replyTimeBetween": [times[0], times[0]]}}).json()
    assert inclusive["total_count"] >= 1


def test_sandbox_categories_and_history(api):
    categories = api("GET", "/api/v1/leads/fetch-categories").json()
    assert {c["sentiment_type"] for c in categories} == {"positive", "negative", "neutral"}
    page = api("POST", "/api/v1/master-inbox/inbox-replies",
               params={"fetch_message_history": "true"}, body={"limit": 1}).json()
    assert page["messages"][0]["history"]


def test_a_thread_leaving_the_inbox_window_mid_sync_hides_no_reply(sandbox, fast_tap):
    listed = sandbox.ground_truth()["smartlead_inbox_replies"]
    listed.sort(key=lambda m: m["received_at"], reverse=True)
    mover = listed[5]["id"]  # on the first page; replies again once that page is read
    calls = []

    def reply_again_after_the_first_page(body):
        calls.append(1)
        if len(calls) == 2:
            emulator(sandbox).reply_again(mover)
        return body

    sandbox.override("smartlead", "inbox-replies", reply_again_after_the_first_page, times=None)
    first = run_tap(smartlead_config(sandbox), tap_class=fast_tap)
    sandbox.clear_overrides()
    emitted = [r["id"] for r in first.records["smartlead_inbox_replies"]]
    assert len(emitted) == len(set(emitted))  # what was read twice is dropped as a repeat
    # Every reply still in the window was read; the mover's new reply is after it, for next time.
    assert {m["id"] for m in listed} - {mover} <= set(emitted)
