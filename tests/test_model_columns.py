"""No rule without data: every raw column a staging model reads is one the tap's stream declares
(the SDK drops any other before it reaches the warehouse) or a loader's `_sdc_*` column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tap_replies.tap import TapReplies
from tests.expected_marts import MARTS

STAGING = Path(__file__).resolve().parent.parent / "transform/models/staging"
TABLE = re.compile(r"union_workspace_tables\('(\w+)',\s*\{(.*?)\}\s*\)", re.DOTALL)
COLUMN = re.compile(r"'(\w+)':\s*'\w+'")


def columns_read() -> dict[str, tuple[str, set[str]]]:
    """Per staging model, the raw table it reads and the properties it asks for."""
    read: dict[str, tuple[str, set[str]]] = {}
    for path in sorted(STAGING.glob("stg_*.sql")):
        match = TABLE.search(path.read_text(encoding="utf-8"))
        assert match, f"{path.name} reads no raw table through union_workspace_tables"
        read[path.stem] = (match.group(1), set(COLUMN.findall(match.group(2))))
    return read


def declared(config: dict) -> dict[str, set[str]]:
    tap = TapReplies(config=config, parse_env_config=False)
    return {name: set(stream.schema["properties"]) for name, stream in tap.streams.items()}


@pytest.mark.parametrize("model", sorted(columns_read()))
def test_every_column_a_staging_model_reads_is_in_its_streams_schema(sandbox, model):
    config = sandbox.tap_config()
    config["tuco"]["campaign_ids"] = ["camp_1"]  # the campaign_id a per-campaign read adds
    table, columns = columns_read()[model]
    schemas = declared(config)
    assert table in schemas, f"{model} reads {table}, which is no stream"
    undeclared = {c for c in columns - schemas[table] if not c.startswith("_sdc_")}
    assert not undeclared, f"{model} reads {sorted(undeclared)}, which {table} never carries"


def test_every_stream_has_a_staging_model(sandbox):
    tables = {table for table, _ in columns_read().values()}
    assert tables == set(declared(sandbox.tap_config()))


MARTS_DIR = STAGING.parent / "marts"


def dbt_marts() -> dict[str, dict]:
    """The marts as the dbt project declares them (every model under models/marts/, tag mart)."""
    declared: dict[str, dict] = {}
    for path in MARTS_DIR.rglob("*.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models", []):
            declared[model["name"]] = model
    return declared


def test_every_mart_model_is_declared_and_every_column_of_it_described():
    sql = {path.stem for path in MARTS_DIR.rglob("*.sql")}
    declared = dbt_marts()
    assert set(declared) == sql
    undescribed = [f"{name}.{column['name']}" for name, model in declared.items()
                   for column in model.get("columns", []) if not column.get("description")]
    assert not undescribed


def test_the_marts_the_tests_compare_are_dbt_marts():
    assert set(MARTS) <= set(dbt_marts())
    assert "mart" in yaml.safe_load((STAGING.parent.parent / "dbt_project.yml").read_text(
        encoding="utf-8"))["models"]["tap_replies"]["marts"]["+tags"]
