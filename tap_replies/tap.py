"""tap-replies: the settings, and which streams exist for the providers that are configured."""

from __future__ import annotations

import copy
import io
import os
import sys
import typing as t

import click
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers._classproperty import classproperty

from tap_replies.connection_check import files_closed_when_it_ends, test_every_provider
from tap_replies.failures import failures_in_one_line
from tap_replies.http.client import ProviderClient
from tap_replies.http.pacing import Clock, SystemClock
from tap_replies.http.redact import REDACTOR, install_log_redaction
from tap_replies.providers.base import ProviderStream
from tap_replies.registry import PROVIDERS, Registry
from tap_replies.settings import (
    RUN_SETTINGS,
    ProviderSettings,
    merged_settings,
    nested_env_settings,
)
from tap_replies.settings_checks import settings_errors
from tap_replies.state_checks import StateError, bookmark_errors, parse_state_file
from tap_replies.writer import RecordWriter

# A version check rather than try/except: mypy (run for 3.11) understands this one.
if sys.version_info >= (3, 12):
    from typing import override
else:  # Python < 3.12
    from typing_extensions import override


__all__ = ["PROVIDERS", "TapReplies", "tap_reading"]


def settings_schema(registry: Registry) -> dict[str, t.Any]:
    """The tap's settings: start_date, one block per provider of `registry`, the run's own."""
    return th.PropertiesList(
        th.Property("start_date", th.DateTimeType,
                    description="Earliest reply to extract (ISO 8601). Default: everything."),
        *[spec.settings_block() for spec in registry.specs],
        *RUN_SETTINGS,
    ).to_dict()


class TapReplies(Tap):
    """Replies to outbound campaigns from Leadterra, Smartlead and Tuco AI."""

    name = "tap-replies"
    package_name = "tap-replies"

    # The providers this tap reads: everything below lists them from here (tap_replies/registry.py).
    registry: t.ClassVar[Registry] = PROVIDERS
    config_jsonschema = settings_schema(PROVIDERS)

    # msgspec serialises records several times faster than the standard library's json; ours
    # also writes a record whose text has a lone UTF-16 surrogate, instead of failing.
    message_writer_class = RecordWriter

    # Tests inject a fake clock so pacing and retries never really sleep.
    clock: Clock = SystemClock()

    def __init__(
        self, *, config: t.Any = None, parse_env_config: bool = False, **kwargs: t.Any
    ) -> None:
        self._clients: dict[str, ProviderClient] = {}
        # Before anything can log: the SDK's own lines (config, metrics) pass these handlers too.
        install_log_redaction()
        merge_env = parse_env_config and (config is None or isinstance(config, dict))
        if merge_env:
            # The SDK would put the environment's `tuco` block in place of the file's whole
            # block; merged key by key instead (see tap_replies/settings.py).
            config = merged_settings(config or {}, self._env_var_config)
            parse_env_config = False
        super().__init__(config=config, parse_env_config=parse_env_config, **kwargs)
        install_log_redaction()
        if merge_env:  # the SDK has just said it skipped them: it did, we did not
            self.logger.info("Settings from env vars merged key by key into the --config ones")
        if isinstance(self.message_writer, RecordWriter):
            self.message_writer.record_label = self._record_label

    # -- settings -------------------------------------------------------------------------

    @override
    @classproperty
    def _env_var_config(cls) -> dict[str, t.Any]:
        """Top-level settings as the SDK reads them, plus nested ones such as
        TAP_REPLIES_SMARTLEAD_API_KEY."""
        nested = nested_env_settings(cls.registry.specs, cls.config_jsonschema["properties"],
                                     os.environ)
        return merged_settings(super()._env_var_config, nested)

    @property
    def configured_providers(self) -> list[str]:
        return [name for name in self.registry if isinstance(self.config.get(name), dict)]

    def provider_settings(self, provider: str) -> ProviderSettings:
        """The provider's settings with defaults filled in, as its streams read them."""
        return ProviderSettings.resolve(self.registry[provider].spec, self.config)

    def config_errors(self) -> list[str]:
        """Problems a person must fix before any request: one line each."""
        schema = copy.deepcopy(self.config_jsonschema)
        self.append_builtin_config(schema)  # the SDK's own settings: stream_maps, batch_config…
        return settings_errors(self.config, schema["properties"], self.registry.specs)

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        for provider in self.configured_providers:
            REDACTOR.register_key(self.provider_settings(provider).api_key)
        errors = self.config_errors()
        if errors and raise_errors:
            raise ConfigValidationError(errors[0], errors=errors)
        return errors + super()._validate_config(raise_errors=raise_errors)

    # -- the run --------------------------------------------------------------------------

    def client_for(self, provider: str) -> ProviderClient:
        """The settings, bucket, retry policy and counters every stream of `provider` shares."""
        if provider not in self._clients:
            settings = self.provider_settings(provider)
            REDACTOR.register(settings.api_key)
            self._clients[provider] = ProviderClient(settings, self.clock)
        return self._clients[provider]

    @override
    def discover_streams(self) -> list[ProviderStream]:
        if not self.configured_providers:
            # Discovery skips validation; an empty catalog would hide the real problem.
            errors = self.config_errors()
            raise ConfigValidationError(errors[0], errors=errors)
        return [stream_class(tap=self) for provider in self.configured_providers
                for stream_class in self.registry[provider].streams]

    @override
    def load_state(self, state: dict[str, t.Any]) -> None:
        # Every stream's bookmarks, before any stream starts (the SDK's hook for this): nothing
        # is emitted from a state the tap could not finish from.
        errors = (bookmark_errors(state, set(self.streams), self.registry.bookmark_keys)
                  if state.get("bookmarks") else [])
        if errors:
            raise StateError(errors[0], errors=errors)
        super().load_state(state)

    def _record_label(self, stream_name: str, record: t.Mapping[str, t.Any]) -> str:
        stream = self.streams.get(stream_name)
        return stream.gate.label(record) if isinstance(stream, ProviderStream) else "?"

    # -- the command line: any failure ends with one line naming provider, endpoint and fix --

    @override
    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        with failures_in_one_line(cls.logger):
            state_file = kwargs.get("state")
            if state_file is not None:
                # Read here, where the file's name is known, rather than by the SDK.
                text = state_file.read()
                parse_state_file(text, getattr(state_file, "name", "given with --state"))
                kwargs["state"] = io.StringIO(text)
            super().invoke(*args, **kwargs)

    @override
    @classmethod
    def cb_discover(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        # Discovery and --test run as click callbacks, outside `invoke`: same one-line failures.
        with failures_in_one_line(cls.logger):
            super().cb_discover(ctx, param, value)

    @override
    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        # `--test` checks every configured provider, one line each (connection_check.py): the
        # SDK's own test (a final method) stops at the first failing stream.
        with files_closed_when_it_ends(ctx), failures_in_one_line(cls.logger):
            if value == "all":
                test_every_provider(cls, ctx, cls.logger)
            else:  # off, or --test=schema: the SDK's own
                super().cb_test(ctx, param, value)


def tap_reading(registry: Registry, tap: type[TapReplies] = TapReplies) -> type[TapReplies]:
    """`tap` over another set of providers (the tests' fourth provider, for one)."""
    return type(tap.__name__, (tap,), {
        "registry": registry, "config_jsonschema": settings_schema(registry)})


if __name__ == "__main__":
    from tap_replies.cli import main

    main()
