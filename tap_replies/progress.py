"""A stream's progress line (at least every 30 seconds, with share and ETA when a page states the
list's size) and its summary line at the end."""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    import logging

    from tap_replies.http.client import RequestStats
    from tap_replies.http.pacing import Clock

PROGRESS_LOG_SECONDS = 30.0


class Progress:
    """What one stream has done so far, on the provider's clock."""

    def __init__(self, name: str, clock: Clock, logger: logging.Logger) -> None:
        self.name = name
        self.clock = clock
        self.logger = logger
        self.pages_read = 0
        self.records_emitted = 0
        # Set from a page that states the list's size, for share and ETA.
        self.expected_total: int | None = None
        self.started_at: float | None = None
        self._logged_at: float | None = None
        # (clock, records_emitted) when the current partition began: its share and ETA.
        self._partition_start: tuple[float, int] | None = None

    def partition_started(self) -> None:
        if self.started_at is None:
            self.log()
        # A total a page states is that of this partition's list: count progress against it.
        self.expected_total = None
        self._partition_start = (self.clock.monotonic(), self.records_emitted)

    def page_done(self, total: int | None) -> None:
        self.pages_read += 1
        if total is not None:
            self.expected_total = total
        self.log(total=self.expected_total)

    def wait(self, seconds: float) -> None:
        """Sleep in slices, so a long wait (a 429's Retry-After, a backoff, a slow pace) still
        logs progress at least every PROGRESS_LOG_SECONDS."""
        remaining = seconds
        while remaining > 0:
            step = min(remaining, PROGRESS_LOG_SECONDS)
            self.clock.sleep(step)
            remaining -= step
            self.log(total=self.expected_total, waiting=remaining)

    def warn_if_capped(self, cap: int) -> None:
        """A list the endpoint cuts at `cap` records, unpaged: a full answer may be a cut one."""
        if cap and self.records_emitted >= cap:
            self.logger.warning("%s: %d records, the most this endpoint returns; any beyond "
                                "them cannot be read", self.name, self.records_emitted)

    def log(self, *, total: int | None = None, waiting: float | None = None) -> None:
        """A progress line at most every PROGRESS_LOG_SECONDS (and at least, as long as pages
        keep coming); with a known `total`, the share done and an ETA."""
        now = self.clock.monotonic()
        if self.started_at is None:
            self.started_at = self._logged_at = now
            return
        if self._logged_at is not None and now - self._logged_at < PROGRESS_LOG_SECONDS:
            return
        self._logged_at = now
        line = (f"{self.name}: {self.pages_read} pages, {self.records_emitted} records "
                f"in {now - self.started_at:.0f}s")
        if total:
            line += self._share(total, now)
        if waiting:
            line += f"; waiting {waiting:.0f}s more (rate limit or retry)"
        self.logger.info("%s", line)

    def _share(self, total: int, now: float) -> str:
        started_at, records_before = self._partition_start or (self.started_at or now, 0)
        done = min(max(0, self.records_emitted - records_before), total)
        rate = done / max(1e-6, now - started_at)
        eta = f"{(total - done) / rate:.0f}s" if rate > 0 else "unknown"
        return f"; {done} of {total} ({100.0 * done / total:.0f}%) of this list, ETA {eta}"

    def summary_line(self, stats: RequestStats, *notes: str) -> str:
        seconds = self.clock.monotonic() - self.started_at if self.started_at is not None else 0.0
        line = (f"{self.name}: {self.records_emitted} records, {stats.requests} requests "
                f"({stats.retries} retried), {stats.rate_limited} 429s waited out "
                f"({stats.seconds_rate_limited:.1f}s), {seconds:.1f}s")
        return ", ".join([line, *notes])
