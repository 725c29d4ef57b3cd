"""Every provider the tap reads, each named once: its spec (settings, auth, error hints), its
streams, its emulator, and (from the streams) its bookmark keys.

Everything that lists providers derives from a `Registry`: the tap's settings schema and streams,
the sandbox's emulators and command line, the state checks' bookmark keys, the tests'
parametrisations (tests/contract/) and the benchmarks. A new provider costs its two modules
(providers/<name>.py, sandbox/<name>.py) and one line in `PROVIDERS`.
"""

from __future__ import annotations

import importlib
import typing as t
from dataclasses import dataclass

from tap_replies.providers import leadterra, smartlead, tuco
from tap_replies.providers.changed_since import ChangedSinceStream

if t.TYPE_CHECKING:
    from tap_replies.providers.base import ProviderStream
    from tap_replies.sandbox.core import ProviderEmulator
    from tap_replies.settings import ProviderSpec


@dataclass(frozen=True)
class Provider:
    """One provider: what the tap reads (spec, streams) and what emulates it (the sandbox's)."""

    spec: ProviderSpec
    streams: tuple[type[ProviderStream], ...]
    # The emulator, or where it is ("module:Class"): the tap never imports the sandbox.
    emulator_source: type[ProviderEmulator] | str

    def __post_init__(self) -> None:
        if sum(1 for stream in self.streams if _has_reply_time(stream)) != 1:
            raise ValueError(f"provider {self.spec.name!r}: exactly one stream must be "
                             "incremental on a reply time (the replies)")

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def emulator(self) -> type[ProviderEmulator]:
        emulator = self.emulator_source
        if isinstance(emulator, str):
            module, _, name = emulator.partition(":")
            emulator = getattr(importlib.import_module(module), name)
        # Caught where the sandbox is built from it, rather than as a sandbox that serves nothing.
        if emulator.name != self.spec.name:
            raise ValueError(f"provider {self.spec.name!r}: its emulator is named "
                             f"{emulator.name!r}")
        return emulator

    @property
    def replies(self) -> type[ProviderStream]:
        """The stream of replies, incremental on their time: what the contract suite reads."""
        return next(stream for stream in self.streams if _has_reply_time(stream))

    @property
    def bookmark_keys(self) -> tuple[str, ...]:
        # The SDK's, for every incremental stream, and a changed-since stream's own.
        since = [s.since_param for s in self.streams if issubclass(s, ChangedSinceStream)]
        return tuple(dict.fromkeys(["replication_key_value", *since]))


def _has_reply_time(stream: type[ProviderStream]) -> bool:
    # On the class, the SDK's `replication_key` is a property unless the leaf names one.
    return isinstance(stream.replication_key, str)


class Registry(t.Mapping[str, Provider]):
    """Providers by name, in the order they were given (the order of the settings schema)."""

    def __init__(self, *providers: Provider) -> None:
        self._by_name = {provider.name: provider for provider in providers}
        if len(self._by_name) != len(providers):
            raise ValueError("two providers share a name")

    def __getitem__(self, name: str) -> Provider:
        return self._by_name[name]

    def __iter__(self) -> t.Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __repr__(self) -> str:
        return f"Registry({', '.join(self._by_name)})"

    def with_provider(self, provider: Provider) -> Registry:
        """This registry and one more provider (the tests' fourth, for one)."""
        return Registry(*self.values(), provider)

    @property
    def specs(self) -> list[ProviderSpec]:
        return [provider.spec for provider in self.values()]

    @property
    def bookmark_keys(self) -> tuple[str, ...]:
        """Every state key any stream keeps a bookmark in."""
        return tuple(dict.fromkeys(key for p in self.values() for key in p.bookmark_keys))


PROVIDERS = Registry(
    Provider(leadterra.SPEC, tuple(leadterra.STREAMS),
             "tap_replies.sandbox.leadterra:LeadterraEmulator"),
    Provider(smartlead.SPEC, tuple(smartlead.STREAMS),
             "tap_replies.sandbox.smartlead:SmartleadEmulator"),
    Provider(tuco.SPEC, tuple(tuco.STREAMS), "tap_replies.sandbox.tuco:TucoEmulator"),
)
