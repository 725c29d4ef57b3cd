"""Incremental reading of lists that come newest first, with a checkpoint after every page.

All three reply endpoints list newest first and none sorts ascending, so the bookmark (the newest
timestamp emitted) can only move once a window has been read to its end. To make a killed run cheap
to resume anyway, every page writes a `resume` note into the partition's state: the time ranges
whose records are already emitted. A resumed run reads the same window again but skips records in
those ranges, so it re-emits at most the page it was on; the note is dropped when the window ends.

State of one partition (besides the SDK's own keys):
    "replication_key_value": the newest timestamp emitted by a window read to its end
    "resume": {"emitted": [[after, up_to], ...],      ranges are (after, up_to]
               "edges": [[at, [key, ...]], ...],          and at an open end `at`, these keys
               "max_emitted": "..."}
(read and written by resume_note.py, a pure object; the repeats of a page are RepeatDetector's.)

A range never reaches the window's own last second: the APIs stamp replies to the second, so a
reply stamped in it may still arrive after the page was read. Those read are named by key instead
(an edge at `upper`), and a resumed run reads that second again.

The SDK's own per-record bookkeeping for unsorted streams (progress markers, promoted when the
stream ends) is replaced, not added to: the bookmark here moves only when a window ends, to the
newest record actually emitted, never past a record that was not.
"""

from __future__ import annotations

import datetime as dt
import sys
import typing as t
from collections import OrderedDict

from tap_replies.providers.base import ProviderStream
from tap_replies.providers.resume_note import Key, Range, ResumeNote
from tap_replies.timestamps import format_precise, format_timestamp, parse_timestamp

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context, Record

# A version check rather than try/except: mypy (run for 3.11) understands this one.
if sys.version_info >= (3, 12):
    from typing import override
else:  # Python < 3.12
    from typing_extensions import override

# Keys of a page's last records kept to recognise repeats on the next page: more than the largest
# page any of the APIs documents (Leadterra's 200), and still a few hundred kilobytes.
REMEMBERED_KEYS = 1_000
# The finest step of a timestamp: a range up to `upper - ONE_TICK` stops just short of `upper`.
ONE_TICK = dt.timedelta(microseconds=1)


def _hashable(value: t.Any) -> t.Any:
    """A key part that can go in a set (and in JSON): an odd dict or list id becomes its text."""
    return value if isinstance(value, str | int | float | bool | None) else repr(value)


class RepeatDetector:
    """Keys (and times) of the last two pages: a record seen again, because the next page
    overlaps this one or the list shifted under an offset, is a repeat, not a break in the
    order. Only a page's last REMEMBERED_KEYS records are kept: a repeat comes from the end of
    the page before, and an unpaged list's one page must not cost memory per record."""

    def __init__(self) -> None:
        self._recent: OrderedDict[t.Any, dt.datetime] = OrderedDict()
        self._page: OrderedDict[t.Any, dt.datetime] = OrderedDict()

    def remember(self, key: Key, ts: dt.datetime) -> None:
        self._page[key] = ts
        if len(self._page) > REMEMBERED_KEYS:
            self._page.popitem(last=False)

    def repeat(self, ts: dt.datetime, key: Key | None) -> bool:
        """Whether this very record (same key, same time) was on this page or the one before.

        A repeat counts as on this page too: the next page may overlap this one in turn.
        """
        if key is None or ts not in (self._recent.get(key), self._page.get(key)):
            return False
        self.remember(key, ts)
        self._page.move_to_end(key)
        return True

    def seen_lately(self, key: Key) -> bool:
        return key in self._recent or key in self._page

    def page_done(self) -> None:
        self._recent, self._page = self._page, OrderedDict()


class _Window:
    """What one partition's run knows about its window and progress: the killed run's note
    (resume_note.py, pure) and what this run has read since, in order or not."""

    def __init__(
        self, lower: dt.datetime | None, upper: dt.datetime, resume: dict[str, t.Any]
    ) -> None:
        self.lower = lower
        self.upper = upper
        self.note = ResumeNote.from_state(resume)
        self.max_emitted = self.note.max_emitted
        self.oldest_seen: dt.datetime | None = None
        self.in_order = True
        self.repeats = RepeatDetector()
        # Keys seen at `oldest_seen`: the next page may hold more records of that instant.
        self._edge_keys: set[Key] = set()
        # Keys seen at `upper`: that second was still open when the window was set up.
        self._upper_keys: set[Key] = set()

    def skip(self, ts: dt.datetime, key: Key | None = None) -> bool:
        """Whether a killed run already emitted this record (by its time, or time and key)."""
        return self.note.skip(ts, key)

    def repeat(self, ts: dt.datetime, key: Key | None) -> bool:
        return self.repeats.repeat(ts, key)

    def see(self, ts: dt.datetime, key: Key | None = None) -> None:
        """A record of the window (at or before `upper`), in the order the API listed it."""
        if (self.oldest_seen is not None and ts > self.oldest_seen
                and (key is None or not self.repeats.seen_lately(key))):
            self.in_order = False  # not newest first after all: no new range can be trusted
        if self.oldest_seen is None or ts < self.oldest_seen:
            self.oldest_seen = ts
            self._edge_keys = set()
        if key is not None:
            self.repeats.remember(key, ts)
            if ts == self.oldest_seen:
                self._edge_keys.add(key)
            if ts == self.upper:
                self._upper_keys.add(key)

    def emitted(self, ts: dt.datetime) -> None:
        if self.max_emitted is None or ts > self.max_emitted:
            self.max_emitted = ts

    def page_done(self) -> None:
        self.repeats.page_done()

    def resume_note(self) -> dict[str, t.Any]:
        """What a resumed run may skip: the killed run's note and, read in order since, every
        record from `oldest_seen` up to `upper` (open at both ends: more records may share the
        oldest instant on the next page, and a reply stamped in `upper`'s second may not have
        been listed yet; the ones read there are named by key)."""
        ranges: list[Range] = []
        edges: dict[dt.datetime, set[Key]] = {}
        if self.in_order and self.oldest_seen is not None:
            ranges.append((self.oldest_seen, self.upper - ONE_TICK))
            edges = {self.oldest_seen: set(self._edge_keys)}
            edges.setdefault(self.upper, set()).update(self._upper_keys)
        return self.note.with_progress(ranges, edges, self.max_emitted).to_state()


class NewestFirstStream(ProviderStream):
    """A stream whose endpoint lists newest first; subclasses set `replication_key`."""

    is_sorted = False
    # Records older than the window's lower bound are dropped here when the API cannot filter.
    filters_client_side = True

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._windows: dict[str, _Window] = {}
        self._current: tuple[Context | None, _Window] | None = None
        self._warned_of_empty_window = False
        # The timestamp of the record `admit` let through last, for `emitted`.
        self._admitted_at: dt.datetime | None = None

    # -- the window -----------------------------------------------------------------------

    @property
    def current_window(self) -> _Window | None:
        """The window of the partition being read."""
        return self._current[1] if self._current is not None else None

    def window(self, context: Context | None) -> _Window:
        current = self._current
        if current is not None and current[0] is context:
            return current[1]  # the common case, once per record: no key to build
        key = repr(sorted((context or {}).items()))
        if key not in self._windows:
            state = self.get_context_state(context)
            signpost = self.get_replication_key_signpost(context)
            upper = (signpost if isinstance(signpost, dt.datetime)
                     else dt.datetime.now(dt.timezone.utc))
            # The APIs take their bounds to the second: a window whose upper bound were finer
            # than the one sent would claim (in its resume note) records never asked for.
            upper = upper.replace(microsecond=0)
            self._windows[key] = _Window(
                self.get_starting_timestamp(context), upper, dict(state.get("resume") or {})
            )
        self._current = (context, self._windows[key])
        return self._windows[key]

    def window_bounds(self, context: Context | None) -> tuple[str | None, str]:
        """(lower, upper) as the APIs take them; lower is inclusive (cut to the second, down)."""
        window = self.window(context)
        lower = format_timestamp(window.lower) if window.lower else None
        return lower, format_timestamp(window.upper)

    def read_past_lower_bound(self) -> bool:
        """Whether the list, still in order, has been read below the window's lower bound: the
        rest is older still (a paginator that can stop early asks after each page)."""
        window = self.current_window
        return (window is not None and window.in_order and window.lower is not None
                and window.oldest_seen is not None and window.oldest_seen < window.lower)

    def record_timestamp(self, row: dict[str, t.Any]) -> dt.datetime | None:
        return parse_timestamp(row.get(t.cast("str", self.replication_key)))

    # -- records and checkpoints ----------------------------------------------------------

    @override
    def admit(self, row: dict[str, t.Any], context: Context | None) -> bool:
        window = self.window(context)
        ts = self._admitted_at = self.record_timestamp(row)
        if ts is None:
            self.logger.warning("%s: record %s has no readable %s; kept", self.name,
                                row.get((self.primary_keys or ["id"])[0]), self.replication_key)
            return True
        if ts > window.upper:
            return False  # arrived during this sync: the next sync's window holds it
        key = tuple([_hashable(row.get(k)) for k in self.primary_keys or ()]) or None
        if window.repeats.repeat(ts, key):
            return False  # already emitted from the page before (see TimeCursorPaginator)
        window.see(ts, key)
        if self.filters_client_side and window.lower is not None and ts < window.lower:
            return False
        return not window.note.skip(ts, key)

    @override
    def emitted(self, row: dict[str, t.Any], context: Context | None) -> None:
        if self._admitted_at is not None:
            self.window(context).emitted(self._admitted_at)

    @override
    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        """Nothing per record: the SDK would keep a 'not resumable' progress marker and promote
        it at the end; the window does better (see `get_records`)."""

    @override
    def on_page_done(self, response: requests.Response) -> None:
        if self._current is not None:
            context, window = self._current
            window.page_done()
            state = self.get_context_state(context)
            note = window.resume_note()
            if state.get("resume") != note:
                state["resume"] = note
                self.checkpoint(changed=True)
        super().on_page_done(response)

    def starts_after_its_end(self, context: Context | None) -> bool:
        """Whether the window begins after it ends (a start_date or bookmark later than now).

        Nothing can be in it, and the APIs refuse an inverted window (Smartlead 422, Tuco 400):
        no request is sent, and the stream says so once, however many partitions it has.
        """
        lower, upper = self.window_bounds(context)
        lower_at, upper_at = parse_timestamp(lower), parse_timestamp(upper)
        if lower_at is None or upper_at is None or lower_at <= upper_at:
            return False
        if not self._warned_of_empty_window:
            self._warned_of_empty_window = True
            bookmark = self.get_context_state(context).get("replication_key_value")
            source = f"the state's bookmark {bookmark}" if bookmark else (
                f"start_date {self.config.get('start_date')}")
            self.logger.warning("%s: %s is after now (%s): nothing to read until then",
                                self.name, source, upper)
        return True

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        window = self.window(context)
        if self.starts_after_its_end(context):
            return
        yield from super().get_records(context)
        # The window was read to its end: every record up to `upper` was emitted, by this run
        # or by the killed one whose note we read. The bookmark moves to the newest of them.
        state = self.get_context_state(context)
        if window.max_emitted is not None:
            previous = parse_timestamp(state.get("replication_key_value"))
            if previous is None or window.max_emitted > previous:
                state["replication_key"] = self.replication_key
                state["replication_key_value"] = format_precise(window.max_emitted)
        state.pop("resume", None)
        # Written now, not with the next partition's first page: a kill in between would
        # otherwise make this finished partition re-read from its note.
        self.checkpoint(changed=True)
