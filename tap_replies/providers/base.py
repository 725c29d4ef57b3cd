"""The base of every stream: a provider's settings and request path in, checked records out.

A provider module subclasses `ProviderStream` once (its `spec`, auth, error hints) and its streams
are then declarations: name, path, keys, replication key, schema, response shape, and the quirks
below as class attributes. What every stream does with a page (decode it once, checkpoint after
it, log progress) and with a record (check its types, require its key) lives here.
"""

from __future__ import annotations

import json
import logging
import sys
import typing as t
from functools import cached_property

from singer_sdk import RESTStream
from singer_sdk.exceptions import SyncLifecycleSignal
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_replies.http.client import RequestStats
from tap_replies.http.errors import (
    Endpoint,
    ProviderError,
    refused_line,
    unexpected_error_line,
    unexpected_shape_line,
)
from tap_replies.http.retry import RetryableResponseError, is_retryable_status
from tap_replies.http.shapes import (
    ListShape,
    NotJson,
    Page,
    SpooledBody,
    UnexpectedShape,
    decode,
    keep_page,
    page_of,
)
from tap_replies.progress import Progress
from tap_replies.providers.record_messages import LeanRecordPath
from tap_replies.providers.record_shape import RecordCheck

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.authenticators import APIAuthenticatorBase
    from singer_sdk.helpers.types import Context

    from tap_replies.http.client import ProviderClient
    from tap_replies.settings import ProviderSettings, ProviderSpec
    from tap_replies.tap import TapReplies

# A version check rather than try/except: mypy (run for 3.11) understands this one.
if sys.version_info >= (3, 12):
    from typing import override
else:  # Python < 3.12
    from typing_extensions import override

__all__ = ["PagedStream", "ProviderError", "ProviderStream"]


class PagedStream(RESTStream[t.Any]):
    """How a provider's stream asks for pages and reads them: one `ProviderClient` per
    provider (settings, pacing, retries), each page decoded once and checkpointed after."""

    spec: t.ClassVar[ProviderSpec]
    # Where the endpoint puts its records, as documented: any other answer stops the stream.
    response_shape: t.ClassVar[ListShape]
    # An unpaged list of any length: spool the body and decode it one record at a time.
    streams_body: t.ClassVar[bool] = False
    # With `<provider>.campaign_ids`: one partition per this many campaigns (0: none), as
    # {"campaign_id": id} for one, {"campaign_ids": [...]} for more.
    campaigns_per_partition: t.ClassVar[int] = 0
    # Values copied to the top level from inside the record: {"received_at": ("last_message", …)}.
    lifted_fields: t.ClassVar[t.Mapping[str, tuple[str, str]]] = {}
    # Values a field is documented to take; another is kept as sent, with one warning.
    documented_values: t.ClassVar[t.Mapping[str, tuple[str, ...]]] = {}
    # Where a page states the size of the whole list (for progress).
    total_keys: t.ClassVar[tuple[str, ...]] = ("total", "total_count", "pagination.total")

    # Never log full URLs: Smartlead's key rides in the query string.
    _LOG_REQUEST_METRIC_URLS = False

    def __init__(self, tap: TapReplies, **kwargs: t.Any) -> None:
        # Before the SDK's constructor, which reads the schema (that may depend on a setting).
        self.client: ProviderClient = tap.client_for(self.spec.name)
        self.settings: ProviderSettings = self.client.settings
        super().__init__(tap=tap, **kwargs)
        self.request_stats = RequestStats()
        self.progress = Progress(self.name, self.client.clock, self.logger)
        self.client.configure(self.requests_session, stream_bodies=self.streams_body)

    @classmethod
    def bookmark_keys(cls) -> tuple[str, ...]:
        """The state keys this stream keeps its bookmarks in (each an ISO 8601 time, checked
        before a sync starts: state_checks.py)."""
        return ("replication_key_value",)

    @override
    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        # The SDK announces a failed stream before the tap's own one-line error, which names the
        # provider, endpoint and fix: its bare line goes to DEBUG so ours is the only ERROR.
        if level >= logging.ERROR and message.startswith("An unhandled error occurred"):
            level = logging.DEBUG
        super().log(message, *args, level=level, **kwargs)

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
        size, ids = self.campaigns_per_partition, list(self.settings.campaign_ids)
        if not size or not ids:
            return None
        if size == 1:
            return [{"campaign_id": campaign_id} for campaign_id in ids]
        return [{"campaign_ids": ids[i:i + size]} for i in range(0, len(ids), size)]

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.spec.name, self.spec.label, self.http_method, self.path or "")

    # -- the request path (http/client.py), and what it asks of the stream ----------------

    @override
    def request_decorator(self, func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        return self.client.retrying(func, self)

    def wait(self, seconds: float) -> None:
        self.progress.wait(seconds)

    def checkpoint(self) -> None:
        self._write_state_message()

    # -- pages ----------------------------------------------------------------------------

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if self.streams_body and status >= 300:
            _ = response.content  # an error's body is short: read it, which frees the connection
        if is_retryable_status(status):
            raise RetryableResponseError(f"{status} from {self.path}", response)
        if status >= 400:
            raise ProviderError(refused_line(self.endpoint, response, self.spec.error_hint))
        try:
            if self.streams_body:  # read to its end here, where a cut-short body is retried
                payload = decode(self.response_shape, SpooledBody(response))
            else:
                payload = json.loads(response.content)
            keep_page(response, Page(self.response_shape, payload))
        except UnexpectedShape as error:  # (a ValueError too: caught first)
            raise ProviderError(unexpected_shape_line(self.endpoint, response, error)) from None
        except ValueError:
            # A cut-short or non-JSON 200 (NotJson, a JSONDecodeError) is a transport fault:
            # ask again.
            raise RetryableResponseError(
                f"{self.path} answered {status} with a body that is not JSON", response
            ) from None

    @override
    def parse_response(self, response: requests.Response) -> t.Iterable[dict[str, t.Any]]:
        page = page_of(response)
        try:
            yield from page.records
        except (UnexpectedShape, NotJson) as error:
            # Before this page's checkpoint: no bookmark or resume note moves past it.
            raise ProviderError(unexpected_shape_line(self.endpoint, response, error)) from None
        # The consumer has emitted every record of the page by the time we get here.
        self.on_page_done()
        self.progress.page_done(page.total(*self.total_keys))

    def on_page_done(self) -> None:
        """Once a page's records have all been emitted: checkpoint (subclasses add to the state
        first). The SDK would otherwise write state only every 10,000 records."""
        self._write_state_message()

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        self.progress.partition_started()
        try:
            yield from super().get_records(context)
        except (ProviderError, SyncLifecycleSignal):
            raise
        except Exception as exc:
            raise self.unexpected(exc) from exc

    def unexpected(self, exc: Exception) -> ProviderError:
        """An error nobody planned for, still named by provider, endpoint and stream."""
        return ProviderError(unexpected_error_line(exc, f"{self.endpoint.of(None)} ({self.name})"))


class ProviderStream(LeanRecordPath, PagedStream):
    """Base of every stream: what is done with each record of a page."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._undocumented: set[tuple[str, t.Any]] = set()

    @cached_property
    def record_check(self) -> RecordCheck:
        return RecordCheck(self.name, self.effective_schema, self.logger,
                           primary_keys=tuple(self.primary_keys or ()))

    @override
    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        try:
            self.fill_in(row, context)
            if not self.admit(row, context):
                return None
            # Parsed JSON rarely needs converting, and the SDK's per-value conformance is over
            # half of the tap's CPU: one cheap check decides, after putting drifted values right.
            conforms = self.record_check.conforms_after_repair(row, self.record_label)
            if not self.record_check.has_primary_key(row):
                return None
            if self.documented_values:
                self._note_undocumented(row)
            self.progress.records_emitted += 1
            self.emitted(row, context)
        except ProviderError:
            raise
        except Exception as exc:
            raise self.unexpected(exc) from exc
        # The SDK reads this level when it writes the record returned here.
        self.TYPE_CONFORMANCE_LEVEL = (
            TypeConformanceLevel.NONE if conforms else TypeConformanceLevel.RECURSIVE)
        return row

    def fill_in(self, row: dict[str, t.Any], context: Context | None) -> None:
        """The fields a record gets from elsewhere: `lifted_fields`, and the partition's keys
        that the schema declares (the others, such as a chunk of campaign ids, are filters)."""
        for name, (outer, inner) in self.lifted_fields.items():
            holder = row.get(outer)
            row[name] = holder.get(inner) if isinstance(holder, dict) else None
        if context:
            declared = self.record_check.shape.keys
            for key, value in context.items():
                if key in declared:
                    row[key] = value

    def _note_undocumented(self, row: dict[str, t.Any]) -> None:
        for name, documented in self.documented_values.items():
            value = row.get(name)
            if value is None or value in documented or (name, value) in self._undocumented:
                continue
            self._undocumented.add((name, value))
            self.logger.warning("%s: %s %r is not one of %s's documented values; kept as sent "
                                "(the unified model counts it as unknown)", self.name, name,
                                value, self.spec.label)

    def admit(self, row: dict[str, t.Any], context: Context | None) -> bool:
        """Whether to emit this record at all; streams that filter or skip override it."""
        return True

    def emitted(self, row: dict[str, t.Any], context: Context | None) -> None:
        """Called for each record about to be emitted."""

    @override
    def _process_record(
        self, record: dict[str, t.Any], child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        # The SDK would copy every partition key into the record; `fill_in` copied those the
        # schema declares, and a request filter (a chunk of campaign ids) is no field.
        super()._process_record(record, child_context=child_context, partition_context=None)

    def record_label(self, row: t.Mapping[str, t.Any]) -> str:
        """Which record this is, for a log line: its primary key (repr: safe for any text)."""
        keys = self.primary_keys or ()
        return ", ".join(f"{key}={row.get(key)!r}" for key in keys) or "without a key"

    @override
    def finalize_state_progress_markers(self, state: dict | None = None) -> None:
        super().finalize_state_progress_markers(state)
        # The tap calls this once per stream, right after the stream's sync ends: the one hook
        # there is for a line at the end of each stream.
        if not state and self.selected:
            self.logger.info("%s", self.summary_line())

    def summary_line(self) -> str:
        return self.progress.summary_line(self.request_stats, *self.record_check.notes())


logging.getLogger("urllib3").setLevel(logging.WARNING)
