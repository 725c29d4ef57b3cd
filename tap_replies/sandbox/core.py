"""What every emulated provider shares: requests, errors, routes, pacing, faults, request log.

A provider module (leadterra.py, smartlead.py, tuco.py) subclasses `ProviderEmulator`: it builds its
data from the seed, declares its routes, and says what a sync should return (`ground_truth`).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import threading
import time
import typing as t
from dataclasses import dataclass, field

# Data is dated in the past so "now" is always later than every seeded record.
EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
# Seeded data ends here, so "now" (when tests add activity) is later than every seeded record.
SEED_END = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
SEED_SECONDS = int((SEED_END - EPOCH).total_seconds())


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> t.Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise ApiError(400, "Request body is not valid JSON") from None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Response:
    """`body` is JSON-encoded, unless it is `bytes`: then it is sent as is (HTML, broken JSON).

    `cut_after`: send only this many bytes of the body (the Content-Length still says all of
    them), then hang up, as a dropped connection does in the middle of a long answer.
    """

    status: int
    body: t.Any
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None


class ApiError(Exception):
    """Raised by a handler; the provider renders it in its own error format."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def int_arg(
    request: Request,
    name: str,
    default: int,
    *,
    low: int | None = None,
    high: int | None = None,
    not_a_number: str | None = None,
) -> int:
    """An integer query parameter; absent or empty is `default`. Each provider words the 400
    for a non-number its own way (`not_a_number`); bounds are checked when given."""
    raw = request.arg(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise ApiError(400, not_a_number or f"{name} must be an integer, got '{raw}'") from None
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ApiError(400, f"{name} must be {bounds}")
    return value


Handler = t.Callable[[Request], t.Any]
# A record's primary key, its values in the order of the stream's `primary_keys`.
RecordKey = tuple[t.Any, ...]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    name: str


def route(method: str, path: str, handler: Handler, name: str | None = None) -> Route:
    """`path` may hold `{param}` segments, e.g. /api/v1/campaigns/{campaign_id}/leads."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path.rstrip("/"))
    return Route(method, re.compile(f"^{regex}/?$"), handler, name or path)


class ServerBucket:
    """The provider's own limiter: a token bucket with a short burst; 429 + Retry-After past it."""

    def __init__(
        self,
        requests_per_minute: float,
        burst_seconds: float = 2.0,
        clock: t.Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = requests_per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.tokens = self.capacity
        self.clock = clock  # injectable, so a test can replay arrival times without waiting
        self.updated = clock()
        self.lock = threading.Lock()

    def take(self) -> float | None:
        """None when allowed, else the seconds until a token is free."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return None
            return (1.0 - self.tokens) / self.rate


@dataclass
class LoggedRequest:
    provider: str
    method: str
    path: str
    query: dict[str, list[str]]
    body: t.Any
    status: int
    at: float


FAULTS = ("500", "503", "429", "reset", "truncated")
"""What `fault_rate` draws from."""
OVERRIDE_FAULTS = (*FAULTS, "502", "504", "timeout")
"""What `Sandbox.override` can also act out; `timeout` answers after the client gave up."""


class ProviderEmulator:
    """One provider's API: data from a seed, routes, auth, error format, ground truth."""

    name: t.ClassVar[str]
    api_key: t.ClassVar[str]

    def __init__(self, seed: int, scale: int) -> None:
        self.seed = seed
        self.scale = scale
        self.rng = random.Random(f"{self.name}:{seed}")
        self.lock = threading.RLock()
        self.rate_limit: ServerBucket | None = None

    # Overridden by each provider ---------------------------------------------------------

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def authenticate(self, request: Request) -> bool:
        """Bearer auth by default; Smartlead overrides with its query parameter."""
        return request.header("authorization") == f"Bearer {self.api_key}"

    def error_body(self, error: ApiError) -> t.Any:
        body: dict[str, t.Any] = {"error": error.message}
        if error.code:
            body["code"] = error.code
        return body

    def unauthorized(self) -> ApiError:
        return ApiError(401, "Unauthorized")

    def rate_limited_body(self) -> ApiError:
        return ApiError(429, "Rate limit exceeded")

    def add_activity(self, count: int = 5) -> dict[str, int]:
        """New activity since the last sync; returns what was added per stream."""
        raise NotImplementedError

    def add_reply(self, at: dt.datetime, campaign_id: t.Any = None) -> RecordKey:
        """A new reply stamped `at` (to the second), in `campaign_id` (default: any campaign
        the seed fills); returns its key in the provider's replies stream. The one way every
        test places a reply at an instant (tests/contract/)."""
        raise NotImplementedError

    def ground_truth(self) -> dict[str, list[dict[str, t.Any]]]:
        """Every record a full sync (no start_date, no campaign filter) should emit, per stream."""
        raise NotImplementedError

    def primary_keys(self) -> dict[str, tuple[str, ...]]:
        raise NotImplementedError

    def config(self, base_url: str) -> dict[str, t.Any]:
        """This provider's settings block for a tap pointed at the sandbox."""
        return {"api_key": self.api_key, "api_url": base_url, "requests_per_minute": None}
