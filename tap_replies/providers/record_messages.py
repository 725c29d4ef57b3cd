"""The SDK's per-record steps that do nothing for our streams, skipped where they provably do.

On a mix of short records (Smartlead leads, Leadterra replies) the SDK's fixed cost per record
weighs as much as the record's own JSON. Two of its steps have nothing to do in the common case:

- `pop_deselected_record_properties` walks every record (and each object in it) to drop
  properties the catalog deselected. When the catalog selects every property, the walk removes
  nothing: a property the catalog does not list takes its parent's selection, which is "selected".
- Child contexts: for a stream without child streams the SDK still builds one per record (a copy
  of the record or context) and hands it to an empty list of children.

Anything else (a deselected property, a type conformance level other than NONE, a parent stream)
takes the SDK's own path, unchanged.
"""

from __future__ import annotations

import datetime as dt
import sys
import typing as t
from functools import cached_property

from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage
from singer_sdk.streams import Stream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context, Record

# A version check rather than try/except: mypy (run for 3.11) understands this one.
if sys.version_info >= (3, 12):
    from typing import override
else:  # Python < 3.12
    from typing_extensions import override


class LeanRecordPath(Stream):
    """A stream that skips the SDK's per-record steps when they would change nothing."""

    @cached_property
    def selects_every_property(self) -> bool:
        """Whether the catalog leaves every property of the stream selected (read once: the
        catalog is fixed before the sync starts)."""
        return all(self.mask.values())

    @override
    def _generate_record_messages(self, record: Record) -> t.Generator[RecordMessage, None, None]:
        if (self.TYPE_CONFORMANCE_LEVEL is not TypeConformanceLevel.NONE
                or not self.selects_every_property):
            yield from super()._generate_record_messages(record)
            return
        # The SDK's steps minus the two no-ops: nothing to deselect, nothing to conform.
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(stream=stream_map.stream_alias, record=mapped,
                                    version=self._stream_version,
                                    time_extracted=dt.datetime.now(dt.timezone.utc))

    @override
    def generate_child_contexts(
        self, record: Record, context: Context | None
    ) -> t.Iterable[Context | None]:
        if not self.child_streams:
            return ()  # no child stream to give a context to
        return super().generate_child_contexts(record, context)
