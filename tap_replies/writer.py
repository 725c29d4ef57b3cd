"""The tap's Singer writer: msgspec's, plus a way through text that UTF-8 cannot hold.

A STATE message is encoded as it stands: the SDK's `Message.to_dict` (`dataclasses.asdict`)
deep-copies the whole tap state first, and the tap writes one STATE per page.

JSON may escape half of a UTF-16 pair on its own (`"\\ud83d"`, an emoji cut in two by some
client's truncation); `json.loads` turns it into a lone surrogate, which no UTF-8 writer can encode,
so one such reply would end the whole sync. The check costs nothing on the way that works: only a
record whose encoding fails is searched, and its broken code units are written as U+FFFD.
"""

from __future__ import annotations

import logging
import re
import sys
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter, serialize_jsonl
from singer_sdk.singerlib import RecordMessage, StateMessage

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.simple import Message

# A version check rather than try/except: mypy (run for 3.11) understands this one.
if sys.version_info >= (3, 12):
    from typing import override
else:  # Python < 3.12
    from typing_extensions import override

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def without_lone_surrogates(value: t.Any, path: str, found: list[str]) -> t.Any:
    """`value` with every lone surrogate in its text (keys too) replaced by U+FFFD; the path of
    each string that had one is added to `found`."""
    if isinstance(value, str):
        fixed, count = _LONE_SURROGATE.subn(REPLACEMENT, value)
        if count:
            found.append(path or "(value)")
        return fixed
    if isinstance(value, dict):
        fixed_dict = {}
        for key, item in value.items():
            fixed_key = without_lone_surrogates(key, f"a key in {path or 'the record'}", found)
            child = f"{path}.{fixed_key}" if path else str(fixed_key)
            fixed_dict[fixed_key] = without_lone_surrogates(item, child, found)
        return fixed_dict
    if isinstance(value, list):
        return [without_lone_surrogates(item, f"{path}[]", found) for item in value]
    return value


class RecordWriter(MsgSpecWriter):
    """Writes a record whose text has a lone surrogate with U+FFFD in its place, and says which
    record it was (`record_label`, set by the tap, names it by its primary key)."""

    logger = logging.getLogger("tap-replies")

    def __init__(self) -> None:
        super().__init__()
        self.record_label: t.Callable[[str, t.Mapping[str, t.Any]], str] = (
            lambda stream, record: "without a known key"
        )

    @override
    def write_message(self, message: Message) -> None:
        sys.stdout.buffer.write(self.format_message(message))
        # RECORDs go out as the buffer fills; every other message (a STATE above all) is flushed
        # at once, with every RECORD before it: a target never sees a state ahead of its records,
        # and a killed run loses only records that no state has claimed.
        if message.__class__ is not RecordMessage:
            sys.stdout.flush()

    @override
    def serialize_message(self, message: Message) -> bytearray:
        if message.__class__ is StateMessage:
            # The same line as `to_dict` gives, without its deep copy of the state.
            return serialize_jsonl({"type": "STATE", "value": message.value})
        try:
            return super().serialize_message(message)
        except UnicodeEncodeError:
            if not isinstance(message, RecordMessage):
                raise
        found: list[str] = []
        message.record = without_lone_surrogates(message.record, "", found)
        label = self.record_label(message.stream, message.record)
        self.logger.warning(
            "%s: record %s had text UTF-8 cannot hold (a lone UTF-16 surrogate) in %s: "
            "written with U+FFFD in its place",
            message.stream, label, ", ".join(sorted(set(found))) or "its text",
        )
        return super().serialize_message(message)
