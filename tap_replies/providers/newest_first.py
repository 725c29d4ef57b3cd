"""Incremental reading of lists that come newest first, with a checkpoint after every page.

All three reply endpoints list newest first and none sorts ascending, so the bookmark (the newest
timestamp emitted) can only move once a window has been read to its end. To make a killed run cheap
to resume anyway, every page writes a `resume` note into the partition's state: the time ranges
whose records are already emitted. A resumed run reads the same window again but skips records in
those ranges, so it re-emits at most the page it was on; the note is dropped when the window ends.

State of one partition (besides the SDK's own keys):
    "resume": {"emitted": [[after, up_to], ...], "max_emitted": "..."}   ranges are (after, up_to]
"""

from __future__ import annotations

import datetime as dt
import typing as t

from tap_replies.providers.base import ProviderStream, format_timestamp, parse_timestamp

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

try:
    from typing import override
except ImportError:  # Python < 3.12
    from typing_extensions import override

Range = tuple[dt.datetime, dt.datetime]


def merge_ranges(ranges: t.Iterable[Range]) -> list[Range]:
    merged: list[Range] = []
    for after, up_to in sorted(ranges):
        if merged and after <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], up_to))
        else:
            merged.append((after, up_to))
    return merged


class _Window:
    """What one partition's run knows about its window and progress."""

    def __init__(self, lower: dt.datetime | None, upper: dt.datetime, resume: dict[str, t.Any]) -> None:
        self.lower = lower
        self.upper = upper
        self.already_emitted: list[Range] = []
        for pair in resume.get("emitted") or []:
            after, up_to = parse_timestamp(pair[0]), parse_timestamp(pair[1])
            if after is not None and up_to is not None:
                self.already_emitted.append((after, up_to))
        self.max_emitted = parse_timestamp(resume.get("max_emitted"))
        self.oldest_seen: dt.datetime | None = None
        self.in_order = True

    def skip(self, ts: dt.datetime) -> bool:
        return any(after < ts <= up_to for after, up_to in self.already_emitted)

    def see(self, ts: dt.datetime) -> None:
        if self.oldest_seen is not None and ts > self.oldest_seen:
            self.in_order = False  # not newest first after all: no range can be trusted
        if self.oldest_seen is None or ts < self.oldest_seen:
            self.oldest_seen = ts

    def emitted(self, ts: dt.datetime) -> None:
        if self.max_emitted is None or ts > self.max_emitted:
            self.max_emitted = ts

    def resume_note(self) -> dict[str, t.Any]:
        ranges = list(self.already_emitted)
        if self.in_order and self.oldest_seen is not None:
            ranges.append((self.oldest_seen, self.upper))
        note: dict[str, t.Any] = {
            "emitted": [[format_timestamp(a), format_timestamp(b)] for a, b in merge_ranges(ranges)]
        }
        if self.max_emitted is not None:
            note["max_emitted"] = format_timestamp(self.max_emitted)
        return note


class NewestFirstStream(ProviderStream):
    """A stream whose endpoint lists newest first; subclasses set `replication_key`."""

    is_sorted = False
    # Records older than the window's lower bound are dropped here when the API cannot filter.
    filters_client_side = True

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._windows: dict[str, _Window] = {}
        self._current: tuple[Context | None, _Window] | None = None

    # -- the window -----------------------------------------------------------------------

    def window(self, context: Context | None) -> _Window:
        key = repr(sorted((context or {}).items()))
        if key not in self._windows:
            state = self.get_context_state(context)
            signpost = self.get_replication_key_signpost(context)
            upper = signpost if isinstance(signpost, dt.datetime) else dt.datetime.now(dt.timezone.utc)
            self._windows[key] = _Window(
                self.get_starting_timestamp(context), upper, dict(state.get("resume") or {})
            )
        self._current = (context, self._windows[key])
        return self._windows[key]

    def window_bounds(self, context: Context | None) -> tuple[str | None, str]:
        """(lower, upper) as the APIs take them; lower is inclusive."""
        window = self.window(context)
        lower = format_timestamp(window.lower) if window.lower else None
        return lower, format_timestamp(window.upper)

    def record_timestamp(self, row: dict[str, t.Any]) -> dt.datetime | None:
        return parse_timestamp(row.get(t.cast("str", self.replication_key)))

    # -- records and checkpoints ----------------------------------------------------------

    @override
    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        window = self.window(context)
        ts = self.record_timestamp(row)
        if ts is None:
            self.logger.warning("%s: record %s has no readable %s; kept", self.name,
                                row.get((self.primary_keys or ["id"])[0]), self.replication_key)
            return super().post_process(row, context)
        window.see(ts)
        if ts > window.upper:
            return None  # arrived during this sync: the next sync's window holds it
        if self.filters_client_side and window.lower is not None and ts < window.lower:
            return None
        if window.skip(ts):
            return None
        processed = super().post_process(row, context)
        if processed is not None:
            window.emitted(ts)
        return processed

    @override
    def on_page_done(self) -> None:
        if self._current is not None:
            context, window = self._current
            self.get_context_state(context)["resume"] = window.resume_note()
            # The SDK would otherwise write state only every 10,000 records.
            self._write_state_message()
        super().on_page_done()

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        window = self.window(context)
        yield from super().get_records(context)
        # The window was read to its end: fold in what a killed run had emitted, drop the note.
        if window.max_emitted is not None:
            self._increment_stream_state(
                {t.cast("str", self.replication_key): format_timestamp(window.max_emitted)},
                context=context,
            )
        self.get_context_state(context).pop("resume", None)
