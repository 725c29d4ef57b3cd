"""What every stream does with a page: check the response, decode it once, hand out its records.

Pure functions of the response and the stream's declarations (endpoint, shape, error hint), so the
stream base only calls them from the SDK's hooks (`validate_response`, `parse_response`).
"""

from __future__ import annotations

import json
import typing as t

from tap_replies.http.errors import (
    Endpoint,
    ProviderError,
    UnexpectedFailure,
    refused_line,
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

if t.TYPE_CHECKING:
    import requests


def check_page(response: requests.Response, endpoint: Endpoint, shape: ListShape, *,
               streams_body: bool, hint: t.Callable[[requests.Response], str | None]) -> None:
    """A page worth reading is decoded and kept on the response; otherwise a retryable error
    (429, 5xx, a body that is not JSON) or a ProviderError (refused, or an unexpected shape)."""
    status = response.status_code
    if streams_body and status >= 300:
        _ = response.content  # an error's body is short: read it, which frees the connection
    if is_retryable_status(status):
        raise RetryableResponseError(f"{status} from {endpoint.path}", response)
    if status >= 400:
        raise ProviderError(refused_line(endpoint, response, hint))
    try:
        if streams_body:  # read to its end here, where a cut-short body is retried
            payload = decode(shape, SpooledBody(response))
        else:
            payload = json.loads(response.content)
        keep_page(response, Page(shape, payload))
    except UnexpectedShape as error:  # (a ValueError too: caught first)
        raise UnexpectedFailure(unexpected_shape_line(endpoint, response, error)) from None
    except ValueError:
        # A cut-short or non-JSON 200 (NotJson, a JSONDecodeError) is a transport fault: ask again.
        raise RetryableResponseError(
            f"{endpoint.path} answered {status} with a body that is not JSON", response
        ) from None


def page_records(response: requests.Response, endpoint: Endpoint
                 ) -> t.Iterator[dict[str, t.Any]]:
    """The records of a checked page; one that turns out not to be its shape half-way is a
    ProviderError before the page's checkpoint, so no bookmark moves past it."""
    try:
        yield from page_of(response).records
    except (UnexpectedShape, NotJson) as error:
        raise UnexpectedFailure(unexpected_shape_line(endpoint, response, error)) from None


def campaign_partitions(size: int, ids: t.Sequence[t.Any]) -> list[dict[str, t.Any]] | None:
    """One partition per `size` campaigns (0, or no ids: none): {"campaign_id": id} for one,
    {"campaign_ids": [...]} for more."""
    if not size or not ids:
        return None
    if size == 1:
        return [{"campaign_id": campaign_id} for campaign_id in ids]
    return [{"campaign_ids": list(ids[i:i + size])} for i in range(0, len(ids), size)]
