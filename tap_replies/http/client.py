"""One provider's request path: every attempt takes a token from the provider's bucket, a failure
worth retrying waits (the server's word first), a 429's wait holds every stream of the provider,
and each attempt is counted for the stream and for the provider.

`ProviderClient.retrying` is what a stream's public `request_decorator` returns: the SDK wraps its
send-and-validate call in it, so pacing and retries run once per attempt, in one place.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

import requests

from tap_replies.http.errors import (
    Endpoint,
    RetriesExhausted,
    gave_up_line,
    retry_line,
    wait_too_long_line,
)
from tap_replies.http.pacing import Clock, TokenBucket
from tap_replies.http.reachability import retries_allowed
from tap_replies.http.retry import RETRYABLE_EXCEPTIONS, RetryPolicy, ServerWaitTooLong, status_of

if t.TYPE_CHECKING:
    import logging

    from tap_replies.settings import ProviderSettings

Send = t.TypeVar("Send", bound=t.Callable[..., t.Any])


@dataclass
class RequestStats:
    """Counters of one provider (shared by its streams) or of one stream."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    seconds_paced: float = 0.0
    seconds_rate_limited: float = 0.0


class Caller(t.Protocol):
    """What the request path needs of the stream it sends for."""

    @property
    def endpoint(self) -> Endpoint: ...

    @property
    def request_stats(self) -> RequestStats: ...

    @property
    def logger(self) -> logging.Logger: ...

    def wait(self, seconds: float) -> None:
        """Sleep on the provider's clock (the stream logs progress while it waits)."""

    def checkpoint(self) -> None:
        """Write state for what was emitted, before the sync stops."""


class ProviderClient:
    """A provider's settings and what all of its streams share in a run: one token bucket,
    one retry policy, the provider's counters and the clock."""

    def __init__(self, settings: ProviderSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.bucket = TokenBucket(settings.requests_per_minute, clock=clock)
        self.policy = RetryPolicy(max_retries=settings.max_retries,
                                  max_wait_seconds=settings.max_wait_seconds)
        self.stats = RequestStats()

    def configure(self, session: requests.Session, *, stream_bodies: bool) -> None:
        """The session a stream sends through. The environment's proxy settings (HTTPS_PROXY,
        NO_PROXY) are read once, here: requests would read them again for every request, about
        0.2-0.35 ms of CPU each: much of a 20-reply Smartlead inbox page's cost."""
        session.stream = stream_bodies  # a spooled stream reads bodies as they arrive
        url = self.settings.api_url
        if not requests.utils.should_bypass_proxies(url, no_proxy=None):
            session.proxies.update(requests.utils.get_environ_proxies(url))
        session.trust_env = False

    def retrying(self, send: Send, caller: Caller) -> Send:
        """`send` paced, retried and counted on behalf of `caller`."""

        def paced_and_retried(*args: t.Any, **kwargs: t.Any) -> t.Any:
            waits = self.policy.wait_generator()
            next(waits)
            tries = 0
            while True:
                tries += 1
                self._take_turn(caller)
                try:
                    return send(*args, **kwargs)
                except RETRYABLE_EXCEPTIONS as exc:
                    self._wait_to_retry(exc, tries, waits, caller)

        return t.cast("Send", paced_and_retried)

    def _take_turn(self, caller: Caller) -> None:
        waited = self.bucket.acquire(sleep=caller.wait)
        for stats in (caller.request_stats, self.stats):
            stats.seconds_paced += waited
            stats.requests += 1

    def _wait_to_retry(self, exc: BaseException, tries: int,
                       waits: t.Generator[float, BaseException | None, None],
                       caller: Caller) -> None:
        """Wait before the next attempt, or raise the one line that ends the sync."""
        rate_limited = status_of(exc) == 429
        both = (caller.request_stats, self.stats)
        timeout = self.settings.request_timeout
        if rate_limited:
            for stats in both:
                stats.rate_limited += 1
        if tries > retries_allowed(exc, self.policy.max_retries):
            raise RetriesExhausted(gave_up_line(caller.endpoint, exc, tries, timeout)) from None
        try:
            seconds = waits.send(exc)
        except ServerWaitTooLong as too_long:
            caller.checkpoint()  # what was emitted, before stopping
            raise RetriesExhausted(wait_too_long_line(caller.endpoint, exc, too_long)) from None
        for stats in both:
            stats.retries += 1
        caller.logger.warning("%s", retry_line(caller.endpoint, exc, tries, seconds, timeout))
        if rate_limited:
            # Every stream of the provider waits, not only this one.
            self.bucket.pause_for(seconds)
            for stats in both:
                stats.seconds_rate_limited += seconds
        else:
            caller.wait(seconds)
