"""A killed run's resume note: what it emitted, in a form a resumed run can skip by. Pure: read
from a partition's state (`from_state`), written back to it (`to_state`), no stream involved.

    "resume": {"emitted": [[after, up_to], ...],      ranges are (after, up_to]
               "edges": [[at, [key, ...]], ...],          and at an open end `at`, these keys
               "max_emitted": "..."}

A note never claims a record that was not emitted: a range is only ever written for what a run
read in order, and a record at a range's open end is named by key (newest_first.py says when).
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass, field

from tap_replies.timestamps import format_precise, parse_timestamp

Range = tuple[dt.datetime, dt.datetime]
Key = tuple[t.Any, ...]


def merge_ranges(ranges: t.Iterable[Range]) -> list[Range]:
    """Sorted, overlapping or touching (after, up_to] ranges joined; empty ones dropped."""
    merged: list[Range] = []
    for after, up_to in sorted(r for r in ranges if r[0] < r[1]):
        if merged and after <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], up_to))
        else:
            merged.append((after, up_to))
    return merged


@dataclass(frozen=True)
class ResumeNote:
    """Every record in `emitted`, and at the instants of `edges` the records of those keys."""

    emitted: tuple[Range, ...] = ()
    edges: t.Mapping[dt.datetime, frozenset[Key]] = field(default_factory=dict)
    max_emitted: dt.datetime | None = None

    @classmethod
    def from_state(cls, note: t.Mapping[str, t.Any] | None) -> ResumeNote:
        """The note a state holds; an entry that does not parse is ignored (skips nothing)."""
        note = note or {}
        ranges = []
        for pair in note.get("emitted") or []:
            if isinstance(pair, list | tuple) and len(pair) == 2:
                after, up_to = parse_timestamp(pair[0]), parse_timestamp(pair[1])
                if after is not None and up_to is not None:
                    ranges.append((after, up_to))
        edges: dict[dt.datetime, frozenset[Key]] = {}
        for edge in note.get("edges") or []:
            at = parse_timestamp(edge[0]) if isinstance(edge, list) and len(edge) == 2 else None
            if at is not None and isinstance(edge[1], list):
                edges[at] = frozenset(tuple(k) for k in edge[1] if isinstance(k, list))
        return cls(tuple(merge_ranges(ranges)), edges, parse_timestamp(note.get("max_emitted")))

    def to_state(self) -> dict[str, t.Any]:
        """As a partition's state holds it; an edge inside a range is said by the range."""
        merged = merge_ranges(self.emitted)
        state: dict[str, t.Any] = {
            "emitted": [[format_precise(a), format_precise(b)] for a, b in merged]}
        open_edges = [
            [format_precise(at), sorted(([*k] for k in keys), key=repr)]
            for at, keys in sorted(self.edges.items())
            if keys and not any(after < at <= up_to for after, up_to in merged)
        ]
        if open_edges:
            state["edges"] = open_edges
        if self.max_emitted is not None:
            state["max_emitted"] = format_precise(self.max_emitted)
        return state

    def skip(self, ts: dt.datetime, key: Key | None = None) -> bool:
        """Whether the run that wrote the note emitted this record (by its time, or time and
        key). Checked for every record: an empty note costs nothing."""
        if self.emitted and any(after < ts <= up_to for after, up_to in self.emitted):
            return True
        return bool(self.edges) and key is not None and key in self.edges.get(ts, ())

    def with_progress(self, emitted: t.Iterable[Range],
                      edges: t.Mapping[dt.datetime, t.AbstractSet[Key]],
                      max_emitted: dt.datetime | None) -> ResumeNote:
        """This note and what the current run emitted since."""
        joined = {at: set(keys) for at, keys in self.edges.items()}
        for at, keys in edges.items():
            joined.setdefault(at, set()).update(keys)
        return ResumeNote(tuple(merge_ranges([*self.emitted, *emitted])),
                          {at: frozenset(keys) for at, keys in joined.items()}, max_emitted)
