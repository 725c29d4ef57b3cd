"""The wording of every failure: pure functions of the request, the response or the exception.

Each line names the provider, the method and path (never the query string: Smartlead's key is in
it), what happened, and the fix. A provider adds its own fixes as a `Hint`: a function of the
failed response (whose `.request` is what was asked) returning a fix, or None for the generic one.
"""

from __future__ import annotations

import json
import re
import typing as t
from urllib.parse import parse_qs, urlsplit

import requests
from singer_sdk.exceptions import FatalAPIError

from tap_replies.http.redact import REDACTOR
from tap_replies.http.retry import RetryableResponseError, ServerWaitTooLong, status_of
from tap_replies.http.shapes import NotJson, UnexpectedShape
from tap_replies.timestamps import format_timestamp

Hint = t.Callable[[requests.Response], "str | None"]
_HTML = re.compile(r"<\s*(!doctype|html|head|body)\b", re.IGNORECASE)


class ProviderError(FatalAPIError):
    """A failure a person must act on, already phrased as one line with no secret in it; as
    such, the API refused the request (a retry cannot help)."""


class RetriesExhausted(ProviderError):
    """The API kept failing (5xx, 429, dropped connections) past max_retries, or asked for a
    longer wait than max_wait_seconds: transient, a later run may succeed."""


class UnexpectedFailure(ProviderError):
    """An answer in a shape no page documents, or an error nobody planned for: still named by
    provider and endpoint; a later run may succeed."""


class Endpoint(t.NamedTuple):
    """Who asked what: the provider's name and label, and the stream's method and path."""

    provider: str
    label: str
    method: str
    path: str

    def of(self, failed: BaseException | requests.Response | None) -> str:
        """"Label METHOD /path" of the request that failed (its own, when it is known)."""
        request = _request_of(failed)
        method = (request.method if request is not None else None) or self.method
        url = request.url if request is not None else getattr(failed, "url", None)
        path = (urlsplit(url).path if isinstance(url, str) else "") or self.path
        return f"{self.label} {method} {path}"


def _request_of(failed: t.Any) -> requests.PreparedRequest | None:
    for holder in (getattr(failed, "response", None), failed):
        request = getattr(holder, "request", None)
        if isinstance(request, requests.PreparedRequest):
            return request
    return None


def query_value(response: requests.Response, name: str) -> str | None:
    """A query parameter the failed request sent (for a hint naming what was asked for)."""
    request = response.request
    url = (request.url if request is not None else None) or response.url or ""
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None


def server_message(response: requests.Response, limit: int = 160) -> str:
    """The server's own explanation, trimmed to one short line."""
    try:
        text = response.text or ""
    except Exception:  # a body that cannot be decoded is no explanation
        text = ""
    if _HTML.search(text[:500]):
        return "the server answered with an HTML page, not JSON"
    message = _message_in(text)
    one_line = " ".join(message.replace("\x00", " ").split())
    if len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    return REDACTOR.redact(one_line) or response.reason or "no message"


def _message_in(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return text
    message: t.Any = None
    if isinstance(body, dict):
        message = next((body[key] for key in ("error", "message", "detail", "msg", "errors")
                        if body.get(key)), None)
        if isinstance(message, dict):
            message = message.get("message") or message
    if message is None:
        return text
    return message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)


def generic_hint(provider: str, status: int) -> str:
    """The fix to suggest for a non-retryable status when the provider has none of its own."""
    if status in (401, 403):
        return f"check {provider}.api_key"
    if status == 404:
        return f"check {provider}.api_url and {provider}.campaign_ids"
    if status in (400, 422):
        return f"check {provider}.campaign_ids and start_date"
    return f"check the {provider} settings"


def refused_line(endpoint: Endpoint, response: requests.Response, hint: Hint) -> str:
    """A status that retrying cannot change (4xx): what the server said and what to fix."""
    fix = hint(response) or generic_hint(endpoint.provider, response.status_code)
    return (f"{endpoint.of(response)}: {response.status_code} {response.reason} — "
            f"{server_message(response)} — {fix}")


def failure_cause(exc: BaseException, timeout: float) -> str:
    """What went wrong with one attempt, in a few words."""
    status = status_of(exc)
    if isinstance(exc, RetryableResponseError) and (status or 0) < 400:
        return "a body that is not JSON"
    if status:
        return f"status {status}"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | ConnectionResetError):
        return "a response cut short"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"no answer within request_timeout ({timeout:g}s)"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return connection_detail(exc)
    return type(exc).__name__


def connection_detail(exc: BaseException) -> str:
    text = REDACTOR.redact(str(exc))
    for marker, meaning in (("refused", "connection refused"),
                            ("Name or service not known", "unknown host"),
                            ("Failed to resolve", "unknown host"),
                            ("nodename nor servname", "unknown host"),
                            ("reset", "connection reset"),
                            ("timed out", "timed out"),
                            ("SSL", "TLS handshake failed")):
        if marker in text:
            return meaning
    return type(exc).__name__


def retry_line(endpoint: Endpoint, exc: BaseException, tries: int, wait: float,
               timeout: float) -> str:
    return (f"{endpoint.of(exc)}: retry {tries} in {wait:.1f}s after "
            f"{failure_cause(exc, timeout)}")


def gave_up_line(endpoint: Endpoint, exc: BaseException, tries: int, timeout: float) -> str:
    """Retries exhausted: the last cause, the server's words, and the fix for that cause."""
    response = getattr(exc, "response", None)
    detail = f" — {server_message(response)}" if response is not None else ""
    return (f"{endpoint.of(exc)}: gave up after {tries} attempt{'s' if tries != 1 else ''} "
            f"({failure_cause(exc, timeout)}){detail} — {_fix_after_retries(endpoint, exc)}")


def _fix_after_retries(endpoint: Endpoint, exc: BaseException) -> str:
    status, provider = status_of(exc), endpoint.provider
    if status == 429:
        return (f"lower {provider}.requests_per_minute (other clients may share the key's "
                "budget) or raise max_retries")
    if isinstance(exc, RetryableResponseError) and (status or 0) < 400:
        return ("the API keeps answering with something that is not JSON (a proxy or login "
                f"page?): check {provider}.api_url, or try again later")
    if status is not None:
        return "the API is failing: try again later, or raise max_retries"
    if isinstance(exc, requests.exceptions.Timeout):
        return "raise request_timeout, or try again later"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | ConnectionResetError):
        return "the connection keeps dropping: try again later, or raise max_retries"
    return f"check {provider}.api_url and the network"


def unexpected_shape_line(endpoint: Endpoint, response: requests.Response,
                          error: UnexpectedShape | NotJson) -> str:
    """A body the stream cannot read: what was expected and what came."""
    what = (f"expected {error.expected}, got {error.came}" if isinstance(error, UnexpectedShape)
            else f"the answer is {error}")
    return (f"{endpoint.of(response)}: {what} — the stream stopped there and no bookmark "
            f"moved; check {endpoint.provider}.api_url points at the {endpoint.label} API, and "
            "if it does, report this answer (or try again later)")


def wait_too_long_line(endpoint: Endpoint, exc: BaseException,
                       too_long: ServerWaitTooLong) -> str:
    """A server-requested wait past max_wait_seconds."""
    label, resume_at = endpoint.label, format_timestamp(too_long.resume_at)
    return (f"{endpoint.of(exc)}: {_status_words(exc)}the server asks to wait "
            f"{too_long.seconds:.0f}s "
            f"({too_long.asked_by}), more than max_wait_seconds ({too_long.limit:g}) — stopped "
            f"after checkpointing what was emitted; {label} may be asked again after {resume_at}: "
            "run the sync then, or raise max_wait_seconds")


def _status_words(exc: BaseException) -> str:
    """"429 Too Many Requests (rate limit) — ": a reader grepping for the cause finds it."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status is None:
        return ""
    words = [str(status), getattr(response, "reason", None) or ""]
    if status == 429:
        words[1] = words[1] or "Too Many Requests"
        words.append("(rate limit)")
    return " ".join(word for word in words if word) + " — "


def unexpected_error_line(exc: BaseException, where: str | None = None) -> str:
    """An error nobody planned for, still phrased as where, what, and what to do."""
    what = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    if len(what) > 200:
        what = what[:199] + "…"
    fix = ("rerun with TAP_REPLIES_LOGLEVEL=DEBUG for the traceback, and report it as a bug "
           "with that output")
    return f"{where}: unexpected error {what} — {fix}" if where else (
        f"unexpected error {what} — {fix}")
