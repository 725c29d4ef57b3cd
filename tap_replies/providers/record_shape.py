"""Records checked against their stream's schema cheaply, and put right only where they drift.

Two jobs on the per-record path, both decided by one check (`RecordShape.conforms`), made in C by
msgspec against a Struct type built from the schema (the same checks as a Python loop cost several
times as much: a Tuco record holds tens of nested values):

- A value whose type drifts from the schema (an integer sent as "3") would make the record violate
  the SCHEMA the tap itself sent, and a validating loader would reject the batch. `repair` converts
  it when that loses nothing ("3" -> 3, "true" -> true, 7 -> "7"), and otherwise sets it to null
  (or leaves it out, where null is not allowed), reporting each change as a `Drift`.
- The SDK's RECURSIVE conformance walks every value in Python to convert what JSON cannot hold and
  to drop properties the schema does not know; on a large backfill it is over half of the tap's
  CPU (BENCHMARKS.md, profile). Our records come from `json.loads`, so once the types are right
  the only thing left for it is an unknown property: a record the check passes skips it.

String formats (`date-time`) are not checked: the SDK's targets do not validate them by default,
and an unreadable replication timestamp is already reported by the stream that reads it. Nor are
the alternatives of an `anyOf` beyond their types (no stream's schema has one).
"""

from __future__ import annotations

import decimal
import logging
import math
import re
import typing as t
from dataclasses import dataclass

import msgspec

# The Python classes `json.loads` gives for each JSON Schema type (bool is not an int here:
# checks compare `value.__class__`, which is also the fastest test there is).
_CLASSES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float, decimal.Decimal),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}
# Which conversion is tried first when a value fits none of a property's types.
_COERCION_ORDER = ("integer", "number", "boolean", "string")
# msgspec in strict mode takes an int for a float (as JSON Schema's "number" does), never a bool.
_MSGSPEC: dict[str, t.Any] = {"string": str, "integer": int, "number": float, "boolean": bool,
                              "null": None}
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")

_NOT_CONVERTIBLE = object()
_LEAVE_OUT = object()


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


def json_type(value: t.Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    for name in ("null", "boolean", "integer", "number", "string", "object", "array"):
        if value.__class__ in _CLASSES[name]:
            return name
    return type(value).__name__


@dataclass(frozen=True)
class Drift:
    """One value that did not have its schema's type, and what was done with it."""

    path: str  # e.g. "parentMessages[].stepIndex"
    came: str  # the JSON type that came
    wanted: str  # the schema's types, e.g. "integer or null"
    action: str  # "converted to integer", "set to null" or "left out"

    @property
    def lost(self) -> bool:
        return not self.action.startswith("converted")


class FieldShape:
    """One property (or array item): the classes its values may have, and the shapes below."""

    __slots__ = ("classes", "enum", "has_format", "items", "kinds", "kinds_declared", "nullable",
                 "shape", "wanted")

    def __init__(self, schema: dict[str, t.Any]) -> None:
        kinds = _types(schema)
        # An untyped property (or one of a type we do not know) takes anything.
        known = bool(kinds) and kinds <= _CLASSES.keys()
        self.kinds = tuple(k for k in _COERCION_ORDER if k in kinds)
        self.kinds_declared = frozenset(kinds)
        self.classes: frozenset[type] | None = (
            frozenset(c for k in kinds for c in _CLASSES[k]) if known else None
        )
        allowed = schema.get("enum")
        if not isinstance(allowed, list) or not all(
            isinstance(v, str | int | float | bool | None) for v in allowed
        ):
            allowed = None  # no enum, or one of objects: the types are checked, not the values
        self.enum = frozenset(allowed) if allowed is not None else None
        # An enum applies to null too: one without None makes the property not nullable.
        self.nullable = (not known or "null" in kinds) and (self.enum is None or None in self.enum)
        self.has_format = "format" in schema
        self.wanted = (" or ".join(sorted(kinds)) if allowed is None
                       else "one of " + ", ".join(repr(v) for v in allowed))
        items = schema.get("items")
        self.items = FieldShape(items) if "array" in kinds and isinstance(items, dict) else None
        self.shape = (RecordShape(schema) if "object" in kinds and "properties" in schema
                      else None)

    def fits(self, value: t.Any) -> bool:
        """True when the value, and everything below it, has its schema's types (in Python:
        only for what msgspec cannot express, see `RecordShape`)."""
        cls = value.__class__
        if self.classes is not None and cls not in self.classes:
            return False
        if self.enum is not None:
            return cls is not dict and cls is not list and value in self.enum
        if cls is dict:
            return self.shape is None or self.shape.conforms(value)
        if cls is list and self.items is not None:
            return all(self.items.fits(item) for item in value)
        return True

    def msgspec_type(self) -> t.Any:
        """The same check as a type msgspec validates in C; None where it has no such type (a
        union of two object shapes, an enum of booleans…)."""
        if self.classes is None:
            return t.Any
        if self.enum is not None:
            labels = [v for v in self.enum if v is not None]
            if not all(isinstance(v, str) for v in labels) and not all(
                    v.__class__ is int for v in labels):
                return None
            parts: list[t.Any] = [t.Literal[tuple(labels)]] if labels else []
            parts += [None] if None in self.enum else []
            return t.Union[tuple(parts)] if parts else None  # noqa: UP007
        parts = []
        for kind in sorted(self.kinds_declared):
            if kind == "object":
                below = dict if self.shape is None else self.shape.struct
                if below is None:
                    return None
                parts.append(below)
            elif kind == "array":
                item = t.Any if self.items is None else self.items.msgspec_type()
                if item is None:
                    return None
                parts.append(list[item])  # type: ignore[valid-type]
            else:
                parts.append(_MSGSPEC[kind])
        return t.Union[tuple(parts)]  # noqa: UP007

    def repair(self, value: t.Any, path: str, drifts: list[Drift]) -> t.Any:
        """The value with its schema's types: as it was, converted, None, or _LEAVE_OUT."""
        cls = value.__class__
        if (self.classes is None or cls in self.classes) and (
            self.enum is None or (cls is not dict and cls is not list and value in self.enum)
        ):
            if cls is dict and self.shape is not None:
                self.shape.repair(value, drifts, f"{path}.")
            elif cls is list and self.items is not None:
                repaired = [self.items.repair(item, f"{path}[]", drifts) for item in value]
                value[:] = [item for item in repaired if item is not _LEAVE_OUT]
            return value
        came = json_type(value)
        if self.enum is not None and cls in (str, int, float, bool):
            came += f" {value!r:.40}"  # which label: a new one the schema does not know yet?
        for kind in self.kinds:
            converted = _converted(value, kind, has_format=self.has_format)
            if converted is not _NOT_CONVERTIBLE and (
                self.enum is None or converted in self.enum
            ):
                drifts.append(Drift(path, came, self.wanted, f"converted to {kind}"))
                return converted
        if self.nullable:
            drifts.append(Drift(path, came, self.wanted, "set to null"))
            return None
        drifts.append(Drift(path, came, self.wanted, "left out"))
        return _LEAVE_OUT


def _usable(kind: t.Any) -> t.Any:
    """`kind` when msgspec accepts it as a type to convert to, else None."""
    if kind is None:
        return None
    try:
        msgspec.convert(None, kind)
    except msgspec.ValidationError:
        pass
    except TypeError:  # a union msgspec does not support
        return None
    return kind


def _converted(value: t.Any, kind: str, *, has_format: bool) -> t.Any:
    """`value` as `kind` when nothing is lost on the way; _NOT_CONVERTIBLE otherwise."""
    cls = value.__class__
    if kind == "integer":
        if cls is str and _INTEGER.fullmatch(value.strip()):
            return int(value)
        if cls in (float, decimal.Decimal) and math.isfinite(value) and value == int(value):
            return int(value)
    elif kind == "number":
        text = value.strip() if cls is str else ""
        if _NUMBER.fullmatch(text):
            number = int(text) if _INTEGER.fullmatch(text) else float(text)
            if math.isfinite(number):
                return number
    elif kind == "boolean":
        if cls is str and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if cls is int and value in (0, 1):
            return value == 1
    elif kind == "string" and not has_format:  # a number is no date-time
        if cls is bool:
            return "true" if value else "false"
        if cls is int or cls is decimal.Decimal:
            return str(value)
        if cls is float and math.isfinite(value):
            return repr(value)
    return _NOT_CONVERTIBLE


class RecordShape:
    """The properties an object may have, the types of each, and the shapes below it."""

    def __init__(self, schema: dict[str, t.Any]) -> None:
        properties: dict[str, t.Any] = schema.get("properties") or {}
        # additionalProperties: anything goes, the SDK keeps unknown keys too.
        self.open = bool(schema.get("additionalProperties"))
        self.keys = frozenset(properties)
        self.fields = {name: FieldShape(sub) for name, sub in properties.items()}
        # The check msgspec makes; a field it cannot express is left to `unchecked`, in Python.
        kinds = {name: _usable(field.msgspec_type()) for name, field in self.fields.items()}
        self.unchecked = [(name, self.fields[name]) for name, kind in kinds.items() if kind is None]
        self.struct: t.Any = _usable(self._struct(kinds, set(schema.get("required") or ())))
        if self.struct is None:  # not expected: every member is a type msgspec took on its own
            self.unchecked = list(self.fields.items())
            self.struct = self._struct(dict.fromkeys(self.fields), set())

    def _struct(self, kinds: dict[str, t.Any], required: set[str]) -> t.Any:
        """A Struct type whose fields are the properties (renamed: a property's name need not
        be an identifier); only an open schema's takes keys it does not list."""
        names = list(kinds)
        members = [(f"f{i}", t.Any if kinds[name] is None else kinds[name],
                    msgspec.NODEFAULT if name in required else None)
                   for i, name in enumerate(names)]
        return msgspec.defstruct("Shape", members, forbid_unknown_fields=not self.open,
                                 rename={f"f{i}": name for i, name in enumerate(names)})

    def conforms(self, value: dict[str, t.Any]) -> bool:
        """True when every value has its schema's type and the SDK's conformance would return
        `value` unchanged (no property the schema lacks, where it lists them all)."""
        try:
            msgspec.convert(value, self.struct)
        except msgspec.ValidationError:
            return False
        get = value.get
        return all(field.fits(get(name)) for name, field in self.unchecked)

    def repair(self, value: dict[str, t.Any], drifts: list[Drift], path: str = "") -> None:
        """Give every value its schema's type, in place; each change is added to `drifts`."""
        for name, field in self.fields.items():
            if name not in value:
                continue
            repaired = field.repair(value[name], f"{path}{name}", drifts)
            if repaired is _LEAVE_OUT:
                del value[name]
            else:
                value[name] = repaired


class RecordCheck:
    """One stream's records checked against its schema: drifted values put right, said once per
    field (a warning when a value was lost, info when it was converted losslessly), counted."""

    def __init__(self, stream_name: str, schema: dict[str, t.Any], logger: logging.Logger,
                 *, primary_keys: tuple[str, ...]) -> None:
        self.stream_name = stream_name
        self.shape = RecordShape(schema)
        self.logger = logger
        self.primary_keys = primary_keys
        self.values_nulled = 0
        self.skipped_without_primary_key = 0
        self._drifts_logged: set[tuple[str, bool]] = set()

    def conforms_after_repair(
        self, row: dict[str, t.Any], label: t.Callable[[t.Mapping[str, t.Any]], str]
    ) -> bool:
        """Puts `row` right if it drifted; True when it now has every type its schema says."""
        if self.shape.conforms(row):
            return True
        where = label(row)  # before the repair: the key itself may be what drifted
        drifts: list[Drift] = []
        self.shape.repair(row, drifts)
        for drift in drifts:
            self._report(drift, where)
        return self.shape.conforms(row)

    def has_primary_key(self, row: dict[str, t.Any]) -> bool:
        """False (and a warning) for a record missing a primary key value: it is skipped."""
        for key in self.primary_keys:
            if row.get(key) in (None, ""):
                break
        else:
            return True
        self.skipped_without_primary_key += 1
        self.logger.warning("%s: skipped a record with no %s (%d skipped so far)",
                            self.stream_name, "/".join(self.primary_keys),
                            self.skipped_without_primary_key)
        return False

    def notes(self) -> list[str]:
        """What the stream's summary line says about its records, if anything went wrong."""
        notes = []
        if self.skipped_without_primary_key:
            notes.append(f"{self.skipped_without_primary_key} skipped without "
                         f"{'/'.join(self.primary_keys)}")
        if self.values_nulled:
            notes.append(f"{self.values_nulled} values of the wrong type set to null")
        return notes

    def _report(self, drift: Drift, where: str) -> None:
        if drift.lost:
            self.values_nulled += 1
        if (drift.path, drift.lost) in self._drifts_logged:
            return
        self._drifts_logged.add((drift.path, drift.lost))
        self.logger.log(
            logging.WARNING if drift.lost else logging.INFO,
            "%s: %s came as %s where the schema says %s (record %s): %s; logged once per field",
            self.stream_name, drift.path, drift.came, drift.wanted, where, drift.action,
        )
