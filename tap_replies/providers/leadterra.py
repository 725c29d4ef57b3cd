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
from urllib.parse import parse_qs, urlsplit

import requests
from singer_sdk import typing as th
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.pagination import PageNumberPaginator

from tap_replies.http.shapes import ListShape
from tap_replies.providers.base import ProviderStream
from tap_replies.providers.newest_first import NewestFirstStream

if t.TYPE_CHECKING:
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


class LeadterraPaginator(PageNumberPaginator):
    """Follows the paginated shape's `pagination` block; the other two shapes are one page.

    Page 1 is the documented request (no page parameters). Later pages send only `page`, so
    every page uses the server's default `perPage`, the same size page 1 was cut with.
    """

    def __init__(self, stop_early: t.Callable[[], bool] | None = None) -> None:
        super().__init__(start_value=1)
        # Asked after each page: True once the rest of a newest-first list is older than needed.
        self._stop_early = stop_early

    @staticmethod
    def pagination(response: requests.Response) -> dict[str, t.Any] | None:
        meta = ProviderStream.page_meta(ProviderStream.response_payload(response))
        pagination = meta.get("pagination")
        return t.cast("dict[str, t.Any]", pagination) if isinstance(pagination, dict) else None

    @override
    def has_more(self, response: requests.Response) -> bool:
        pagination = self.pagination(response)
        if pagination is None:
            return False
        try:
            page = int(pagination.get("page") or self.current_value)
            per_page = int(pagination["perPage"])
            total = int(pagination["total"])
        except (KeyError, TypeError, ValueError):
            return False
        if page * per_page >= total:
            return False
        return not (self._stop_early is not None and self._stop_early())

    @override
    def get_next(self, response: requests.Response) -> int | None:
        pagination = self.pagination(response) or {}
        try:
            return int(pagination.get("page") or self.current_value) + 1
        except (TypeError, ValueError):
            return self.current_value + 1


class LeadterraStream(ProviderStream):
    """Bearer auth, the three list shapes, and error hints that name the campaign asked for."""

    provider = "leadterra"
    provider_label = "Leadterra"

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._failed_campaign_id: str | None = None

    @property
    @override
    def authenticator(self) -> BearerTokenAuthenticator:
        return BearerTokenAuthenticator(token=self.runtime.api_key)

    @override
    def get_new_paginator(self) -> PageNumberPaginator:
        return LeadterraPaginator()


    @override
    def response_error_message(self, response: requests.Response) -> str:
        # The hint must name the campaign the failing request asked for; only the URL knows it.
        query = parse_qs(urlsplit(response.url or "").query)
        campaigns = query.get("campaignId")
        self._failed_campaign_id = campaigns[0] if campaigns else None
        try:
            return super().response_error_message(response)
        finally:
            self._failed_campaign_id = None

    @override
    def error_hint(self, status: int) -> str:
        campaign = self._failed_campaign_id
        if campaign is not None and status == 404:
            return (f"campaign '{campaign}' is not in this workspace: "
                    f"fix {self.provider}.campaign_ids")
        if campaign is not None and status in (400, 422):
            return (f"campaign id '{campaign}' was rejected as malformed: "
                    f"fix {self.provider}.campaign_ids")
        return super().error_hint(status)


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


class LeadterraRepliesStream(LeadterraStream, NewestFirstStream):
    """`GET /v1/replies[?campaignId=]`: every reply, newest first, one partition per campaign."""

    name = "leadterra_replies"
    path = "/v1/replies"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = "receivedAt"
    schema = REPLY_SCHEMA.to_dict()
    response_shape = REPLIES_SHAPE
    # Two of the three shapes are the whole list in one answer, however long it grows.
    streams_body = True

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._new_labels: set[t.Any] = set()

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]] | None:
        campaigns = dict.fromkeys(str(c) for c in self.runtime.campaign_ids)
        return [{"campaign_id": c} for c in campaigns] or None

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: int | None
    ) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {}
        if context and context.get("campaign_id"):
            params["campaignId"] = context["campaign_id"]
        if next_page_token and next_page_token > 1:
            params["page"] = next_page_token
        return params

    @override
    def get_new_paginator(self) -> PageNumberPaginator:
        return LeadterraPaginator(stop_early=self._read_past_lower_bound)

    @override
    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        label = row.get("classification")
        if label is not None and label not in CLASSIFICATIONS and label not in self._new_labels:
            # Kept as sent (a new label must not break the sync); said once per label.
            self._new_labels.add(label)
            self.logger.warning(
                "%s: classification %r is not one of Leadterra's documented labels; kept as "
                "sent (the unified model counts it as unknown)", self.name, label)
        return super().post_process(row, context)

    def _read_past_lower_bound(self) -> bool:
        """True once a page ended below the window's lower bound, the list being newest first.

        The rest of the list is then older still and would all be dropped: not asking for it is
        the same as reading it to the end. If the order was ever broken, every page is read.
        """
        if self._current is None:
            return False
        window = self._current[1]
        return (window.in_order and window.lower is not None and window.oldest_seen is not None
                and window.oldest_seen < window.lower)


SDR_SCHEMA = th.PropertiesList(
    th.Property("id", th.StringType, required=True, description="SDR id."),
    th.Property("name", th.StringType),
    th.Property("email", th.StringType),
    th.Property("gmailConnected", th.BooleanType, description="Whether the SDR's Gmail is linked."),
    th.Property("gmailEmail", th.StringType, description="The linked Gmail address, if any."),
)


class LeadterraSdrsStream(LeadterraStream):
    """`GET /v1/sdrs`: every SDR, full table."""

    name = "leadterra_sdrs"
    path = "/v1/sdrs"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema = SDR_SCHEMA.to_dict()
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


class LeadterraFollowupsStream(LeadterraStream):
    """`GET /v1/sdr/followups/due?limit=200`: the current due list, full table."""

    name = "leadterra_followups"
    path = "/v1/sdr/followups/due"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema = FOLLOWUP_SCHEMA.to_dict()
    response_shape = FOLLOWUPS_SHAPE

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: int | None
    ) -> dict[str, t.Any]:
        return {"limit": FOLLOWUPS_LIMIT}

    @override
    def on_page_done(self) -> None:
        if self.records_emitted >= FOLLOWUPS_LIMIT:
            # A full answer may be a cut one: say so rather than pass it off as the whole list.
            self.logger.warning(
                "%s: %d due follow-ups, the most this endpoint returns; any beyond them "
                "cannot be read", self.name, self.records_emitted,
            )
        super().on_page_done()


STREAMS: list[type[ProviderStream]] = [
    LeadterraRepliesStream,
    LeadterraSdrsStream,
    LeadterraFollowupsStream,
]
