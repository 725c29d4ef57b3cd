"""The dbt project on Snowflake, without a Snowflake account: dbt-snowflake in-process on fakesnow.

Run by tests/test_warehouses.py with the dbt-snowflake utility's own Python (its venv also holds
fakesnow, which needs a newer duckdb than the project's 1.0.0 pin: `make` installs it there):

    python tests/snowflake_harness.py RAW.json OUT.json

RAW.json holds, per stream, the tap's JSON schema and its records (the sandbox's ground truth).
The harness lays them out as target-snowflake would — one table per stream in schema TAP_REPLIES,
column names as the stream's properties, upper-cased as Snowflake folds them (the loader sets
QUOTED_IDENTIFIERS_IGNORE_CASE), objects and arrays as VARIANT, date-times as TIMESTAMP_NTZ in
UTC, plus the loader's _SDC_* metadata columns — then runs `dbt build` (models and every test)
and writes the three marts to OUT.json. target-snowflake's own load (stage, PUT, COPY INTO)
cannot run on fakesnow; this proves what runs after it.

Only the standard library, fakesnow, snowflake-connector-python and dbt are imported here.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import sys
import typing as t
import warnings
from pathlib import Path

import fakesnow
import snowflake.connector
from dbt.cli.main import dbtRunner

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "REPLIES"
RAW_SCHEMA = "TAP_REPLIES"
MARTS = ("replies", "campaign_reply_rates", "followups_due_by_sdr")
# What target-snowflake adds to every table (add_record_metadata, on by default).
METADATA_COLUMNS = {
    "_SDC_EXTRACTED_AT": "TIMESTAMP_NTZ", "_SDC_RECEIVED_AT": "TIMESTAMP_NTZ",
    "_SDC_BATCHED_AT": "TIMESTAMP_NTZ", "_SDC_DELETED_AT": "TIMESTAMP_NTZ",
    "_SDC_SEQUENCE": "NUMBER", "_SDC_TABLE_VERSION": "NUMBER", "_SDC_SYNC_STARTED_AT": "NUMBER",
}


def snowflake_type(schema: dict[str, t.Any]) -> str:
    """target-snowflake's column type for a JSON-schema property."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "object" in types or "array" in types:
        return "VARIANT"
    if "string" in types and schema.get("format") == "date-time":
        return "TIMESTAMP_NTZ"
    if "integer" in types:
        return "NUMBER(38, 0)"
    if "number" in types:
        return "FLOAT"
    if "boolean" in types:
        return "BOOLEAN"
    return "VARCHAR"


def utc_naive(value: str) -> str:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed.isoformat(sep=" ")


def load_raw(cursor: t.Any, streams: dict[str, dict[str, t.Any]]) -> None:
    """Each stream's records arrive as one JSON array and are copied into the typed table by
    path (`value:"COL"`), as target-snowflake's COPY INTO reads its staged JSON (`$1:"COL"`)."""
    loaded_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}.{RAW_SCHEMA}")
    for stream, content in streams.items():
        properties: dict[str, dict[str, t.Any]] = content["schema"]["properties"]
        types = {name.upper(): snowflake_type(p) for name, p in properties.items()}
        types.update(METADATA_COLUMNS)
        table = f"{DATABASE}.{RAW_SCHEMA}.{stream.upper()}"
        cursor.execute(f"CREATE OR REPLACE TABLE {table} "
                       f"({', '.join(f'{quote(n)} {kind}' for n, kind in types.items())})")
        if not content["records"]:
            continue
        records = [staged(record, types, loaded_at) for record in content["records"]]
        paths = ", ".join(
            f"value:{quote(n)}" if kind == "VARIANT"
            else f"CAST(value:{quote(n)}::varchar AS {kind})" for n, kind in types.items())
        cursor.execute(f"INSERT INTO {table} SELECT {paths} "
                       "FROM TABLE(FLATTEN(INPUT => PARSE_JSON(%s)))", [json.dumps(records)])


def quote(name: str) -> str:
    return f'"{name}"'


def staged(record: dict[str, t.Any], types: dict[str, str], loaded_at: str) -> dict[str, t.Any]:
    """A record as the loader stages it: upper-case keys, date-times in UTC, nulls left out."""
    row: dict[str, t.Any] = {"_SDC_BATCHED_AT": loaded_at}
    for name, value in record.items():
        key = name.upper()
        if value is None or key not in types:
            continue
        row[key] = utc_naive(value) if types[key] == "TIMESTAMP_NTZ" else value
    return row


def plain(value: t.Any) -> t.Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


def read_marts(cursor: t.Any) -> dict[str, list[dict[str, t.Any]]]:
    marts: dict[str, list[dict[str, t.Any]]] = {}
    for mart in MARTS:
        cursor.execute(f"SELECT * FROM {DATABASE}.ANALYTICS.{mart.upper()}")
        names = [d[0].lower() for d in cursor.description]
        marts[mart] = [dict(zip(names, map(plain, row), strict=True)) for row in cursor.fetchall()]
    return marts


def read_deleted(cursor: t.Any, streams: t.Iterable[str]) -> dict[str, list[t.Any]]:
    """Per raw table with an ID, the ids marked deleted (_SDC_DELETED_AT set)."""
    deleted: dict[str, list[t.Any]] = {}
    for stream in streams:
        cursor.execute("SELECT column_name FROM information_schema.columns "
                       "WHERE table_schema = %s AND table_name = %s", [RAW_SCHEMA, stream.upper()])
        if "ID" in {row[0].upper() for row in cursor.fetchall()}:
            cursor.execute(f"SELECT ID FROM {DATABASE}.{RAW_SCHEMA}.{stream.upper()} "
                           "WHERE _SDC_DELETED_AT IS NOT NULL")
            deleted[stream] = sorted(plain(row[0]) for row in cursor.fetchall())
    return deleted


def main(raw_path: str, out_path: str) -> int:
    # fakesnow's note that Arrow output copies rows: a cost here, not a finding.
    warnings.filterwarnings("ignore", message="Arrow output", category=UserWarning)
    streams = json.loads(Path(raw_path).read_text(encoding="utf-8"))
    os.environ.update({
        "TARGET_SNOWFLAKE_ACCOUNT": "fakesnow", "TARGET_SNOWFLAKE_USER": "fake",
        "TARGET_SNOWFLAKE_PASSWORD": "fake", "TARGET_SNOWFLAKE_DATABASE": DATABASE,
        "DBT_THREADS": "1",
    })
    with fakesnow.patch():
        connection = snowflake.connector.connect(database=DATABASE)
        cursor = connection.cursor()
        load_raw(cursor, streams)
        result = dbtRunner().invoke([
            "build", "--project-dir", str(ROOT / "transform"),
            "--profiles-dir", str(ROOT / "transform" / "profiles"), "--target", "snowflake",
            "--target-path", str(Path(out_path).parent / "dbt-target"),
            "--log-path", str(Path(out_path).parent / "dbt-logs"),
        ])
        tests = {r.node.unique_id: r.status for r in (result.result or [])
                 if r.node.resource_type == "test"}
        output = {"success": result.success, "exception": repr(result.exception),
                  "tests": tests, "marts": read_marts(cursor) if result.success else {},
                  "deleted": read_deleted(cursor, streams) if result.success else {}}
    Path(out_path).write_text(json.dumps(output, default=plain), encoding="utf-8")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
