"""The one fake clock of the test suite, and the tap that runs on it.

Pacing and retries read time only through the tap's `clock` (tap_replies/http/pacing.py `Clock`),
so a test swaps in this one and nothing sleeps: monotonic time moves only when the tap sleeps (or
the test sets `now`), and every sleep is recorded, so a test can assert how long the tap would
have waited.
"""

from __future__ import annotations

from tap_replies.tap import TapReplies


class FakeClock:
    """Monotonic time that jumps forward instead of sleeping, and remembers each wait."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.sleeps.append(seconds)
            self.now += seconds

    @property
    def slept(self) -> float:
        """Seconds the tap would have waited so far."""
        return sum(self.sleeps)


def tap_on(clock: FakeClock) -> type[TapReplies]:
    """A TapReplies subclass whose pacing and retries run on `clock` (TapReplies keeps its own)."""
    return type("FakeClockTap", (TapReplies,), {"clock": clock})


# The real CLI in a subprocess, the clock swapped before click parses anything: `python -c`
# this with PYTHONPATH at the repository root.
FAKE_CLOCK_CLI = """
from tap_replies.tap import TapReplies
from tests.clock import FakeClock
TapReplies.clock = FakeClock()
TapReplies.cli()
"""
