"""The dbt project on hand-made raw tables (no Meltano run): workspaces, Tuco's opt-out rule,
columns only some loads have, and a build that fails when a test does.

Each module-level build runs the dbt-duckdb utility's own `dbt build` on a small DuckDB file laid
out as target-duckdb lays it (lower-cased column names, date-times as naive UTC timestamps).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import typing as t
from pathlib import Path

import duckdb
import pytest

from tests.elt_scenario import ROOT, UTILITIES, read_duckdb

pytestmark = pytest.mark.elt

DBT = UTILITIES / "dbt-duckdb/venv/bin/dbt"
NOW = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)

LEADTERRA_REPLIES = ("CREATE TABLE {schema}.leadterra_replies (id VARCHAR, email VARCHAR, "
                     "campaignid VARCHAR, classification VARCHAR, receivedat TIMESTAMP, "
                     "threadsnippet VARCHAR, _sdc_batched_at TIMESTAMP)")
TUCO_REPLIES = ("CREATE TABLE {schema}.tuco_replies (leadid VARCHAR, message VARCHAR, "
                "respondedatutc TIMESTAMP, recipientemail VARCHAR, _sdc_batched_at TIMESTAMP)")
# Tuco's opt-out rule, one lead per case: (message, a `label` column a hand-made load has,
# expected classification). Tuco documents no label: the model reads none, so it never wins.
TUCO_CASES = {
    "stop": ("STOP", None, "unsubscribe"),
    "stop_padded": ("  stop \n", None, "unsubscribe"),
    "stopall": ("StopAll", None, "unsubscribe"),
    "unsubscribe": ("unsubscribe", None, "unsubscribe"),
    "cancel": ("Cancel", None, "unsubscribe"),
    "end": ("end", None, "unsubscribe"),
    "quit": ("QUIT", None, "unsubscribe"),
    "in_a_sentence": ("please stop texting me", None, "unknown"),
    "punctuated": ("Stop.", None, "unknown"),
    "label_ignored": ("STOP", "interested", "unsubscribe"),
    "unknown_label": ("STOP", "spam", "unsubscribe"),
    "plain": ("Sounds good 👍", None, "unknown"),
}


def dbt_build(database: Path, tmp: Path, variables: dict[str, t.Any] | None = None
              ) -> subprocess.CompletedProcess[str]:
    if not DBT.exists():
        message = f"{DBT} not found: run `make test` (it installs the dbt utilities)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    command = [str(DBT), "build", "--project-dir", str(ROOT / "transform"),
               "--profiles-dir", str(ROOT / "transform/profiles"), "--target", "duckdb",
               "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs")]
    if variables:
        command += ["--vars", json.dumps(variables)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "TARGET_DUCKDB_FILEPATH": str(database),
                               "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})


def two_workspaces(path: Path) -> None:
    """Workspace a: Leadterra and Tuco (with tuco.campaign_ids, so a campaign_id column);
    workspace b: Leadterra only, sharing a reply id with a."""
    con = duckdb.connect(str(path))
    try:
        for schema in ("ws_a", "ws_b"):
            con.execute(f"CREATE SCHEMA {schema}")
            con.execute(LEADTERRA_REPLIES.format(schema=schema))
            con.execute(f"INSERT INTO {schema}.leadterra_replies VALUES ('rpl_1', "
                        f"'lead@{schema}.example', 'camp_1', 'interested', ?, 'Yes!', ?)",
                        [NOW - dt.timedelta(days=1), NOW])
        con.execute(TUCO_REPLIES.format(schema="ws_a"))
        con.execute("ALTER TABLE ws_a.tuco_replies ADD COLUMN campaign_id VARCHAR")
        con.execute("ALTER TABLE ws_a.tuco_replies ADD COLUMN label VARCHAR")
        for lead, (message, label, _) in TUCO_CASES.items():
            con.execute("INSERT INTO ws_a.tuco_replies VALUES (?, ?, ?, NULL, ?, 'camp9', ?)",
                        [lead, message, NOW - dt.timedelta(hours=2), NOW, label])
    finally:
        con.close()


@pytest.fixture(scope="module")
def workspaces_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("workspaces")
    database = tmp / "replies.duckdb"
    two_workspaces(database)
    proc = dbt_build(database, tmp, {"tap_replies_workspaces": [
        {"name": "a", "schema": "ws_a"}, {"name": "b", "schema": "ws_b"}]})
    assert proc.returncode == 0, proc.stdout[-4000:]
    return database


def test_two_workspaces_sharing_a_reply_id_stay_two_rows_keyed_by_workspace(workspaces_build):
    rows = read_duckdb(workspaces_build, "SELECT workspace, reply_id, lead_email FROM "
                                         "analytics.replies WHERE provider = 'leadterra' "
                                         "ORDER BY workspace")
    assert rows == [
        {"workspace": "a", "reply_id": "rpl_1", "lead_email": "lead@ws_a.example"},
        {"workspace": "b", "reply_id": "rpl_1", "lead_email": "lead@ws_b.example"},
    ]
    rates = read_duckdb(workspaces_build, "SELECT workspace, campaign_id, replies FROM "
                                          "analytics.campaign_reply_rates WHERE provider = "
                                          "'leadterra' ORDER BY workspace")
    assert rates == [{"workspace": "a", "campaign_id": "camp_1", "replies": 1},
                     {"workspace": "b", "campaign_id": "camp_1", "replies": 1}]


def test_a_workspace_without_a_providers_tables_contributes_no_rows(workspaces_build):
    per_workspace = read_duckdb(workspaces_build,
                                "SELECT workspace, provider, count(*) AS n "
                                "FROM analytics.replies GROUP BY ALL ORDER BY ALL")
    assert per_workspace == [
        {"workspace": "a", "provider": "leadterra", "n": 1},
        {"workspace": "a", "provider": "tuco", "n": len(TUCO_CASES)},
        {"workspace": "b", "provider": "leadterra", "n": 1},
    ]
    assert read_duckdb(workspaces_build, "SELECT count(*) AS n FROM "
                                         "tap_replies_staging.stg_smartlead_inbox_replies"
                       ) == [{"n": 0}]


def test_tuco_opt_out_words_are_unsubscribe_and_an_undocumented_label_is_not_read(workspaces_build):
    rows = read_duckdb(workspaces_build, "SELECT reply_id, classification FROM analytics.replies "
                                         "WHERE provider = 'tuco'")
    got = {row["reply_id"]: row["classification"] for row in rows}
    assert got == {lead: expected for lead, (_, _, expected) in TUCO_CASES.items()}


def test_a_tuco_reply_read_per_campaign_keeps_its_campaign_in_the_marts(workspaces_build):
    campaigns = read_duckdb(workspaces_build, "SELECT DISTINCT campaign_id FROM analytics.replies "
                                              "WHERE provider = 'tuco'")
    assert campaigns == [{"campaign_id": "camp9"}]
    rates = read_duckdb(workspaces_build, "SELECT replies FROM analytics.campaign_reply_rates "
                                          "WHERE provider = 'tuco'")
    assert rates == [{"replies": len(TUCO_CASES)}]


def test_dbt_build_fails_when_a_raw_table_was_last_loaded_too_long_ago(tmp_path):
    """Leadterra's table was last loaded 49 hours ago (the limit is 48), Tuco's an hour ago."""
    database = tmp_path / "replies.duckdb"
    con = duckdb.connect(str(database))
    con.execute("CREATE SCHEMA tap_replies")
    con.execute(LEADTERRA_REPLIES.format(schema="tap_replies"))
    con.execute("INSERT INTO tap_replies.leadterra_replies VALUES ('rpl_1', 'a@b.example', "
                "'camp_1', 'interested', ?, 'Yes', ?)", [NOW, NOW - dt.timedelta(hours=49)])
    con.execute(TUCO_REPLIES.format(schema="tap_replies"))
    con.execute("INSERT INTO tap_replies.tuco_replies VALUES ('lead1', 'Yes', ?, NULL, ?)",
                [NOW, NOW - dt.timedelta(hours=1)])
    con.close()
    proc = dbt_build(database, tmp_path)
    assert proc.returncode != 0
    assert "FAIL 1 source_loaded_within_tap_replies_leadterra_replies" in proc.stdout
    assert "PASS source_loaded_within_tap_replies_tuco_replies" in proc.stdout
