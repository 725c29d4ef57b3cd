"""The `tap-replies` command: a cached discovery answered before singer-sdk is imported.

Everything else is the SDK's command line, `TapReplies.cli`. A plain discovery the cache cannot
answer yet runs there too, and what it prints (the catalog: the SDK logs to stderr) is kept for
the next one when it succeeds (tap_replies/catalog_cache.py).
"""

from __future__ import annotations

import io
import os
import sys
import typing as t

from tap_replies.catalog_cache import CatalogCache


class _Tee(io.TextIOBase):
    """stdout, and a copy of everything written to it."""

    def __init__(self, out: t.TextIO) -> None:
        self.out, self.copy = out, io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.out.write(text)

    def flush(self) -> None:
        self.out.flush()


def main() -> None:
    cache = CatalogCache.for_command(sys.argv[1:], os.environ)
    cached = cache.read() if cache is not None else None
    if cached is not None:
        sys.stdout.buffer.write(cached)
        sys.stdout.flush()
        return
    from tap_replies.tap import TapReplies  # singer-sdk: only for what the cache cannot answer

    if cache is None:
        TapReplies.cli()
        return
    tee = _Tee(sys.stdout)
    sys.stdout = t.cast("t.TextIO", tee)
    try:
        TapReplies.cli()
    except SystemExit as done:
        if done.code in (None, 0):
            cache.store(tee.copy.getvalue())
        raise
    finally:
        sys.stdout = tee.out


if __name__ == "__main__":
    main()
