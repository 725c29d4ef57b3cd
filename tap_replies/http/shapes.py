"""Where a list endpoint puts its records, and what happens to a body of any other shape.

Each stream declares its endpoint's documented shapes as a `ListShape`: a bare JSON array of
objects, and/or an object holding that array under one of a few keys. A body that matches none of
them (a bare list where an object is documented, `{"campaigns": [...]}` where a list is, `null`)
raises `UnexpectedShape`: read as an empty or short page, it once ended a stream quietly with the
bookmark past replies never read.

`StreamedList` reads the same shapes from a body spooled to a temporary file, one record at a
time, so an unpaged list of any length costs the same memory. It decodes with ijson's yajl2_c
backend (C: a few tenths of a microsecond per record more than `json.loads` of the whole body); a
body holding a lone UTF-16 surrogate escape goes through ijson's pure-Python backend instead,
which keeps it as `json.loads` does (yajl2_c would turn it into "?" or fail).
"""

from __future__ import annotations

import json
import re
import tempfile
import typing as t
import weakref
from dataclasses import dataclass, field

import ijson
import requests

Record = dict[str, t.Any]

# A body up to this size is decoded whole (json.loads is fastest there); a larger one is streamed.
IN_MEMORY_BYTES = 1 << 20
CHUNK_BYTES = 1 << 16
# A \uD800-\uDFFF escape that is not half of a high+low pair.
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_C_BACKEND = ijson.get_backend("yajl2_c")
_PY_BACKEND = ijson.get_backend("python")


class UnexpectedShape(ValueError):
    """A body none of the endpoint's documented shapes match."""

    def __init__(self, expected: str, came: str) -> None:
        super().__init__(f"expected {expected}, got {came}")
        self.expected = expected
        self.came = came


class NotJson(ValueError):
    """A body that is not JSON at all (an HTML page, a cut-off text)."""


def describe(value: t.Any) -> str:
    """What a decoded JSON value is, in a few words and without its content (it may be data)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return f"an array of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        keys = sorted(str(key) for key in value)
        shown = ", ".join(repr(key) for key in keys[:6]) + (", …" if len(keys) > 6 else "")
        return f"an object with keys {shown}" if keys else "an empty object"
    return type(value).__name__


@dataclass(frozen=True)
class ListShape:
    """The shapes a list endpoint is documented to answer in; nothing else is read.

    `bare`: a JSON array of objects. `keys`: an object with the array under one of these keys
    (the first present wins). `beside`: for a streamed body, the top-level values its paginator
    reads, by the key the records came under (`{"replies": ("pagination",)}`).
    """

    bare: bool = False
    keys: tuple[str, ...] = ()
    beside: t.Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def expected(self) -> str:
        wrapped = " or ".join(f"'{key}'" for key in self.keys)
        forms = ["a JSON array"] if self.bare else []
        forms += [f"an object with a {wrapped} array"] if self.keys else []
        return ", or ".join(forms)

    def records_in(self, payload: t.Any) -> list[Record]:
        """The records of a decoded body; `UnexpectedShape` for anything else."""
        if isinstance(payload, list) and self.bare:
            items = payload
        elif isinstance(payload, dict) and (key := self.key_in(payload)) is not None:
            items = payload[key]
        else:
            raise UnexpectedShape(self.expected, self.came(payload))
        for position, item in enumerate(items):
            if not isinstance(item, dict):
                raise UnexpectedShape(self.expected, holding(item, position))
        return t.cast("list[Record]", items)

    def key_in(self, payload: dict[str, t.Any]) -> str | None:
        return next((key for key in self.keys if isinstance(payload.get(key), list)), None)

    def came(self, payload: t.Any) -> str:
        if isinstance(payload, dict):
            for key in self.keys:
                if key in payload:
                    return f"an object whose '{key}' is {describe(payload[key])}"
        return describe(payload)


def holding(item: t.Any, position: int) -> str:
    return f"an array holding {describe(item)} at position {position}"


class SpooledBody:
    """A response body read to its end into a temporary file (in memory while small).

    Reading it is the transport's job: a body cut short raises here, inside the retried request,
    exactly as it did when the whole body was read into memory.
    """

    def __init__(self, response: requests.Response) -> None:
        self.file = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BYTES)  # noqa: SIM115
        self.size = 0
        self.lone_surrogates = False
        tail = b""
        try:
            for chunk in response.iter_content(CHUNK_BYTES):
                self.file.write(chunk)
                self.size += len(chunk)
                # With the previous chunk's last bytes, so an escape split in two is seen; the
                # exact pattern only where a \uD... escape is there at all (a fast byte search).
                if not self.lone_surrogates and _SURROGATE_ESCAPE.search(tail + chunk):
                    self.lone_surrogates = bool(_LONE_SURROGATE.search(tail + chunk))
                tail = chunk[-12:]
        except BaseException:
            self.file.close()
            raise
        self.file.seek(0)

    def read_all(self) -> bytes:
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        self.file.close()


class StreamedList:
    """The records of a spooled body, decoded one at a time as they are iterated.

    Opening it reads only as far as the start of the records (`NotJson` or `UnexpectedShape`
    there); the top-level values read on the way, or named in the shape's `beside`, are `meta`
    once the records have all been iterated.
    """

    def __init__(self, shape: ListShape, body: SpooledBody) -> None:
        self.shape = shape
        self.body = body
        self.backend = _PY_BACKEND if body.lone_surrogates else _C_BACKEND
        self.meta: dict[str, t.Any] = {}
        self.count = 0
        try:
            self.prefix, self._key = self._locate()
        except BaseException:
            body.close()
            raise

    def __iter__(self) -> t.Iterator[Record]:
        file = self.body.file
        try:
            file.seek(0)
            for item in self.backend.items(file, self.prefix, use_float=True):
                if type(item) is not dict:
                    raise UnexpectedShape(self.shape.expected, holding(item, self.count))
                self.count += 1
                yield item
            # What the paginator reads, when it came after the records: one more pass.
            for name in self.shape.beside.get(self._key or "", ()):
                if name not in self.meta:
                    file.seek(0)
                    self.meta[name] = next(iter(self.backend.items(file, name, use_float=True)),
                                           None)
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise NotJson(f"not valid JSON after {self.count} records ({_reason(exc)})") from None
        finally:
            self.body.close()

    def _locate(self) -> tuple[str, str | None]:
        """The ijson prefix of the records, and the key they are under (None: a bare array)."""
        events = self.backend.parse(self.body.file, use_float=True)
        try:
            _, event, value = next(events)
            if event == "start_array":
                if self.shape.bare:
                    return "item", None
                raise UnexpectedShape(self.shape.expected, "a JSON array")
            if event != "start_map":
                raise UnexpectedShape(self.shape.expected, describe(value))
            return self._walk_object(events)
        except StopIteration:
            raise NotJson("a body that ends early") from None
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise NotJson(_reason(exc)) from None

    def _walk_object(self, events: t.Iterator[tuple[str, str, t.Any]]) -> tuple[str, str]:
        kept = {name for names in self.shape.beside.values() for name in names}
        keys: list[str] = []
        for prefix, event, value in events:
            if prefix == "" and event == "end_map":
                break
            if event != "map_key" or prefix != "":
                continue
            key = str(value)
            keys.append(key)
            _, first, scalar = next(events)
            if key in self.shape.keys and first == "start_array":
                return f"{key}.item", key
            if key in self.shape.keys:
                came = "an object" if first == "start_map" else describe(scalar)
                raise UnexpectedShape(self.shape.expected, f"an object whose '{key}' is {came}")
            value = _value(first, scalar, events, keep=key in kept)
            if key in kept:
                self.meta[key] = value
        raise UnexpectedShape(self.shape.expected, describe(dict.fromkeys(keys)))


def _value(first: str, scalar: t.Any, events: t.Iterator[tuple[str, str, t.Any]], *,
           keep: bool) -> t.Any:
    """A top-level value read from its events: built when kept (small ones, like `pagination`),
    else only skipped."""
    if first not in ("start_map", "start_array"):
        return scalar
    builder = ijson.ObjectBuilder() if keep else None
    if builder is not None:
        builder.event(first, scalar)
    depth = 1
    for _, event, value in events:
        if builder is not None:
            builder.event(event, value)
        depth += event in ("start_map", "start_array")
        depth -= event in ("end_map", "end_array")
        if depth == 0:
            break
    return builder.value if builder is not None else None


def _reason(exc: BaseException) -> str:
    """The parser's complaint without the excerpt of the body it quotes (that may be data)."""
    lines = str(exc).strip().splitlines()
    return " ".join(lines[0].split())[:80] if lines else type(exc).__name__


def decode(shape: ListShape, body: SpooledBody) -> t.Any:
    """A spooled body as a stream's payload: decoded whole while small, else a `StreamedList`.

    `NotJson` when it is not JSON at its start; `UnexpectedShape` is left to `ListShape` (small
    bodies) or raised here (streamed ones).
    """
    if body.size <= IN_MEMORY_BYTES:
        try:
            return json.loads(body.read_all())
        except ValueError:
            raise NotJson("not valid JSON") from None
        finally:
            body.close()
    return StreamedList(shape, body)



class Page:
    """One response's records and the top-level values beside them (totals, pagination).

    Decoded once, where the response is validated; the stream and its paginator read it from
    there (`page_of`). `meta` of a streamed list fills in as its records are iterated.
    """

    def __init__(self, shape: ListShape, payload: t.Any) -> None:
        self.records: t.Iterable[Record]
        if isinstance(payload, StreamedList):
            self.records, self.meta = payload, payload.meta  # checked as they are decoded
        else:
            self.records = shape.records_in(payload)
            self.meta = payload if isinstance(payload, dict) else {}

    @property
    def count(self) -> int:
        """How many records it held (a streamed list: once iterated)."""
        records = self.records
        return len(records) if isinstance(records, list) else t.cast("StreamedList", records).count

    def total(self, *keys: str) -> int | None:
        """The size of the whole list when the page states it under one of `keys`
        (a dotted key reads inside an object: "pagination.total")."""
        for key in keys:
            holder: t.Any = self.meta
            for part in key.split("."):
                holder = holder.get(part) if isinstance(holder, dict) else None
            if isinstance(holder, int) and not isinstance(holder, bool) and holder >= 0:
                return holder
        return None


_PAGES: weakref.WeakKeyDictionary[requests.Response, Page] = weakref.WeakKeyDictionary()


def keep_page(response: requests.Response, page: Page) -> None:
    _PAGES[response] = page


def page_of(response: requests.Response) -> Page:
    """The page decoded from `response` when it was validated."""
    return _PAGES[response]
