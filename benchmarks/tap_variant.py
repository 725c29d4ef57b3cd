"""The tap's CLI with benchmark-only patches, to measure a change before anyone makes it for real.

    TAP_BENCH_PATCHES=msgspec,no_flush python benchmarks/tap_variant.py --config ... > /dev/null

With no patches this is exactly `tap-replies`. Each patch is the smallest stand-in for a code change
(or for undoing one the tap made), measured in BENCHMARKS.md; none is used outside the benchmark.
"""

from __future__ import annotations

import os
import sys
import typing as t

from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import RecordMessage

from tap_replies.providers.base import ProviderStream
from tap_replies.tap import TapReplies


def _buffered(writer_class: type[t.Any]) -> type[t.Any]:
    """`writer_class` without the flush after each RECORD; any other message still flushes."""

    class Buffered(writer_class):  # type: ignore[misc,valid-type]
        def write_message(self, message: t.Any) -> None:
            line = self.format_message(message)
            if isinstance(line, str):
                sys.stdout.write(line + "\n")
            else:
                sys.stdout.buffer.write(line)
            if not isinstance(message, RecordMessage):
                sys.stdout.flush()

    return Buffered


def _patch_msgspec() -> None:
    from singer_sdk.contrib.msgspec import MsgSpecWriter

    TapReplies.message_writer_class = MsgSpecWriter


def _patch_sdk_writer() -> None:
    """The SDK's default writer (simplejson), to show what MsgSpecWriter saves."""
    TapReplies.message_writer_class = SingerWriter


def _patch_no_flush() -> None:
    TapReplies.message_writer_class = _buffered(TapReplies.message_writer_class or SingerWriter)


def _patch_conform(level: TypeConformanceLevel) -> t.Callable[[], None]:
    """Every record at `level`, instead of the tap's own choice (RecordShape) per record."""

    def patch() -> None:
        original = ProviderStream.post_process

        def post_process(self: ProviderStream, row: dict[str, t.Any],
                         context: t.Any = None) -> dict[str, t.Any] | None:
            processed = original(self, row, context)
            self.TYPE_CONFORMANCE_LEVEL = level
            return processed

        ProviderStream.post_process = post_process  # type: ignore[method-assign]

    return patch


def _patch_msgspec_decode() -> None:
    """Pages parsed with msgspec (already a dependency) instead of the standard library's json."""
    import json
    import types

    import msgspec

    from tap_replies.providers import base

    # msgspec.DecodeError is a ValueError, so base.py's handling of bad bodies is unchanged.
    base.json = types.SimpleNamespace(  # type: ignore[assignment]
        loads=msgspec.json.decode, dumps=json.dumps,
    )


def _patch_no_progress() -> None:
    """No per-record bookkeeping in post_process beyond the primary-key check."""
    ProviderStream.log_progress = lambda self, *, total=None: None  # type: ignore[method-assign]


PATCHES: dict[str, t.Callable[[], None]] = {
    "msgspec": _patch_msgspec,
    "sdk_writer": _patch_sdk_writer,
    "no_flush": _patch_no_flush,
    "conform_recursive": _patch_conform(TypeConformanceLevel.RECURSIVE),
    "conform_root": _patch_conform(TypeConformanceLevel.ROOT_ONLY),
    "conform_none": _patch_conform(TypeConformanceLevel.NONE),
    "no_progress": _patch_no_progress,
    "msgspec_decode": _patch_msgspec_decode,
}


def apply(names: t.Iterable[str]) -> None:
    # Order matters for writers: msgspec first, then no_flush wraps whichever writer is set.
    ordered = sorted(set(names), key=lambda n: list(PATCHES).index(n))
    for name in ordered:
        PATCHES[name]()


if __name__ == "__main__":
    wanted = [n for n in os.environ.get("TAP_BENCH_PATCHES", "").split(",") if n]
    unknown = [n for n in wanted if n not in PATCHES]
    if unknown:
        raise SystemExit(f"unknown patch {unknown}; known: {', '.join(PATCHES)}")
    apply(wanted)
    TapReplies.cli()
