"""Full-table streams (SDRs, due follow-ups, Smartlead campaigns and lead categories): the
warehouse learns which read carried a record and which reads saw the provider's whole list, so a
record that left the list can be told from one a read merely did not ask for.

- Every record of such a read carries `_read_version`: when the read started (UTC).
- Once a read has ended *and* saw the whole list — every record written, no error, no filter
  (`campaign_ids`), no endpoint cap reached, no `--test` limit, the stream selected — the tap
  writes one record to the stream `full_table_reads`: {stream, read_version, records}.

The dbt project (macros/full_table.sql) marks a raw row deleted (`_sdc_deleted_at`) when the
stream's newest complete read is newer than the row's own read. A partial read writes no
`full_table_reads` row, so it never makes anything deleted; its rows, stamped with its own newer
version, stay current. A complete read of an empty list is a row too (records 0): everything
left. Records are not held back: the log record comes after the last of them.

Why not ACTIVATE_VERSION: the SDK sends it before a full-table stream's first record
(`emit_activate_version_messages`), so a target that honours it (target-postgres) marks every
row deleted before the read has even started, and a read that then fails leaves them so;
target-duckdb 0.8.0 ignores the message (README, "Deleted records"). This works on every loader.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from singer_sdk.singerlib import RecordMessage, SchemaMessage

from tap_replies.timestamps import format_precise

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from tap_replies.providers.base import ProviderStream

READ_VERSION = "_read_version"
READS_STREAM = "full_table_reads"

READ_VERSION_PROPERTY: dict[str, t.Any] = {
    "type": ["string", "null"], "format": "date-time",
    "description": "When the tap's read of this list started (UTC); full_table_reads says "
                   "which reads saw the whole list."}

READS_SCHEMA: dict[str, t.Any] = {
    "type": "object",
    "properties": {
        "stream": {"type": "string", "description": "The full-table stream that was read."},
        "read_version": {"type": "string", "format": "date-time",
                         "description": "When that read started (its records' _read_version)."},
        "records": {"type": "integer", "description": "How many records the read wrote."},
    },
    "required": ["stream", "read_version"],
}


def full_table_schema(schema: dict[str, t.Any]) -> dict[str, t.Any]:
    """A full-table stream's schema, with the field every record of a read carries."""
    return {**schema, "properties": {**schema["properties"], READ_VERSION: READ_VERSION_PROPERTY}}


class FullTableRead:
    """One read of a full list: stamps its records, and says so when it saw the whole list.

    `whole_list(count)`: whether the stream, having written `count` records, saw its whole list
    (no filter, no cap reached); `still_complete()`: whether nothing else cut the read short
    (the stream is selected, no `--test` limit). Both are asked once the read has ended.
    """

    def __init__(self, stream: str, write: Callable[[t.Any], None], *,
                 whole_list: Callable[[int], bool], still_complete: Callable[[], bool],
                 started_at: dt.datetime | None = None) -> None:
        self.stream = stream
        self.version = format_precise(started_at or dt.datetime.now(dt.timezone.utc))
        self._write = write
        self._whole_list = whole_list
        self._still_complete = still_complete

    def records(self, read: Iterable[dict[str, t.Any]]) -> Iterator[dict[str, t.Any]]:
        count = 0
        for record in read:
            record[READ_VERSION] = self.version
            yield record
            # Resumed only once the SDK has written the record (or dropped it in post_process).
            count += 1
        # Reached only when the read ended without an error.
        if self._whole_list(count) and self._still_complete():
            self._write_complete(count)

    def _write_complete(self, count: int) -> None:
        self._write(SchemaMessage(READS_STREAM, READS_SCHEMA, ["stream", "read_version"]))
        self._write(RecordMessage(READS_STREAM, {
            "stream": self.stream, "read_version": self.version, "records": count},
            time_extracted=dt.datetime.now(dt.timezone.utc)))


def full_table_read(stream: ProviderStream, records: Iterable[dict[str, t.Any]]
                    ) -> Iterable[dict[str, t.Any]]:
    """A stream's records, as a FullTableRead when the stream is full-table (else as they are).

    The whole list is seen unless the tap filters it by campaign (`campaign_filter_field` with
    campaign ids set) or the endpoint's `cap` was reached; the read is cut short when the stream
    is not selected (a parent read for its children) or the SDK limits it (`--test`).
    """
    if stream.replication_method != "FULL_TABLE":
        return records
    filtered = bool(stream.campaign_filter_field and stream.settings.campaign_ids)
    read = FullTableRead(
        stream.name, stream.write_message,
        whole_list=lambda count: not filtered and not (stream.cap and count >= stream.cap),
        still_complete=lambda: stream.selected and stream.ABORT_AT_RECORD_COUNT is None)
    return read.records(records)
