"""The shared layer on its own: pacing, retry waits, redaction, checkpoints and progress, all on a
fake clock so nothing here sleeps."""

from __future__ import annotations

import copy
import datetime as dt
import email.utils
import json
import logging
import random
import typing as t

import pytest
import requests
from singer_sdk import typing as th

from tap_replies.http.errors import ProviderError, server_message
from tap_replies.http.pacing import TokenBucket
from tap_replies.http.redact import MASK, RedactingFilter, Redactor
from tap_replies.http.retry import (
    RetryableResponseError,
    RetryPolicy,
    server_requested_wait,
)
from tap_replies.http.shapes import ListShape
from tap_replies.progress import PROGRESS_LOG_SECONDS
from tap_replies.providers import tuco
from tap_replies.providers.base import ProviderStream
from tap_replies.providers.newest_first import _Window
from tap_replies.providers.resume_note import merge_ranges
from tap_replies.sandbox.core import ServerBucket
from tap_replies.tap import TapReplies
from tap_replies.timestamps import format_precise, parse_timestamp
from tests.clock import FakeClock

UTC = dt.timezone.utc


def response(status: int, body: bytes = b"{}", headers: dict[str, str] | None = None,
             url: str = "https://api.example.test/api/replies?api_key=secret_key_123"
             ) -> requests.Response:
    """A real `requests.Response` object filled in by hand (no HTTP, no mocking of requests)."""
    resp = requests.Response()
    resp.status_code = status
    resp._content = body
    resp.headers.update(headers or {})
    resp.url = url
    resp.reason = {429: "Too Many Requests", 503: "Service Unavailable"}.get(status, "OK")
    return resp


# -- pacing ---------------------------------------------------------------------------------


def test_bucket_lets_its_burst_through_then_paces_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(600, clock=clock)  # 10 per second, a two-second burst
    assert bucket.burst == 19  # the server allows 20; one is the margin for latency
    for _ in range(bucket.burst):
        assert bucket.acquire() == 0.0
    start = clock.now
    for _ in range(50):
        bucket.acquire()
    assert clock.now - start == pytest.approx(50 / 10, rel=0.01)


def test_unlimited_bucket_never_waits():
    clock = FakeClock()
    bucket = TokenBucket(None, clock=clock)
    for _ in range(1000):
        bucket.acquire()
    assert clock.sleeps == []


@pytest.mark.parametrize("rpm", [20, 60, 80, 100, 120, 600, 1200])
def test_client_never_outruns_a_server_bucket_of_the_same_limit(rpm):
    """Replays a sync's arrival times at the server's bucket: latency that jitters (a slow first
    connection, then fast ones) must not make the server see us early."""
    clock = FakeClock()
    server = ServerBucket(rpm, clock=clock.monotonic)
    client = TokenBucket(rpm, clock=clock)
    rng = random.Random(rpm)
    refused = 0
    for index in range(300):
        client.acquire()
        latency = 0.05 if index == 0 else rng.uniform(0.0, 0.004)
        clock.now += latency  # the request travels...
        if server.take() is not None:
            refused += 1
        clock.now += rng.uniform(0.0005, 0.003)  # ...and the answer comes back
    assert refused == 0
    # And close to the fastest the limit allows: burst, then the rate.
    minimum = (300 - server.capacity) / (rpm / 60)
    assert clock.now - 1000.0 <= minimum * 1.05 + 1.0


def test_a_pause_holds_the_bucket_then_allows_one_request_then_the_pace():
    clock = FakeClock()
    bucket = TokenBucket(60, clock=clock)
    bucket.pause_for(7.0)
    start = clock.now
    bucket.acquire()
    assert clock.now - start == pytest.approx(7.0)
    bucket.acquire()
    assert clock.now - start == pytest.approx(8.0, abs=0.01)


# -- retry waits ----------------------------------------------------------------------------


def test_retry_after_in_seconds_is_honoured():
    assert server_requested_wait(response(429, headers={"Retry-After": "12"})) == 12.0


def test_retry_after_as_an_http_date_is_honoured():
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    wait = server_requested_wait(response(429, headers={"Retry-After": date}), now=now)
    assert wait == pytest.approx(30.0)


@pytest.mark.parametrize(("reset", "expected"), [("9", 9.0), ("1800000020", 20.0)])
def test_x_ratelimit_reset_as_delta_or_epoch_is_honoured(reset, expected):
    wait = server_requested_wait(response(429, headers={"x-ratelimit-reset": reset}),
                                 now=1_800_000_000.0)
    assert wait == pytest.approx(expected)


def test_a_huge_retry_after_is_read_in_full_and_garbage_is_ignored():
    # Not cut down to something waitable: past max_wait_seconds the sync stops instead
    # (tests/test_long_waits.py).
    assert server_requested_wait(response(429, headers={"Retry-After": "86400"})) == 86400.0
    assert server_requested_wait(response(429, headers={"Retry-After": "soon"})) is None
    assert server_requested_wait(response(503)) is None


def test_backoff_is_exponential_capped_and_jittered():
    policy = RetryPolicy(rng=random.Random(1))
    waits = [policy.backoff_seconds(attempt) for attempt in range(12)]
    for attempt, wait in enumerate(waits):
        nominal = min(60.0, 2.0**attempt)
        assert nominal * 0.8 <= wait <= min(60.0, nominal * 1.2)
    assert max(waits) <= 60.0
    assert len({round(w, 6) for w in waits[-4:]}) > 1  # jitter: capped waits still differ


def test_default_retries_outlast_a_one_minute_rate_window():
    policy = RetryPolicy(rng=random.Random(2))
    assert sum(policy.backoff_seconds(a) for a in range(policy.max_retries)) > 60


def test_server_wait_wins_over_backoff():
    policy = RetryPolicy(rng=random.Random(3))
    exc = RetryableResponseError("429", response(429, headers={"Retry-After": "5"}))
    assert 5.0 <= policy.wait_for(exc, attempt=6) <= 6.0


# -- the retry loop of a stream, on the tap's injectable clock --------------------------------


class UnitStream(ProviderStream):
    spec = tuco.SPEC
    name = "unit_stream"
    path = "/api/replies"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema = th.PropertiesList(th.Property("id", th.StringType)).to_dict()
    response_shape = ListShape(keys=("replies",))


@pytest.fixture
def unit_stream(fast_tap: type[TapReplies], fake_clock: FakeClock
                ) -> tuple[UnitStream, FakeClock]:
    tap = fast_tap(
        config={"tuco": {"api_key": "tuco_unit_key_0001", "api_url": "http://127.0.0.1:9",
                         "requests_per_minute": 60}, "max_retries": 3},
        parse_env_config=False,
    )
    return UnitStream(tap=tap), fake_clock


def failing(*errors: BaseException) -> t.Callable[[], str]:
    queue = list(errors)

    def call() -> str:
        if queue:
            raise queue.pop(0)
        return "ok"

    return call


def test_retries_back_off_on_the_clock_and_429_pauses_the_provider(unit_stream):
    stream, clock = unit_stream
    call = failing(
        RetryableResponseError("503", response(503)),
        requests.exceptions.ConnectionError("reset by peer"),
        RetryableResponseError("429", response(429, headers={"Retry-After": "20"})),
    )
    assert stream.request_decorator(call)() == "ok"
    # Two backoffs slept on the fake clock; the 429's wait became a pause of the provider's
    # bucket, which the next attempt (like any stream of the provider) waited out at its turn.
    assert len(clock.sleeps) == 3
    assert 0.8 <= clock.sleeps[0] <= 1.2
    assert 1.6 <= clock.sleeps[1] <= 2.4
    assert clock.sleeps[2] >= 20.0
    assert stream.client.bucket._paused_until == pytest.approx(clock.now)
    assert stream.client.stats.retries == 3


def test_retries_exhausted_is_one_line_naming_provider_path_status_message_and_fix(unit_stream):
    stream, _ = unit_stream
    busy = response(503, b'{"error": "Service Unavailable\\n try later"}',
                    url="http://127.0.0.1:9/api/replies?page=3&api_key=tuco_unit_key_0001")
    call = failing(*[RetryableResponseError("503", busy) for _ in range(4)])
    with pytest.raises(ProviderError) as caught:
        stream.request_decorator(call)()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Tuco AI GET /api/replies: gave up after 4 attempts (status 503)")
    assert "Service Unavailable try later" in message
    assert "try again later" in message
    assert "page=3" not in message
    assert "tuco_unit_key_0001" not in message


def test_a_client_error_is_not_retried(unit_stream):
    stream, clock = unit_stream
    calls = []

    def call() -> None:
        calls.append(1)
        stream.validate_response(response(402, b'{"error": "Workspace is read-only"}'))

    with pytest.raises(ProviderError, match=r"402 .* Workspace is read-only"):
        stream.request_decorator(call)()
    assert calls == [1]
    assert clock.sleeps == []


@pytest.mark.parametrize(("status", "retried"),
                         [(429, True), (500, True), (502, True), (503, True), (504, True),
                          (520, True), (501, False), (400, False), (404, False), (422, False)])
def test_which_statuses_are_retried(unit_stream, status, retried):
    stream, _ = unit_stream
    expected = RetryableResponseError if retried else ProviderError
    with pytest.raises(expected):
        stream.validate_response(response(status, b'{"error": "x"}'))


def test_a_200_that_is_not_json_is_retryable(unit_stream):
    stream, _ = unit_stream
    with pytest.raises(RetryableResponseError):
        stream.validate_response(response(200, b'{"replies": [{"leadId": "a"'))


def test_server_message_is_trimmed_to_one_line_without_html():
    assert server_message(response(502, b"<!DOCTYPE html><html><body>Bad gateway</body></html>")) \
        == "the server answered with an HTML page, not JSON"
    long = response(400, b'{"message": "' + b"x" * 500 + b'"}')
    assert len(server_message(long)) <= 160


# -- redaction ------------------------------------------------------------------------------


def test_redactor_masks_keys_query_parameters_and_bearer_tokens():
    redactor = Redactor()
    redactor.register("sl_key_abcdef")
    text = redactor.redact(
        "GET /api?api_key=anything_else&x=1 Authorization: Bearer tok.en-123 sl_key_abcdef"
    )
    assert "anything_else" not in text
    assert "tok.en-123" not in text
    assert "sl_key_abcdef" not in text
    assert text.count(MASK) == 3


def test_redacting_filter_masks_arguments_and_tracebacks():
    redactor = Redactor()
    redactor.register("tuco_secret_999")
    record_filter = RedactingFilter(redactor)
    try:
        raise ValueError("boom with tuco_secret_999")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "key %s", ("tuco_secret_999",),
                                   sys.exc_info())
    assert record_filter.filter(record)
    rendered = logging.Formatter().format(record)
    assert "tuco_secret_999" not in rendered
    assert "boom with ***" in rendered


# -- checkpoints ----------------------------------------------------------------------------


def ts(text: str) -> dt.datetime:
    parsed = parse_timestamp(text)
    assert parsed is not None
    return parsed


def test_merge_ranges_joins_overlaps_and_drops_empty_ones():
    a, b, c, d = (ts(f"2025-01-0{i}T00:00:00Z") for i in range(1, 5))
    assert merge_ranges([(c, d), (a, b), (b, c), (d, a)]) == [(a, d)]


def test_resume_note_claims_only_what_was_emitted():
    upper = ts("2025-06-01T00:00:00Z")
    window = _Window(None, upper, {})
    for key, stamp in (("a", "2025-05-03T00:00:00Z"), ("b", "2025-05-02T00:00:00.250Z")):
        window.see(ts(stamp), key=(key,))
        window.emitted(ts(stamp))
    window.page_done()
    note = window.resume_note()
    # Full precision: rounding the oldest edge down to the second would claim unread records.
    # The window's own last second is not claimed (tests/test_lossless_resume.py).
    assert note == {"emitted": [["2025-05-02T00:00:00.25Z", "2025-05-31T23:59:59.999999Z"]],
                    "edges": [["2025-05-02T00:00:00.25Z", [["b"]]]],
                    "max_emitted": "2025-05-03T00:00:00Z"}
    resumed = _Window(None, ts("2025-06-02T00:00:00Z"), note)
    assert resumed.skip(ts("2025-05-03T00:00:00Z"), ("a",))
    assert resumed.skip(ts("2025-05-02T00:00:00.250Z"), ("b",))
    # Another record of the oldest instant may be on the next page: not skipped.
    assert not resumed.skip(ts("2025-05-02T00:00:00.250Z"), ("c",))
    assert not resumed.skip(ts("2025-05-02T00:00:00.100Z"), ("d",))
    assert not resumed.skip(ts("2025-06-01T12:00:00Z"), ("e",))  # arrived after the kill


def test_a_second_kill_keeps_what_the_first_one_emitted():
    first = _Window(None, ts("2025-06-01T00:00:00Z"), {})
    first.see(ts("2025-05-20T00:00:00Z"), ("a",))
    first.see(ts("2025-05-10T00:00:00Z"), ("b",))
    note = first.resume_note()
    second = _Window(None, ts("2025-06-02T00:00:00Z"), note)
    second.see(ts("2025-06-01T06:00:00Z"), ("new",))  # newer than the first run's window
    note = second.resume_note()
    third = _Window(None, ts("2025-06-03T00:00:00Z"), note)
    assert third.skip(ts("2025-05-20T00:00:00Z"), ("a",))
    assert third.skip(ts("2025-05-10T00:00:00Z"), ("b",))
    assert third.skip(ts("2025-06-01T06:00:00Z"), ("new",))
    assert not third.skip(ts("2025-05-09T00:00:00Z"), ("c",))


def test_a_repeat_from_a_shifted_page_does_not_break_the_order_but_a_real_break_does():
    window = _Window(None, ts("2025-06-01T00:00:00Z"), {})
    window.see(ts("2025-05-03T00:00:00Z"), key=("a",))
    window.see(ts("2025-05-02T00:00:00Z"), key=("b",))
    window.page_done()
    window.see(ts("2025-05-03T00:00:00Z"), key=("a",))  # the list shifted by one
    assert window.in_order
    window.see(ts("2025-05-04T00:00:00Z"), key=("new",))
    assert not window.in_order
    assert window.resume_note()["emitted"] == []


def test_precise_format_round_trips():
    value = dt.datetime(2025, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)
    assert format_precise(value) == "2025-03-04T05:06:07.891Z"
    assert parse_timestamp(format_precise(value)) == value


# -- progress -------------------------------------------------------------------------------


def test_progress_is_logged_every_30_seconds_with_share_and_eta(unit_stream, caplog):
    stream, clock = unit_stream
    caplog.set_level(logging.INFO)
    stream.progress.log(total=1000)  # the start
    lines = []
    for page in range(1, 21):
        clock.now += 10.0
        stream.progress.records_emitted = page * 50
        stream.progress.pages_read = page
        stream.progress.log(total=1000)
        lines += [r.getMessage() for r in caplog.records if "pages" in r.getMessage()]
        caplog.clear()
    # 200 simulated seconds, a line at most (and at least) every PROGRESS_LOG_SECONDS.
    assert len(lines) == int(200 // PROGRESS_LOG_SECONDS)
    assert lines[0] == ("unit_stream: 3 pages, 150 records in 30s; "
                        "150 of 1000 (15%) of this list, ETA 170s")


def test_summary_line_counts_records_requests_and_429s(unit_stream):
    stream, clock = unit_stream
    stream.progress.log()
    clock.now += 12.5
    stream.progress.records_emitted = 42
    line = stream.progress.summary_line(stream.request_stats, *stream.gate.check.notes())
    assert line == ("unit_stream: 42 records, 0 requests (0 retried), "
                    "0 429s waited out (0.0s), 12.5s")


# -- conformance fast path --------------------------------------------------------------------


def _sdk_conformed(record: dict[str, t.Any], schema: dict[str, t.Any]) -> dict[str, t.Any]:
    from singer_sdk.helpers._typing import conform_record_data_types
    from singer_sdk.helpers.conform import TypeConformanceLevel

    return conform_record_data_types("s", copy.deepcopy(record), schema,
                                     TypeConformanceLevel.RECURSIVE, logging.getLogger("t"))


SHAPE_SCHEMA = th.PropertiesList(
    th.Property("id", th.StringType, required=True),
    th.Property("flag", th.BooleanType),
    th.Property("flags", th.ArrayType(th.BooleanType)),
    th.Property("stats", th.ObjectType(th.Property("is_opened", th.BooleanType),
                                       th.Property("count", th.IntegerType))),
    th.Property("free", th.ObjectType(additional_properties=True)),
    th.Property("messages", th.ArrayType(th.ObjectType(th.Property("messageId", th.StringType)))),
).to_dict()


@pytest.mark.parametrize(
    "record",
    [
        {"id": "a"},
        {"id": "a", "flag": True, "flags": [True], "stats": {"is_opened": False, "count": 3}},
        {"id": "a", "free": {"anything": {"goes": [1, 2]}}, "messages": [{"messageId": "m"}]},
        {"id": "a", "stats": None, "messages": None, "flags": None},
        {"id": "a", "unknown": 1},
        {"id": "a", "flag": 1},
        {"id": "a", "flags": [True, 0]},
        {"id": "a", "stats": {"is_opened": 1}},
        {"id": "a", "stats": {"surprise": "x"}},
        {"id": "a", "messages": [{"messageId": "m"}, {"messageId": "n", "extra": True}]},
    ],
)
def test_a_record_skips_conformance_only_when_conformance_would_not_change_it(record):
    from tap_replies.providers.record_shape import RecordShape

    # Compared as JSON: 1 == True in Python, but not on the wire.
    unchanged = json.dumps(_sdk_conformed(record, SHAPE_SCHEMA)) == json.dumps(record)
    assert RecordShape(SHAPE_SCHEMA).conforms(record) is unchanged


def test_a_long_wait_for_the_rate_limit_still_logs_progress_every_30_seconds(unit_stream, caplog):
    stream, clock = unit_stream
    caplog.set_level(logging.INFO)
    stream.progress.log()  # the stream has started
    started = clock.now
    stream.client.bucket.pause_for(300.0)  # a 429 asked for five minutes
    waited = stream.client.bucket.acquire(sleep=stream.wait)
    assert waited == pytest.approx(300.0, abs=1.0)
    assert clock.now - started == pytest.approx(waited)  # on the injected clock: no real sleep
    lines = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert len(lines) >= int(300 // PROGRESS_LOG_SECONDS) - 1
    assert lines[0].startswith("unit_stream: 0 pages, 0 records in 30s; waiting 270s more")

