"""What every provider's base stream shares: settings, URL, pacing, retries, errors, checkpoints.

A provider module subclasses `ProviderStream` once (auth, response shape, error hints) and its
streams are then declarations: name, path, keys, schema.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import typing as t
from dataclasses import dataclass, field
from functools import cached_property

import requests
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError

from tap_replies.http.pacing import Clock, SystemClock, TokenBucket
from tap_replies.http.redact import REDACTOR
from tap_replies.http.retry import (
    RETRYABLE_EXCEPTIONS,
    RETRYABLE_STATUSES,
    RetryableResponseError,
    RetryPolicy,
    status_of,
)

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

try:
    from typing import override
except ImportError:  # Python < 3.12
    from typing_extensions import override

PROGRESS_LOG_SECONDS = 30.0


class ProviderError(FatalAPIError):
    """A failure a person must act on, already phrased as one line with no secret in it."""


@dataclass
class ProviderStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    seconds_paced: float = 0.0


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
    """A session that takes a token from its provider's bucket before every attempt, retries included."""

    def __init__(self, runtime: ProviderRuntime) -> None:
        super().__init__()
        self.runtime = runtime

    @override
    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:  # type: ignore[override]
        self.runtime.stats.seconds_paced += self.runtime.bucket.acquire()
        self.runtime.stats.requests += 1
        response = super().send(request, **kwargs)
        if response.status_code == 429:
            self.runtime.stats.rate_limited += 1
        return response


def parse_timestamp(value: t.Any) -> dt.datetime | None:
    """An ISO 8601 string as an aware UTC datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def format_timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_HTML = re.compile(r"<\s*(!doctype|html|head|body)\b", re.IGNORECASE)


def server_message(response: requests.Response, limit: int = 160) -> str:
    """The server's own explanation, trimmed to one short line."""
    text = response.text or ""
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
    if message is None:
        message = text
    if not isinstance(message, str):
        message = json.dumps(message, ensure_ascii=False)
    one_line = " ".join(message.split())
    if len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    return REDACTOR.redact(one_line) or response.reason or "no message"


class ProviderStream(RESTStream[t.Any]):
    """Base of every stream: one instance of this per stream, a runtime per provider."""

    provider: t.ClassVar[str]
    provider_label: t.ClassVar[str]

    # Never log full URLs: Smartlead's key rides in the query string.
    _LOG_REQUEST_METRIC_URLS = False

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.skipped_without_primary_key = 0
        self.pages_read = 0
        self.records_emitted = 0
        self._progress_logged_at: float | None = None
        self._stream_started_at: float | None = None

    # -- the provider's shared runtime ----------------------------------------------------

    @cached_property
    def runtime(self) -> ProviderRuntime:
        return self._tap.provider_runtime(self.provider)  # type: ignore[attr-defined,no-any-return]

    @property
    def provider_settings(self) -> t.Mapping[str, t.Any]:
        return self.runtime.settings

    @override
    @property
    def url_base(self) -> str:
        return self.runtime.api_url

    @override
    @property
    def requests_session(self) -> requests.Session:
        if not self._requests_session:
            self._requests_session = PacedSession(self.runtime)
            self._requests_session.headers.update(self.http_headers)
        return self._requests_session

    @override
    @property
    def timeout(self) -> int:
        return int(self.config.get("request_timeout") or 60)

    @override
    @property
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
                    seconds = waits.send(exc)
                    self.runtime.stats.retries += 1
                    self.backoff_handler(
                        {"target": func, "args": args, "kwargs": kwargs, "tries": tries,
                         "elapsed": 0.0, "wait": seconds, "exception": exc}  # type: ignore[typeddict-item]
                    )
                    if status_of(exc) == 429:
                        self.runtime.bucket.pause_for(seconds)
                    else:
                        self.runtime.clock.sleep(seconds)

        return with_retries

    @override
    def backoff_handler(self, details: t.Any) -> None:
        exc = details.get("exception")
        status = status_of(exc) if exc is not None else None
        cause = f"status {status}" if status else type(exc).__name__
        self.logger.warning(
            "%s %s: retry %d in %.1fs after %s",
            self.provider_label,
            self.path,
            details.get("tries", 0),
            details.get("wait", 0.0),
            cause,
        )

    def _exhausted_message(self, exc: BaseException, tries: int) -> str:
        status = status_of(exc)
        what = f"status {status}" if status else type(exc).__name__
        detail = ""
        response = getattr(exc, "response", None)
        if response is not None:
            detail = f" — {server_message(response)}"
        return (
            f"{self.provider_label} {self.http_method} {self.path}: gave up after {tries} attempts "
            f"({what}){detail} — the API is failing or throttling; raise max_retries or "
            f"lower {self.provider}.requests_per_minute, then run again"
        )

    # -- responses ------------------------------------------------------------------------

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status in RETRYABLE_STATUSES:
            raise RetryableResponseError(f"{status} from {self.path}", response)
        if status >= 400:
            raise ProviderError(self.response_error_message(response))
        try:
            response._tap_payload = json.loads(response.content)  # type: ignore[attr-defined]
        except ValueError:
            # A cut-short or non-JSON 200 is a transport fault: ask again.
            raise RetryableResponseError(
                f"{self.path} answered {status} with a body that is not JSON", response
            ) from None

    @override
    def response_error_message(self, response: requests.Response) -> str:
        path = requests.utils.urlparse(response.url).path or self.path
        return (
            f"{self.provider_label} {response.request.method if response.request else self.http_method} "
            f"{path}: {response.status_code} {response.reason} — {server_message(response)} — "
            f"{self.error_hint(response.status_code)}"
        )

    def error_hint(self, status: int) -> str:
        """The fix to suggest for a non-retryable status; providers add their own cases."""
        if status in (401, 403):
            return f"check {self.provider}.api_key"
        if status == 404:
            return f"check {self.provider}.api_url and {self.provider}.campaign_ids"
        return f"check the {self.provider} settings"

    @staticmethod
    def response_payload(response: requests.Response) -> t.Any:
        payload = getattr(response, "_tap_payload", None)
        return json.loads(response.content) if payload is None else payload

    def extract_records(self, payload: t.Any) -> t.Iterable[dict[str, t.Any]]:
        """The records of one page; the default accepts a bare array or `{"data": [...]}`."""
        if isinstance(payload, dict):
            payload = payload.get("data", [])
        return payload if isinstance(payload, list) else []

    @override
    def parse_response(self, response: requests.Response) -> t.Iterable[dict[str, t.Any]]:
        records = self.extract_records(self.response_payload(response))
        for record in records:
            if isinstance(record, dict):
                yield record
        # The consumer has emitted every record of the page by the time we get here.
        self.pages_read += 1
        self.on_page_done()

    def on_page_done(self) -> None:
        """Called once a page's records have all been emitted: checkpoints and progress."""
        self.log_progress()

    # -- records --------------------------------------------------------------------------

    @override
    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        if any(row.get(key) is None for key in self.primary_keys or ()):
            self.skipped_without_primary_key += 1
            self.logger.warning(
                "%s: skipped a record with no %s (%d skipped so far)",
                self.name,
                "/".join(self.primary_keys or ()),
                self.skipped_without_primary_key,
            )
            return None
        self.records_emitted += 1
        return row

    # -- progress -------------------------------------------------------------------------

    def log_progress(self, *, total: int | None = None) -> None:
        now = self.runtime.clock.monotonic()
        if self._stream_started_at is None:
            self._stream_started_at = now
            self._progress_logged_at = now
            return
        if self._progress_logged_at is not None and now - self._progress_logged_at < PROGRESS_LOG_SECONDS:
            return
        self._progress_logged_at = now
        elapsed = max(1e-6, now - self._stream_started_at)
        if total:
            share = min(1.0, self.records_emitted / total)
            rate = self.records_emitted / elapsed
            eta = (total - self.records_emitted) / rate if rate > 0 else float("inf")
            self.logger.info(
                "%s: %d pages, %d of %d records (%.0f%%), ETA %.0fs",
                self.name, self.pages_read, self.records_emitted, total, share * 100, eta,
            )
        else:
            self.logger.info("%s: %d pages, %d records so far", self.name, self.pages_read, self.records_emitted)


logging.getLogger("urllib3").setLevel(logging.WARNING)
