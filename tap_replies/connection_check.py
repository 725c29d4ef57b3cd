"""`tap-replies --test`: every configured provider checked, one line each, whatever the others did.

The SDK's connection test syncs one record of each stream and stops at the first failure, so a
wrong Smartlead key hides whether the Tuco key works. Here each provider's streams run with the
SDK's record limit (1), a failure ends only that provider's check, and each provider gets one
line: `ok` with what answered, or the failure's own line (provider, endpoint, status, fix). The
run fails when any provider did, with the exit code of the failure to act on first.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import typing as t
from dataclasses import dataclass

import click
from singer_sdk.exceptions import AbortedSyncFailedException, AbortedSyncPausedException

from tap_replies.http.errors import (
    ProviderError,
    RetriesExhausted,
    UnexpectedFailure,
    unexpected_error_line,
)
from tap_replies.providers.base import ProviderStream

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

    from tap_replies.http.client import ProviderClient

PREFIX = "--test"


@dataclass(frozen=True)
class ProviderCheck:
    """How one provider answered: the failure's line, or None when every stream answered."""

    label: str
    streams: int
    requests: int
    failure: str | None = None
    kind: type[ProviderError] = ProviderError  # the failure's kind: its exit code (failures.py)

    @property
    def line(self) -> str:
        if self.failure is not None:
            return f"{PREFIX}: {self.label} FAILED — {self.failure}"
        return (f"{PREFIX}: {self.label} ok — {_count(self.streams, 'stream')} answered "
                f"({_count(self.requests, 'request')})")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def check_provider(label: str, streams: t.Sequence[Stream], requests: t.Callable[[], int]
                   ) -> ProviderCheck:
    """Sync one record of each of a provider's streams, stopping at the provider's first failure."""
    for stream in streams:
        stream.ABORT_AT_RECORD_COUNT = 1  # the SDK's own dry-run limit
        stream.selected = True  # a child stream is synced by its parent
    top_level = [stream for stream in streams if not stream.parent_stream_type]
    try:
        for stream in top_level:
            with contextlib.suppress(AbortedSyncFailedException, AbortedSyncPausedException):
                stream.sync()
    except ProviderError as exc:
        return ProviderCheck(label, len(streams), requests(), str(exc), type(exc))
    except Exception as exc:  # any other failure is still this provider's line, not the run's end
        return ProviderCheck(label, len(streams), requests(),
                             unexpected_error_line(exc, where=label), UnexpectedFailure)
    return ProviderCheck(label, len(streams), requests())


class ProvidersUnderTest(t.Protocol):
    """What the check needs of the tap."""

    @property
    def configured_providers(self) -> list[str]: ...

    @property
    def streams(self) -> t.Mapping[str, Stream]: ...

    def client_for(self, provider: str) -> ProviderClient: ...


def first_to_act_on(kinds: t.Sequence[type[ProviderError]]) -> type[ProviderError]:
    """The kind the run ends with (its exit code): a refusal first (no retry can help), then an
    unexpected failure, then a transient one (a later run may pass)."""
    if any(not issubclass(kind, RetriesExhausted | UnexpectedFailure) for kind in kinds):
        return ProviderError
    return UnexpectedFailure if any(issubclass(k, UnexpectedFailure) for k in kinds) else (
        RetriesExhausted)


def _requests(tap: ProvidersUnderTest, provider: str) -> int:
    return tap.client_for(provider).stats.requests


def check_every_provider(tap: ProvidersUnderTest, logger: logging.Logger) -> list[ProviderCheck]:
    """Each configured provider checked and logged in one line; raises when any one failed."""
    checks = []
    for provider in tap.configured_providers:
        streams = [stream for stream in tap.streams.values()
                   if isinstance(stream, ProviderStream) and stream.spec.name == provider]
        label = streams[0].spec.label if streams else provider
        check = check_provider(label, streams, functools.partial(_requests, tap, provider))
        logger.log(logging.ERROR if check.failure else logging.INFO, "%s", check.line)
        checks.append(check)
    failed = [check for check in checks if check.failure]
    if failed:
        raise first_to_act_on([check.kind for check in failed])(
            f"{PREFIX}: {len(failed)} of {len(checks)} providers failed "
            f"({', '.join(check.label for check in failed)}); each one's line above names the fix")
    logger.info("%s: every configured provider answered (%s)", PREFIX,
                ", ".join(check.label for check in checks))
    return checks


def test_every_provider(tap_class: t.Callable[..., ProvidersUnderTest], ctx: click.Context,
                        logger: logging.Logger) -> t.NoReturn:
    """`--test`: the tap built as the SDK's own test builds it (from what `cb_config` made of
    `--config`), every provider checked, then the command ends."""
    given = ctx.params.get("config")
    tap = tap_class(config=getattr(given, "config", None),
                    parse_env_config=getattr(given, "parse_env", False))
    check_every_provider(tap, logger)
    ctx.exit()


@contextlib.contextmanager
def files_closed_when_it_ends(ctx: click.Context) -> t.Iterator[None]:
    """A test ends the command from inside click's parsing, before click would close the
    --catalog / --state files it opened (a ResourceWarning at exit): closed here instead."""
    try:
        yield
    except BaseException:
        ctx.close()
        raise
