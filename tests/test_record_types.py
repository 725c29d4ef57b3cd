"""Every record the tap emits fits the SCHEMA it sent, and can be written, whatever came.

A value whose type drifts is converted when nothing is lost and nulled otherwise, with one line
per stream and field; text with half of a UTF-16 pair is written with U+FFFD in its place.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import typing as t

import pytest
from jsonschema.validators import validator_for
from singer_sdk import typing as th

from tap_replies.providers import leadterra, smartlead, tuco
from tap_replies.providers.record_shape import Drift, RecordShape
from tap_replies.tap import TapReplies
from tests.syncing import SyncResult, run_tap


def schema_violations(result: SyncResult) -> list[str]:
    """Each record checked against the SCHEMA message of its stream, as a validating loader
    would (the SDK's own validator class, with every format check it has)."""
    schemas = {m["stream"]: m["schema"] for m in result.messages if m["type"] == "SCHEMA"}
    problems = []
    for stream, records in result.records.items():
        cls = validator_for(schemas[stream])
        validator = cls(schemas[stream], format_checker=cls.FORMAT_CHECKER)
        for record in records:
            problems += [f"{stream}: {e.message} at {list(e.path)}"
                         for e in validator.iter_errors(record)]
    return problems


def rows(body: t.Any) -> list[dict[str, t.Any]]:
    if isinstance(body, dict):
        body = body.get("replies", body.get("data"))
    return t.cast("list[dict[str, t.Any]]", body)


def change_rows(*changes: t.Callable[[dict[str, t.Any]], None]) -> t.Callable[[t.Any], t.Any]:
    """A sandbox rewrite: the page's first rows changed, one change each."""
    def rewrite(body: t.Any) -> t.Any:
        for row, change in zip(rows(body), changes, strict=False):
            change(row)
        return body

    return rewrite


def set_first_step(value: t.Any) -> t.Callable[[dict[str, t.Any]], None]:
    def change(row: dict[str, t.Any]) -> None:
        row["parentMessages"][0]["stepIndex"] = value

    return change


# -- type drift -------------------------------------------------------------------------------


def test_values_of_the_wrong_type_are_converted_or_nulled_and_every_record_fits_its_schema(
    sandbox, caplog
):
    sandbox.override("tuco", "/api/replies", change_rows(
        set_first_step("3"), set_first_step("three"), set_first_step("four"),
        lambda row: row.update(name=12345, recipientEmail={"primary": "a@b.c"}),
    ))
    sandbox.override("leadterra", "/v1/sdr/followups/due", change_rows(
        lambda row: row.update(step="2"), lambda row: row.update(step=2.0),
    ))
    sandbox.override("leadterra", "/v1/sdrs", change_rows(
        lambda row: row.update(gmailConnected="true"), lambda row: row.update(gmailConnected=0),
    ))
    sandbox.override("smartlead", "/api/v1/leads/fetch-categories", change_rows(
        lambda row: row.update(id=str(row["id"])),
    ))
    config = sandbox.tap_config()
    config["smartlead"]["campaign_ids"] = [sandbox.ground_truth()["smartlead_campaigns"][0]["id"]]
    with caplog.at_level(logging.INFO):
        result = run_tap(config)

    assert schema_violations(result) == []
    truth = sandbox.ground_truth()
    first, second, third, fourth = (r for r in result.records["tuco_replies"][:4])
    assert first["parentMessages"][0]["stepIndex"] == 3
    assert second["parentMessages"][0]["stepIndex"] is None
    assert third["parentMessages"][0]["stepIndex"] is None
    assert fourth["name"] == "12345"
    assert fourth["recipientEmail"] is None
    assert [r["step"] for r in result.records["leadterra_followups"][:2]] == [2, 2]
    assert [r["gmailConnected"] for r in result.records["leadterra_sdrs"][:2]] == [True, False]
    assert {r["id"] for r in result.records["smartlead_lead_categories"]} == {
        r["id"] for r in truth["smartlead_lead_categories"]}
    for stream in ("tuco_replies", "leadterra_followups", "leadterra_sdrs"):
        assert len(result.records[stream]) == len(truth[stream])  # none lost

    lines = [(r.levelno, r.getMessage()) for r in caplog.records if " came as " in r.getMessage()]
    step_nulled = [m for level, m in lines if "stepIndex" in m and level == logging.WARNING]
    assert step_nulled == [  # once per stream and field, naming the record and the type
        f"tuco_replies: parentMessages[].stepIndex came as string where the schema says integer "
        f"or null (record leadId={second['leadId']!r}): set to null; logged once per field"]
    assert (logging.INFO, "tuco_replies: parentMessages[].stepIndex came as string where the "
            f"schema says integer or null (record leadId={first['leadId']!r}): converted to "
            "integer; logged once per field") in lines
    assert any(level == logging.WARNING and "recipientEmail came as object" in m
               for level, m in lines)
    summary = [r.getMessage() for r in caplog.records
               if r.getMessage().startswith("tuco_replies: 300 records")]
    assert ", 3 values of the wrong type set to null" in summary[0]


@pytest.mark.parametrize(
    ("declared", "came", "becomes"),
    [(th.IntegerType, "3", 3), (th.IntegerType, " -12 ", -12), (th.IntegerType, 3.0, 3),
     (th.IntegerType, "3.5", None), (th.IntegerType, True, None), (th.IntegerType, [3], None),
     (th.NumberType, "2.5", 2.5), (th.NumberType, "7", 7), (th.NumberType, "1e999", None),
     (th.NumberType, "NaN", None), (th.BooleanType, "true", True), (th.BooleanType, "False", False),
     (th.BooleanType, 1, True), (th.BooleanType, 2, None), (th.BooleanType, "yes", None),
     (th.StringType, 7, "7"), (th.StringType, 2.5, "2.5"), (th.StringType, False, "false"),
     (th.StringType, {"a": 1}, None), (th.DateTimeType, 1767225600, None),
     (th.ObjectType(th.Property("a", th.IntegerType)), "{}", None),
     (th.ArrayType(th.IntegerType), "[1]", None)],
)
def test_only_a_lossless_conversion_is_applied(declared, came, becomes):
    schema = th.PropertiesList(th.Property("id", th.StringType, required=True),
                               th.Property("value", declared)).to_dict()
    record = {"id": "r1", "value": came}
    shape = RecordShape(schema)
    assert not shape.conforms(record)
    drifts: list[Drift] = []
    shape.repair(record, drifts)
    assert record == {"id": "r1", "value": becomes}
    assert record["value"].__class__ is becomes.__class__  # True is not 1
    assert shape.conforms(record)
    assert [d.lost for d in drifts] == [becomes is None]


def test_an_item_that_cannot_be_null_is_left_out_of_its_list():
    schema = th.PropertiesList(th.Property("tags", th.ArrayType(th.StringType))).to_dict()
    record = {"tags": ["a", None, 3, {"b": 1}]}
    drifts: list[Drift] = []
    RecordShape(schema).repair(record, drifts)
    assert record == {"tags": ["a", "3"]}
    assert [(d.path, d.came, d.action) for d in drifts] == [
        ("tags[]", "null", "left out"), ("tags[]", "integer", "converted to string"),
        ("tags[]", "object", "left out")]


def test_a_value_outside_its_enum_is_not_emitted():
    shape = RecordShape(th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("name", th.StringType),
        th.Property("sentiment_type", th.StringType,
                    allowed_values=["positive", "negative", "neutral"]),
    ).to_dict())
    record = {"id": 4, "name": "Maybe", "sentiment_type": "mixed"}
    drifts: list[Drift] = []
    shape.repair(record, drifts)
    # The enum leaves out null, so the value cannot be null either: it is left out.
    assert record == {"id": 4, "name": "Maybe"}
    assert drifts == [Drift("sentiment_type", "string 'mixed'",
                            "one of 'positive', 'negative', 'neutral'", "left out")]


def test_a_smartlead_sentiment_not_documented_yet_is_loaded_as_it_came():
    record = {"id": 4, "name": "Maybe", "sentiment_type": "mixed"}
    drifts: list[Drift] = []
    RecordShape(smartlead.CATEGORY_SCHEMA).repair(record, drifts)
    assert record == {"id": 4, "name": "Maybe", "sentiment_type": "mixed"}
    assert drifts == []


def test_what_msgspec_cannot_express_is_checked_in_python():
    schema = {"type": "object", "properties": {
        "id": {"type": "string"},
        "flag": {"type": ["boolean", "null"], "enum": [True, None]},  # msgspec: no bool Literal
    }}
    shape = RecordShape(schema)
    assert [name for name, _ in shape.unchecked] == ["flag"]
    assert shape.conforms({"id": "x", "flag": True})
    assert shape.conforms({"id": "x", "flag": None})
    assert not shape.conforms({"id": "x", "flag": False})
    assert not shape.conforms({"id": 1, "flag": True})


JSON_VALUES: list[t.Any] = [None, True, False, 0, 1, -7, 2.5, "", "3", "true", "2.5", "text",
                            "2026-01-01T00:00:00Z", [], [1, "a"], {}, {"k": "v"}]


def drift_randomly(value: t.Any, rng: random.Random) -> t.Any:
    """Every value, at any depth, replaced by a JSON value of any type one time in four."""
    if rng.random() < 0.25:
        return copy.deepcopy(rng.choice(JSON_VALUES))
    if isinstance(value, dict):
        return {k: drift_randomly(v, rng) for k, v in value.items()}
    if isinstance(value, list):
        return [drift_randomly(v, rng) for v in value]
    return value


@pytest.mark.parametrize("stream_class", [*leadterra.STREAMS, *smartlead.STREAMS, *tuco.STREAMS],
                         ids=lambda cls: cls.name)
def test_whatever_types_come_a_repaired_record_fits_its_schema(sandbox, stream_class):
    stream = TapReplies(config=sandbox.tap_config(), parse_env_config=False).streams[
        stream_class.name]
    schema = stream.schema
    shape = RecordShape(schema)
    cls = validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    rng = random.Random(stream_class.name)
    truth = sandbox.ground_truth()[stream_class.name][:60]
    assert truth
    for original in truth:
        assert shape.conforms(original) == (not list(validator.iter_errors(original)))
        record = {k: drift_randomly(v, rng) for k, v in original.items()}
        key_kept = all(record.get(k) == original.get(k) for k in stream.primary_keys)
        if shape.conforms(record):  # the fast path: passed only what fits
            assert list(validator.iter_errors(record)) == []
        else:
            shape.repair(record, [])
        # Properties the schema lacks are the SDK's conformance's to drop, not the repair's.
        record = {k: v for k, v in record.items() if k in schema["properties"]}
        errors = [e.message for e in validator.iter_errors(record)]
        # A primary key that drifted may be left out: the stream then skips the record.
        assert errors == [] or (not key_kept and all("required" in e for e in errors)), errors


# -- text UTF-8 cannot hold -------------------------------------------------------------------


def test_a_lone_surrogate_in_a_reply_is_written_as_u_fffd_with_a_warning_naming_the_record(
    sandbox, caplog
):
    def broken(row: dict[str, t.Any]) -> None:
        row["message"] = "Sounds good \ud83d see you then"
        row["recentReplies"][0]["message"] = "cut \udc4b"
        row["name"] = "Zoë 🎉"  # a whole emoji: kept as it came

    sandbox.override("tuco", "/api/replies", change_rows(lambda row: None, broken))
    with caplog.at_level(logging.INFO):
        result = run_tap({"tuco": sandbox.tap_config()["tuco"]})
    records = result.records["tuco_replies"]
    assert len(records) == len(sandbox.ground_truth()["tuco_replies"])
    second = records[1]
    assert second["message"] == "Sounds good \ufffd see you then"
    assert second["recentReplies"][0]["message"] == "cut \ufffd"
    assert second["name"] == "Zoë 🎉"
    assert json.loads(json.dumps(records[0])) == records[0]
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and "surrogate" in r.getMessage()]
    assert warnings == [
        f"tuco_replies: record leadId={second['leadId']!r} had text UTF-8 cannot hold (a lone "
        "UTF-16 surrogate) in message, recentReplies[].message: written with U+FFFD in its place"]
