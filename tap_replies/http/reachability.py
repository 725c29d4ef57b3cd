"""A host that cannot be reached is not a busy server: it gets a few seconds, not minutes.

A name that does not resolve (a typo'd `api_url`, no DNS) or a refused connection (nothing listens
on that port) says the settings or the network are wrong; waiting out `max_retries` of capped
backoff (1+2+4+…+60 s ≈ 3 minutes) only delays the same line. A 429, a 5xx, a reset or a timeout
means a server answered or was reached: those keep the long patience.
"""

from __future__ import annotations

import socket

from urllib3.exceptions import NewConnectionError

# Tries after the first for a host that cannot be reached: one blip (a restarting proxy, a
# resolver hiccup) is forgiven, and the line comes within seconds (waits of ~1 s and ~2 s).
UNREACHABLE_RETRIES = 2
# NameResolutionError (urllib3 2) is a NewConnectionError: both mean no connection was made.
_NO_CONNECTION = (NewConnectionError, socket.gaierror, ConnectionRefusedError)


def is_unreachable(exc: BaseException) -> bool:
    """Whether `exc` says no connection could be opened (unknown host, connection refused).

    requests wraps urllib3's error (`ConnectionError(MaxRetryError(reason=NewConnectionError))`),
    so the chain is walked through `args`, `reason`, `__cause__` and `__context__`."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, _NO_CONNECTION):
            return True
        pending += [*item.args, getattr(item, "reason", None), item.__cause__, item.__context__]
    return False


def retries_allowed(exc: BaseException, max_retries: int) -> int:
    """How many retries `exc` gets: `max_retries`, or a few seconds' worth for no connection."""
    return min(max_retries, UNREACHABLE_RETRIES) if is_unreachable(exc) else max_retries
