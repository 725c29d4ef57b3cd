"""Where the next page starts: each paginator owns its position, computed by a pure function.

Every paginator reads the page it is given the same way (`page_of`), after the stream has emitted
that page's records. A position renders itself (`request_fields`, in the query or, `in_body`, in
a JSON body: dlt's `update_request`), and the stream base applies it in one place, so a leaf's
request builder holds only its filters.
"""

from __future__ import annotations

import datetime as dt
import sys
import typing as t
from dataclasses import dataclass, replace

from singer_sdk.pagination import BaseAPIPaginator

from tap_replies.http.shapes import page_of
from tap_replies.timestamps import format_timestamp, parse_timestamp, up_to_the_second

if t.TYPE_CHECKING:
    import requests

# A version check rather than try/except: mypy (run for 3.11) understands this one.
if sys.version_info >= (3, 12):
    from typing import override
else:  # Python < 3.12
    from typing_extensions import override


class RequestPosition(t.Protocol):
    """A paginator's token as the request carries it."""

    in_body: bool

    def request_fields(self) -> dict[str, t.Any]: ...


def position_fields(token: t.Any, *, in_body: bool) -> dict[str, t.Any]:
    """The fields `token` puts in the query (`in_body` False) or in the body (True)."""
    if token is None or not hasattr(token, "request_fields") or token.in_body != in_body:
        return {}
    return t.cast("RequestPosition", token).request_fields()


@dataclass(frozen=True)
class OffsetPosition:
    """Where an offset-paged read is: the next offset, how far it has read, the last total; as
    a request, `offset` and `limit` (the page size), in the query or in the body."""

    offset: int = 0
    read_up_to: int = 0
    last_total: int | None = None
    limit: int = 0
    in_body: bool = False

    def request_fields(self) -> dict[str, t.Any]:
        return {"offset": self.offset, "limit": self.limit}


def next_position(at: OffsetPosition, count: int, total: int | None, page_size: int
                  ) -> OffsetPosition | None:
    """Where to read after a page of `count` rows at `at` that stated `total`; None: done.

    A total that shrank since the last page means rows left the listing mid-read (an inbox
    thread whose new reply moved it past the window's end, a deleted lead): every later row moved
    up by as many places, so the next read steps back by that much rather than skip the rows that
    slid under the offset. Offsets below `read_up_to` have been read (less what left the list);
    after a step back the read continues from there. What is read twice is dropped or upserted.
    """
    shrunk = (max(0, at.last_total - total)
              if total is not None and at.last_total is not None else 0)
    read_up_to = max(max(at.read_up_to, at.offset) - shrunk, at.offset + count)
    if shrunk and at.offset > 0:
        return replace(at, offset=max(0, at.offset - shrunk), read_up_to=read_up_to,
                       last_total=total)
    if count == 0:
        return None
    more = count >= page_size if total is None else read_up_to < total
    return replace(at, offset=read_up_to, read_up_to=read_up_to, last_total=total) if more else None


class TotalCountPaginator(BaseAPIPaginator[OffsetPosition]):
    """Offset paging that stops on the response's total (`total_key`), so the last page is never
    followed by an empty probe; a page without a total ends the list when it is short."""

    def __init__(self, start_offset: int, page_size: int, *, total_key: str,
                 in_body: bool = False) -> None:
        super().__init__(OffsetPosition(start_offset, start_offset, limit=page_size,
                                        in_body=in_body))
        self.page_size = page_size
        self.total_key = total_key

    def _next(self, response: requests.Response) -> OffsetPosition | None:
        page = page_of(response)
        return next_position(self.current_value, page.count, page.total(self.total_key),
                             self.page_size)

    @override
    def has_more(self, response: requests.Response) -> bool:
        return self._next(response) is not None

    @override
    def get_next(self, response: requests.Response) -> OffsetPosition | None:
        return self._next(response)


@dataclass(frozen=True)
class TimeCursor:
    """Where a newest-first listing continues: its inclusive upper time bound and the page
    number under that bound; as a request, Tuco's `page`, `limit` and `dateTo`."""

    upper: str
    page: int = 1
    limit: int = 0
    in_body: t.ClassVar[bool] = False

    def request_fields(self) -> dict[str, t.Any]:
        return {"page": self.page, "limit": self.limit, "dateTo": self.upper}


@dataclass(frozen=True)
class PageNumber:
    """A page number from 1; page 1 is the request without one (Leadterra's documented one)."""

    number: int = 1
    in_body: t.ClassVar[bool] = False

    def request_fields(self) -> dict[str, t.Any]:
        return {"page": self.number} if self.number > 1 else {}


class TimeCursorPaginator(BaseAPIPaginator[TimeCursor]):
    """Pages a newest-first listing by lowering its upper time bound to the oldest record of the
    page just read, instead of counting pages.

    Counting pages loses a record whenever one already read leaves the listing mid-sync (a Tuco
    lead replying again moves after the window's end): every later row moves up a place and the
    first row of the next page is never seen. A lowered bound does not move. The bound is
    inclusive, so the next page starts with the records at that instant again; the stream drops
    them as repeats. Only a page whose records all share one instant falls back to the next page
    number under the same bound. A page shorter than `page_size` is the last one.
    """

    def __init__(self, upper: dt.datetime, page_size: int, *, timestamp_key: str) -> None:
        super().__init__(TimeCursor(format_timestamp(upper), limit=page_size))
        self.page_size = page_size
        self.timestamp_key = timestamp_key
        # The page last read and its oldest time: `has_more` and `get_next` both ask.
        self._last: tuple[requests.Response, dt.datetime | None] | None = None

    def _oldest_within_bound(self, response: requests.Response) -> dt.datetime | None:
        if self._last is not None and self._last[0] is response:
            return self._last[1]
        page = page_of(response)
        oldest = None
        if page.count >= self.page_size:
            bound = parse_timestamp(self.current_value.upper)  # a whole second already
            oldest = min((ts for record in page.records
                          if (ts := parse_timestamp(record.get(self.timestamp_key))) is not None
                          and (bound is None or ts <= bound)), default=None)
        self._last = (response, oldest)
        return oldest

    @override
    def has_more(self, response: requests.Response) -> bool:
        return self._oldest_within_bound(response) is not None

    @override
    def get_next(self, response: requests.Response) -> TimeCursor | None:
        oldest = self._oldest_within_bound(response)
        if oldest is None:
            return None
        # Up to the next whole second: rounding down would cut off records of that instant.
        bound = format_timestamp(up_to_the_second(oldest))
        current = self.current_value
        if bound == current.upper:
            return replace(current, page=current.page + 1)
        return replace(current, upper=bound, page=1)
