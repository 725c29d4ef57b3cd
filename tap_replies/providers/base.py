"""What every provider's base stream shares: settings, URL, pacing, retries, errors, checkpoints.

A provider module subclasses `ProviderStream` once (auth, response shape, error hints) and its
streams are then declarations: name, path, keys, schema.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import typing as t
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlsplit

import requests
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_replies.http.pacing import Clock, SystemClock, TokenBucket
from tap_replies.http.redact import REDACTOR
from tap_replies.http.retry import (
    RETRYABLE_EXCEPTIONS,
    RetryableResponseError,
    RetryPolicy,
    ServerWaitTooLong,
    is_retryable_status,
    status_of,
)
from tap_replies.http.shapes import (
    ListShape,
    NotJson,
    SpooledBody,
    StreamedList,
    UnexpectedShape,
    decode,
)
from tap_replies.providers.record_shape import Drift, RecordShape

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

# A version check rather than try/except: mypy (run for 3.11) understands this one.
if sys.version_info >= (3, 12):
    from typing import override
else:  # Python < 3.12
    from typing_extensions import override

PROGRESS_LOG_SECONDS = 30.0


class ProviderError(FatalAPIError):
    """A failure a person must act on, already phrased as one line with no secret in it."""


@dataclass
class ProviderStats:
    """Counters of one provider (shared by its streams) or of one stream."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    seconds_paced: float = 0.0
    seconds_rate_limited: float = 0.0


@dataclass
class ProviderRuntime:
    """One provider's settings and the objects all of its streams share during a run."""

    name: str
    label: str
    settings: t.Mapping[str, t.Any]
    bucket: TokenBucket
    retry_policy: RetryPolicy
    clock: Clock = field(default_factory=SystemClock)
    stats: ProviderStats = field(default_factory=ProviderStats)

    @property
    def api_url(self) -> str:
        return str(self.settings["api_url"]).rstrip("/")

    @property
    def api_key(self) -> str:
        return str(self.settings["api_key"])

    @property
    def campaign_ids(self) -> list[t.Any]:
        return list(self.settings.get("campaign_ids") or [])


class PacedSession(requests.Session):
    """A session that takes a token from its provider's bucket before every attempt, retries
    included, and counts what it did for the stream that owns it and for the provider."""

    def __init__(
        self, runtime: ProviderRuntime, sleep: t.Callable[[float], None] | None = None,
        *, stream_bodies: bool = False,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.stats = ProviderStats()
        self.sleep = sleep
        # Bodies read as they arrive (the stream spools them), not into memory by requests.
        self.stream_bodies = stream_bodies

    @override
    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        if self.stream_bodies:
            kwargs["stream"] = True
        waited = self.runtime.bucket.acquire(sleep=self.sleep)
        for stats in (self.stats, self.runtime.stats):
            stats.seconds_paced += waited
            stats.requests += 1
        response = super().send(request, **kwargs)
        if response.status_code == 429:
            self.stats.rate_limited += 1
            self.runtime.stats.rate_limited += 1
        return response


def parse_timestamp(value: t.Any) -> dt.datetime | None:
    """An ISO 8601 string as an aware UTC datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)  # once per record: "Z" is read from 3.11 on
    except ValueError:
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def format_timestamp(value: dt.datetime) -> str:
    """Second precision, as the APIs take their filters (a lower bound cut down stays safe)."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_precise(value: dt.datetime) -> str:
    """Full precision, for checkpoints: rounding a range's edge could claim an unread record."""
    text = value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


_HTML = re.compile(r"<\s*(!doctype|html|head|body)\b", re.IGNORECASE)


def server_message(response: requests.Response, limit: int = 160) -> str:
    """The server's own explanation, trimmed to one short line."""
    try:
        text = response.text or ""
    except Exception:  # a body that cannot be decoded is no explanation
        text = ""
    if _HTML.search(text[:500]):
        return "the server answered with an HTML page, not JSON"
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    message: t.Any = None
    if isinstance(body, dict):
        for key in ("error", "message", "detail", "msg", "errors"):
            if body.get(key):
                message = body[key]
                break
        if isinstance(message, dict):
            message = message.get("message") or message
    if message is None:
        message = text
    if not isinstance(message, str):
        message = json.dumps(message, ensure_ascii=False)
    one_line = " ".join(message.replace("\x00", " ").split())
    if len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    return REDACTOR.redact(one_line) or response.reason or "no message"


def request_path(exc: BaseException, default: str) -> str:
    """The path a failed request asked for, never its query string (Smartlead's key is there)."""
    for holder in (getattr(exc, "response", None), exc):
        request = getattr(holder, "request", None)
        url = getattr(request, "url", None) or getattr(holder, "url", None)
        if isinstance(url, str) and url:
            return urlsplit(url).path or default
    return default


def unexpected_shape_line(label: str, provider: str, method: str, path: str,
                          error: UnexpectedShape | NotJson) -> str:
    """The one line for a body the stream cannot read: what was expected and what came."""
    what = (f"expected {error.expected}, got {error.came}" if isinstance(error, UnexpectedShape)
            else f"the answer is {error}")
    return (f"{label} {method} {path}: {what} — the stream stopped there and no bookmark moved; "
            f"check {provider}.api_url points at the {label} API, and if it does, report this "
            "answer (or try again later)")


def wait_too_long_line(label: str, provider: str, method: str, path: str,
                       too_long: ServerWaitTooLong) -> str:
    """The one line for a server-requested wait past max_wait_seconds."""
    resume_at = format_timestamp(too_long.resume_at)
    return (f"{label} {method} {path}: the server asks to wait {too_long.seconds:.0f}s "
            f"({too_long.asked_by}), more than max_wait_seconds ({too_long.limit:g}) — stopped "
            f"after checkpointing what was emitted; {label} may be asked again after {resume_at}: "
            "run the sync then, or raise max_wait_seconds")


def _connection_detail(exc: BaseException) -> str:
    text = REDACTOR.redact(str(exc))
    for marker, meaning in (("refused", "connection refused"),
                            ("Name or service not known", "unknown host"),
                            ("nodename nor servname", "unknown host"),
                            ("reset", "connection reset"),
                            ("timed out", "timed out"),
                            ("SSL", "TLS handshake failed")):
        if marker in text:
            return meaning
    return type(exc).__name__


class ProviderStream(RESTStream[t.Any]):
    """Base of every stream: one instance of this per stream, a runtime per provider."""

    provider: t.ClassVar[str]
    provider_label: t.ClassVar[str]
    # Where the endpoint puts its records, as documented: any other answer stops the stream.
    response_shape: t.ClassVar[ListShape]
    # An unpaged list of any length: spool the body and decode it one record at a time.
    streams_body: t.ClassVar[bool] = False

    # Never log full URLs: Smartlead's key rides in the query string.
    _LOG_REQUEST_METRIC_URLS = False

    # The stream being synced: an unexpected error anywhere still names its provider and path.
    active: t.ClassVar[ProviderStream | None] = None

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.skipped_without_primary_key = 0
        # Values whose type drifted from the schema and could not be converted (see `_put_right`).
        self.values_nulled = 0
        self._drifts_logged: set[tuple[str, bool]] = set()
        self.pages_read = 0
        self.records_emitted = 0
        # Set from a page that states the list's size (see `page_total`), for share and ETA.
        self.expected_total: int | None = None
        self._progress_logged_at: float | None = None
        self._stream_started_at: float | None = None
        # (clock, records_emitted) when the current partition began: its share and ETA.
        self._partition_start: tuple[float, int] | None = None

    @override
    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        # The SDK announces a failed stream before the tap's own one-line error, which names the
        # provider, endpoint and fix: its bare line goes to DEBUG so ours is the only ERROR.
        if level >= logging.ERROR and message.startswith("An unhandled error occurred"):
            level = logging.DEBUG
        super().log(message, *args, level=level, **kwargs)

    # -- the provider's shared runtime ----------------------------------------------------

    @cached_property
    def runtime(self) -> ProviderRuntime:
        return t.cast("ProviderRuntime", self._tap.provider_runtime(self.provider))  # type: ignore[attr-defined]

    @property
    @override
    def url_base(self) -> str:
        return self.runtime.api_url

    @property
    @override
    def requests_session(self) -> requests.Session:
        # The SDK's constructor already made a plain session: replace it, once.
        if not isinstance(self._requests_session, PacedSession):
            session = PacedSession(self.runtime, sleep=self.wait, stream_bodies=self.streams_body)
            session.headers.update(self.http_headers)
            self._requests_session = session
        return self._requests_session

    @cached_property
    def record_shape(self) -> RecordShape:
        return RecordShape(self.effective_schema)

    @property
    def session_stats(self) -> ProviderStats:
        session = self._requests_session
        return session.stats if isinstance(session, PacedSession) else ProviderStats()

    @property
    @override
    def timeout(self) -> int:
        return int(self.config.get("request_timeout") or 60)

    @property
    @override
    def user_agent(self) -> str:
        return str(self.config.get("user_agent") or "tap-replies")

    # -- retries --------------------------------------------------------------------------

    @override
    def backoff_wait_generator(self) -> t.Generator[float, t.Any, None]:
        return self.runtime.retry_policy.wait_generator()

    @override
    def backoff_max_tries(self) -> int:
        return self.runtime.retry_policy.max_retries + 1

    @override
    def request_decorator(self, func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        """Retry with our wait generator, on the provider's clock, pausing its shared bucket on 429.

        Written as a loop rather than `backoff.on_exception` so the clock is injectable and a
        429's wait holds every stream of the provider, not only this one.
        """

        def with_retries(*args: t.Any, **kwargs: t.Any) -> t.Any:
            waits = self.backoff_wait_generator()
            next(waits)
            tries = 0
            while True:
                tries += 1
                try:
                    return func(*args, **kwargs)
                except RETRYABLE_EXCEPTIONS as exc:
                    if tries >= self.backoff_max_tries():
                        raise ProviderError(self._exhausted_message(exc, tries)) from None
                    try:
                        seconds = waits.send(exc)
                    except ServerWaitTooLong as too_long:
                        self._write_state_message()  # what was emitted, before stopping
                        raise ProviderError(wait_too_long_line(
                            self.provider_label, self.provider, self.http_method,
                            request_path(exc, self.path), too_long)) from None
                    self.runtime.stats.retries += 1
                    self.session_stats.retries += 1
                    self.backoff_handler(
                        {"target": func, "args": args, "kwargs": kwargs, "tries": tries,
                         "elapsed": 0.0, "wait": seconds, "exception": exc}
                    )
                    if status_of(exc) == 429:
                        # Every stream of the provider waits, not only this one.
                        self.runtime.bucket.pause_for(seconds)
                        self.runtime.stats.seconds_rate_limited += seconds
                        self.session_stats.seconds_rate_limited += seconds
                    else:
                        self.wait(seconds)

        return with_retries

    @override
    def backoff_handler(self, details: t.Any) -> None:
        exc = details.get("exception")
        self.logger.warning(
            "%s %s %s: retry %d in %.1fs after %s",
            self.provider_label,
            self.http_method,
            request_path(exc, self.path) if exc is not None else self.path,
            details.get("tries", 0),
            details.get("wait", 0.0),
            self._failure_cause(exc) if exc is not None else "an error",
        )

    def _failure_cause(self, exc: BaseException) -> str:
        status = status_of(exc)
        if isinstance(exc, RetryableResponseError) and (status or 0) < 400:
            return "a body that is not JSON"
        if status:
            return f"status {status}"
        if isinstance(exc, requests.exceptions.ChunkedEncodingError | ConnectionResetError):
            return "a response cut short"
        if isinstance(exc, requests.exceptions.Timeout):
            return f"no answer within request_timeout ({self.timeout}s)"
        if isinstance(exc, requests.exceptions.ConnectionError):
            return _connection_detail(exc)
        return type(exc).__name__

    def _exhausted_message(self, exc: BaseException, tries: int) -> str:
        status = status_of(exc)
        detail = ""
        response = getattr(exc, "response", None)
        if response is not None:
            detail = f" — {server_message(response)}"
        cause = self._failure_cause(exc)
        if status == 429:
            fix = (f"lower {self.provider}.requests_per_minute (other clients may share the "
                   f"key's budget) or raise max_retries")
        elif isinstance(exc, RetryableResponseError) and (status or 0) < 400:
            fix = ("the API keeps answering with something that is not JSON (a proxy or "
                   f"login page?): check {self.provider}.api_url, or try again later")
        elif status is not None:
            fix = "the API is failing: try again later, or raise max_retries"
        elif isinstance(exc, requests.exceptions.Timeout):
            fix = "raise request_timeout, or try again later"
        elif isinstance(exc, requests.exceptions.ChunkedEncodingError | ConnectionResetError):
            fix = "the connection keeps dropping: try again later, or raise max_retries"
        else:
            fix = f"check {self.provider}.api_url and the network"
        return (
            f"{self.provider_label} {self.http_method} {request_path(exc, self.path)}: "
            f"gave up after {tries} attempt{'s' if tries != 1 else ''} ({cause}){detail} — {fix}"
        )

    # -- responses ------------------------------------------------------------------------

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if self.streams_body and status >= 300:
            _ = response.content  # an error's body is short: read it, which frees the connection
        if is_retryable_status(status):
            raise RetryableResponseError(f"{status} from {self.path}", response)
        if status >= 400:
            raise ProviderError(self.response_error_message(response))
        try:
            if self.streams_body:  # read to its end here, where a cut-short body is retried
                payload = decode(self.response_shape, SpooledBody(response))
            else:
                payload = json.loads(response.content)
        except UnexpectedShape as error:  # (a ValueError too: caught first)
            raise ProviderError(self._unreadable(response, error)) from None
        except ValueError:
            # A cut-short or non-JSON 200 (NotJson, a JSONDecodeError) is a transport fault:
            # ask again.
            raise RetryableResponseError(
                f"{self.path} answered {status} with a body that is not JSON", response
            ) from None
        response._tap_payload = payload  # type: ignore[attr-defined]

    def _unreadable(self, response: requests.Response, error: UnexpectedShape | NotJson) -> str:
        method = (response.request.method if response.request else None) or self.http_method
        return unexpected_shape_line(self.provider_label, self.provider, method,
                                     urlsplit(response.url or "").path or self.path, error)

    @override
    def response_error_message(self, response: requests.Response) -> str:
        path = urlsplit(response.url or "").path or self.path
        method = (response.request.method if response.request else None) or self.http_method
        return (
            f"{self.provider_label} {method} {path}: {response.status_code} {response.reason} — "
            f"{server_message(response)} — {self.error_hint(response.status_code)}"
        )

    def error_hint(self, status: int) -> str:
        """The fix to suggest for a non-retryable status; providers add their own cases."""
        if status in (401, 403):
            return f"check {self.provider}.api_key"
        if status == 404:
            return f"check {self.provider}.api_url and {self.provider}.campaign_ids"
        if status in (400, 422):
            return f"check {self.provider}.campaign_ids and start_date"
        return f"check the {self.provider} settings"

    @staticmethod
    def response_payload(response: requests.Response) -> t.Any:
        """The decoded body as `validate_response` left it (a `StreamedList` if streamed)."""
        if hasattr(response, "_tap_payload"):
            return response._tap_payload
        return json.loads(response.content)

    @staticmethod
    def page_meta(payload: t.Any) -> t.Mapping[str, t.Any]:
        """A page's top-level values beside its records (totals, pagination); empty for arrays."""
        if isinstance(payload, StreamedList):
            return payload.meta
        return payload if isinstance(payload, dict) else {}

    def extract_records(self, payload: t.Any) -> t.Iterable[dict[str, t.Any]]:
        """The records of one page, in one of `response_shape`'s forms (else `UnexpectedShape`)."""
        if isinstance(payload, StreamedList):
            return payload  # checked record by record as it is decoded
        return self.response_shape.records_in(payload)

    def page_total(self, payload: t.Any) -> int | None:
        """The size of the whole list when a page states it (for progress); None if unknown."""
        meta = self.page_meta(payload)
        pagination = meta.get("pagination")
        for holder, key in ((meta, "total"), (meta, "total_count"),
                            (pagination, "total")):
            value = holder.get(key) if isinstance(holder, dict) else None
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
        return None

    @override
    def parse_response(self, response: requests.Response) -> t.Iterable[dict[str, t.Any]]:
        payload = self.response_payload(response)
        try:
            records = self.extract_records(payload)
            total = self.page_total(payload)
            if total is not None:
                self.expected_total = total
            yield from records
        except (UnexpectedShape, NotJson) as error:
            # Before this page's checkpoint: no bookmark or resume note moves past it.
            raise ProviderError(self._unreadable(response, error)) from None
        # The consumer has emitted every record of the page by the time we get here.
        self.pages_read += 1
        self.on_page_done()

    def on_page_done(self) -> None:
        """Called once a page's records have all been emitted: checkpoint, then progress."""
        # The SDK would otherwise write state only every 10,000 records. Every record before
        # this point has been written, so the state is safe to resume from.
        self._write_state_message()
        self.log_progress(total=self.expected_total)

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        ProviderStream.active = self
        if self._stream_started_at is None:
            self.log_progress()
        # A total a page states is that of this partition's list: count progress against it.
        self.expected_total = None
        self._partition_start = (self.runtime.clock.monotonic(), self.records_emitted)
        yield from super().get_records(context)

    # -- records --------------------------------------------------------------------------

    @override
    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        # Parsed JSON rarely needs converting, and the SDK's per-value conformance is over half
        # of the tap's CPU: one cheap pass of class checks decides. A record that fails it has
        # its drifted values put right, then the SDK's conformance drops what the schema lacks.
        shape = self.record_shape
        conforms = shape.conforms(row)
        if not conforms:
            self._put_right(row)
            conforms = shape.conforms(row)
        if any(row.get(key) in (None, "") for key in self.primary_keys or ()):
            self.skipped_without_primary_key += 1
            self.logger.warning(
                "%s: skipped a record with no %s (%d skipped so far)",
                self.name,
                "/".join(self.primary_keys or ()),
                self.skipped_without_primary_key,
            )
            return None
        self.records_emitted += 1
        # The SDK reads this level when it writes the record returned here (subclasses shape the
        # row before calling us), after adding the partition's keys to it: those must be in the
        # schema too.
        self.TYPE_CONFORMANCE_LEVEL = (
            TypeConformanceLevel.NONE
            if conforms and (not context or shape.allows_keys(context))
            else TypeConformanceLevel.RECURSIVE
        )
        return row

    def record_label(self, row: t.Mapping[str, t.Any]) -> str:
        """Which record this is, for a log line: its primary key (repr: safe for any text)."""
        keys = self.primary_keys or ()
        return ", ".join(f"{key}={row.get(key)!r}" for key in keys) or "without a key"

    def _put_right(self, row: dict[str, t.Any]) -> None:
        """Convert or null the values whose type drifted from the schema; say so once per field
        (a warning when a value was lost, info when it was converted losslessly)."""
        label = self.record_label(row)  # before: the key itself may be what drifted
        drifts: list[Drift] = []
        self.record_shape.repair(row, drifts)
        for drift in drifts:
            if drift.lost:
                self.values_nulled += 1
            if (drift.path, drift.lost) in self._drifts_logged:
                continue
            self._drifts_logged.add((drift.path, drift.lost))
            self.logger.log(
                logging.WARNING if drift.lost else logging.INFO,
                "%s: %s came as %s where the schema says %s (record %s): %s; logged once per "
                "field", self.name, drift.path, drift.came, drift.wanted, label, drift.action,
            )

    # -- progress and summary -------------------------------------------------------------

    def wait(self, seconds: float) -> None:
        """Sleep on the provider's clock in slices, so a long wait (a 429's Retry-After, a
        backoff, a slow pace) still logs progress at least every PROGRESS_LOG_SECONDS."""
        remaining = seconds
        while remaining > 0:
            step = min(remaining, PROGRESS_LOG_SECONDS)
            self.runtime.clock.sleep(step)
            remaining -= step
            self.log_progress(total=self.expected_total, waiting=remaining)

    def log_progress(self, *, total: int | None = None, waiting: float | None = None) -> None:
        """A progress line at most every PROGRESS_LOG_SECONDS (and at least, as long as pages
        keep coming); with a known `total`, the share done and an ETA."""
        now = self.runtime.clock.monotonic()
        if self._stream_started_at is None:
            self._stream_started_at = now
            self._progress_logged_at = now
            return
        if (self._progress_logged_at is not None
                and now - self._progress_logged_at < PROGRESS_LOG_SECONDS):
            return
        self._progress_logged_at = now
        elapsed = now - self._stream_started_at
        line = (f"{self.name}: {self.pages_read} pages, {self.records_emitted} records "
                f"in {elapsed:.0f}s")
        if total:
            started_at, records_before = self._partition_start or (self._stream_started_at, 0)
            done = min(max(0, self.records_emitted - records_before), total)
            rate = done / max(1e-6, now - started_at)
            eta = f"{(total - done) / rate:.0f}s" if rate > 0 else "unknown"
            line += f"; {done} of {total} ({100.0 * done / total:.0f}%) of this list, ETA {eta}"
        if waiting:
            line += f"; waiting {waiting:.0f}s more (rate limit or retry)"
        self.logger.info("%s", line)

    def summary_line(self) -> str:
        stats = self.session_stats
        started = self._stream_started_at
        seconds = self.runtime.clock.monotonic() - started if started is not None else 0.0
        line = (f"{self.name}: {self.records_emitted} records, {stats.requests} requests "
                f"({stats.retries} retried), {stats.rate_limited} 429s waited out "
                f"({stats.seconds_rate_limited:.1f}s), {seconds:.1f}s")
        if self.skipped_without_primary_key:
            line += (f", {self.skipped_without_primary_key} skipped without "
                     f"{'/'.join(self.primary_keys or ())}")
        if self.values_nulled:
            line += f", {self.values_nulled} values of the wrong type set to null"
        return line

    @override
    def finalize_state_progress_markers(self, state: dict | None = None) -> None:
        super().finalize_state_progress_markers(state)
        # The tap calls this once per stream, right after the stream's sync ends: the one hook
        # there is for a line at the end of each stream.
        if not state and self.selected:
            self.logger.info("%s", self.summary_line())


logging.getLogger("urllib3").setLevel(logging.WARNING)
