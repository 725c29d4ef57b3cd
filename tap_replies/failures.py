"""How a run ends when something fails: one line a person acts on, and a non-zero exit.

The traceback is logged at DEBUG only (redacted like every line), so at the default level the
last line on stderr is the one a person acts on: provider, endpoint or setting, and the fix.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import typing as t

import click
from singer_sdk.exceptions import ConfigValidationError

from tap_replies.http.errors import ProviderError, unexpected_error_line
from tap_replies.http.redact import REDACTOR, install_log_redaction

CONFIG_EXIT_CODE = 2  # a setting or the state file must change; also StateError (a subclass)


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
        fail(logger, str(exc))
    except Exception as exc:
        logger.debug("tap-replies: unexpected error", exc_info=True)
        fail(logger, unexpected_error_line(exc))


def fail(logger: logging.Logger, message: str, *, exit_code: int = 1) -> t.NoReturn:
    one_line = " ".join(REDACTOR.redact(message).split())
    logger.error("tap-replies: %s", one_line)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.exit(exit_code)
