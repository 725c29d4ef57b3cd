"""Smartlead: campaigns, their leads (incremental per campaign), master-inbox replies, categories.

Every request carries `?api_key=`; all streams share one rate budget per key (the base stream's
per-provider bucket). Reference: ../shared/api-docs/smartlead-*.txt and README.md.
"""

from __future__ import annotations

import datetime as dt
import sys
import typing as t

from singer_sdk import typing as th
from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.helpers.types import Context, Record
from singer_sdk.pagination import OffsetPaginator

from tap_replies.http.shapes import ListShape
from tap_replies.providers.base import ProviderStream, format_timestamp, parse_timestamp
from tap_replies.providers.newest_first import NewestFirstStream

if t.TYPE_CHECKING:
    import requests

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


# -- paging -------------------------------------------------------------------------------------


class TotalCountPaginator(OffsetPaginator):
    """Offset paging that stops on the response's total, so the last page is never followed by
    an empty probe. Advances by the rows received, in case the server sends fewer than asked.

    A total that shrinks between two pages means rows left the listing mid-sync (an inbox thread
    whose new reply moved it after the window's end, a deleted lead): every later row moved up
    by as many places, so the next request steps back by that much rather than skip the rows
    that slid under the offset. What it reads twice the stream drops or the warehouse upserts.
    """

    def __init__(
        self, start_value: int, page_size: int, *, total_key: str, items_key: str
    ) -> None:
        super().__init__(start_value, page_size)
        self.total_key = total_key
        self.items_key = items_key
        self._last_total: int | None = None
        self._read_up_to = start_value
        self._next = start_value

    def _page(self, response: requests.Response) -> tuple[int, int | None]:
        payload = ProviderStream.response_payload(response)
        if not isinstance(payload, dict):
            return 0, None
        items = payload.get(self.items_key)
        total = payload.get(self.total_key)
        count = len(items) if isinstance(items, list) else 0
        return count, total if isinstance(total, int) and not isinstance(total, bool) else None

    @override
    def has_more(self, response: requests.Response) -> bool:
        count, total = self._page(response)
        shrunk = (max(0, self._last_total - total)
                  if total is not None and self._last_total is not None else 0)
        self._last_total = total
        # Offsets below `_read_up_to` have been read; rows that left the listing move it back.
        self._read_up_to = max(self._read_up_to - shrunk, self.current_value + count)
        if shrunk and self.current_value > 0:
            self._next = max(0, self.current_value - shrunk)  # what slid under the offset
            return True
        self._next = self._read_up_to
        if count == 0:
            return False
        if total is None:  # no total after all: a short page is the last one
            return count >= self.page_size
        return self._next < total

    @override
    def get_next(self, response: requests.Response) -> int | None:
        return self._next


# -- streams ------------------------------------------------------------------------------------


class SmartleadStream(ProviderStream):
    """Base of the Smartlead streams: the key as a query parameter, Smartlead's error hints."""

    provider = "smartlead"
    provider_label = "Smartlead"

    @property
    @override
    def authenticator(self) -> APIKeyAuthenticator:
        # The key rides in the query string, so every URL holds it: the base never logs URLs,
        # and the tap registers the key with the redactor before the first request.
        return APIKeyAuthenticator(key="api_key", value=self.runtime.api_key, location="params")

    @override
    def error_hint(self, status: int) -> str:
        if status in (401, 403):
            return ("check smartlead.api_key (Settings → API key in Smartlead); "
                    "it is sent as the api_key query parameter")
        if status == 404:
            return ("check smartlead.campaign_ids (a campaign that does not exist or was deleted) "
                    "and smartlead.api_url")
        if status in (400, 422):
            return ("Smartlead rejected the request's parameters; this is a tap-replies bug, "
                    "please report it with this line")
        return super().error_hint(status)

    @property
    def campaign_ids(self) -> list[int]:
        return [int(value) for value in self.runtime.campaign_ids]


class SmartleadCampaignsStream(SmartleadStream):
    """Every campaign (one bare array, no paging), or those in smartlead.campaign_ids."""

    name = "smartlead_campaigns"
    path = "/api/v1/campaigns/"
    primary_keys = ("id",)
    replication_key = None
    schema = CAMPAIGN_SCHEMA
    response_shape = ListShape(bare=True)

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        listed: set[t.Any] = set()
        for record in super().get_records(context):
            listed.add(record.get("id"))
            yield record
        # A mistyped or deleted id would otherwise just yield nothing, silently.
        missing = [campaign_id for campaign_id in self.campaign_ids if campaign_id not in listed]
        if missing:
            self.logger.warning(
                "Smartlead: smartlead.campaign_ids %s not among the account's campaigns; "
                "check smartlead.campaign_ids", ", ".join(str(i) for i in missing))

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        # The endpoint has no campaign filter: restrict here, which also restricts the leads.
        wanted = self.campaign_ids
        if wanted and row.get("id") not in wanted:
            return None
        return super().post_process(row, context)

    @override
    def get_child_context(self, record: Record, context: Context | None) -> Context:
        return {"campaign_id": record["id"]}


class SmartleadCampaignLeadsStream(SmartleadStream):
    """The leads of each campaign, incremental per campaign through `event_time_gt`.

    A lead has no event-time field, so there is no replication key: each campaign's partition
    state holds its own bookmark instead.

        "event_time_gt": when the last complete read of this campaign started. The next sync asks
            for leads with an event after it (less EVENT_TIME_OVERLAP); the first has no filter.
            Written only once the campaign's last page was read.
        "resume": {"sync_started_at", "offset"}: written after every page but the last, so a killed
            run continues at that offset with the same filter and the same start (the read's, not
            the whole sync's, despite the key's name); dropped when the campaign is done.

    The stream is declared INCREMENTAL (`forced_replication_method`) because it only emits what
    changed: declared FULL_TABLE, a target honouring ACTIVATE_VERSION would delete every lead not
    re-sent. A catalog that forces FULL_TABLE gets a full read of every campaign instead.
    """

    name = "smartlead_campaign_leads"
    path = "/api/v1/campaigns/{campaign_id}/leads"
    parent_stream_type = SmartleadCampaignsStream
    primary_keys = ("campaign_id", "id")
    replication_key = None
    schema = LEAD_SCHEMA
    response_shape = ListShape(keys=("leads",))

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.forced_replication_method = "INCREMENTAL"
        self._partition: _LeadsRead | None = None

    @staticmethod
    def read_started_at() -> dt.datetime:
        """When a campaign's read starts: its next sync asks for what changed since then."""
        return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

    @property
    def incremental(self) -> bool:
        return self.replication_method == "INCREMENTAL"

    @override
    def get_new_paginator(self) -> TotalCountPaginator:
        start = self._partition.offset if self._partition else 0
        return TotalCountPaginator(start, LEADS_PAGE_SIZE, total_key="total", items_key="leads")

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: t.Any | None
    ) -> dict[str, t.Any]:
        read = self._require_partition()
        read.page_offset = int(next_page_token or 0)
        params: dict[str, t.Any] = {"offset": read.page_offset, "limit": LEADS_PAGE_SIZE}
        if read.event_time_gt is not None:
            params["event_time_gt"] = format_timestamp(read.event_time_gt - EVENT_TIME_OVERLAP)
        return params

    @override
    def extract_records(self, payload: t.Any) -> t.Iterable[dict[str, t.Any]]:
        leads = list(super().extract_records(payload))
        read = self._require_partition()
        total = payload.get("total")
        read.previous_total, read.total = read.total, total if isinstance(total, int) else None
        read.page_count = len(leads)
        return leads

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        ProviderStream.active = self  # a bad bookmark read below is named as ours
        state = self.get_context_state(context)
        resume = state.get("resume") if self.incremental else None
        started = parse_timestamp((resume or {}).get("sync_started_at"))
        if resume and started is not None and isinstance(resume.get("offset"), int):
            read = _LeadsRead(context, started, int(resume["offset"]),
                              state.get("event_time_gt"))
            self.logger.info("%s: resuming campaign %s at offset %d", self.name,
                             (context or {}).get("campaign_id"), read.offset)
        else:
            state.pop("resume", None)
            bookmark = state.get("event_time_gt") if self.incremental else None
            read = _LeadsRead(context, self.read_started_at(), 0, bookmark)
        self._partition = read
        try:
            yield from super().get_records(context)
        finally:
            self._partition = None
        # Every page was read: the next sync needs only what changed since this read started.
        state.pop("resume", None)
        if self.incremental:
            state["event_time_gt"] = format_timestamp(read.sync_started_at)

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        # The lead carries no campaign id of its own, and (campaign_id, id) is the key.
        row["campaign_id"] = (context or {}).get("campaign_id")
        return super().post_process(row, context)

    @override
    def on_page_done(self) -> None:
        read = self._partition
        if read is not None and self.incremental:
            next_offset = read.page_offset + read.page_count
            more = (next_offset < read.total if read.total is not None
                    else read.page_count >= LEADS_PAGE_SIZE)
            shrunk = (read.previous_total - read.total
                      if read.previous_total is not None and read.total is not None else 0)
            if shrunk > 0 and read.page_offset > 0:
                # As the paginator does: leads that left the list moved the rest up.
                next_offset, more = max(0, read.page_offset - shrunk), True
            if (read.page_count or shrunk > 0) and more:
                self.get_context_state(read.context)["resume"] = {
                    "sync_started_at": format_timestamp(read.sync_started_at),
                    "offset": next_offset,
                }
                # The SDK would otherwise write state only every 10,000 records.
                self.state_manager.is_flushed = False
                self._write_state_message()
        super().on_page_done()

    @override
    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        """No record-level bookmark (there is no replication key): see `get_records`."""

    def _require_partition(self) -> _LeadsRead:
        if self._partition is None:  # only when called outside get_records
            self._partition = _LeadsRead(None, self.read_started_at(), 0, None)
        return self._partition


class _LeadsRead:
    """What one campaign's read knows: its filter, where it started, the page it is on."""

    def __init__(
        self,
        context: Context | None,
        sync_started_at: dt.datetime,
        offset: int,
        event_time_gt: t.Any,
    ) -> None:
        self.context = context
        self.sync_started_at = sync_started_at
        self.offset = offset
        self.event_time_gt = parse_timestamp(event_time_gt)
        self.page_offset = offset
        self.page_count = 0
        self.previous_total: int | None = None
        self.total: int | None = None


class SmartleadInboxRepliesStream(NewestFirstStream, SmartleadStream):
    """Master-inbox replies, newest first, read in the window (bookmark or start_date, sync start].

    With smartlead.campaign_ids the ids go in partitions of at most five (the API's cap), each
    with its own bookmark (a changed list starts its new chunks from start_date). The API filters
    by reply time itself; `filters_client_side` stays on as a guard against a server that ignores
    the filter (it drops nothing when the server obeys).
    """

    name = "smartlead_inbox_replies"
    path = "/api/v1/master-inbox/inbox-replies"
    primary_keys = ("id",)
    replication_key = "received_at"
    response_shape = ListShape(keys=("messages",))

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.http_method = "POST"

    @property
    @override
    def schema(self) -> dict[str, t.Any]:
        # The thread is only in the catalog when it is asked for.
        return INBOX_SCHEMA_WITH_HISTORY if self.fetch_message_history else INBOX_SCHEMA

    @property
    def fetch_message_history(self) -> bool:
        return bool(self.runtime.settings.get("fetch_message_history"))

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]] | None:
        ids = self.campaign_ids
        if not ids:
            return None
        return [{"campaign_ids": ids[i:i + INBOX_MAX_CAMPAIGNS]}
                for i in range(0, len(ids), INBOX_MAX_CAMPAIGNS)]

    @override
    def _process_record(
        self,
        record: Record,
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        # The SDK copies partition keys into each record; a campaign chunk is a request filter,
        # not a field of the reply (it would be dropped with a warning as not in the schema).
        super()._process_record(record, child_context=child_context, partition_context=None)

    @override
    def get_new_paginator(self) -> TotalCountPaginator:
        return TotalCountPaginator(0, INBOX_PAGE_SIZE, total_key="total_count",
                                   items_key="messages")

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: t.Any | None
    ) -> dict[str, t.Any]:
        return {"fetch_message_history": "true" if self.fetch_message_history else "false"}

    @override
    def prepare_request_payload(
        self, context: Context | None, next_page_token: t.Any | None
    ) -> dict[str, t.Any]:
        lower, upper = self.window_bounds(context)
        filters: dict[str, t.Any] = {"replyTimeBetween": [lower or INBOX_FLOOR, upper]}
        if context and context.get("campaign_ids"):
            filters["campaignId"] = list(context["campaign_ids"])
        return {
            "offset": int(next_page_token or 0),
            "limit": INBOX_PAGE_SIZE,
            "filters": filters,
            "sortBy": "REPLY_TIME_DESC",
        }

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        last_message = row.get("last_message")
        row["received_at"] = (last_message.get("received_at")
                               if isinstance(last_message, dict) else None)
        # After the copy: the base reads the replication key to window and bookmark the record.
        return super().post_process(row, context)


class SmartleadLeadCategoriesStream(SmartleadStream):
    """The workspace's lead categories (a bare array)."""

    name = "smartlead_lead_categories"
    path = "/api/v1/leads/fetch-categories"
    primary_keys = ("id",)
    replication_key = None
    schema = CATEGORY_SCHEMA
    response_shape = ListShape(bare=True)


STREAMS: list[type[ProviderStream]] = [
    SmartleadCampaignsStream,
    SmartleadCampaignLeadsStream,
    SmartleadInboxRepliesStream,
    SmartleadLeadCategoriesStream,
]
