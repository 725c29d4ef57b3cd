"""Which failures are retried and how long to wait: the server's word first, then capped backoff.

The wait generator speaks the `backoff` library's protocol (primed with `send(None)`, then sent each
exception), so it plugs into `RESTStream.backoff_wait_generator` unchanged. A server asking for a
longer wait than `max_wait_seconds` is not waited for: the generator raises `ServerWaitTooLong`,
and the stream checkpoints and stops (a scheduled run should not hang for an hour).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import time
import typing as t
from dataclasses import dataclass, field

import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_replies.settings import run_default

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Other 5xx are retried as well (a CDN's 520-524 are as passing as a 502), except those that
# say the request itself can never work.
NEVER_RETRIED_5XX = frozenset({501, 505})


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or (500 <= status < 600 and status not in NEVER_RETRIED_5XX)
RETRYABLE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    RetriableAPIError,
    ConnectionResetError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
# Only to keep a resume time printable: a server asking for more than this asks for never.
_LONGEST_NAMED_WAIT = 10 * 365 * 86400.0


class ServerWaitTooLong(Exception):
    """The server asked for a wait longer than the run may take for one (`max_wait_seconds`)."""

    def __init__(self, seconds: float, limit: float, asked_by: str, now: float) -> None:
        super().__init__(f"asked to wait {seconds:.0f}s, more than {limit:g}s")
        self.seconds = seconds
        self.limit = limit
        self.asked_by = asked_by
        self.resume_at = dt.datetime.fromtimestamp(now + min(seconds, _LONGEST_NAMED_WAIT),
                                                   dt.timezone.utc)


class RetryableResponseError(RetriableAPIError):
    """A response worth retrying: a retryable status, or a body that is cut short or not JSON."""

    def __init__(self, message: str, response: requests.Response | None = None) -> None:
        super().__init__(message, response)
        self.status_code = response.status_code if response is not None else None


def server_requested_wait(
    response: requests.Response | None, *, now: float | None = None
) -> float | None:
    """Seconds the server asked us to wait: `Retry-After` (seconds or HTTP date), else
    `x-ratelimit-reset` (seconds from now, or an epoch timestamp)."""
    if response is None:
        return None
    now = time.time() if now is None else now
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        value = retry_after.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(0.0, when.timestamp() - now)
    reset = response.headers.get("x-ratelimit-reset") or response.headers.get("X-RateLimit-Reset")
    if reset and response.status_code == 429:
        try:
            seconds = float(reset)
        except ValueError:
            return None
        if seconds > 1_000_000_000:  # an epoch timestamp, not a delta
            seconds -= now
        return max(0.0, seconds)
    return None


@dataclass
class RetryPolicy:
    """Retry settings. The defaults (the settings') outlast a one-minute rate window
    (1+2+4+…+60 ≈ 3 minutes)."""

    max_retries: int = run_default("max_retries")
    base_seconds: float = 1.0
    cap_seconds: float = 60.0
    max_wait_seconds: float = run_default("max_wait_seconds")
    rng: random.Random = field(default_factory=random.Random)

    def backoff_seconds(self, attempt: int) -> float:
        """Capped exponential backoff with ±20% jitter, for failures that name no wait."""
        raw = min(self.cap_seconds, self.base_seconds * (2**attempt))
        return min(self.cap_seconds, raw * self.rng.uniform(0.8, 1.2))

    def wait_for(self, exc: BaseException | None, attempt: int) -> float:
        response = getattr(exc, "response", None)
        now = time.time()
        asked = server_requested_wait(response, now=now)
        if asked is not None and asked > self.max_wait_seconds:
            named = response is not None and bool(response.headers.get("Retry-After"))
            raise ServerWaitTooLong(asked, self.max_wait_seconds,
                                    "Retry-After" if named else "x-ratelimit-reset", now)
        if asked is not None:
            # A hair over what was asked, so we do not arrive a tick before the window opens.
            return asked + self.rng.uniform(0.0, min(1.0, 0.05 * asked + 0.05))
        return self.backoff_seconds(attempt)

    def wait_generator(self) -> t.Generator[float, BaseException | None, None]:
        exc = yield 0.0
        attempt = 0
        while True:
            exc = yield self.wait_for(exc, attempt)
            attempt += 1


def status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)
