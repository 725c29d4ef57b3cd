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
    """A token bucket of `requests_per_minute` with a burst of `burst_seconds` worth of requests,
    kept as its equivalent "theoretical arrival time" (GCRA), which makes the margin exact.

    `requests_per_minute=None` means no limit. The bucket starts full, like the providers' own
    limiters, so a short sync is not slowed at all.

    The providers' limiters are token buckets of the same rate and burst, but they see a request
    when it arrives, not when we send it. A request held up on the way (a slow first connection,
    a late thread) shifts the server's bucket against ours by that delay, and the next request
    could then find it a hair short and be answered 429. So every request is sent `margin`
    seconds later than the server's bucket would accept it: that tolerates up to `margin` of
    delay. It costs one request of the burst at the start and nothing afterwards, except at
    limits so low that the server allows no burst at all, where each request waits `margin` more.
    """

    MARGIN_SECONDS = 0.1

    def __init__(
        self,
        requests_per_minute: float | None,
        *,
        burst_seconds: float = 2.0,
        margin: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.requests_per_minute = requests_per_minute
        self.clock = clock or SystemClock()
        self.margin = self.MARGIN_SECONDS if margin is None else margin
        self._lock = threading.Lock()
        if requests_per_minute:
            self.interval = 60.0 / requests_per_minute
            capacity = max(1.0, burst_seconds / self.interval)
            # How far ahead of the steady pace a full bucket lets requests go.
            self.tolerance = (capacity - 1.0) * self.interval
        else:
            self.interval = 0.0
            self.tolerance = 0.0
        # Theoretical arrival time: when the next request would be due at the steady pace.
        self._tat = self.clock.monotonic()
        self._paused_until = 0.0

    @property
    def unlimited(self) -> bool:
        return not self.requests_per_minute

    @property
    def burst(self) -> int:
        """Requests a full bucket lets through at once."""
        if self.unlimited:
            return 0
        return int(max(0.0, self.tolerance - self.margin) / self.interval + 1e-9) + 1

    def pause_for(self, seconds: float) -> None:
        """Hold every request of this provider for `seconds` (a server-side Retry-After)."""
        with self._lock:
            until = self.clock.monotonic() + max(0.0, seconds)
            self._paused_until = max(self._paused_until, until)
            # The server's window is spent: one request when it reopens, then the steady pace.
            self._tat = max(self._tat, self._paused_until + self.tolerance - self.margin)

    def acquire(self, sleep: t.Callable[[float], None] | None = None) -> float:
        """Wait until a request may go, and count it. Returns the seconds waited.

        `sleep` waits on the caller's behalf (a stream that keeps logging progress while it
        waits); it defaults to the bucket's clock.
        """
        sleep = sleep or self.clock.sleep
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock.monotonic()
                due = self._paused_until
                if not self.unlimited:
                    due = max(due, self._tat - self.tolerance + self.margin)
                # The epsilon absorbs float error after sleeping exactly the computed wait.
                if now >= due - 1e-9:
                    if not self.unlimited:
                        self._tat = max(now, self._tat) + self.interval
                    break
                wait = due - now
            sleep(wait)
            waited += wait
        return waited
