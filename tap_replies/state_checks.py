"""A state the tap cannot start from is refused before anything is emitted.

A state file that is not JSON, or a bookmark that is not a date-time, would otherwise end a sync
half-way (after other streams had already emitted) with an error that reads like a bug. Every
bookmark this tap writes is an ISO 8601 time, at the stream's level or a partition's: the SDK's
`replication_key_value`, or a changed-since stream's own key (`Registry.bookmark_keys` has them
all, from the streams).
"""

from __future__ import annotations

import json
import typing as t

from singer_sdk.exceptions import ConfigValidationError

from tap_replies.timestamps import parse_timestamp

STATE_IDS = "`meltano state list` shows the ids"


class StateError(ConfigValidationError):
    """A state file or bookmark the tap cannot start from; one line with the fix."""


def parse_state_file(text: str, name: str) -> dict[str, t.Any]:
    """The state a `--state` file holds; a StateError naming the file when it is not a state."""
    try:
        state = json.loads(text)
    except ValueError as exc:
        where = (f"{exc.msg}, line {exc.lineno} column {exc.colno}"
                 if isinstance(exc, json.JSONDecodeError) else str(exc))
        problem = "is empty" if not text.strip() else f"is not JSON ({where})"
    else:
        if isinstance(state, dict):
            return state
        problem = f"holds a JSON {type(state).__name__}, not an object"
    raise StateError(
        f"the state file {name} {problem}: with Meltano, run `meltano state clear <state-id>` "
        f"({STATE_IDS}) to sync everything again; otherwise fix the file or leave out --state"
    )


def bookmark_errors(state: t.Mapping[str, t.Any], stream_names: t.Collection[str],
                    bookmark_keys: t.Sequence[str]) -> list[str]:
    """One line per bookmark (under one of `bookmark_keys`) of a stream of this tap that is not
    a date-time."""
    bookmarks = state.get("bookmarks") or {}
    if not isinstance(bookmarks, dict):
        return [_fix("'bookmarks' is not an object", None)]
    errors = []
    for stream, stream_state in bookmarks.items():
        if stream not in stream_names:
            continue
        if not isinstance(stream_state, dict):
            errors.append(_fix(f"the bookmark of {stream} is not an object", stream))
            continue
        partitions = stream_state.get("partitions") or []
        if not isinstance(partitions, list):
            errors.append(_fix(f"{stream}.partitions is not a list", stream))
            continue
        for holder in (stream_state, *partitions):
            if not isinstance(holder, dict):
                errors.append(_fix(f"a partition of {stream} is not an object", stream))
                continue
            where = _partition(holder)
            for key in bookmark_keys:
                value = holder.get(key)
                if value is not None and parse_timestamp(value) is None:
                    errors.append(_fix(f"bookmark {stream}.{key}{where} {value!r} is not an "
                                       "ISO 8601 date-time", stream))
    return errors


def _partition(holder: t.Mapping[str, t.Any]) -> str:
    context = holder.get("context")
    if not isinstance(context, dict) or not context:
        return ""
    return " (" + ", ".join(f"{key}={value!r}" for key, value in context.items()) + ")"


def _fix(problem: str, stream: str | None) -> str:
    target = f"that bookmark (the {stream} entry under 'bookmarks')" if stream else "it"
    return (f"the state's {problem}: delete {target} with `meltano state edit <state-id>` "
            f"({STATE_IDS}) or in the --state file, or run `meltano state clear <state-id>` to "
            "sync everything again")
