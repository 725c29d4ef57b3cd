"""Tuco AI: iMessage replies from `GET /api/replies` (the "Check Replies" page).

Bearer auth with `tuco.api_key`. One row per lead that replied, newest first by `respondedAtUtc`,
filtered on the server by inclusive `dateFrom`/`dateTo` bounds. No total or next-page field is
returned, so a page shorter than `limit` is the last one.
"""

from __future__ import annotations

import sys
import typing as t
from urllib.parse import parse_qs, urlsplit

import requests
from singer_sdk import typing as th
from singer_sdk.authenticators import BearerTokenAuthenticator

from tap_replies.http.shapes import ListShape
from tap_replies.providers.base import ProviderStream, server_message
from tap_replies.providers.newest_first import NewestFirstStream, TimeCursor, TimeCursorPaginator

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

# A version check rather than try/except: mypy (run for 3.11) understands this one.
if sys.version_info >= (3, 12):
    from typing import override
else:  # Python < 3.12
    from typing_extensions import override

# Tuco's documented maximum; asking for fewer would only cost more requests.
PAGE_SIZE = 100


class TucoStream(ProviderStream):
    """Bearer auth, the `{"replies": [...]}` shape and Tuco's error hints."""

    provider = "tuco"
    provider_label = "Tuco"
    response_shape = ListShape(keys=("replies",))  # the Check Replies page's only shape

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        # The failed request's query and the server's words: `error_hint` only gets the status.
        self._failed_query: dict[str, list[str]] = {}
        self._failed_message = ""

    @property
    @override
    def authenticator(self) -> BearerTokenAuthenticator:
        return BearerTokenAuthenticator(token=self.runtime.api_key)

    def rows_in(self, response: requests.Response) -> int:
        return sum(1 for _ in self.extract_records(self.response_payload(response)))

    @override
    def response_error_message(self, response: requests.Response) -> str:
        url = response.request.url if response.request is not None else response.url
        self._failed_query = parse_qs(urlsplit(url or "").query)
        self._failed_message = server_message(response).lower()
        return super().response_error_message(response)

    def _sent(self, name: str) -> str | None:
        values = self._failed_query.get(name)
        return values[0] if values else None

    @override
    def error_hint(self, status: int) -> str:
        campaign = self._sent("campaignId")
        about_campaign = campaign is not None and "campaign" in self._failed_message
        if status == 400:
            if about_campaign:
                return (f"campaign id {campaign!r} was refused as malformed — "
                        "fix tuco.campaign_ids")
            if "date" in self._failed_message:
                bounds = ", ".join(
                    f"{name}={value!r}" for name in ("dateFrom", "dateTo")
                    if (value := self._sent(name)) is not None
                )
                return (f"the date bounds were refused ({bounds or 'none sent'}) — check "
                        "start_date and the state's tuco_replies bookmark")
            return "check tuco.campaign_ids and start_date"
        if status == 401:
            return "check tuco.api_key"
        if status == 402:
            return ("the Tuco workspace is read-only (billing/plan) — reactivate it in Tuco; "
                    "nothing was changed")
        if status == 404:
            if about_campaign:
                return (f"campaign {campaign!r} was not found in this Tuco workspace — "
                        "fix tuco.campaign_ids")
            if "lead" in self._failed_message:
                return "the lead was not found or is not shared with this API key"
            return f"no {self.path} there — check tuco.api_url"
        return super().error_hint(status)


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


class TucoRepliesStream(TucoStream, NewestFirstStream):
    """One row per lead that replied; a lead replying again comes back with its new reply."""

    name = "tuco_replies"
    path = "/api/replies"
    primary_keys: t.ClassVar[list[str]] = ["leadId"]
    replication_key = "respondedAtUtc"
    # The server filters by dateFrom; dropping an older row here as well costs nothing and keeps
    # the bookmark honest against a deployment that ignores the parameter.
    filters_client_side = True

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
                                "tuco.campaign_ids; the SDK copies it from the partition)."),
    ).to_dict()

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]] | None:
        # One request series and one bookmark per campaign, so campaigns never hold each other back.
        campaign_ids = self.runtime.campaign_ids
        unique = dict.fromkeys(str(cid) for cid in campaign_ids)
        return [{"campaign_id": cid} for cid in unique] or None

    @override
    def get_new_paginator(self) -> TimeCursorPaginator:
        # No total is returned: a page shorter than `limit` is the last one.
        return TimeCursorPaginator(self, lambda response: self.rows_in(response) >= PAGE_SIZE)

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: TimeCursor | None
    ) -> dict[str, t.Any]:
        lower, upper = self.window_bounds(context)
        cursor = next_page_token or TimeCursor()
        params: dict[str, t.Any] = {"page": cursor.page, "limit": PAGE_SIZE}
        if context and context.get("campaign_id"):
            params["campaignId"] = context["campaign_id"]
        if lower is not None:
            params["dateFrom"] = lower
        params["dateTo"] = cursor.upper or upper
        return params


STREAMS: list[type[ProviderStream]] = [TucoRepliesStream]
