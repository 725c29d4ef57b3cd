"""tap-replies: the settings, and which streams exist for the providers that are configured."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import logging
import os
import re
import sys
import typing as t
from dataclasses import dataclass
from urllib.parse import urlparse

import click
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers._classproperty import classproperty

from tap_replies.http.pacing import Clock, SystemClock, TokenBucket
from tap_replies.http.redact import REDACTOR, install_log_redaction
from tap_replies.http.retry import DEFAULT_MAX_WAIT_SECONDS, RetryPolicy
from tap_replies.providers import leadterra, smartlead, tuco
from tap_replies.providers.base import ProviderError, ProviderRuntime, ProviderStream
from tap_replies.settings import api_key_problem, merged_settings, unknown_setting_errors
from tap_replies.state_checks import StateError, bookmark_errors, parse_state_file
from tap_replies.writer import RecordWriter

# A version check rather than try/except: mypy (run for 3.11) understands this one.
if sys.version_info >= (3, 12):
    from typing import override
else:  # Python < 3.12
    from typing_extensions import override


@dataclass(frozen=True)
class ProviderSpec:
    """What the tap needs to know about a provider before any request: its settings and streams."""

    name: str
    label: str
    api_url: str
    requests_per_minute: int | None
    campaign_id_type: type[th.JSONTypeHelper]
    streams: t.Sequence[type[ProviderStream]]
    extra_settings: t.Sequence[th.Property] = ()


PROVIDERS: dict[str, ProviderSpec] = {
    "leadterra": ProviderSpec(
        "leadterra", "Leadterra", "https://app.leadterra.co", None, th.StringType, leadterra.STREAMS
    ),
    "smartlead": ProviderSpec(
        "smartlead", "Smartlead", "https://server.smartlead.ai", 60, th.IntegerType,
        smartlead.STREAMS,
        extra_settings=(
            th.Property(
                "fetch_message_history",
                th.BooleanType,
                default=False,
                description="Passed to the master-inbox endpoint: include each reply's full "
                            "thread.",
            ),
        ),
    ),
    "tuco": ProviderSpec(
        "tuco", "Tuco AI", "https://app.tuco.ai", 120, th.StringType, tuco.STREAMS
    ),
}


def _provider_block(spec: ProviderSpec) -> th.Property:
    rpm_note = (
        f"default {spec.requests_per_minute}" if spec.requests_per_minute else "default: no limit"
    )
    return th.Property(
        spec.name,
        th.ObjectType(
            th.Property("api_key", th.StringType, secret=True, title=f"{spec.label} API key",
                        description=f"{spec.label} API key."),
            th.Property("api_url", th.StringType, default=spec.api_url,
                        description=f"Base URL of the {spec.label} API."),
            th.Property("requests_per_minute", th.NumberType,
                        default=spec.requests_per_minute,
                        description=f"Client-side pace for all {spec.label} streams ({rpm_note})."),
            th.Property("campaign_ids", th.ArrayType(spec.campaign_id_type),
                        description=f"Only these {spec.label} campaigns (default: all)."),
            *spec.extra_settings,
        ),
        description=f"{spec.label} account. Leave out to skip {spec.label}.",
    )


NOT_HTTP = "is not an http(s) URL"


class TapReplies(Tap):
    """Replies to outbound campaigns from Leadterra, Smartlead and Tuco AI."""

    name = "tap-replies"
    package_name = "tap-replies"

    config_jsonschema = th.PropertiesList(
        th.Property("start_date", th.DateTimeType,
                    description="Earliest reply to extract (ISO 8601). Default: everything."),
        *[_provider_block(spec) for spec in PROVIDERS.values()],
        th.Property("max_retries", th.IntegerType, default=8,
                    description="Retries of a failed request (429, 5xx, reset, timeout, cut-short "
                                "body) before the sync fails. The default outlasts a one-minute "
                                "rate window."),
        th.Property("request_timeout", th.IntegerType, default=60,
                    description="Seconds to wait for one response."),
        th.Property("max_wait_seconds", th.IntegerType, default=DEFAULT_MAX_WAIT_SECONDS,
                    description="Longest wait a server may ask for (Retry-After) that is waited "
                                "out; a longer one checkpoints and stops the sync with the time "
                                "it may resume."),
    ).to_dict()

    # msgspec serialises records several times faster than the standard library's json; ours
    # also writes a record whose text has a lone UTF-16 surrogate, instead of failing.
    message_writer_class = RecordWriter

    # Tests inject a fake clock so pacing and retries never really sleep.
    clock: Clock = SystemClock()

    def __init__(
        self, *, config: t.Any = None, parse_env_config: bool = False, **kwargs: t.Any
    ) -> None:
        self._runtimes: dict[str, ProviderRuntime] = {}
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
        config = dict(super()._env_var_config)
        prefix = "TAP_REPLIES_"
        for provider in PROVIDERS:
            block_schema = cls.config_jsonschema["properties"][provider]["properties"]
            for key, schema in block_schema.items():
                raw = os.environ.get(f"{prefix}{provider.upper()}_{key.upper()}")
                if raw is None:
                    continue
                block = dict(config.get(provider) or {})
                block[key] = _parse_env_value(raw, schema)
                config[provider] = block
        return config

    @property
    def configured_providers(self) -> list[str]:
        return [name for name in PROVIDERS if isinstance(self.config.get(name), dict)]

    def provider_settings(self, provider: str) -> dict[str, t.Any]:
        """The provider's block with defaults filled in (the SDK fills top-level defaults only)."""
        spec = PROVIDERS[provider]
        block = dict(self.config.get(provider) or {})
        if isinstance(block.get("api_key"), str):
            block["api_key"] = block["api_key"].strip()  # a pasted key often ends in a newline
        block.setdefault("api_url", spec.api_url)
        if block.get("api_url") in (None, ""):
            block["api_url"] = spec.api_url
        block.setdefault("requests_per_minute", spec.requests_per_minute)
        return block

    def config_errors(self) -> list[str]:
        """Problems a person must fix before any request: one line each."""
        schema = copy.deepcopy(self.config_jsonschema)
        self.append_builtin_config(schema)  # the SDK's own settings: stream_maps, batch_config…
        errors = unknown_setting_errors(
            self.config, schema["properties"],
            blocks={name: spec.label for name, spec in PROVIDERS.items()},
        )
        for name in PROVIDERS:
            block = self.config.get(name)
            if block is not None and not isinstance(block, dict):
                errors.append(f"'{name}' must be a settings block (an object with api_key), "
                              f"not {type(block).__name__}")
        if errors:
            return errors
        providers = self.configured_providers
        if not providers:
            blocks = ", ".join(f"'{name}'" for name in PROVIDERS)
            return [f"no provider configured: add at least one of the settings blocks {blocks}, "
                    "each with its api_key"]
        start_date = self.config.get("start_date")
        if start_date is not None and _parse_iso(start_date) is None:
            errors.append(f"start_date {start_date!r} is not an ISO 8601 date-time: "
                          "use e.g. 2025-01-31T00:00:00Z")
        for provider in providers:
            errors.extend(self._provider_errors(provider))
        for name, minimum in (("max_retries", 0), ("request_timeout", 1),
                              ("max_wait_seconds", 0)):
            value = self.config.get(name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < minimum
            ):
                errors.append(f"{name} must be a whole number of at least {minimum}, "
                              f"not {value!r}")
        return errors

    def _provider_errors(self, provider: str) -> list[str]:
        settings = self.provider_settings(provider)
        label = PROVIDERS[provider].label
        errors: list[str] = []
        key = settings.get("api_key")
        if not isinstance(key, str) or not key:
            env = f"TAP_REPLIES_{provider.upper()}_API_KEY"
            errors.append(f"{label}: {provider}.api_key is missing or empty: set it "
                          f"(or {env}), or remove the '{provider}' block")
        elif (problem := api_key_problem(key)) is not None:
            errors.append(f"{label}: {provider}.api_key {problem}")
        url = settings.get("api_url")
        parsed = urlparse(url) if isinstance(url, str) else None
        if not parsed or parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors.append(f"{label}: {provider}.api_url {url!r} {NOT_HTTP}: "
                          f"use e.g. {PROVIDERS[provider].api_url}")
        rpm = settings.get("requests_per_minute")
        if rpm is not None and (not isinstance(rpm, int | float) or rpm <= 0):
            errors.append(f"{label}: {provider}.requests_per_minute must be a positive number")
        errors.extend(_campaign_id_errors(provider, settings.get("campaign_ids")))
        return errors

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        for provider in self.configured_providers:
            # Stripped (as it is sent), and each part of a key broken by a control character.
            key = str(self.provider_settings(provider).get("api_key") or "")
            for secret in (key, *re.split(r"[\x00-\x1f\x7f]+", key)):
                REDACTOR.register(secret)
        errors = self.config_errors()
        if errors and raise_errors:
            raise ConfigValidationError(errors[0], errors=errors)
        return errors + super()._validate_config(raise_errors=raise_errors)

    # -- the run --------------------------------------------------------------------------

    def provider_runtime(self, provider: str) -> ProviderRuntime:
        """The bucket, retry policy and stats every stream of `provider` shares in this run."""
        if provider not in self._runtimes:
            settings = self.provider_settings(provider)
            REDACTOR.register(settings.get("api_key"))
            self._runtimes[provider] = ProviderRuntime(
                name=provider,
                label=PROVIDERS[provider].label,
                settings=settings,
                bucket=TokenBucket(settings.get("requests_per_minute"), clock=self.clock),
                retry_policy=RetryPolicy(
                    max_retries=int(self.config.get("max_retries", 8)),
                    max_wait_seconds=self.config.get("max_wait_seconds",
                                                     DEFAULT_MAX_WAIT_SECONDS)),
                clock=self.clock,
            )
        return self._runtimes[provider]

    @override
    def discover_streams(self) -> list[ProviderStream]:
        if not self.configured_providers:
            # Discovery skips validation; an empty catalog would hide the real problem.
            errors = self.config_errors()
            raise ConfigValidationError(errors[0], errors=errors)
        streams: list[ProviderStream] = []
        for provider in self.configured_providers:
            streams.extend(stream_class(tap=self) for stream_class in PROVIDERS[provider].streams)
        return streams

    @override
    def load_state(self, state: dict[str, t.Any]) -> None:
        # Every stream's bookmarks, before any stream starts (the SDK's hook for this): nothing
        # is emitted from a state the tap could not finish from.
        errors = bookmark_errors(state, set(self.streams)) if state.get("bookmarks") else []
        if errors:
            raise StateError(errors[0], errors=errors)
        super().load_state(state)

    def _record_label(self, stream_name: str, record: t.Mapping[str, t.Any]) -> str:
        stream = self.streams.get(stream_name)
        return stream.record_label(record) if isinstance(stream, ProviderStream) else "?"

    @override
    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the tap; a failure ends with one line naming provider, endpoint and fix."""
        with cls._failures_in_one_line():
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
        with cls._failures_in_one_line():
            super().cb_discover(ctx, param, value)

    @override
    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        with cls._failures_in_one_line():
            super().cb_test(ctx, param, value)

    @classmethod
    @contextlib.contextmanager
    def _failures_in_one_line(cls) -> t.Iterator[None]:
        """Turn any failure into the one line a person acts on, and a non-zero exit.

        The traceback is logged at DEBUG only (redacted like every line), so at the default
        level the last line on stderr is the one a person acts on.
        """
        install_log_redaction()
        try:
            yield
        except click.exceptions.Exit:
            raise  # click's own way of ending a command: not a failure
        except ConfigValidationError as exc:
            cls.logger.debug("tap-replies: invalid settings", exc_info=True)
            errors = [" ".join(str(e).split()) for e in (exc.errors or [str(exc)])]
            cls._fail("; ".join(errors), exit_code=2)
        except ProviderError as exc:
            cls.logger.debug("tap-replies: the API failed", exc_info=True)
            cls._fail(str(exc))
        except Exception as exc:
            cls.logger.debug("tap-replies: unexpected error", exc_info=True)
            cls._fail(unexpected_error_line(exc, ProviderStream.active))

    @classmethod
    def _fail(cls, message: str, *, exit_code: int = 1) -> t.NoReturn:
        one_line = " ".join(REDACTOR.redact(message).split())
        cls.logger.error("tap-replies: %s", one_line)
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.exit(exit_code)


def unexpected_error_line(exc: BaseException, stream: ProviderStream | None) -> str:
    """An error nobody planned for, still phrased as provider, endpoint, what, and what to do."""
    what = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    if len(what) > 200:
        what = what[:199] + "…"
    fix = ("rerun with TAP_REPLIES_LOGLEVEL=DEBUG for the traceback, and report it as a bug "
           "with that output")
    if stream is None:
        return f"unexpected error {what} — {fix}"
    return (f"{stream.provider_label} {stream.http_method} {stream.path} ({stream.name}): "
            f"unexpected error {what} — {fix}")


def _campaign_id_errors(provider: str, value: t.Any) -> list[str]:
    """campaign_ids must be a list of the provider's id type (Smartlead: integers)."""
    if value is None:
        return []
    spec = PROVIDERS[provider]
    wants_int = spec.campaign_id_type is th.IntegerType
    example = "[123, 456]" if wants_int else '["cmp_123", "cmp_456"]'
    kind = "integers" if wants_int else "strings"
    fix = f"{spec.label}: {provider}.campaign_ids must be a list of {kind}, e.g. {example}"
    if not isinstance(value, list):
        return [f"{fix}, not {type(value).__name__}"]
    for item in value:
        ok = (isinstance(item, int) and not isinstance(item, bool)) if wants_int else (
            isinstance(item, str) and item.strip() != ""
        )
        if not ok:
            return [f"{fix}; {item!r} is not one"]
    return []


def _parse_iso(value: t.Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _parse_env_value(raw: str, schema: dict[str, t.Any]) -> t.Any:
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "array" in kinds:
        import json

        try:
            value = json.loads(raw)
        except ValueError:
            value = [part.strip() for part in raw.split(",") if part.strip()]
        item_kind = (schema.get("items") or {}).get("type")
        item_kinds = item_kind if isinstance(item_kind, list) else [item_kind]
        if "integer" in item_kinds and isinstance(value, list):
            value = [int(v) if isinstance(v, str) and v.strip().lstrip("-").isdigit() else v
                     for v in value]
        return value
    if "boolean" in kinds:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if "integer" in kinds:
        return int(raw)
    if "number" in kinds:
        return float(raw)
    return raw


if __name__ == "__main__":
    TapReplies.cli()
