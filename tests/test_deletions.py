"""What left a provider's list leaves the marts, on DuckDB and a real PostgreSQL, end to end
(`meltano run replies-<warehouse>`): follow-ups completed, an SDR removed (their follow-ups
reassigned), a Smartlead campaign deleted, a lead category removed. A partial read (a campaign_ids
filter) marks nothing; replies and leads (incremental) are never deleted.

Also measured here, not assumed: target-duckdb 0.8.0 ignores ACTIVATE_VERSION.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import typing as t
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tap_replies.providers.full_table import READ_VERSION, READS_SCHEMA, READS_STREAM
from tap_replies.sandbox import Sandbox
from tap_replies.tap import TapReplies
from tests.elt_scenario import ROOT, meltano_job, read_duckdb
from tests.expected_marts import CLOSED_FOLLOWUP_STATUSES
from tests.postgres_cluster import PostgresServer
from tests.test_transform import dbt_build
from tests.test_warehouses import HARNESS, SNOWFLAKE_PYTHON, read_postgres

pytestmark = pytest.mark.elt

Query = t.Callable[[str], list[dict[str, t.Any]]]


@dataclass
class Deletions:
    """Two loads around the changes, then a filtered (partial) one."""

    query: Query
    completed: list[str]
    removed_sdr: str
    reassigned_to: str
    deleted_campaign: int
    deleted_campaign_name: str
    removed_category: int
    recategorised: tuple[int, int]  # (campaign id, lead id)
    categories: tuple[int, int]  # before, after
    due_per_sdr: dict[str, int]
    deleted_while_filtered: int
    recategorised_loaded_at: t.Any


def change_the_lists(sandbox: Sandbox) -> dict[str, t.Any]:
    leadterra, smartlead = sandbox.providers["leadterra"], sandbox.providers["smartlead"]
    completed = leadterra.complete_followups(40)
    owners = Counter(f["sdrId"] for f in leadterra.followups)
    removed, reassigned_to = owners.most_common(2)[0][0], owners.most_common(2)[1][0]
    leadterra.remove_sdr(removed, reassign_to=reassigned_to)
    replied = {m["campaign"]["id"] for m in smartlead.messages}
    campaign = next(c for c in smartlead.campaigns if c["id"] in replied)
    smartlead.delete_campaign(campaign["id"])
    category = smartlead.categories[-1]["id"]
    smartlead.remove_category(category)
    # A lead moves to another category (campaigns[0] and [1] are left for the filtered run).
    lead_campaign = next(c["id"] for c in smartlead.campaigns[2:] if smartlead.leads.get(c["id"]))
    lead = smartlead.leads[lead_campaign][0]
    before = lead["category_id"]
    smartlead.touch_lead(lead_campaign, lead["id"], dt.datetime.now(dt.timezone.utc))
    return {"recategorised": (lead_campaign, lead["id"]),
            "categories": (before, lead["category_id"]),
            "completed": completed, "removed_sdr": removed, "reassigned_to": reassigned_to,
            "deleted_campaign": campaign["id"], "deleted_campaign_name": campaign["name"],
            "removed_category": category}


def open_due_per_sdr(sandbox: Sandbox) -> dict[str, int]:
    return dict(Counter(f["sdrId"] for f in sandbox.providers["leadterra"].followups
                        if (f["status"] or "").lower() not in CLOSED_FOLLOWUP_STATUSES))


def run_deletions(job: str, env: dict[str, str], tmp: Path, query: Query) -> Deletions:
    with Sandbox(seed=5, scale=1) as sandbox:
        system_db = tmp / "meltano.db"
        runs = [meltano_job(job, sandbox, system_db, env)]
        changed = change_the_lists(sandbox)
        runs.append(meltano_job(job, sandbox, system_db, env))
        due = open_due_per_sdr(sandbox)
        campaign_id, lead_id = changed["recategorised"]
        loaded_at = query("select _sdc_batched_at from tap_replies.smartlead_campaign_leads "
                          f"where campaign_id = {campaign_id} and id = {lead_id}")
        # A partial read: another campaign goes, but only one campaign is asked for.
        smartlead = sandbox.providers["smartlead"]
        kept, gone = smartlead.campaigns[0]["id"], smartlead.campaigns[1]["id"]
        smartlead.delete_campaign(gone)
        runs.append(meltano_job(job, sandbox, system_db, {
            **env, "TAP_REPLIES_SMARTLEAD_CAMPAIGN_IDS": json.dumps([kept])}))
        for run in runs:
            assert run.returncode == 0, run.log[-4000:]
        return Deletions(query, due_per_sdr=due, deleted_while_filtered=gone,
                         recategorised_loaded_at=loaded_at[0]["_sdc_batched_at"], **changed)


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def deletions(request: pytest.FixtureRequest, meltano_project: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Deletions:
    tmp = tmp_path_factory.mktemp(f"deletions-{request.param}")
    if request.param == "duckdb":
        database = tmp / "replies.duckdb"
        return run_deletions("replies-duckdb", {"TARGET_DUCKDB_FILEPATH": str(database)}, tmp,
                             lambda sql: read_duckdb(database, sql))
    postgres: PostgresServer = request.getfixturevalue("postgres")
    server = postgres.create_database("replies_deletions")
    return run_deletions("replies-postgres", server.env(), tmp,
                         lambda sql: read_postgres(server, sql))


def deleted_ids(deletions: Deletions, table: str) -> set[t.Any]:
    return {row["id"] for row in deletions.query(
        f"select id from tap_replies.{table} where _sdc_deleted_at is not null")}


def test_followups_due_by_sdr_equals_the_current_due_list_per_sdr(deletions):
    rows = deletions.query("select sdr_id, due from analytics.followups_due_by_sdr")
    assert {row["sdr_id"]: row["due"] for row in rows} == deletions.due_per_sdr
    assert deletions.removed_sdr not in {row["sdr_id"] for row in rows}


def test_completed_followups_are_marked_deleted_in_the_raw_table(deletions):
    assert deleted_ids(deletions, "leadterra_followups") == set(deletions.completed)


def test_a_removed_sdr_and_a_deleted_campaign_and_category_are_marked_deleted(deletions):
    assert deleted_ids(deletions, "leadterra_sdrs") == {deletions.removed_sdr}
    assert deleted_ids(deletions, "smartlead_campaigns") == {deletions.deleted_campaign}
    assert deleted_ids(deletions, "smartlead_lead_categories") == {deletions.removed_category}


def test_a_filtered_read_marks_nothing_deleted(deletions):
    assert deletions.deleted_while_filtered not in deleted_ids(deletions, "smartlead_campaigns")


def test_a_deleted_campaigns_replies_stay_and_keep_its_name(deletions):
    campaign = str(deletions.deleted_campaign)
    rates = deletions.query("select campaign_name, replies from analytics.campaign_reply_rates "
                            f"where provider = 'smartlead' and campaign_id = '{campaign}'")
    assert len(rates) == 1
    assert rates[0]["replies"] > 0
    assert rates[0]["campaign_name"] == deletions.deleted_campaign_name
    leads = deletions.query("select count(*) as n from tap_replies.smartlead_campaign_leads "
                            f"where campaign_id = {campaign}")
    assert leads[0]["n"] > 0, "leads are incremental: never deleted"


def test_a_category_changed_between_two_runs_yields_two_periods(deletions):
    campaign_id, lead_id = deletions.recategorised
    periods = deletions.query(
        "select category_id, valid_from, valid_to, is_current from analytics.lead_category_history"
        f" where campaign_id = {campaign_id} and lead_id = {lead_id} order by valid_from")
    assert [p["category_id"] for p in periods] == list(deletions.categories)
    first, second = periods
    assert first["valid_to"] == second["valid_from"]
    assert naive(second["valid_from"]) == naive(deletions.recategorised_loaded_at)
    assert first["valid_from"] < second["valid_from"]
    assert second["valid_to"] is None
    assert (first["is_current"], second["is_current"]) == (False, True)


def test_a_followup_that_leaves_the_due_list_gets_its_end_time(deletions):
    reads = [r["read_version"] for r in deletions.query(
        "select read_version from tap_replies.full_table_reads "
        "where stream = 'leadterra_followups' order by read_version")]
    rows = {r["followup_id"]: r for r in deletions.query(
        "select followup_id, first_seen_due_at, left_due_list_at, is_due "
        "from analytics.followup_lifecycle")}
    for followup in deletions.completed:
        assert naive(rows[followup]["first_seen_due_at"]) == naive(reads[0])
        assert naive(rows[followup]["left_due_list_at"]) == naive(reads[1])
        assert rows[followup]["is_due"] is False
    still_due = [r for f, r in rows.items() if f not in deletions.completed]
    assert sum(deletions.due_per_sdr.values()) <= len(still_due)
    assert all(r["is_due"] and r["left_due_list_at"] is None for r in still_due)


def naive(value: t.Any) -> dt.datetime:
    """A timestamp as a naive UTC datetime, however the warehouse returned it."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return t.cast("dt.datetime", value)


def test_target_duckdb_0_8_ignores_activate_version(tmp_path, meltano_project):
    """The measurement behind README "Deleted records": b, absent from version 2, stays."""
    loader = ROOT / ".meltano/loaders/target-duckdb/venv/bin/target-duckdb"
    config = tmp_path / "config.json"
    database = tmp_path / "av.duckdb"
    config.write_text(json.dumps({"filepath": str(database), "default_target_schema": "s",
                                  "add_metadata_columns": True}))
    schema = {"type": "SCHEMA", "stream": "t", "key_properties": ["id"],
              "schema": {"type": "object", "properties": {"id": {"type": "string"}}}}
    for version, ids in ((1, ["a", "b"]), (2, ["a"])):
        messages = [schema, {"type": "ACTIVATE_VERSION", "stream": "t", "version": version}]
        messages += [{"type": "RECORD", "stream": "t", "record": {"id": i}, "version": version}
                     for i in ids]
        messages.append({"type": "ACTIVATE_VERSION", "stream": "t", "version": version})
        subprocess.run([str(loader), "--config", str(config)], check=True, capture_output=True,
                       input="\n".join(json.dumps(m) for m in messages), text=True)
    rows = read_duckdb(database, "select id, _sdc_deleted_at from s.t order by id")
    assert rows == [{"id": "a", "_sdc_deleted_at": None}, {"id": "b", "_sdc_deleted_at": None}]


def test_on_snowflake_a_complete_read_marks_what_left_and_the_mart_follows(tmp_path):
    """The dbt part on fakesnow (tests/snowflake_harness.py): the due list read twice, 40
    follow-ups completed in between; only the second read is logged as complete."""
    if not SNOWFLAKE_PYTHON.exists():
        pytest.fail(f"{SNOWFLAKE_PYTHON} missing: run `make plugins`")
    first, second = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
    with Sandbox(seed=5, scale=1) as sandbox:
        config = {"leadterra": sandbox.tap_config()["leadterra"]}
        before = sandbox.ground_truth()
        completed = set(sandbox.providers["leadterra"].complete_followups(40))
        after = sandbox.ground_truth()
        due = open_due_per_sdr(sandbox)
        schemas = {name: stream.schema for name, stream in
                   TapReplies(config=config, parse_env_config=False).streams.items()}
    followups = [{**f, READ_VERSION: first} for f in before["leadterra_followups"]
                 if f["id"] in completed]
    followups += [{**f, READ_VERSION: second} for f in after["leadterra_followups"]]
    raw = {
        "leadterra_followups": {"schema": schemas["leadterra_followups"], "records": followups},
        "leadterra_sdrs": {"schema": schemas["leadterra_sdrs"], "records": [
            {**s, READ_VERSION: second} for s in after["leadterra_sdrs"]]},
        READS_STREAM: {"schema": READS_SCHEMA, "records": [
            {"stream": "leadterra_followups", "read_version": v, "records": 0}
            for v in (first, second)]},
    }
    (tmp_path / "raw.json").write_text(json.dumps(raw), encoding="utf-8")
    proc = subprocess.run([str(SNOWFLAKE_PYTHON), str(HARNESS), str(tmp_path / "raw.json"),
                           str(tmp_path / "out.json")], capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert set(result["deleted"]["leadterra_followups"]) == completed
    got = {row["sdr_id"]: row["due"] for row in result["marts"]["followups_due_by_sdr"]}
    assert got == due


def due_list(path: Path) -> None:
    """A raw due list as target-duckdb lays it: f1 from an old complete read, f2 from the newest
    complete read, f3 from a later partial read (no log row)."""
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA tap_replies")
    con.execute("CREATE TABLE tap_replies.leadterra_followups (id VARCHAR, sdrid VARCHAR, "
                "status VARCHAR, dueat TIMESTAMP, _read_version TIMESTAMP, "
                "_sdc_batched_at TIMESTAMP, _sdc_deleted_at VARCHAR)")
    con.execute("CREATE TABLE tap_replies.full_table_reads (stream VARCHAR, "
                "read_version TIMESTAMP, records BIGINT, _sdc_batched_at TIMESTAMP)")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    con.execute("CREATE TABLE tap_replies.leadterra_sdrs (id VARCHAR, name VARCHAR, "
                "_sdc_batched_at TIMESTAMP)")
    con.execute("INSERT INTO tap_replies.leadterra_sdrs VALUES ('sdr_1', 'Ann', ?)", [now])
    for followup, read in (("f1", 1), ("f2", 2), ("f3", 3)):
        con.execute("INSERT INTO tap_replies.leadterra_followups VALUES (?, 'sdr_1', 'pending', "
                    "?, ?, ?, NULL)", [followup, now, now - dt.timedelta(hours=4 - read), now])
    for read in (1, 2):
        con.execute("INSERT INTO tap_replies.full_table_reads VALUES ('leadterra_followups', ?, "
                    "1, ?)", [now - dt.timedelta(hours=4 - read), now])
    con.close()


@pytest.mark.parametrize("hard", [False, True])
def test_only_rows_older_than_the_newest_complete_read_leave(tmp_path, hard):
    database = tmp_path / "replies.duckdb"
    due_list(database)
    proc = dbt_build(database, tmp_path, {"tap_replies_hard_delete": True} if hard else None)
    assert proc.returncode == 0, proc.stdout[-4000:]
    raw = read_duckdb(database, "SELECT id, _sdc_deleted_at IS NOT NULL AS deleted "
                                "FROM tap_replies.leadterra_followups ORDER BY id")
    expected = [("f2", False), ("f3", False)] if hard else [
        ("f1", True), ("f2", False), ("f3", False)]
    assert [(row["id"], row["deleted"]) for row in raw] == expected
    assert read_duckdb(database, "SELECT due FROM analytics.followups_due_by_sdr") == [{"due": 2}]
