"""Requests: what a full sync and an incremental one asked for, vs the least the APIs allow.

Requests are grouped into listings (same endpoint and filters, any page). A listing whose pages
carry a total needs ceil(total / max page size) requests (at least one); one without a total
needs one more than its full pages, because only a short page says it was the last. Records are
counted once however many pages returned them; each page is re-asked of the sandbox in-process.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import typing as t
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bare_client import page_records
from harness.context import Run
from harness.report import Block
from harness.sandbox import Workload, auth_headers, record_sync

from tap_replies.sandbox import Sandbox
from tap_replies.sandbox.core import Request

# The largest page each paged endpoint allows (provider docs in shared/api-docs); anything not
# listed here, or requested with no page/offset parameter, is one request per listing.
MAX_PAGE_SIZE: list[tuple[str, re.Pattern[str], int]] = [
    ("tuco", re.compile(r"^/api/replies/?$"), 100),
    ("smartlead", re.compile(r"^/api/v1/campaigns/[^/]+/leads/?$"), 100),
    ("smartlead", re.compile(r"^/api/v1/master-inbox/inbox-replies/?$"), 20),
]
PAGING_KEYS = ("page", "offset", "cursor", "limit")
# Tuco is paged by lowering `dateTo` to the oldest reply read (the tap's TimeCursorPaginator): a
# page of the same listing, not a listing of its own.
TIME_CURSOR_KEYS = {"tuco": ("dateTo",)}


@dataclass
class RequestCount:
    actual: int = 0
    minimum: int = 0
    failed: int = 0
    records: int = 0


@dataclass
class Listing:
    """One endpoint with one set of filters, over all the pages asked for."""

    endpoint: str
    provider: str
    path: str
    paged: bool = False
    total: int | None = None
    pages: set[str] = field(default_factory=set)
    seen: set[bytes] = field(default_factory=set)

    def minimum(self) -> int:
        size = _max_page(self.provider, self.path)
        if not self.paged or size is None:
            return 1
        if self.total is not None:
            return max(1, math.ceil(self.total / size))
        return len(self.seen) // size + 1


def _without_paging(value: t.Any, provider: str) -> str:
    if isinstance(value, dict):
        skip = (*PAGING_KEYS, *TIME_CURSOR_KEYS.get(provider, ()))
        return json.dumps({k: v for k, v in value.items() if k not in skip}, sort_keys=True)
    return json.dumps(value, sort_keys=True)


def _paged(logged: t.Any) -> bool:
    keys = set(logged.query)
    if isinstance(logged.body, dict):
        keys |= set(logged.body)
    return bool(keys & {"page", "offset", "cursor"})


def _digest(row: t.Any) -> bytes:
    return hashlib.sha1(json.dumps(row, sort_keys=True).encode(), usedforsecurity=False).digest()


def _max_page(provider: str, path: str) -> int | None:
    for name, pattern, size in MAX_PAGE_SIZE:
        if name == provider and pattern.match(path):
            return size
    return None


_ID = re.compile(r"/\d+(?=/|$)")


def endpoint_name(logged: t.Any) -> str:
    return f"{logged.provider} {logged.method} {_ID.sub('/{id}', logged.path)}"


def _read_page(sandbox: Sandbox, listing: Listing, logged: t.Any,
               headers: dict[str, dict[str, str]]) -> None:
    """Ask the sandbox for a logged page again; note its records and the total it states."""
    body = json.dumps(logged.body).encode() if logged.body is not None else b""
    request = Request(logged.method, logged.path, logged.query,
                      dict(headers.get(logged.provider, {})), body)
    _, response = sandbox.dispatch(request)
    rows, total = page_records(getattr(response, "body", None))
    listing.seen |= {_digest(row) for row in rows}
    if total is not None and listing.total is None:
        listing.total = total


def analyse(sandbox: Sandbox, log: list[t.Any]) -> dict[str, RequestCount]:
    """Per endpoint: successful requests made, and the fewest that return the same records."""
    headers = {name: {k.lower(): v for k, v in h.items()} for name, h in auth_headers().items()}
    listings: dict[tuple[str, ...], Listing] = {}
    counts: dict[str, RequestCount] = defaultdict(RequestCount)
    for logged in log:
        endpoint = endpoint_name(logged)
        if logged.status != 200:
            counts[endpoint].failed += 1
            continue
        counts[endpoint].actual += 1
        key = (endpoint, logged.path, _without_paging(logged.query, logged.provider),
               _without_paging(logged.body, logged.provider))
        listing = listings.setdefault(key, Listing(endpoint, logged.provider, logged.path))
        listing.paged = listing.paged or _paged(logged)
        page_key = json.dumps([logged.query, logged.body], sort_keys=True)
        if page_key not in listing.pages:  # the same page twice adds nothing to the minimum
            listing.pages.add(page_key)
            _read_page(sandbox, listing, logged, headers)
    for listing in listings.values():
        counts[listing.endpoint].records += len(listing.seen)
        counts[listing.endpoint].minimum += listing.minimum()
    return dict(counts)


def read_output(path: Path) -> tuple[int, dict[str, t.Any]]:
    """The RECORD messages in a file of Singer messages, and the last STATE's value."""
    records, state = 0, {}
    with path.open("rb") as handle:
        for line in handle:
            head = line[:40]
            if b'"type":"RECORD"' in head or b'"type": "RECORD"' in head:
                records += 1
            elif b'"type":"STATE"' in head or b'"type": "STATE"' in head:
                state = json.loads(line)["value"]
    path.unlink()
    return records, state


@dataclass
class Syncs:
    """A full sync, then a small change and an incremental sync, counted at the server."""

    full: dict[str, RequestCount]
    incremental: dict[str, RequestCount]
    added: dict[str, t.Any]
    full_records: int
    incremental_records: int


def measure(run: Run, workload: Workload) -> Syncs:
    with Sandbox(seed=workload.seed, scale=workload.scale) as sandbox:
        config = run.json_file("requests-config.json", workload.config(sandbox.base_url))
        full = record_sync(sandbox, config, run.work / "requests-full.jsonl", "full sync")
        run.keep_replay(workload, full.replay())
        full_records, last = read_output(full.output)
        state = run.json_file("requests-state.json", last)
        full_counts = analyse(sandbox, full.log)
        added = {p: v for p, v in sandbox.add_activity(5).items() if p in workload.providers}
        incremental = record_sync(sandbox, config, run.work / "requests-incremental.jsonl",
                                  "incremental sync", state=state)
        incremental_records, _ = read_output(incremental.output)
        return Syncs(full_counts, analyse(sandbox, incremental.log), added, full_records,
                     incremental_records)


def run(run: Run, workload: Workload, out: Block) -> None:
    syncs = measure(run, workload)
    rows, excess = [], 0
    for phase, counts in (("full", syncs.full), ("incremental", syncs.incremental)):
        for endpoint, c in sorted(counts.items()):
            rows.append([phase, endpoint, str(c.records), str(c.actual), str(c.minimum),
                         str(c.actual - c.minimum), str(c.failed)])
            excess += c.actual - c.minimum
    out.table(["sync", "endpoint", "records", "requests", "minimum", "excess", "non-200"], rows)
    out.say(f"full sync emitted {syncs.full_records:,} records; after add_activity(5) "
            f"({json.dumps(syncs.added)}) the incremental sync emitted "
            f"{syncs.incremental_records:,}")
    out.say(f"Target requests = minimum: {'met' if excess <= 0 else 'NOT met'} (excess {excess})")
    out.target(f"requests = the minimum ({workload.name})", f"excess {excess}", excess <= 0)
