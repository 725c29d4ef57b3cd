"""Tuco AI: iMessage replies from `GET /api/replies` (the "Check Replies" page).

Bearer auth with `tuco.api_key`. One row per lead that replied, newest first by `respondedAtUtc`,
filtered on the server by inclusive `dateFrom`/`dateTo` bounds. No total or next-page field is
returned, so a page shorter than `limit` is the last one.
"""

from __future__ import annotations

import sys
import typing as t

from singer_sdk import typing as th

from tap_replies.http.errors import query_value, server_message
from tap_replies.http.paging import TimeCursor, TimeCursorPaginator
from tap_replies.http.shapes import ListShape
from tap_replies.providers.base import ProviderStream
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

# Tuco's documented maximum; asking for fewer would only cost more requests.
PAGE_SIZE = 100


def tuco_hint(response: requests.Response) -> str | None:
    """Tuco's fixes for a refused request, from what was sent and what the server said."""
    status, said = response.status_code, server_message(response).lower()
    campaign = query_value(response, "campaignId")
    about_campaign = campaign is not None and "campaign" in said
    if status == 400 and about_campaign:
        return f"campaign id {campaign!r} was refused as malformed — fix tuco.campaign_ids"
    if status == 400 and "date" in said:
        bounds = ", ".join(f"{name}={value!r}" for name in ("dateFrom", "dateTo")
                           if (value := query_value(response, name)) is not None)
        return (f"the date bounds were refused ({bounds or 'none sent'}) — check start_date "
                "and the state's tuco_replies bookmark")
    if status == 404 and about_campaign:
        return (f"campaign {campaign!r} was not found in this Tuco workspace — "
                "fix tuco.campaign_ids")
    if status == 404 and "lead" in said:
        return "the lead was not found or is not shared with this API key"
    path = response.request.path_url.split("?")[0] if response.request else "the path"
    return {
        400: "check tuco.campaign_ids and start_date",
        401: "check tuco.api_key",
        402: "the Tuco workspace is read-only (billing/plan) — reactivate it in Tuco; nothing "
             "was changed",
        404: f"no {path} there — check tuco.api_url",
    }.get(status)


SPEC = ProviderSpec("tuco", "Tuco AI", "https://app.tuco.ai", requests_per_minute=120,
                    error_hint=tuco_hint)


def _message_properties() -> list[th.Property]:
    """What every Tuco message has, inbound or outbound."""
    return [
        th.Property("messageId", th.StringType),
        th.Property("message", th.StringType),
    ]


RECENT_REPLY = th.ObjectType(
    *_message_properties(),
    th.Property("receivedAtUtc", th.DateTimeType),
)
PARENT_MESSAGE = th.ObjectType(
    *_message_properties(),
    th.Property("sentAtUtc", th.DateTimeType),
    th.Property("batchId", th.StringType),
    th.Property("stepIndex", th.IntegerType),
)


class TucoRepliesStream(NewestFirstStream):
    """One row per lead that replied; a lead replying again comes back with its new reply. The
    Check Replies page's one shape and parameters: a newest-first list filtered by inclusive
    `dateFrom`/`dateTo`, paged by lowering `dateTo` (TimeCursorPaginator)."""

    spec = SPEC
    name = "tuco_replies"
    path = "/api/replies"
    primary_keys = ("leadId",)
    replication_key = "respondedAtUtc"
    # The server filters by dateFrom; dropping an older row here as well costs nothing and keeps
    # the bookmark honest against a deployment that ignores the parameter.
    filters_client_side = True
    # One request series and one bookmark per campaign, so campaigns never hold each other back.
    campaigns_per_partition = 1
    campaign_param = "campaignId"
    response_shape = ListShape(keys=("replies",))  # the Check Replies page's only shape
    page_size = PAGE_SIZE

    schema = th.PropertiesList(
        th.Property("leadId", th.StringType, required=True),
        th.Property("messageId", th.StringType, description="The lead's newest reply."),
        th.Property("message", th.StringType),
        th.Property("respondedAtUtc", th.DateTimeType),
        th.Property("recipientPhone", th.StringType),
        th.Property("recipientEmail", th.StringType),
        th.Property("name", th.StringType),
        th.Property("recentReplies", th.ArrayType(RECENT_REPLY),
                    description="Up to 10 replies from the lead, newest first."),
        th.Property("parentMessages", th.ArrayType(PARENT_MESSAGE),
                    description="Up to 10 messages sent to the lead, newest first."),
        # Tuco's rows name no campaign; the tap knows it when it asked per campaign.
        th.Property("campaign_id", th.StringType,
                    description="The campaign the reply was read for (only with "
                                "tuco.campaign_ids; copied from the partition)."),
    ).to_dict()

    @override
    def get_new_paginator(self) -> TimeCursorPaginator:
        window = self.current_window
        assert window is not None  # set by get_records before the first request
        return TimeCursorPaginator(window.upper, self.page_size,
                                   timestamp_key=t.cast("str", self.replication_key))

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: TimeCursor | None
    ) -> dict[str, t.Any]:
        lower, _ = self.window_bounds(context)
        params = super().get_url_params(context, next_page_token)  # page, limit, dateTo
        return {**params, "dateFrom": lower} if lower is not None else params


STREAMS: list[type[ProviderStream]] = [TucoRepliesStream]
