"""Full-table streams say which read carried each record and which reads saw the whole list
(tap_replies/providers/full_table.py): only a complete read writes a `full_table_reads` row, the
one thing that lets the warehouse mark a record deleted."""

from __future__ import annotations

import typing as t

from tap_replies.providers.full_table import READ_VERSION, READS_STREAM
from tap_replies.sandbox.leadterra import FOLLOWUP_LIMIT_MAX
from tap_replies.sandbox.server import Response
from tap_replies.tap import TapReplies
from tests.syncing import SyncResult, run_tap, run_tap_cli

FULL_TABLE = {"leadterra_sdrs", "leadterra_followups", "smartlead_campaigns",
              "smartlead_lead_categories"}
INCREMENTAL = {"leadterra_replies", "smartlead_campaign_leads", "smartlead_inbox_replies",
               "tuco_replies"}


def complete_reads(result: SyncResult) -> dict[str, dict[str, t.Any]]:
    return {row["stream"]: row for row in result.reads}


def catalog_without(config: dict[str, t.Any], stream: str) -> dict[str, t.Any]:
    catalog = TapReplies(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] != stream
    return catalog


def test_a_complete_read_stamps_its_records_with_one_version_and_logs_itself(sandbox):
    result = run_tap(sandbox.tap_config())
    reads = complete_reads(result)
    assert set(reads) == FULL_TABLE
    for stream in FULL_TABLE:
        versions = {record[READ_VERSION] for record in result.stamped[stream]}
        assert versions == {reads[stream]["read_version"]}, stream
        assert reads[stream]["records"] == len(result.records[stream])
    for stream in INCREMENTAL:
        assert all(READ_VERSION not in record for record in result.stamped[stream]), stream


def test_the_log_row_comes_after_the_last_record_of_its_read(sandbox):
    result = run_tap(sandbox.tap_config())
    order = [(m["stream"], m["record"].get("stream")) for m in result.messages
             if m.get("type") == "RECORD"]
    for stream in FULL_TABLE:
        logged_at = order.index((READS_STREAM, stream))
        last_record = max(i for i, (name, _) in enumerate(order) if name == stream)
        assert last_record < logged_at, stream


def test_a_later_read_has_a_newer_version(sandbox):
    config = {"leadterra": sandbox.tap_config()["leadterra"]}
    first, second = complete_reads(run_tap(config)), complete_reads(run_tap(config))
    assert second["leadterra_sdrs"]["read_version"] > first["leadterra_sdrs"]["read_version"]


def test_a_campaign_filter_makes_the_campaign_list_a_partial_read(sandbox):
    smartlead = sandbox.providers["smartlead"]
    config = sandbox.tap_config()
    config["smartlead"]["campaign_ids"] = [smartlead.campaigns[2]["id"]]
    result = run_tap({"smartlead": config["smartlead"]})
    assert len(result.records["smartlead_campaigns"]) == 1
    assert set(complete_reads(result)) == {"smartlead_lead_categories"}


def test_a_due_list_at_the_endpoints_cap_is_a_partial_read(sandbox):
    leadterra = sandbox.providers["leadterra"]
    while len(leadterra.followups) < FOLLOWUP_LIMIT_MAX:
        leadterra.add_activity(count=1)
    result = run_tap({"leadterra": sandbox.tap_config()["leadterra"]})
    assert len(result.records["leadterra_followups"]) == FOLLOWUP_LIMIT_MAX
    assert set(complete_reads(result)) == {"leadterra_sdrs"}


def test_a_read_that_fails_logs_nothing_for_its_stream(sandbox):
    sandbox.override("leadterra", "/v1/sdrs", Response(403, {"error": "Forbidden"}), times=None)
    result = run_tap_cli({"leadterra": sandbox.tap_config()["leadterra"]})
    assert result.returncode != 0
    assert "leadterra_sdrs" not in complete_reads(result)


def test_an_empty_list_read_completely_is_logged_with_no_records(sandbox):
    leadterra = sandbox.providers["leadterra"]
    leadterra.complete_followups(len(leadterra.followups))
    reads = complete_reads(run_tap({"leadterra": sandbox.tap_config()["leadterra"]}))
    assert reads["leadterra_followups"]["records"] == 0


def test_a_deselected_stream_is_not_logged_as_read(sandbox):
    config = {"smartlead": sandbox.tap_config()["smartlead"]}
    result = run_tap(config, catalog=catalog_without(config, "smartlead_campaigns"))
    assert "smartlead_campaigns" not in result.records
    assert result.records["smartlead_campaign_leads"], "the child stream is still read"
    assert set(complete_reads(result)) == {"smartlead_lead_categories"}


def test_the_test_flag_logs_no_complete_read(sandbox):
    result = run_tap_cli({"leadterra": sandbox.tap_config()["leadterra"]}, args=["--test"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert complete_reads(result) == {}
