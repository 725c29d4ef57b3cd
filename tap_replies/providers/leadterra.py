"""Leadterra: replies (incremental on receivedAt), SDRs and due follow-ups.

Bearer auth; the key rides in a header, so request URLs (path + `campaignId`/`page`) are safe to
name in errors. `/v1/replies` appears in three shapes across Leadterra's pages (a bare array,
`{"data": [...]}`, `{"replies": [...], "pagination": {...}}`) and all three are accepted; a long
answer is decoded one reply at a time (`streams_body`). It has no date filter: the list is read
newest first, to its end or (paginated) until a page ends below the bookmark, and
NewestFirstStream keeps what is at or after the bookmark. Only read endpoints are called; the
write endpoints (assign, complete, skip, reschedule, schedule) change data and an extractor never
calls them.
"""

from __future__ import annotations

import sys
import typing as t

from singer_sdk import typing as th
from singer_sdk.pagination import BaseAPIPaginator

from tap_replies.http.errors import query_value
from tap_replies.http.paging import PageNumber
from tap_replies.http.shapes import ListShape, page_of
from tap_replies.providers.base import ProviderStream
from tap_replies.providers.full_table import full_table_schema
from tap_replies.providers.newest_first import NewestFirstStream
from tap_replies.settings import ProviderSpec

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

# A version check rather than try/except: mypy (run for 3.11) understands this one.
if sys.version_info >= (3, 12):
    from typing import override
else:  # Python < 3.12
    from typing_extensions import override

# Leadterra's pages: the due list takes `limit` up to 200 and documents no paging, so more than
# 200 due follow-ups cannot be read through this endpoint; we ask for the most it gives.
FOLLOWUPS_LIMIT = 200

CLASSIFICATIONS = ("interested", "not_interested", "out_of_office", "bounce", "unsubscribe")

# /v1/replies: the reference page's bare array, or the two wrappers other Leadterra pages show;
# the paginated one's `pagination` is what LeadterraPaginator reads.
REPLIES_SHAPE = ListShape(bare=True, keys=("replies", "data"), beside={"replies": ("pagination",)})
# /v1/sdrs: `{"data": [...]}` (reference page). The due list's shape is not documented: the same
# wrapper is assumed, and a bare array accepted too (api-docs README).
SDRS_SHAPE = ListShape(keys=("data",))
FOLLOWUPS_SHAPE = ListShape(bare=True, keys=("data",))


def leadterra_hint(response: requests.Response) -> str | None:
    """Leadterra's fixes for a refused request: name the campaign it asked for."""
    campaign = query_value(response, "campaignId")
    if campaign is not None and response.status_code == 404:
        return f"campaign '{campaign}' is not in this workspace: fix leadterra.campaign_ids"
    if campaign is not None and response.status_code in (400, 422):
        return f"campaign id '{campaign}' was rejected as malformed: fix leadterra.campaign_ids"
    return None


SPEC = ProviderSpec("leadterra", "Leadterra", "https://app.leadterra.co",
                    requests_per_minute=None, error_hint=leadterra_hint)


class LeadterraPaginator(BaseAPIPaginator[PageNumber]):
    """Follows the paginated shape's `pagination` block; the other two shapes are one page.

    Page 1 is the documented request (no page parameters). Later pages send only `page`, so
    every page uses the server's default `perPage`, the same size page 1 was cut with.
    """

    def __init__(self, stop_early: t.Callable[[], bool] | None = None) -> None:
        super().__init__(PageNumber(1))
        # Asked after each page: True once the rest of a newest-first list is older than needed.
        self._stop_early = stop_early

    def _page_numbers(self, response: requests.Response) -> tuple[int, int, int] | None:
        """(page, perPage, total) from the page's `pagination`; None for an unpaged shape."""
        pagination = page_of(response).meta.get("pagination")
        if not isinstance(pagination, dict):
            return None
        try:
            return (int(pagination.get("page") or self.current_value.number),
                    int(pagination["perPage"]), int(pagination["total"]))
        except (KeyError, TypeError, ValueError):
            return None

    @override
    def has_more(self, response: requests.Response) -> bool:
        numbers = self._page_numbers(response)
        if numbers is None or numbers[0] * numbers[1] >= numbers[2]:
            return False
        return not (self._stop_early is not None and self._stop_early())

    @override
    def get_next(self, response: requests.Response) -> PageNumber | None:
        numbers = self._page_numbers(response)
        return PageNumber((numbers[0] if numbers else self.current_value.number) + 1)


REPLY_SCHEMA = th.PropertiesList(
    th.Property("id", th.StringType, required=True, description="Reply id."),
    th.Property("email", th.StringType, description="Email address of the lead who replied."),
    th.Property("campaignId", th.StringType, description="Campaign of the outbound thread."),
    th.Property(
        "classification",
        th.StringType,
        # A plain string, not an enum: a label Leadterra adds later must not break the sync.
        description=f"Leadterra's intent label; documented values: {', '.join(CLASSIFICATIONS)}. "
                    "Labels added later are kept as sent.",
    ),
    th.Property("receivedAt", th.DateTimeType, description="When Leadterra received the reply."),
    th.Property("threadSnippet", th.StringType, description="Short excerpt of the reply body."),
)


class LeadterraRepliesStream(NewestFirstStream):
    """`GET /v1/replies[?campaignId=]`: every reply, newest first, one partition per campaign.

    No date filter: the list is read to its end or, paginated, until a page ends below the
    window's lower bound (the rest is older still: not asking for it is the same as reading it
    and dropping it). If the order was ever broken, every page is read.
    """

    spec = SPEC
    name = "leadterra_replies"
    path = "/v1/replies"
    primary_keys = ("id",)
    replication_key = "receivedAt"
    schema = REPLY_SCHEMA.to_dict()
    response_shape = REPLIES_SHAPE
    # Two of the three shapes are the whole list in one answer, however long it grows.
    streams_body = True
    campaigns_per_partition = 1
    campaign_param = "campaignId"
    # Kept as sent (a new label must not break the sync); said once per label.
    documented_values = {"classification": CLASSIFICATIONS}

    @override
    def get_new_paginator(self) -> LeadterraPaginator:
        return LeadterraPaginator(stop_early=self.read_past_lower_bound)


SDR_SCHEMA = th.PropertiesList(
    th.Property("id", th.StringType, required=True, description="SDR id."),
    th.Property("name", th.StringType),
    th.Property("email", th.StringType),
    th.Property("gmailConnected", th.BooleanType, description="Whether the SDR's Gmail is linked."),
    th.Property("gmailEmail", th.StringType, description="The linked Gmail address, if any."),
)


class LeadterraSdrsStream(ProviderStream):
    """`GET /v1/sdrs`: every SDR, full table."""

    spec = SPEC
    name = "leadterra_sdrs"
    path = "/v1/sdrs"
    primary_keys = ("id",)
    schema = full_table_schema(SDR_SCHEMA.to_dict())
    response_shape = SDRS_SHAPE


FOLLOWUP_SCHEMA = th.PropertiesList(
    th.Property("id", th.StringType, required=True, description="Follow-up id."),
    th.Property("threadId", th.StringType, description="Prospect thread the follow-up belongs to."),
    th.Property("sdrId", th.StringType, description="SDR who owns the follow-up."),
    th.Property("status", th.StringType),
    th.Property("dueAt", th.DateTimeType),
    # Sent beyond the documented five; declared so their types are known downstream.
    th.Property("replyId", th.StringType, description="Reply the prospect thread started from."),
    th.Property("step", th.IntegerType, description="Position in the follow-up sequence."),
    # Any further field the API sends is kept too (the issue asks for all of them).
    additional_properties=True,
)


class LeadterraFollowupsStream(ProviderStream):
    """`GET /v1/sdr/followups/due?limit=200`: the current due list, full table. The endpoint
    cuts it at `cap` with no paging: a full answer may be a cut one, so it is said rather than
    passed off as the whole list."""

    spec = SPEC
    name = "leadterra_followups"
    path = "/v1/sdr/followups/due"
    primary_keys = ("id",)
    schema = full_table_schema(FOLLOWUP_SCHEMA.to_dict())
    response_shape = FOLLOWUPS_SHAPE
    cap = FOLLOWUPS_LIMIT

    @override
    def get_url_params(self, context: Context | None, next_page_token: None) -> dict[str, t.Any]:
        return {"limit": self.cap}  # the most it gives


STREAMS: list[type[ProviderStream]] = [
    LeadterraRepliesStream,
    LeadterraSdrsStream,
    LeadterraFollowupsStream,
]
