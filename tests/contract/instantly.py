"""A fourth provider that exists only here: the proof that adding one is its own two parts and
one registry line, and that the contract suite holds it to the same behaviours as the others.

"Instantly" lists replies newest first at `GET /api/v2/emails`, offset-paged (`offset`, `limit` up
to 25) with a `total`, filtered by an inclusive `since`; Bearer auth (the spec's default).
"""

from __future__ import annotations

import datetime as dt
import sys
import typing as t

from singer_sdk import typing as th

from tap_replies.http.paging import OffsetPosition, TotalCountPaginator
from tap_replies.http.shapes import ListShape
from tap_replies.providers.newest_first import NewestFirstStream
from tap_replies.registry import PROVIDERS, Provider
from tap_replies.sandbox.core import (
    EPOCH,
    SEED_SECONDS,
    ProviderEmulator,
    RecordKey,
    Request,
    Route,
    int_arg,
    iso,
    now_utc,
    parse_iso,
    route,
)
from tap_replies.settings import ProviderSpec

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

if sys.version_info >= (3, 12):
    from typing import override
else:  # Python < 3.12
    from typing_extensions import override

STREAM = "instantly_replies"
PATH = "/api/v2/emails"
CAMPAIGNS = ("cmp_a", "cmp_b", "cmp_c")

# -- the tap's side: a spec and one stream declared ------------------------------------------

SPEC = ProviderSpec("instantly", "Instantly", "https://api.instantly.ai", requests_per_minute=None)


class InstantlyRepliesStream(NewestFirstStream):
    spec = SPEC
    name = STREAM
    path = PATH
    primary_keys = ("id",)
    replication_key = "timestamp_email"
    schema = th.PropertiesList(
        th.Property("id", th.StringType, required=True),
        th.Property("campaign_id", th.StringType),
        th.Property("timestamp_email", th.DateTimeType),
        th.Property("body", th.StringType),
    ).to_dict()
    response_shape = ListShape(keys=("items",))
    page_size = 25

    @override
    def get_new_paginator(self) -> TotalCountPaginator:
        return TotalCountPaginator(0, self.page_size, total_key="total")

    @override
    def get_url_params(self, context: Context | None, next_page_token: OffsetPosition | None
                       ) -> dict[str, t.Any]:
        lower, _ = self.window_bounds(context)  # the position (offset, limit) is the base's
        since = {"since": lower} if lower else {}
        return {**super().get_url_params(context, next_page_token), **since}


# -- the sandbox's side: a small emulator -------------------------------------------------------


class InstantlyEmulator(ProviderEmulator):
    name = "instantly"
    api_key = "inst_live_contract_suite_key_2f9c"

    def __init__(self, seed: int, scale: int) -> None:
        super().__init__(seed, scale)
        self.replies: list[dict[str, t.Any]] = []
        for _ in range(70 * scale):
            self._add(EPOCH + dt.timedelta(seconds=self.rng.randrange(SEED_SECONDS)),
                      self.rng.choice(CAMPAIGNS))
        newest = max(parse_iso(r["timestamp_email"]) for r in self.replies)  # type: ignore[type-var]
        for _ in range(3):  # several replies share the newest second, as on the real APIs
            self._add(t.cast("dt.datetime", newest), CAMPAIGNS[0])

    def _add(self, at: dt.datetime, campaign: str) -> RecordKey:
        reply = {"id": f"em_{len(self.replies) + 1:05d}", "campaign_id": campaign,
                 "timestamp_email": iso(at), "body": self.rng.choice(("Yes!", "Not now", "🙂"))}
        self.replies.append(reply)
        return (reply["id"],)

    def add_reply(self, at: dt.datetime, campaign_id: t.Any = None) -> RecordKey:
        with self.lock:
            return self._add(at, campaign_id or self.rng.choice(CAMPAIGNS))

    def add_activity(self, count: int = 5) -> dict[str, int]:
        for _ in range(count):
            self.add_reply(now_utc())
        return {STREAM: count}

    def _newest_first(self) -> list[dict[str, t.Any]]:
        return sorted(self.replies, key=lambda r: (r["timestamp_email"], r["id"]), reverse=True)

    def routes(self) -> list[Route]:
        return [route("GET", PATH, self.list_replies)]

    def list_replies(self, request: Request) -> t.Any:
        skip = int_arg(request, "offset", 0, low=0)
        limit = int_arg(request, "limit", 10, low=1, high=25)
        since = parse_iso(request.arg("since") or "")
        rows = [r for r in self._newest_first()
                if since is None or t.cast("dt.datetime", parse_iso(r["timestamp_email"])) >= since]
        return {"items": rows[skip:skip + limit], "total": len(rows)}

    def ground_truth(self) -> dict[str, list[dict[str, t.Any]]]:
        return {STREAM: self._newest_first()}

    def primary_keys(self) -> dict[str, tuple[str, ...]]:
        return {STREAM: ("id",)}


# -- registered in one line ---------------------------------------------------------------------

REGISTRY = PROVIDERS.with_provider(Provider(SPEC, (InstantlyRepliesStream,), InstantlyEmulator))
