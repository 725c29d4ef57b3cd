"""Smartlead: campaigns, their leads (incremental per campaign), master-inbox replies, categories.

Every request carries `?api_key=`; all streams share one rate budget per key (the provider's one
`ProviderClient`). Reference: ../shared/api-docs/smartlead-*.txt and README.md.
"""

from __future__ import annotations

import datetime as dt
import sys
import typing as t
from dataclasses import dataclass
from functools import cached_property

from singer_sdk import typing as th

from tap_replies.http.paging import OffsetPosition, TotalCountPaginator
from tap_replies.http.shapes import ListShape
from tap_replies.providers.base import ProviderStream
from tap_replies.providers.changed_since import ChangedSinceStream
from tap_replies.providers.full_table import full_table_schema
from tap_replies.providers.newest_first import NewestFirstStream
from tap_replies.settings import ProviderSpec, query_param_auth
from tap_replies.timestamps import parse_timestamp

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context, Record

if sys.version_info >= (3, 12):
    from typing import override
else:  # Python < 3.12
    from typing_extensions import override

LEADS_PAGE_SIZE = 100  # the leads endpoint's maximum
INBOX_PAGE_SIZE = 20  # the master inbox's maximum
INBOX_MAX_CAMPAIGNS = 5  # the master inbox answers 422 past 5 campaign ids
# No bound at all would also be accepted, but the docs only show replyTimeBetween with both ends.
INBOX_FLOOR = "2000-01-01T00:00:00Z"
# The bookmark is our clock's reading, the filter compares it with Smartlead's event times
# (second precision, strictly "greater than"). An event in the very second a read started, or one
# that our clock, running a little ahead of Smartlead's, dates after it, would be lost without an
# overlap: five minutes covers any sane clock skew, and costs only re-reading the leads that
# changed in those minutes (upserted by primary key).
EVENT_TIME_OVERLAP = dt.timedelta(minutes=5)


def smartlead_hint(response: requests.Response) -> str | None:
    """Smartlead's fixes for a refused request."""
    status = response.status_code
    if status in (401, 403):
        return ("check smartlead.api_key (Settings → API key in Smartlead); "
                "it is sent as the api_key query parameter")
    if status == 404:
        return ("check smartlead.campaign_ids (a campaign that does not exist or was deleted) "
                "and smartlead.api_url")
    if status in (400, 422):
        return ("Smartlead rejected the request's parameters; this is a tap-replies bug, "
                "please report it with this line")
    return None


SPEC = ProviderSpec(
    "smartlead", "Smartlead", "https://server.smartlead.ai", requests_per_minute=60,
    campaign_ids_are_integers=True, error_hint=smartlead_hint, auth=query_param_auth("api_key"),
    extra_settings=(
        th.Property("fetch_message_history", th.BooleanType, default=False,
                    description="Passed to the master-inbox endpoint: include each reply's full "
                                "thread."),
        th.Property("idle_campaign_sweep_minutes", th.IntegerType,
                    description="Read the leads of an idle campaign (paused, completed, stopped "
                                "or drafted, its updated_at unchanged) at most once per this many "
                                "minutes instead of every run; a change there arrives within it. "
                                "Default: every campaign every run."),
    ),
)

# -- schema fragments ---------------------------------------------------------------------------


def _named_ref() -> th.ObjectType:
    """`{id, name}`: a campaign or a category as other records refer to it."""
    return th.ObjectType(th.Property("id", th.IntegerType), th.Property("name", th.StringType))


def _mailbox_ref() -> th.ObjectType:
    """`{id, email, name}`: a sending account or a teammate as a reply refers to it."""
    return th.ObjectType(th.Property("id", th.IntegerType), th.Property("email", th.StringType),
                         th.Property("name", th.StringType))


EMAIL_STATS = th.ObjectType(
    th.Property("is_opened", th.BooleanType),
    th.Property("is_clicked", th.BooleanType),
    th.Property("is_replied", th.BooleanType),
    th.Property("is_bounced", th.BooleanType),
)
# Free-form: each workspace defines its own keys, so nothing is declared and nothing is dropped.
CUSTOM_FIELDS = th.ObjectType(additional_properties=True)

CAMPAIGN_SCHEMA = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType),
    th.Property("status", th.StringType),
    th.Property("created_at", th.DateTimeType),
    th.Property("updated_at", th.DateTimeType),
).to_dict()

LEAD_SCHEMA = th.PropertiesList(
    th.Property("campaign_id", th.IntegerType, required=True,
                description="The campaign this lead row belongs to (from the request path)."),
    th.Property("id", th.IntegerType, required=True),
    th.Property("email", th.StringType),
    th.Property("first_name", th.StringType),
    th.Property("last_name", th.StringType),
    th.Property("company_name", th.StringType),
    th.Property("status", th.StringType),
    th.Property("category_id", th.IntegerType),
    th.Property("category_name", th.StringType),
    th.Property("created_at", th.DateTimeType),
    th.Property("last_sent_time", th.DateTimeType),
    th.Property("email_stats", EMAIL_STATS),
    th.Property("custom_fields", CUSTOM_FIELDS),
).to_dict()

_INBOX_PROPERTIES = (
    th.Property("id", th.StringType, required=True),
    th.Property("received_at", th.DateTimeType,
                description="last_message.received_at, copied to the top level for indexing."),
    th.Property("campaign_lead_map_id", th.StringType),
    th.Property("lead", th.ObjectType(
        th.Property("email", th.StringType),
        th.Property("first_name", th.StringType),
        th.Property("last_name", th.StringType),
        th.Property("company", th.StringType),
        th.Property("phone", th.StringType),
    )),
    th.Property("campaign", _named_ref()),
    th.Property("email_account", _mailbox_ref()),
    th.Property("last_message", th.ObjectType(
        th.Property("id", th.StringType),
        th.Property("subject", th.StringType),
        th.Property("body", th.StringType),
        th.Property("received_at", th.DateTimeType),
        th.Property("sent_from", th.StringType),
        th.Property("sent_to", th.StringType),
    )),
    th.Property("email_status", th.StringType),
    th.Property("category", _named_ref()),
    th.Property("assigned_to", _mailbox_ref()),
    th.Property("stats", th.ObjectType(
        th.Property("total_sent", th.IntegerType),
        th.Property("total_opened", th.IntegerType),
        th.Property("total_clicked", th.IntegerType),
        th.Property("total_replied", th.IntegerType),
        th.Property("last_activity", th.DateTimeType),
    )),
    th.Property("is_read", th.BooleanType),
    th.Property("is_important", th.BooleanType),
    th.Property("is_archived", th.BooleanType),
    th.Property("tags", th.ArrayType(th.StringType)),
)
INBOX_SCHEMA = th.PropertiesList(*_INBOX_PROPERTIES).to_dict()
# The thread's shape is not documented: each message is kept whole, whatever its keys.
INBOX_SCHEMA_WITH_HISTORY = th.PropertiesList(
    *_INBOX_PROPERTIES,
    th.Property("history", th.ArrayType(th.ObjectType(additional_properties=True)),
                description="The full thread; only with smartlead.fetch_message_history."),
).to_dict()

CATEGORY_SCHEMA = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType),
    # Documented as positive, negative or neutral; not an enum in the schema, so a sentiment
    # Smartlead adds later (or a null) is still loaded rather than dropped as a type drift.
    th.Property("sentiment_type", th.StringType,
                description="positive, negative or neutral (as documented)."),
    th.Property("created_at", th.DateTimeType),
).to_dict()


# -- the streams --------------------------------------------------------------------------------


class SmartleadCampaignsStream(ProviderStream):
    """Every campaign, or those in smartlead.campaign_ids: the endpoint has no campaign filter,
    so the ids are applied here (which also restricts the leads, read per campaign), and an id
    the account does not list is warned about rather than yielding nothing silently."""

    spec = SPEC
    name = "smartlead_campaigns"
    path = "/api/v1/campaigns/"
    primary_keys = ("id",)
    replication_key = None
    schema = full_table_schema(CAMPAIGN_SCHEMA)
    response_shape = ListShape(bare=True)
    campaign_filter_field = "id"

    @override
    def get_child_context(self, record: Record, context: Context | None) -> Context:
        # Status and updated_at let the leads skip an idle campaign (IdleCampaigns); the state
        # is kept per campaign_id alone (the leads' state_partitioning_keys).
        return {"campaign_id": record["id"], "campaign_status": record.get("status"),
                "campaign_updated_at": record.get("updated_at")}


# Campaign statuses that send nothing (the sandbox's; Smartlead documents none): an unknown
# status counts as running, so it is read every run.
IDLE_STATUSES = frozenset({"PAUSED", "COMPLETED", "STOPPED", "DRAFTED", "ARCHIVED"})


@dataclass(frozen=True)
class IdleCampaigns:
    """Which campaigns' leads may wait (smartlead.idle_campaign_sweep_minutes): an idle campaign
    whose last complete read started less than `sweep` ago and whose updated_at has not moved
    since. Its bookmark stays, so the read that comes within `sweep` asks for every change since
    the last one: a change waits, it is never lost."""

    sweep: dt.timedelta | None

    def may_wait(self, context: Context | None, state: t.Mapping[str, t.Any],
                 now: dt.datetime) -> bool:
        context = context or {}
        last_read = parse_timestamp(state.get("event_time_gt"))
        updated = parse_timestamp(context.get("campaign_updated_at"))
        return (self.sweep is not None and last_read is not None and "resume" not in state
                and context.get("campaign_status") in IDLE_STATUSES
                and updated is not None and updated < last_read
                and now - last_read < self.sweep)


class SmartleadCampaignLeadsStream(ChangedSinceStream):
    """The leads of each campaign, incremental per campaign through `event_time_gt`; an idle
    campaign's only once per smartlead.idle_campaign_sweep_minutes when that is set."""

    spec = SPEC
    name = "smartlead_campaign_leads"
    path = "/api/v1/campaigns/{campaign_id}/leads"
    parent_stream_type = SmartleadCampaignsStream
    primary_keys = ("campaign_id", "id")  # the campaign id comes from the request's path
    schema = LEAD_SCHEMA
    response_shape = ListShape(keys=("leads",))
    since_param = "event_time_gt"
    since_overlap = EVENT_TIME_OVERLAP
    page_size = LEADS_PAGE_SIZE
    state_partitioning_keys = ("campaign_id",)  # not the campaign's status and updated_at

    @cached_property
    def idle_campaigns(self) -> IdleCampaigns:
        minutes = self.settings.options.get("idle_campaign_sweep_minutes")
        return IdleCampaigns(dt.timedelta(minutes=minutes) if minutes else None)

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        if self.incremental and self.idle_campaigns.may_wait(
                context, self.get_context_state(context), self.read_started_at()):
            self.logger.info("%s: campaign %s is idle and was read within "
                             "smartlead.idle_campaign_sweep_minutes; not read this run",
                             self.name, (context or {}).get("campaign_id"))
            return
        yield from super().get_records(context)


class SmartleadInboxRepliesStream(NewestFirstStream):
    """Master-inbox replies, newest first, read in the window (bookmark or start_date, sync start]:
    a POST whose body holds the window (`replyTimeBetween`), the campaign chunk and the offset;
    each thread whole only with fetch_message_history.

    With smartlead.campaign_ids the ids go in partitions of at most five (the API's cap), each
    with its own bookmark (a changed list starts its new chunks from start_date). The API filters
    by reply time itself; `filters_client_side` stays on as a guard against a server that ignores
    the filter (it drops nothing when the server obeys).
    """

    spec = SPEC
    http_method = "POST"
    name = "smartlead_inbox_replies"
    path = "/api/v1/master-inbox/inbox-replies"
    primary_keys = ("id",)
    replication_key = "received_at"
    response_shape = ListShape(keys=("messages",))
    campaigns_per_partition = INBOX_MAX_CAMPAIGNS
    lifted_fields = {"received_at": ("last_message", "received_at")}
    page_size = INBOX_PAGE_SIZE

    @property
    def fetch_message_history(self) -> bool:
        return bool(self.settings.options.get("fetch_message_history"))

    @property
    @override
    def schema(self) -> dict[str, t.Any]:
        # The thread is only in the catalog when it is asked for.
        return INBOX_SCHEMA_WITH_HISTORY if self.fetch_message_history else INBOX_SCHEMA

    @override
    def get_new_paginator(self) -> TotalCountPaginator:
        return TotalCountPaginator(0, self.page_size, total_key="total_count", in_body=True)

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: OffsetPosition | None
    ) -> dict[str, t.Any]:
        history = "true" if self.fetch_message_history else "false"
        return {**super().get_url_params(context, next_page_token),
                "fetch_message_history": history}

    @override
    def prepare_request_payload(
        self, context: Context | None, next_page_token: OffsetPosition | None
    ) -> dict[str, t.Any]:
        lower, upper = self.window_bounds(context)
        filters: dict[str, t.Any] = {"replyTimeBetween": [lower or INBOX_FLOOR, upper]}
        if context and context.get("campaign_ids"):
            filters["campaignId"] = list(context["campaign_ids"])
        position = super().prepare_request_payload(context, next_page_token)  # offset, limit
        return {**(position or {}), "filters": filters, "sortBy": "REPLY_TIME_DESC"}


class SmartleadLeadCategoriesStream(ProviderStream):
    """The workspace's lead categories (a bare array)."""

    spec = SPEC
    name = "smartlead_lead_categories"
    path = "/api/v1/leads/fetch-categories"
    primary_keys = ("id",)
    replication_key = None
    schema = full_table_schema(CATEGORY_SCHEMA)
    response_shape = ListShape(bare=True)


STREAMS: list[type[ProviderStream]] = [
    SmartleadCampaignsStream,
    SmartleadCampaignLeadsStream,
    SmartleadInboxRepliesStream,
    SmartleadLeadCategoriesStream,
]
