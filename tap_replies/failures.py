"""How a run ends when something fails: one line a person acts on, and an exit code per kind.

The traceback is logged at DEBUG only (redacted like every line), so at the default level the
last line on stderr is the one a person acts on: provider, endpoint or setting, and the fix. The
exit code says what kind of failure it was, so an orchestrator decides whether to retry from it,
never from the wording (orchestration/meltano_pipes.py; README "Exit codes"):

    1  unexpected (an answer in a shape no page documents, a bug): a retry may help
    2  bad settings or state: a person must change them; a retry cannot help
    3  refused by the API (400, 401, 402, 404, 422): a retry cannot help
    4  transient, retries exhausted (5xx, 429, dropped connections, a wait too long): retry later
"""

from __future__ import annotations

import contextlib
import logging
import sys
import typing as t

import click
from singer_sdk.exceptions import ConfigValidationError

from tap_replies.http.errors import (
    ProviderError,
    RetriesExhausted,
    UnexpectedFailure,
    unexpected_error_line,
)
from tap_replies.http.redact import REDACTOR, install_log_redaction

UNEXPECTED_EXIT_CODE = 1
CONFIG_EXIT_CODE = 2  # a setting or the state file must change; also StateError (a subclass)
REFUSED_EXIT_CODE = 3
TRANSIENT_EXIT_CODE = 4


@contextlib.contextmanager
def failures_in_one_line(logger: logging.Logger) -> t.Iterator[None]:
    """Turn any failure into the one line a person acts on, and a non-zero exit."""
    install_log_redaction()
    try:
        yield
    except click.exceptions.Exit:
        raise  # click's own way of ending a command: not a failure
    except ConfigValidationError as exc:
        logger.debug("tap-replies: invalid settings", exc_info=True)
        errors = [" ".join(str(e).split()) for e in (exc.errors or [str(exc)])]
        fail(logger, "; ".join(errors), exit_code=CONFIG_EXIT_CODE)
    except ProviderError as exc:
        logger.debug("tap-replies: the API failed", exc_info=True)
        fail(logger, str(exc), exit_code=exit_code_of(exc))
    except Exception as exc:
        logger.debug("tap-replies: unexpected error", exc_info=True)
        fail(logger, unexpected_error_line(exc))


def exit_code_of(exc: ProviderError) -> int:
    if isinstance(exc, RetriesExhausted):
        return TRANSIENT_EXIT_CODE
    if isinstance(exc, UnexpectedFailure):
        return UNEXPECTED_EXIT_CODE
    return REFUSED_EXIT_CODE


def fail(logger: logging.Logger, message: str, *,
         exit_code: int = UNEXPECTED_EXIT_CODE) -> t.NoReturn:
    one_line = " ".join(REDACTOR.redact(message).split())
    logger.error("tap-replies: %s", one_line)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.exit(exit_code)
