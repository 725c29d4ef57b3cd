"""The unified reply model: SQL files run against the DuckDB file target-duckdb loads.

`build_model(path)` lays a `src_<stream>` view over each loaded stream table, with every column
the model reads (NULL where a table or column is missing: a provider that is not configured, or
a field the API never sent), then materialises the `analytics` tables from the .sql files here.

It opens the file with the project's duckdb (pinned to the loader's version, so both read and write
one storage format), writes only the `analytics` schema, and closes the file before returning, so
the next `meltano run` can open it again.

    python -m tap_replies.sql output/replies.duckdb     # build, then print the summary
"""

from __future__ import annotations

import contextlib
import datetime as dt
import typing as t
from dataclasses import dataclass
from pathlib import Path

if t.TYPE_CHECKING:
    import duckdb

SQL_DIR = Path(__file__).resolve().parent
LOADED_SCHEMA = "tap_replies"  # target-duckdb's default_target_schema in meltano.yml
MODEL_SCHEMA = "analytics"

# What the model reads from each stream table, by the column names target-duckdb gives them
# (lower-cased; nested objects stay JSON). Types are those of a NULL stand-in for a missing column.
SOURCES: dict[str, dict[str, str]] = {
    "leadterra_replies": {
        "id": "VARCHAR", "email": "VARCHAR", "campaignid": "VARCHAR",
        "classification": "VARCHAR", "receivedat": "TIMESTAMP", "threadsnippet": "VARCHAR",
    },
    "leadterra_sdrs": {"id": "VARCHAR", "name": "VARCHAR", "email": "VARCHAR"},
    "leadterra_followups": {
        "id": "VARCHAR", "sdrid": "VARCHAR", "status": "VARCHAR", "dueat": "TIMESTAMP",
    },
    "smartlead_campaigns": {"id": "BIGINT", "name": "VARCHAR", "status": "VARCHAR"},
    "smartlead_campaign_leads": {
        "campaign_id": "BIGINT", "id": "BIGINT", "email": "VARCHAR", "category_id": "BIGINT",
        "category_name": "VARCHAR",
    },
    "smartlead_inbox_replies": {
        "id": "VARCHAR", "lead": "JSON", "campaign": "JSON", "category": "JSON",
        "last_message": "JSON", "received_at": "TIMESTAMP",
    },
    "smartlead_lead_categories": {"id": "BIGINT", "name": "VARCHAR", "sentiment_type": "VARCHAR"},
    "tuco_replies": {
        "leadid": "VARCHAR", "recipientemail": "VARCHAR", "campaign_id": "VARCHAR",
        "campaignid": "VARCHAR", "respondedatutc": "TIMESTAMP", "classification": "VARCHAR",
        "label": "VARCHAR", "message": "VARCHAR",
    },
}

# Built in this order: later models read earlier ones.
MODELS: tuple[str, ...] = ("replies", "campaign_reply_rates", "followups_due_by_sdr")

CLASSIFICATIONS = ("interested", "not_interested", "out_of_office", "bounce", "unsubscribe",
                   "unknown")


@dataclass(frozen=True)
class ModelBuild:
    """What a build produced: rows per model table, and which stream tables were missing."""

    rows: dict[str, int]
    missing_sources: tuple[str, ...]


def model_sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def connect(path: str | Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    try:
        import duckdb
    except ImportError as exc:  # not needed to run the tap, so not one of its dependencies
        raise SystemExit("the unified model needs duckdb 1.0.0: pip install 'tap-replies[model]'"
                         ) from exc

    return duckdb.connect(str(path), read_only=read_only)


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str] | None:
    rows = con.execute(
        "SELECT lower(column_name) FROM information_schema.columns "
        "WHERE lower(table_schema) = ? AND lower(table_name) = ?",
        [schema.lower(), table.lower()],
    ).fetchall()
    return {row[0] for row in rows} or None


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def create_source_views(
    con: duckdb.DuckDBPyConnection, schema: str = LOADED_SCHEMA
) -> tuple[str, ...]:
    """Temporary `src_<stream>` views with every column in SOURCES; returns the missing tables."""
    missing: list[str] = []
    for table, columns in SOURCES.items():
        present = _columns(con, schema, table)
        select = ", ".join(
            f"{_quote(name)}" if present and name in present
            else f"CAST(NULL AS {kind}) AS {_quote(name)}"
            for name, kind in columns.items()
        )
        if present is None:
            missing.append(table)
            source = "WHERE false"
        else:
            source = f"FROM {_quote(schema)}.{_quote(table)}"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {_quote('src_' + table)} AS "
                    f"SELECT {select} {source}")
    return tuple(missing)


def build_model(
    path: str | Path,
    *,
    schema: str = LOADED_SCHEMA,
    now: dt.datetime | None = None,
) -> ModelBuild:
    """(Re)build every model table in one transaction, then close the file."""
    built_at = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    con = connect(path)
    try:
        con.execute("BEGIN TRANSACTION")
        missing = create_source_views(con, schema)
        # target-duckdb stores date-times as naive UTC TIMESTAMPs: compare like with like.
        con.execute("CREATE OR REPLACE TEMP TABLE build_info AS SELECT CAST(? AS TIMESTAMP) "
                    "AS built_at", [built_at.replace(tzinfo=None)])
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(MODEL_SCHEMA)}")
        rows: dict[str, int] = {}
        for name in MODELS:
            target = f"{_quote(MODEL_SCHEMA)}.{_quote(name)}"
            con.execute(f"CREATE OR REPLACE TABLE {target} AS {model_sql(name)}")
            count = con.execute(f"SELECT count(*) FROM {target}").fetchone()
            rows[name] = int(count[0]) if count else 0
        con.execute("COMMIT")
    except BaseException:
        # Leave the file as the loader wrote it: nothing half-built survives a failure.
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return ModelBuild(rows=rows, missing_sources=missing)
