"""Client-side pacing: one token bucket per provider, shared by all of its streams in a run.

Every provider budgets requests per key (or per workspace), not per endpoint, so every stream of a
provider must draw from the same bucket. A 429 that names a wait pauses the whole bucket, so the
other streams of that provider do not walk into the same wall.
"""

from __future__ import annotations

import threading
import time
import typing as t


class Clock(t.Protocol):
    """What pacing and retries need of time; tests inject a fake one instead of sleeping."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class TokenBucket:
    """A token bucket of `requests_per_minute`, holding at most `burst` tokens.

    `requests_per_minute=None` means no limit. The bucket starts full, like the providers' own
    limiters, so a short sync is not slowed at all.
    """

    def __init__(
        self,
        requests_per_minute: float | None,
        *,
        burst: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.requests_per_minute = requests_per_minute
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        if requests_per_minute:
            self.rate_per_second = requests_per_minute / 60.0
            # A short burst: about two seconds' worth, never fewer than one request.
            self.capacity = float(burst or max(1, round(self.rate_per_second * 2)))
        else:
            self.rate_per_second = 0.0
            self.capacity = 0.0
        self._tokens = self.capacity
        self._updated_at = self.clock.monotonic()
        self._paused_until = 0.0
        self.seconds_waited = 0.0

    @property
    def unlimited(self) -> bool:
        return not self.requests_per_minute

    def pause_for(self, seconds: float) -> None:
        """Hold every request of this provider for `seconds` (a server-side Retry-After)."""
        with self._lock:
            until = self.clock.monotonic() + max(0.0, seconds)
            self._paused_until = max(self._paused_until, until)
            # The server says the window is spent: do not burst right after the pause.
            self._tokens = min(self._tokens, 1.0)

    def acquire(self) -> float:
        """Take one token, waiting as long as needed. Returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock.monotonic()
                wait = self._paused_until - now
                if wait <= 0:
                    if self.unlimited:
                        break
                    self._refill(now)
                    if self._tokens >= 1.0:
                        self._tokens -= 1.0
                        break
                    wait = (1.0 - self._tokens) / self.rate_per_second
            self.clock.sleep(wait)
            waited += wait
        self.seconds_waited += waited
        return waited

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated_at)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate_per_second)
        self._updated_at = now
