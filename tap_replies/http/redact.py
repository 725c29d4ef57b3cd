"""Keeping API keys out of every line the tap writes.

Smartlead takes its key in the query string, so any URL the tap, requests or urllib3 prints is a
leak waiting to happen. Redaction is applied in three places: to exception text before it becomes
an error line, to log records through a filter on every handler, and to query strings by pattern
(whatever the key, `api_key=...` is masked).
"""

from __future__ import annotations

import logging
import re
import threading
import typing as t

MASK = "***"
_QUERY_SECRET = re.compile(r"(?i)((?:api[_-]?key|token|secret|password)=)[^&\s'\"#]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


class Redactor:
    """Masks every registered secret, plus anything shaped like a key in a URL or header."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def register(self, secret: str | None) -> None:
        # Very short values would mask ordinary words; real keys are long.
        if secret and len(secret) >= 4:
            with self._lock:
                self._secrets.add(secret)

    def register_key(self, key: str) -> None:
        """An API key: whole (stripped, as it is sent), and each part a control character breaks."""
        for secret in (key, *re.split(r"[\x00-\x1f\x7f]+", key)):
            self.register(secret)

    def redact(self, text: str) -> str:
        if not text:
            return text
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        text = _QUERY_SECRET.sub(rf"\1{MASK}", text)
        return _BEARER.sub(rf"\1{MASK}", text)

    def redact_value(self, value: t.Any) -> t.Any:
        """Redact strings inside nested containers (log-record args, exception args)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.redact_value(v) for v in value)
        return value


REDACTOR = Redactor()
"""The process-wide redactor: the tap registers its keys here before any request is made."""


class RedactingFilter(logging.Filter):
    """Rewrites each log record's message and traceback with secrets masked."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the line
            message = str(record.msg)
        record.msg = self.redactor.redact(message)
        record.args = None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redactor.redact(text)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        for attr in ("url", "endpoint", "http_request_url"):
            if isinstance(getattr(record, attr, None), str):
                setattr(record, attr, self.redactor.redact(getattr(record, attr)))
        # The SDK's metric lines carry their data in a `point` dict rendered later.
        point = getattr(record, "point", None)
        if isinstance(point, dict):
            record.point = self.redactor.redact_value(point)
        return True


def install_log_redaction(redactor: Redactor = REDACTOR) -> None:
    """Attach the redacting filter to every handler that could print a line.

    Filters on handlers see records propagated from any logger (urllib3, requests, backoff, the
    SDK), which a filter on one logger would not.
    """
    loggers = [logging.getLogger(), *[
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]]
    for lg in loggers:
        for handler in lg.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter(redactor))
