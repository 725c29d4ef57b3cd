"""The tap's CLI with benchmark-only patches, to measure a change before anyone makes it for real.

    TAP_BENCH_PATCHES=sdk_writer,no_flush python benchmarks/tap_variant.py --config ... > /dev/null
    TAP_BENCH_PROFILE=tap.prof python benchmarks/tap_variant.py --config ...  # cProfile, CPU clock

With no patches this is exactly `tap-replies` (its console-script entry, `TapReplies.cli`). Each
patch is the smallest stand-in for a code change (or for undoing one the tap made); the experiments
section of the benchmark runs every one in PATCHES and checks that it emits the same records. A
patch touches only the Singer SDK and the tap's public entry class, never the tap's internals,
which change freely. The tap is imported inside main(), so a profile covers its imports too.
"""

from __future__ import annotations

import cProfile
import os
import sys
import time
import typing as t


def _buffered(writer_class: type[t.Any]) -> type[t.Any]:
    """`writer_class` without the flush after each RECORD; any other message still flushes."""
    from singer_sdk.singerlib import RecordMessage

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


def _patch_sdk_writer() -> None:
    """The SDK's default writer (simplejson), to show what the tap's msgspec writer saves."""
    from singer_sdk.io_base import SingerWriter

    from tap_replies.tap import TapReplies

    TapReplies.message_writer_class = SingerWriter


def _patch_no_flush() -> None:
    from tap_replies.tap import TapReplies

    TapReplies.message_writer_class = _buffered(TapReplies.message_writer_class)


def _patch_conform(level: str) -> t.Callable[[], None]:
    """Every record conformed at `level`, whatever level the tap chose for it: the SDK's
    record path calls `conform_record_data_types` with the stream's level, which this overrides."""

    def patch() -> None:
        from singer_sdk.helpers.conform import TypeConformanceLevel
        from singer_sdk.streams import core

        conform = core.conform_record_data_types

        def forced(**kwargs: t.Any) -> t.Any:
            return conform(**{**kwargs, "level": TypeConformanceLevel[level]})

        core.conform_record_data_types = forced  # type: ignore[assignment]

    return patch


# name -> (what it stands for, the patch). Order matters for writers: sdk_writer before no_flush,
# which wraps whichever writer is set.
PATCHES: dict[str, tuple[str, t.Callable[[], None]]] = {
    "sdk_writer": ("SDK default writer (simplejson), not the tap's msgspec one", _patch_sdk_writer),
    "no_flush": ("no flush per RECORD", _patch_no_flush),
    "conform_recursive": ("every record conformed RECURSIVE (the SDK default)",
                          _patch_conform("RECURSIVE")),
    "conform_root": ("every record conformed ROOT_ONLY", _patch_conform("ROOT_ONLY")),
    "conform_none": ("no conformance at all (NONE)", _patch_conform("NONE")),
}


def tap(names: t.Iterable[str]) -> None:
    """The tap's CLI with the named patches applied."""
    for name in sorted(set(names), key=list(PATCHES).index):
        PATCHES[name][1]()
    from tap_replies.tap import TapReplies

    TapReplies.cli()


def main() -> None:
    wanted = [n for n in os.environ.get("TAP_BENCH_PATCHES", "").split(",") if n]
    unknown = [n for n in wanted if n not in PATCHES]
    if unknown:
        raise SystemExit(f"unknown patch {unknown}; known: {', '.join(PATCHES)}")
    profile_to = os.environ.get("TAP_BENCH_PROFILE")
    if not profile_to:
        tap(wanted)
        return
    # CPU time, not wall: waiting on the sandbox's socket is not the tap's cost.
    profiler = cProfile.Profile(time.process_time)
    try:
        profiler.runcall(tap, wanted)
    finally:
        profiler.dump_stats(profile_to)


if __name__ == "__main__":
    main()
