"""The dashboard (dashboard/) as a person sees it: served on loopback, opened in headless
Chromium, every chart drawn and every total equal to the marts; a load running while it serves;
one clear line for a warehouse it cannot read.

Hand-made marts (a DuckDB file written here, two workspaces, a category history) keep most tests
fast; the `elt` ones read the marts the DuckDB scenario's real `meltano run` built.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import typing as t
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests import browser
from tests.elt_scenario import MELTANO, ROOT, Scenario, meltano_job, read_duckdb
from tests.expected_marts import expected_replies, utc

try:
    import plotly  # noqa: F401  (the dashboard extra)
except ImportError:  # pragma: no cover - `make test` installs it
    if os.environ.get("CI"):
        raise
    pytest.skip("the dashboard extra is not installed: run `make dashboard` or `make test`",
                allow_module_level=True)

from dashboard.marts import Filters, Marts, category_movements
from dashboard.server import MartCache, make_server
from dashboard.warehouse import DuckDBWarehouse, PostgresWarehouse, WarehouseError

NOW = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
MART_TABLES = {
    "replies_by_day": "workspace VARCHAR, provider VARCHAR, reply_date DATE, "
                      "classification VARCHAR, replies BIGINT",
    "campaign_reply_rates": "workspace VARCHAR, provider VARCHAR, campaign_id VARCHAR, "
                            "campaign_name VARCHAR, leads BIGINT, replies BIGINT, "
                            "interested BIGINT, negative BIGINT, positive_rate DECIMAL(10,4), "
                            "positive_per_lead DECIMAL(10,4), last_reply_at TIMESTAMP",
    "followups_due_by_sdr": "workspace VARCHAR, sdr_id VARCHAR, sdr_name VARCHAR, "
                            "sdr_email VARCHAR, due BIGINT, overdue BIGINT, next_due_at TIMESTAMP",
    "workspace_loads": "workspace VARCHAR, raw_schema VARCHAR, streams_loaded BIGINT, "
                       "row_count BIGINT, rows_loaded_last_day BIGINT, last_loaded_at TIMESTAMP, "
                       "oldest_stream_loaded_at TIMESTAMP, max_load_age_hours INTEGER, "
                       "stale_at_build BOOLEAN, built_at TIMESTAMP",
    "stream_loads": "workspace VARCHAR, provider VARCHAR, stream VARCHAR, row_count BIGINT, "
                    "rows_loaded_last_day BIGINT, last_loaded_at TIMESTAMP",
    "lead_category_history": "workspace VARCHAR, provider VARCHAR, lead_email VARCHAR, "
                             "category_name VARCHAR, dbt_valid_from TIMESTAMP, "
                             "dbt_valid_to TIMESTAMP",
}
DAY1, DAY2 = dt.date(2026, 5, 1), dt.date(2026, 5, 20)
MART_ROWS: dict[str, list[tuple[t.Any, ...]]] = {
    "replies_by_day": [("acme", "smartlead", DAY1, "interested", 3),
                       ("acme", "smartlead", DAY2, "not_interested", 2),
                       ("acme", "leadterra", DAY2, "interested", 1),
                       ("beta", "tuco", DAY1, "unsubscribe", 4)],
    "campaign_reply_rates": [("acme", "smartlead", "101", "Spring outreach", 40, 5, 3, 2,
                              0.6, 0.075, NOW), ("acme", "leadterra", "camp_1", None, None, 1, 1,
                                                 0, 1.0, None, NOW)],
    "followups_due_by_sdr": [("acme", "sdr_1", "Aisha Bello", "a@x.example", 4, 3, NOW),
                             ("beta", "sdr_2", "Chen Wei", None, 2, 0, NOW)],
    "workspace_loads": [("acme", "tap_replies__acme", 3, 20, 5, NOW - dt.timedelta(hours=1),
                         NOW - dt.timedelta(hours=2), 48, False, NOW),
                        # Fresh when its marts were built, three days ago: stale now.
                        ("beta", "tap_replies__beta", 1, 4, 4, NOW - dt.timedelta(days=3),
                         NOW - dt.timedelta(days=3), 48, False, NOW - dt.timedelta(days=3))],
    "stream_loads": [("acme", "smartlead", "smartlead_inbox_replies", 5, 2,
                      NOW - dt.timedelta(hours=1)),
                     ("beta", "tuco", "tuco_replies", 4, 4, NOW - dt.timedelta(days=3))],
    "lead_category_history": [
        ("acme", "smartlead", "a@lead.example", "Interested", dt.datetime(2026, 5, 2), None),
        ("acme", "smartlead", "a@lead.example", "Meeting Booked", dt.datetime(2026, 5, 9), None),
        ("acme", "smartlead", "b@lead.example", "Interested", dt.datetime(2026, 4, 2), None),
        ("acme", "smartlead", "b@lead.example", "Meeting Booked", dt.datetime(2026, 4, 9), None)],
}


def write_marts(path: Path, marts: t.Iterable[str] = MART_TABLES) -> Path:
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA analytics")
        for mart in marts:
            con.execute(f"CREATE TABLE analytics.{mart} ({MART_TABLES[mart]})")
            for row in MART_ROWS[mart]:
                con.execute(f"INSERT INTO analytics.{mart} VALUES "
                            f"({', '.join('?' * len(row))})", list(row))
    finally:
        con.close()
    return path


@pytest.fixture
def hand_made(tmp_path: Path) -> Path:
    return write_marts(tmp_path / "marts.duckdb")


def serving(cache: MartCache) -> Iterator[str]:
    server = make_server(cache, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def dashboard_on_hand_made(hand_made: Path) -> Iterator[str]:
    yield from serving(MartCache(DuckDBWarehouse(hand_made)))


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (loopback)
        return response.status, response.read().decode("utf-8")


# -- in Chromium -----------------------------------------------------------------------------


def test_every_chart_is_drawn_in_chromium_and_the_totals_are_the_marts(
    dashboard_on_hand_made: str, tmp_path: Path
):
    dom = browser.rendered_dom(dashboard_on_hand_made)
    # Replies per day by classification and by provider, per provider, campaigns, follow-ups
    # and the category movement.
    assert browser.body_attribute(dom, "data-charts") == "6"
    assert browser.body_attribute(dom, "data-charts-rendered") == "6", \
        browser.body_attribute(dom, "data-chart-error")
    assert browser.totals(dom) == {
        "replies": "10", "interested": "4", "positive_share": "40.0%", "campaigns": "2",
        "followups_due": "6", "followups_overdue": "3", "stale_workspaces": "1/2"}
    assert "No history yet" not in dom
    shot = browser.screenshot(dashboard_on_hand_made, tmp_path / "dashboard.png")
    assert shot.stat().st_size > 50_000  # a page of charts, not a blank one


def test_filters_narrow_every_total_to_the_workspace_provider_and_dates(
    dashboard_on_hand_made: str
):
    dom = browser.rendered_dom(dashboard_on_hand_made
                               + "?workspace=acme&provider=smartlead&from=2026-05-10&to=2026-05-31")
    assert browser.totals(dom) == {
        "replies": "2", "interested": "0", "positive_share": "0.0%", "campaigns": "1",
        "followups_due": "0", "followups_overdue": "0", "stale_workspaces": "0/1"}
    assert browser.body_attribute(dom, "data-charts-rendered") == browser.body_attribute(
        dom, "data-charts")


def test_a_workspace_that_stopped_loading_is_stale_when_looked_at_not_when_built(
    hand_made: Path
):
    rows = DuckDBWarehouse(hand_made).read_marts(tuple(MART_TABLES))
    workspaces = {r["workspace"]: r for r in Marts.checked(rows, "test").workspaces(Filters())}
    assert workspaces["beta"]["stale_at_build"] is False
    assert workspaces["beta"]["stale"] is True
    assert workspaces["acme"]["stale"] is False


def test_category_movement_counts_changes_within_the_period_only():
    history = [dict(zip(("workspace", "provider", "lead_email", "category_name",
                         "dbt_valid_from", "dbt_valid_to"), row, strict=True))
               for row in MART_ROWS["lead_category_history"]]
    may = Filters(start=dt.date(2026, 5, 1), end=dt.date(2026, 5, 31))
    assert category_movements(history, may) == {("Interested", "Meeting Booked"): 1}
    assert category_movements(history, Filters()) == {("Interested", "Meeting Booked"): 2}


def test_without_a_category_history_the_page_says_no_history_yet(tmp_path: Path):
    path = write_marts(tmp_path / "no-history.duckdb",
                       [m for m in MART_TABLES if m != "lead_category_history"])
    for url in serving(MartCache(DuckDBWarehouse(path))):
        status, page = get(url)
        assert status == 200
        assert "No history yet" in page


# -- on the marts a real load built ----------------------------------------------------------


@pytest.mark.elt
def test_the_totals_in_chromium_equal_the_marts_the_sandbox_load_built(
    duckdb_elt: Scenario, tmp_path: Path
):
    database = duckdb_elt.database
    for url in serving(MartCache(DuckDBWarehouse(database))):
        dom = browser.rendered_dom(url)
        browser.screenshot(url, tmp_path / "sandbox-marts.png")
    replies = read_duckdb(database, "SELECT count(*) AS n, count(CASE WHEN classification = "
                          "'interested' THEN 1 END) AS i FROM analytics.replies")[0]
    followups = read_duckdb(database, "SELECT sum(due) AS due, sum(overdue) AS overdue "
                            "FROM analytics.followups_due_by_sdr")[0]
    campaigns = read_duckdb(database, "SELECT count(*) AS n FROM analytics.campaign_reply_rates")
    # Every chart drawn, the category movement among them: dbt's snapshot of the scenario's loads
    # keeps a lead's earlier category period beside its current one.
    assert browser.body_attribute(dom, "data-charts-rendered") == browser.body_attribute(
        dom, "data-charts") == "6"
    assert browser.totals(dom) == {
        "replies": str(replies["n"]), "interested": str(replies["i"]),
        "positive_share": f"{replies['i'] / replies['n'] * 100:.1f}%",
        "campaigns": str(campaigns[0]["n"]), "followups_due": str(followups["due"]),
        "followups_overdue": str(followups["overdue"]), "stale_workspaces": "0/1"}


@pytest.mark.elt
def test_a_load_runs_while_the_dashboard_serves_and_the_page_then_shows_it(
    duckdb_elt: Scenario, tmp_path: Path
):
    database = tmp_path / "replies.duckdb"
    database.write_bytes(duckdb_elt.database.read_bytes())
    cache = MartCache(DuckDBWarehouse(database))
    before = cache.current()[0]
    assert before is not None
    served: list[int] = []
    done = threading.Event()

    def keep_looking(url: str) -> None:
        while not done.is_set():
            served.append(get(url)[0])

    for url in serving(cache):
        looker = threading.Thread(target=keep_looking, args=(url,))
        looker.start()
        try:
            run = meltano_job("replies-duckdb", duckdb_elt.sandbox, tmp_path / "meltano.db",
                              {"TARGET_DUCKDB_FILEPATH": str(database)})
        finally:
            done.set()
            looker.join()
        _, page = get(url)
    assert run.returncode == 0, run.log[-3000:]
    assert len(served) >= 3
    assert set(served) == {200}
    after = cache.current()[0]
    assert after is not None
    last_load = [r["last_loaded_at"] for r in after.workspaces(Filters())]
    assert last_load > [r["last_loaded_at"] for r in before.workspaces(Filters())]
    assert last_load[0].strftime("%Y-%m-%d %H:%M") in page


@pytest.mark.elt
def test_meltano_invoke_dashboard_writes_a_snapshot(hand_made: Path, tmp_path: Path):
    snapshot = tmp_path / "dashboard.html"
    proc = subprocess.run(
        [str(MELTANO), "invoke", "dashboard", "--snapshot", str(snapshot)], cwd=ROOT,
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "TARGET_DUCKDB_FILEPATH": str(hand_made),
             "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = snapshot.read_text(encoding="utf-8")
    assert 'data-total="replies">10<' in text
    assert 'src="plotly.min.js"' not in text  # plotly.js inlined: the file stands alone


# -- a warehouse it cannot read: one line, exit 2 --------------------------------------------


def run_dashboard(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TARGET_")}
    return subprocess.run([sys.executable, "-m", "dashboard", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**clean, **env})


def assert_one_line(proc: subprocess.CompletedProcess[str], *wanted: str) -> None:
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for text in wanted:
        assert text in proc.stderr


def test_no_warehouse_file_is_one_line_saying_run_the_demo(tmp_path: Path):
    proc = run_dashboard({"TARGET_DUCKDB_FILEPATH": str(tmp_path / "missing.duckdb")})
    assert_one_line(proc, "no DuckDB file at", "missing.duckdb", "run `make demo` or a job first")


def test_an_empty_warehouse_is_one_line_saying_run_the_demo(tmp_path: Path):
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    proc = run_dashboard({"TARGET_DUCKDB_FILEPATH": str(tmp_path / "empty.duckdb")})
    assert_one_line(proc, "has no marts yet", "analytics.replies_by_day",
                    "run `make demo` or a job first")


def test_an_unreachable_postgres_is_one_line_without_the_password():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    proc = run_dashboard({"TARGET_POSTGRES_HOST": "127.0.0.1",
                          "TARGET_POSTGRES_PORT": str(closed_port),
                          "TARGET_POSTGRES_USER": "loader",
                          "TARGET_POSTGRES_PASSWORD": "s3cret-pw-never-shown",
                          "TARGET_POSTGRES_DATABASE": "analytics"})
    assert_one_line(proc, "cannot reach PostgreSQL", f"127.0.0.1:{closed_port}",
                    "check TARGET_POSTGRES_HOST")
    assert "s3cret-pw-never-shown" not in proc.stderr + proc.stdout


def test_a_missing_postgres_setting_is_named():
    proc = run_dashboard({"TARGET_POSTGRES_HOST": "127.0.0.1"})
    assert_one_line(proc, "TARGET_POSTGRES_USER, TARGET_POSTGRES_DATABASE not set")


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.mark.elt
def test_postgres_marts_are_read_in_a_read_only_session(postgres: t.Any):
    import psycopg

    server = postgres.create_database("dashboard_marts")
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        connection.execute("CREATE SCHEMA analytics")
        for mart, columns in MART_TABLES.items():
            pg_columns = columns.replace("VARCHAR", "text").replace("DOUBLE", "float8")
            connection.execute(f"CREATE TABLE analytics.{mart} ({pg_columns})")
            for row in MART_ROWS[mart]:
                connection.execute(f"INSERT INTO analytics.{mart} VALUES "
                                   f"({', '.join(['%s'] * len(row))})", row)
    warehouse = PostgresWarehouse(server.host, server.port, server.user, server.password,
                                  server.database)
    marts = Marts.checked(warehouse.read_marts(tuple(MART_TABLES)), warehouse.description)
    assert marts.totals(Filters()).replies == 10
    with warehouse.connect() as connection, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        connection.execute("CREATE TABLE analytics.written_by_the_dashboard (id int)")


def test_a_file_that_is_not_duckdb_is_one_clear_error(tmp_path: Path):
    (tmp_path / "not.duckdb").write_text("hello")
    with pytest.raises(WarehouseError, match="not a DuckDB file"):
        DuckDBWarehouse(tmp_path / "not.duckdb").read_marts(("replies_by_day",))


# -- the README's commands -------------------------------------------------------------------

README = ROOT / "README.md"


def readme_dashboard_commands() -> list[str]:
    block = README.read_text(encoding="utf-8").split("<!-- dashboard-commands:start -->")[1]
    block = block.split("<!-- dashboard-commands:end -->")[0]
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("```")]


def test_the_readme_shows_the_dashboard_commands_the_next_test_runs():
    assert readme_dashboard_commands() == [
        "make dashboard", ".venv/bin/meltano invoke dashboard:serve",
        ".venv/bin/meltano invoke dashboard:snapshot",
        ".venv/bin/python -m dashboard --snapshot output/dashboard.html"]


def serves_until_stopped(command: list[str], env: dict[str, str]) -> None:
    """Started, it prints its address and serves the page; SIGTERM to its process group stops
    every process it started within seconds."""
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "http://127.0.0.1:" in line:
                break
        url = line.split("http://", 1)[1].split()[0] if lines else ""
        assert url, "".join(lines)
        status, page = get(f"http://{url}")
        assert status == 200
        assert 'data-total="replies">10<' in page
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)


@pytest.mark.elt
@pytest.mark.parametrize("command", readme_dashboard_commands())
def test_every_dashboard_command_in_the_readme_runs(command: str, hand_made: Path):
    env = {**os.environ, "TARGET_DUCKDB_FILEPATH": str(hand_made), "DASHBOARD_PORT": "0",
           "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if "snapshot" not in command:
        serves_until_stopped(shlex.split(command), env)
        return
    snapshot = ROOT / "output" / "dashboard.html"
    snapshot.unlink(missing_ok=True)
    proc = subprocess.run(shlex.split(command), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'data-total="replies">10<' in snapshot.read_text(encoding="utf-8")


# -- Snowflake, on fakesnow ------------------------------------------------------------------

SNOWFLAKE_PYTHON = ROOT / ".meltano/utilities/dbt-snowflake/venv/bin/python"
# Run in the dbt-snowflake utility's venv (fakesnow needs duckdb 2; the project pins 1.0.0):
# the hand-made marts written through Snowflake's connector, read back by the dashboard's reader.
SNOWFLAKE_HARNESS = """
import json, sys
sys.path.insert(0, sys.argv[1])
import fakesnow
tables, rows = json.loads(open(sys.argv[2]).read())
with fakesnow.patch(create_database_on_connect=True, create_schema_on_connect=True):
    import snowflake.connector
    settings = {"account": "acct", "user": "reader", "password": "pw", "database": "RAW"}
    with snowflake.connector.connect(**settings, schema="ANALYTICS") as con:
        for mart, columns in tables.items():
            con.cursor().execute(f"CREATE TABLE analytics.{mart} ({columns})")
            for row in rows[mart]:
                con.cursor().execute(f"INSERT INTO analytics.{mart} VALUES "
                                     f"({', '.join(['%s'] * len(row))})", row)
    from dashboard.marts import Filters, Marts
    from dashboard.warehouse import SnowflakeWarehouse
    warehouse = SnowflakeWarehouse(settings)
    totals = Marts.checked(warehouse.read_marts(list(tables)), warehouse.description).totals(
        Filters(workspace="acme"))
    print(json.dumps({"replies": totals.replies, "followups_due": totals.followups_due,
                      "workspaces": totals.workspaces}))
"""


@pytest.mark.elt
def test_snowflake_marts_are_read_through_snowflakes_connector(tmp_path: Path):
    if not SNOWFLAKE_PYTHON.exists():
        message = "the dbt-snowflake utility is not installed: run `make plugins`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    tables = {mart: columns.replace("TIMESTAMP", "TIMESTAMP_NTZ")
              for mart, columns in MART_TABLES.items()}
    rows = {mart: [[v.isoformat() if isinstance(v, dt.date) else v for v in row]
                   for row in MART_ROWS[mart]] for mart in MART_TABLES}
    (tmp_path / "marts.json").write_text(json.dumps([tables, rows]), encoding="utf-8")
    (tmp_path / "harness.py").write_text(SNOWFLAKE_HARNESS, encoding="utf-8")
    proc = subprocess.run([str(SNOWFLAKE_PYTHON), str(tmp_path / "harness.py"), str(ROOT),
                           str(tmp_path / "marts.json")], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
        "replies": 6, "followups_due": 4, "workspaces": 1}


# -- the dashboard's marts, from the ground truth --------------------------------------------


@pytest.mark.elt
def test_replies_by_day_counts_the_ground_truths_replies_per_day(duckdb_elt: Scenario):
    replies = expected_replies(duckdb_elt.truth_after_second)
    day = {id(r): t.cast("dt.datetime", utc(r["received_at"])).date() for r in replies}
    want = Counter((r["workspace"], r["provider"], day[id(r)], r["classification"])
                   for r in replies)
    got = {(r["workspace"], r["provider"], r["reply_date"], r["classification"]): r["replies"]
           for r in read_duckdb(duckdb_elt.database, "SELECT * FROM analytics.replies_by_day")}
    assert got == dict(want)


@pytest.mark.elt
def test_stream_and_workspace_loads_count_every_loaded_row(duckdb_elt: Scenario):
    streams = {r["stream"]: r for r in read_duckdb(
        duckdb_elt.database, "SELECT * FROM analytics.stream_loads")}
    assert {stream: r["row_count"] for stream, r in streams.items()} == {
        stream: len(rows) for stream, rows in duckdb_elt.truth_after_second.items()}
    (workspace,) = read_duckdb(duckdb_elt.database, "SELECT * FROM analytics.workspace_loads")
    assert workspace["workspace"] == "default"
    assert workspace["row_count"] == sum(len(r) for r in duckdb_elt.truth_after_second.values())
    assert workspace["last_loaded_at"] == max(r["last_loaded_at"] for r in streams.values())
    assert workspace["stale_at_build"] is False


@pytest.mark.elt
def test_workspace_loads_lists_a_workspace_that_never_loaded_as_stale(tmp_path: Path):
    from tests.test_transform import dbt_build, two_workspaces

    database = tmp_path / "replies.duckdb"
    two_workspaces(database)
    proc = dbt_build(database, tmp_path, {"tap_replies_workspaces": [
        {"name": "a", "schema": "ws_a"}, {"name": "b", "schema": "ws_b"},
        {"name": "new_client", "schema": "ws_new_client"}]})
    assert proc.returncode == 0, proc.stdout[-4000:]
    rows = {r["workspace"]: r for r in read_duckdb(
        database, "SELECT * FROM analytics.workspace_loads")}
    assert set(rows) == {"a", "b", "new_client"}
    assert rows["new_client"]["streams_loaded"] == 0
    assert rows["new_client"]["last_loaded_at"] is None
    assert rows["new_client"]["stale_at_build"] is True
    assert rows["a"]["stale_at_build"] is False
    assert rows["a"]["streams_loaded"] == 2  # leadterra_replies and tuco_replies
    assert rows["b"]["row_count"] == 1


# -- the cache between the warehouse and the page --------------------------------------------


class CountingWarehouse:
    """A warehouse without a version (as PostgreSQL): the cache decides when to read again."""

    description = "counting"

    def __init__(self, rows: dict[str, t.Any]) -> None:
        self.rows, self.reads, self.fail = rows, 0, False

    def version(self) -> None:
        return None

    def read_marts(self, marts: t.Sequence[str]) -> dict[str, t.Any]:
        self.reads += 1
        if self.fail:
            raise WarehouseError("dashboard: cannot reach counting (refused)")
        return {mart: self.rows.get(mart) for mart in marts}


def test_a_warehouse_without_a_version_is_read_again_only_after_the_refresh_time(
    hand_made: Path
):
    now = [0.0]
    warehouse = CountingWarehouse(DuckDBWarehouse(hand_made).read_marts(tuple(MART_TABLES)))
    cache = MartCache(warehouse, refresh_seconds=60, clock=lambda: now[0])
    cache.current()
    now[0] = 59
    cache.current()
    assert warehouse.reads == 1
    now[0] = 60
    cache.current()
    assert warehouse.reads == 2


def test_a_failed_read_keeps_the_marts_read_before_and_says_why(hand_made: Path):
    now = [0.0]
    warehouse = CountingWarehouse(DuckDBWarehouse(hand_made).read_marts(tuple(MART_TABLES)))
    cache = MartCache(warehouse, refresh_seconds=60, clock=lambda: now[0])
    first, _ = cache.current()
    warehouse.fail, now[0] = True, 120
    marts, problem = cache.current()
    assert marts is first
    assert problem == "dashboard: cannot reach counting (refused)"


def test_the_duckdb_file_is_read_again_when_it_changes(hand_made: Path):
    cache = MartCache(DuckDBWarehouse(hand_made))
    before, _ = cache.current()
    assert cache.current()[0] is before
    con = duckdb.connect(str(hand_made))
    con.execute("INSERT INTO analytics.replies_by_day VALUES ('acme', 'tuco', ?, 'bounce', 5)",
                [DAY2])
    con.close()
    after, _ = cache.current()
    assert after is not before
    assert after is not None
    assert after.totals(Filters()).replies == 15


def test_healthz_says_the_marts_were_read_and_an_unknown_path_is_not_found(
    dashboard_on_hand_made: str
):
    status, body = get(dashboard_on_hand_made + "healthz")
    assert (status, json.loads(body)) == (200, {"ok": True, "problem": None})
    with pytest.raises(urllib.error.HTTPError) as missing:
        get(dashboard_on_hand_made + "nothing-here")
    assert missing.value.code == 404
    missing.value.close()


HOLD_OPEN = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])  # read-write: DuckDB's one writer, holding the file's lock
con.execute("INSERT INTO analytics.replies_by_day VALUES ('acme', 'tuco', DATE '2026-05-20', "
            "'bounce', 5)")
print("holding", flush=True)
sys.stdin.readline()
con.close()
"""


def test_the_page_is_served_while_a_writer_holds_the_duckdb_file(hand_made: Path):
    writer = subprocess.Popen([sys.executable, "-c", HOLD_OPEN, str(hand_made)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert writer.stdin is not None
    assert writer.stdout is not None
    try:
        assert writer.stdout.readline().strip() == "holding"
        with pytest.raises(duckdb.IOException, match="lock"):  # what a reader's open would do
            duckdb.connect(str(hand_made), read_only=True)
        cache = MartCache(DuckDBWarehouse(hand_made))
        during, problem = cache.current()
        assert problem is None
        assert during is not None
        assert during.totals(Filters()).replies in (10, 15)  # checkpointed or not yet
    finally:
        writer.stdin.write("\n")
        writer.stdin.close()
        writer.wait(timeout=30)
        writer.stdout.close()
    after, _ = cache.current()
    assert after is not None
    assert after.totals(Filters()).replies == 15  # the writer closed: checkpointed
