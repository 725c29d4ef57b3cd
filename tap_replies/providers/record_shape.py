"""Which records the SDK's type conformance would leave unchanged, checked cheaply.

The SDK's RECURSIVE conformance walks every value of every record in Python to convert what JSON
cannot hold (datetimes, Decimals, bytes) and to drop properties the schema does not know; on a
large backfill it is over half of the tap's CPU (BENCHMARKS.md, profile). Our records come straight
from `json.loads`, so the only things it can ever change are an unknown property and a 0/1 where the
schema says boolean (NaN, which `json.loads` accepts, the msgspec writer already writes as null).
`RecordShape.conforms` checks exactly those with a few set operations per object; a record that
fails the check still goes through the SDK's conformance, warnings and all.
"""

from __future__ import annotations

import typing as t


def _types(schema: dict[str, t.Any]) -> set[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return set(kind)
    found: set[str] = set()
    for option in schema.get("anyOf", []) or []:
        if isinstance(option, dict):
            found |= _types(option)
    return found


class RecordShape:
    """The keys an object may have, which of them must be booleans, and the shapes below it."""

    def __init__(self, schema: dict[str, t.Any]) -> None:
        properties: dict[str, t.Any] = schema.get("properties") or {}
        # additionalProperties: anything goes, the SDK keeps unknown keys too.
        self.open = bool(schema.get("additionalProperties"))
        self.keys = frozenset(properties)
        self.booleans: list[str] = []
        self.objects: list[tuple[str, RecordShape]] = []
        self.object_lists: list[tuple[str, RecordShape]] = []
        self.scalar_lists: list[str] = []
        for name, sub in properties.items():
            kinds = _types(sub)
            if kinds - {"null"} == {"boolean"}:
                self.booleans.append(name)
            if "object" in kinds and "properties" in sub:
                self.objects.append((name, RecordShape(sub)))
            items = sub.get("items")
            if "array" in kinds and isinstance(items, dict):
                if "object" in _types(items) and "properties" in items:
                    self.object_lists.append((name, RecordShape(items)))
                elif _types(items) - {"null"} == {"boolean"}:
                    self.scalar_lists.append(name)

    def allows_keys(self, keys: t.Iterable[str]) -> bool:
        """True when the SDK would keep top-level properties of these names."""
        return self.open or self.keys.issuperset(keys)

    def conforms(self, value: dict[str, t.Any]) -> bool:
        """True when the SDK's conformance would return `value` unchanged."""
        if not self.open and not value.keys() <= self.keys:
            return False
        for name in self.booleans:
            item = value.get(name)
            if item is not None and item.__class__ is not bool:
                return False
        for name, shape in self.objects:
            item = value.get(name)
            if isinstance(item, dict) and not shape.conforms(item):
                return False
        for name, shape in self.object_lists:
            items = value.get(name)
            if isinstance(items, list):
                for item in items:
                    if isinstance(item, dict) and not shape.conforms(item):
                        return False
        for name in self.scalar_lists:
            items = value.get(name)
            if isinstance(items, list) and any(
                i is not None and i.__class__ is not bool for i in items
            ):
                return False
        return True
