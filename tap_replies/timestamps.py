"""Timestamps as the providers write them and as checkpoints and request filters need them."""

from __future__ import annotations

import datetime as dt
import typing as t


def parse_timestamp(value: t.Any) -> dt.datetime | None:
    """An ISO 8601 string as an aware UTC datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)  # once per record: "Z" is read from 3.11 on
    except ValueError:
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def format_timestamp(value: dt.datetime) -> str:
    """Second precision, as the APIs take their filters (a lower bound cut down stays safe)."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_precise(value: dt.datetime) -> str:
    """Full precision, for checkpoints: rounding a range's edge could claim an unread record."""
    text = value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def up_to_the_second(value: dt.datetime) -> dt.datetime:
    """The next whole second at or after `value` (the APIs take bounds to the second)."""
    return value + dt.timedelta(microseconds=(1_000_000 - value.microsecond) % 1_000_000)
