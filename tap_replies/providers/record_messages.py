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
import typing as t

from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Record
    from singer_sdk.streams import Stream

    from tap_replies.providers.record_gate import RecordGate


def lean_record_messages(
    stream: Stream, record: Record, gate: RecordGate
) -> list[RecordMessage] | None:
    """The RECORD messages of `record` without the SDK's two no-op steps; None where either may
    do something (a deselected property, a conformance level other than NONE): the caller then
    takes the SDK's own path."""
    if gate.selects_every_property is None:  # the catalog is fixed before the first record
        gate.selects_every_property = all(stream.mask.values())
    if (stream.TYPE_CONFORMANCE_LEVEL is not TypeConformanceLevel.NONE
            or not gate.selects_every_property):
        return None
    extracted = dt.datetime.now(dt.timezone.utc)
    return [RecordMessage(stream=stream_map.stream_alias, record=mapped,
                          version=stream._stream_version, time_extracted=extracted)
            for stream_map in stream.stream_maps
            if (mapped := stream_map.transform(record)) is not None]
