"""The shortcuts on the per-record and per-request path (providers/record_messages.py, writer.py,
the proxies read once in http/client.py) change no output: where the skipped step has work to do,
it still runs."""

from __future__ import annotations

import pytest
import requests
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import StateMessage

from tap_replies.tap import TapReplies
from tap_replies.writer import RecordWriter
from tests.syncing import run_tap


def sdr_config(sandbox, **extra):
    return {"leadterra": sandbox.tap_config()["leadterra"], **extra}


def only_sdrs_catalog(config, deselect: str | None = None):
    catalog = TapReplies(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            breadcrumb = tuple(item["breadcrumb"])
            if breadcrumb == ():
                item["metadata"]["selected"] = entry["tap_stream_id"] == "leadterra_sdrs"
            elif deselect is not None and breadcrumb == ("properties", deselect):
                item["metadata"]["selected"] = False
    return catalog


def test_a_property_the_catalog_deselects_is_left_out_of_every_record(sandbox):
    config = sdr_config(sandbox)
    kept = run_tap(config, catalog=only_sdrs_catalog(config)).records["leadterra_sdrs"]
    left_out = run_tap(config, catalog=only_sdrs_catalog(config, deselect="email"))
    records = left_out.records["leadterra_sdrs"]
    assert kept
    assert any("email" in r for r in kept)
    assert len(records) == len(kept)
    assert not any("email" in r for r in records)


def test_a_stream_map_still_shapes_the_records(sandbox):
    config = sdr_config(sandbox, stream_maps={"leadterra_sdrs": {"email": None,
                                                                  "__alias__": "sdrs"}})
    result = run_tap(config, catalog=only_sdrs_catalog(config))
    assert result.records["sdrs"]
    assert "leadterra_sdrs" not in result.records
    assert not any("email" in r for r in result.records["sdrs"])


def test_a_state_line_is_the_one_the_sdk_writes():
    state = {"bookmarks": {"tuco_replies": {"partitions": [
        {"context": {"campaign_id": "c1"}, "replication_key_value": "2026-01-02T03:04:05Z",
         "resume": {"emitted": [["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"]]}}],
        "replication_key": None}}, "currently_syncing": None}
    message = StateMessage(value=state)
    assert (bytes(RecordWriter().serialize_message(message))
            == bytes(MsgSpecWriter().serialize_message(message)))


@pytest.mark.parametrize(("no_proxy", "reaches_the_server"), [("", False), ("127.0.0.1", True)])
def test_proxy_settings_in_the_environment_still_apply(sandbox, monkeypatch, no_proxy,
                                                       reaches_the_server):
    # A proxy on a closed loopback port: a request that goes through it is refused.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    tap = TapReplies(config=sdr_config(sandbox), parse_env_config=False)
    session = tap.streams["leadterra_sdrs"].requests_session
    assert session.trust_env is False  # read once, when the stream was built
    for _ in range(2):
        request = requests.Request("GET", f"{sandbox.base_url}/v1/sdrs").prepare()
        if reaches_the_server:
            assert session.send(request, timeout=5).status_code in (200, 401)
        else:
            with pytest.raises(requests.exceptions.ProxyError):
                session.send(request, timeout=5)
