"""The base of every stream: a provider's settings and request path in, checked records out.

A stream is a declaration: its provider's `spec` (settings, auth, error hints), name, path, keys,
replication key, schema, `response_shape` (where the endpoint puts its records, as documented: any
other answer stops the stream), and its quirks as class attributes:

- `streams_body`: an unpaged list of any length; the body is spooled and decoded a record at a time.
- `campaigns_per_partition`: with `<provider>.campaign_ids`, one partition per this many campaigns
  ({"campaign_id": id} for one, {"campaign_ids": [...]} for more); `campaign_param`: the query
  parameter a `campaign_id` is sent as.
- `campaign_filter_field`: the endpoint cannot filter by campaign, so the tap keeps the records
  whose this field is among the wanted ids (and warns of a wanted id the list lacks).
- `lifted_fields`: values copied to the top level, {"received_at": ("last_message", "received_at")}.
- `documented_values`: values a field is documented to take; another is kept, with one warning.
- `total_keys`: where a page states the size of the whole list (for progress).
- `cap`: the most records an unpaged endpoint returns; reaching it is said.
- `http_method = "POST"`, a paginator and the request's filters: the leaf's own.

At most one replication strategy sits between this base and the leaf (newest_first.py,
changed_since.py). The work lives in collaborators: the request path (http/client.py), the page
(pages.py), the record (record_gate.py, record_shape.py, record_messages.py), progress.

The SDK's bare line about a failed stream goes to DEBUG (`SDK_FAILURE_LINE_TO_DEBUG`): the
tap's own (naming provider, endpoint and fix) is then the only ERROR. The paginator's token puts
its own position in the request (`position_fields`, http/paging.py). `generate_child_contexts`
builds none for a stream without children (the SDK would build one per record), and the SDK's
per-value conformance runs only for a record whose own check found a drift it could not put
right (`RecordGate.conforms`).
"""

from __future__ import annotations

import logging
import sys
import typing as t
from functools import cached_property

from singer_sdk import RESTStream
from singer_sdk.exceptions import SyncLifecycleSignal
from singer_sdk.pagination import SinglePagePaginator

from tap_replies.http.client import RequestStats
from tap_replies.http.errors import (
    Endpoint,
    ProviderError,
    UnexpectedFailure,
    unexpected_error_line,
)
from tap_replies.http.paging import position_fields
from tap_replies.http.shapes import page_of
from tap_replies.progress import Progress
from tap_replies.providers.full_table import full_table_read
from tap_replies.providers.pages import campaign_partitions, check_page, page_records
from tap_replies.providers.record_gate import RecordGate
from tap_replies.providers.record_messages import lean_record_messages
from tap_replies.sdk_hooks import set_record_conformance, write_state_now

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.authenticators import APIAuthenticatorBase
    from singer_sdk.helpers.types import Context, Record
    from singer_sdk.pagination import BaseAPIPaginator
    from singer_sdk.singerlib import RecordMessage

    from tap_replies.http.client import ProviderClient
    from tap_replies.http.shapes import ListShape
    from tap_replies.settings import ProviderSettings, ProviderSpec
    from tap_replies.tap import TapReplies

# A version check rather than try/except: mypy (run for 3.11) understands this one.
if sys.version_info >= (3, 12):
    from typing import override
else:  # Python < 3.12
    from typing_extensions import override

__all__ = ["ProviderError", "ProviderStream"]


class ProviderStream(RESTStream[t.Any]):
    """Pages checked (pages.py) and checkpointed after; each record through the `RecordGate`."""

    spec: t.ClassVar[ProviderSpec]
    response_shape: t.ClassVar[ListShape]
    streams_body: t.ClassVar[bool] = False
    campaigns_per_partition: t.ClassVar[int] = 0
    campaign_param: t.ClassVar[str | None] = None
    campaign_filter_field: t.ClassVar[str | None] = None
    lifted_fields: t.ClassVar[t.Mapping[str, tuple[str, str]]] = {}
    documented_values: t.ClassVar[t.Mapping[str, tuple[str, ...]]] = {}
    total_keys: t.ClassVar[tuple[str, ...]] = ("total", "total_count", "pagination.total")
    cap: t.ClassVar[int] = 0
    _LOG_REQUEST_METRIC_URLS = False  # never log URLs: Smartlead's key rides in the query

    def __init__(self, tap: TapReplies, **kwargs: t.Any) -> None:
        # Before the SDK's constructor: it reads the schema, which may depend on a setting.
        self.client: ProviderClient = tap.client_for(self.spec.name)
        self.settings: ProviderSettings = self.client.settings
        super().__init__(tap=tap, **kwargs)
        self.request_stats, self.write_message = RequestStats(), tap.write_message
        self.progress = Progress(self.name, self.client.clock, self.logger)
        self.client.configure(self.requests_session, stream_bodies=self.streams_body)
        self.endpoint = Endpoint(self.spec.name, self.spec.label, self.http_method, self.path or "")
        self.logger.addFilter(SDK_FAILURE_LINE_TO_DEBUG)  # once per logger: the same filter

    @property
    @override
    def authenticator(self) -> APIAuthenticatorBase:
        return self.spec.auth(self.settings.api_key)

    @property
    @override
    def url_base(self) -> str:
        return self.settings.api_url

    @property
    @override
    def timeout(self) -> int:
        return self.settings.request_timeout

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]] | None:
        return campaign_partitions(self.campaigns_per_partition, self.settings.campaign_ids)

    @override
    def request_decorator(self, func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        return self.client.retrying(func, self)

    def wait(self, seconds: float) -> None:  # the request path's waits, logged as progress
        self.progress.wait(seconds)

    def checkpoint(self, *, changed: bool = False) -> None:
        write_state_now(self, changed=changed)

    @override
    def get_new_paginator(self) -> BaseAPIPaginator[t.Any]:
        return SinglePagePaginator()  # a list is one page unless its leaf says how it pages

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        campaign = (context or {}).get("campaign_id")
        params = {self.campaign_param: campaign} if self.campaign_param and campaign else {}
        return {**params, **position_fields(next_page_token, in_body=False)}

    @override
    def prepare_request_payload(self, context: Context | None, next_page_token: t.Any
                                ) -> dict[str, t.Any] | None:
        return position_fields(next_page_token, in_body=True) or None

    @override
    def validate_response(self, response: requests.Response) -> None:
        check_page(response, self.endpoint, self.response_shape, streams_body=self.streams_body,
                   hint=self.spec.error_hint)

    @override
    def parse_response(self, response: requests.Response) -> t.Iterable[dict[str, t.Any]]:
        yield from page_records(response, self.endpoint)
        self.on_page_done(response)  # the consumer has emitted every record of the page by now
        self.progress.page_done(page_of(response).total(*self.total_keys))

    def on_page_done(self, response: requests.Response) -> None:
        """A checkpoint (a strategy adds to the state first), not one per 10,000 records."""
        self.progress.warn_if_capped(self.cap)
        self.checkpoint()

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        self.progress.partition_started()
        try:  # a full-table read stamps its records and logs itself once complete
            yield from full_table_read(self, super().get_records(context))
        except (ProviderError, SyncLifecycleSignal):
            raise
        except Exception as exc:
            raise unexpected(self, exc) from exc
        self.gate.warn_of_missing_campaigns(self.spec.name)

    @cached_property
    def gate(self) -> RecordGate:
        return RecordGate(
            self.name, self.effective_schema, self.logger,
            primary_keys=tuple(self.primary_keys or ()), lifted_fields=self.lifted_fields,
            documented_values=self.documented_values, provider_label=self.spec.label,
            campaign_filter=(self.campaign_filter_field, self.settings.campaign_ids))

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None
                     ) -> dict[str, t.Any] | None:
        try:
            conforms = self.gate.conforms(row, context, self.admit)
            if conforms is None:
                return None
            self.progress.records_emitted += 1
            self.emitted(row, context)
        except ProviderError:
            raise
        except Exception as exc:
            raise unexpected(self, exc) from exc
        set_record_conformance(self, needed=not conforms)
        return row

    def admit(self, row: dict[str, t.Any], context: Context | None) -> bool:
        return True  # a replication strategy may skip some records

    def emitted(self, row: dict[str, t.Any], context: Context | None) -> None:
        """Called for each record about to be emitted."""

    @override
    def _process_record(self, record: dict[str, t.Any], child_context: Context | None = None,
                        partition_context: Context | None = None) -> None:
        # Without the partition: the gate copied the keys the schema declares (sdk_hooks.py).
        super()._process_record(record, child_context=child_context, partition_context=None)

    @override
    def _generate_record_messages(self, record: Record) -> t.Generator[RecordMessage, None, None]:
        lean = lean_record_messages(self, record, self.gate)
        yield from super()._generate_record_messages(record) if lean is None else lean

    @override
    def generate_child_contexts(self, record: Record, context: Context | None
                                ) -> t.Iterable[Context | None]:
        return super().generate_child_contexts(record, context) if self.child_streams else ()

    @override
    def finalize_state_progress_markers(self, state: dict | None = None) -> None:
        super().finalize_state_progress_markers(state)
        if not state and self.selected:  # once per stream, right after its sync: its summary
            self.logger.info("%s", self.progress.summary_line(
                self.request_stats, *self.gate.check.notes()))


class _SdkFailureLineToDebug(logging.Filter):
    """The SDK's "An unhandled error occurred" line, logged at DEBUG instead of ERROR."""

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or not str(record.msg).startswith(
                "An unhandled error occurred"):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


SDK_FAILURE_LINE_TO_DEBUG = _SdkFailureLineToDebug()


def unexpected(stream: ProviderStream, exc: Exception) -> UnexpectedFailure:
    """An error nobody planned for, still named by provider, endpoint and stream."""
    where = f"{stream.endpoint.of(None)} ({stream.name})"
    return UnexpectedFailure(unexpected_error_line(exc, where))


logging.getLogger("urllib3").setLevel(logging.WARNING)
