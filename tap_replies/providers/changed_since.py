"""Lists filtered by "changed since" whose records carry no change time (Smartlead's campaign
leads), read incrementally per partition with a checkpoint at every page.

Each partition's state holds its own bookmark instead of a replication key:

    "event_time_gt" (the stream's `since_param`): when the last complete read of this partition
        started. The next sync asks for what changed after it (less `since_overlap`); the first
        has no filter. Written only once the partition's last page was read.
    "resume": {"sync_started_at", "offset"}: written once a page's records were all emitted and
        another page follows, so a killed run continues at that offset with the same filter and
        the same start (the read's, not the whole sync's, despite the key's name); dropped when
        the read ends. The offset is the paginator's own next position (http/paging.py, a pure
        function of the page), never recomputed; no request builder writes STATE.

The stream is declared INCREMENTAL (`forced_replication_method`) because it only emits what
changed: declared FULL_TABLE, a target honouring ACTIVATE_VERSION would delete every record not
re-sent. A catalog that forces FULL_TABLE gets a full read of every partition instead.
"""

from __future__ import annotations

import datetime as dt
import sys
import typing as t
from dataclasses import dataclass

from tap_replies.http.paging import OffsetPosition, TotalCountPaginator
from tap_replies.providers.base import ProviderStream
from tap_replies.timestamps import format_timestamp, parse_timestamp

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context, Record

# A version check rather than try/except: mypy (run for 3.11) understands this one.
if sys.version_info >= (3, 12):
    from typing import override
else:  # Python < 3.12
    from typing_extensions import override


@dataclass(frozen=True)
class Read:
    """One partition's read: where it started (time and offset), and its filter."""

    context: Context | None
    started_at: dt.datetime
    start_offset: int
    changed_since: dt.datetime | None


class ChangedSinceStream(ProviderStream):
    """Offset-paged, filtered by `since_param`, bookmarked per partition (see module doc)."""

    since_param: t.ClassVar[str]
    # Covers clock skew between our clock (the bookmark) and the provider's event times.
    since_overlap: t.ClassVar[dt.timedelta]
    page_size: t.ClassVar[int]
    replication_key = None

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.forced_replication_method = "INCREMENTAL"
        self._read: Read | None = None
        self._paginator: TotalCountPaginator | None = None

    @staticmethod
    def read_started_at() -> dt.datetime:
        """When a partition's read starts: its next sync asks for what changed since then."""
        return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

    @property
    def incremental(self) -> bool:
        return self.replication_method == "INCREMENTAL"

    @override
    def get_new_paginator(self) -> TotalCountPaginator:
        start = self._read.start_offset if self._read else 0
        self._paginator = TotalCountPaginator(start, self.page_size, total_key="total")
        return self._paginator

    @override
    def on_page_done(self, response: requests.Response) -> None:
        # Every record of this page was emitted: a killed run may continue where the next starts.
        following = self._paginator.get_next(response) if self._paginator else None
        if self._read is not None and following is not None:
            self._checkpoint_at(self._read, following.offset)
        super().on_page_done(response)

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: OffsetPosition | None
    ) -> dict[str, t.Any]:
        read = self._read or Read(context, self.read_started_at(), 0, None)
        params = super().get_url_params(context, next_page_token)  # offset, limit
        if read.changed_since is not None:
            since = read.changed_since - self.since_overlap
            params[self.since_param] = format_timestamp(since)
        return params

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        state = self.get_context_state(context)
        read = self._read = self._read_from(state, context)
        try:
            yield from super().get_records(context)
        finally:
            self._read = None
        # Every page was read: the next sync needs only what changed since this read started.
        state.pop("resume", None)
        if self.incremental:
            state[self.since_param] = format_timestamp(read.started_at)

    def _read_from(self, state: dict[str, t.Any], context: Context | None) -> Read:
        """The read a killed run's checkpoint continues, or a new one from the bookmark."""
        resume = state.get("resume") if self.incremental else None
        started = parse_timestamp((resume or {}).get("sync_started_at"))
        if resume and started is not None and isinstance(resume.get("offset"), int):
            self.logger.info("%s: resuming %s at offset %d", self.name, context, resume["offset"])
            return Read(context, started, int(resume["offset"]),
                        parse_timestamp(state.get(self.since_param)))
        state.pop("resume", None)
        bookmark = state.get(self.since_param) if self.incremental else None
        return Read(context, self.read_started_at(), 0, parse_timestamp(bookmark))

    def _checkpoint_at(self, read: Read, offset: int) -> None:
        if not self.incremental:
            return
        self.get_context_state(read.context)["resume"] = {
            "sync_started_at": format_timestamp(read.started_at), "offset": offset}
        self.checkpoint(changed=True)

    @override
    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        """No record-level bookmark (there is no replication key): see `get_records`."""
