"""The tap's settings: declared once, resolved once per provider into an immutable object.

Each default and label is written once: a provider's in its `ProviderSpec`, a run-wide one in
`RUN_SETTINGS`. The settings schema is built from them, and `ProviderSettings.resolve` fills in
what a config leaves out from the same place.

Precedence, lowest first: the defaults, then the `--config` files (a later file replaces an
earlier file's top-level settings), then, with `--config ENV`, the environment, merged key by key
into each provider's block: `TAP_REPLIES_TUCO_API_KEY` replaces `tuco.api_key` and leaves the
file's `tuco.api_url` and `tuco.campaign_ids` as they were.
"""

from __future__ import annotations

import decimal
import json
import types
import typing as t
from dataclasses import dataclass

from singer_sdk import typing as th
from singer_sdk.authenticators import (
    APIAuthenticatorBase,
    APIKeyAuthenticator,
    BearerTokenAuthenticator,
)

if t.TYPE_CHECKING:
    import requests

ENV_PREFIX = "TAP_REPLIES_"

RUN_SETTINGS = (
    th.Property("max_retries", th.IntegerType, default=8,
                description="Retries of a failed request (429, 5xx, reset, timeout, cut-short "
                            "body) before the sync fails. The default outlasts a one-minute "
                            "rate window."),
    th.Property("request_timeout", th.IntegerType, default=60,
                description="Seconds to wait for one response."),
    th.Property("max_wait_seconds", th.IntegerType, default=300,
                description="Longest wait a server may ask for (Retry-After) that is waited "
                            "out; a longer one checkpoints and stops the sync with the time it "
                            "may resume."),
)
# The smallest value each run-wide setting takes.
RUN_SETTING_MINIMUMS = {"max_retries": 0, "request_timeout": 1, "max_wait_seconds": 0}


def run_default(name: str) -> t.Any:
    return next(p.default for p in RUN_SETTINGS if p.name == name)


def bearer_auth(api_key: str) -> APIAuthenticatorBase:
    """`Authorization: Bearer <key>`: the key rides in a header, never in a URL."""
    return BearerTokenAuthenticator(token=api_key)


def query_param_auth(param: str) -> t.Callable[[str], APIAuthenticatorBase]:
    """The key as the query parameter `param`: every URL then holds it, so no URL is logged
    (providers/base.py) and the tap registers the key with the redactor before any request."""

    def auth(api_key: str) -> APIAuthenticatorBase:
        return APIKeyAuthenticator(key=param, value=api_key, location="params")

    return auth


@dataclass(frozen=True)
class ProviderSpec:
    """What the tap knows of a provider before any setting is read: its name, label, defaults."""

    name: str
    label: str
    api_url: str
    requests_per_minute: int | None
    campaign_ids_are_integers: bool = False
    extra_settings: tuple[th.Property, ...] = ()
    # The provider's own fix for a refused request (a pure function of the response, whose
    # `.request` is what was sent); None falls back to http/errors.py's generic one.
    error_hint: t.Callable[[requests.Response], str | None] = lambda response: None
    # How the key goes on a request, from the key: every stream of the provider sends it so.
    auth: t.Callable[[str], APIAuthenticatorBase] = bearer_auth

    def settings_block(self) -> th.Property:
        """The provider's block of the settings schema."""
        rpm = self.requests_per_minute
        rpm_note = f"default {rpm}" if rpm else "default: no limit"
        id_type = th.IntegerType if self.campaign_ids_are_integers else th.StringType
        return th.Property(
            self.name,
            th.ObjectType(
                th.Property("api_key", th.StringType, secret=True, title=f"{self.label} API key",
                            description=f"{self.label} API key."),
                th.Property("api_url", th.StringType, default=self.api_url,
                            description=f"Base URL of the {self.label} API."),
                th.Property("requests_per_minute", th.NumberType, default=rpm,
                            description=f"Client-side pace for all {self.label} streams "
                                        f"({rpm_note})."),
                th.Property("campaign_ids", th.ArrayType(id_type),
                            description=f"Only these {self.label} campaigns (default: all)."),
                *self.extra_settings,
            ),
            description=f"{self.label} account. Leave out to skip {self.label}.",
        )


@dataclass(frozen=True)
class ProviderSettings:
    """One provider's settings for a run, defaults filled in: what its streams read."""

    spec: ProviderSpec
    api_key: str
    api_url: str
    requests_per_minute: float | None
    campaign_ids: tuple[t.Any, ...]
    max_retries: int
    request_timeout: int
    max_wait_seconds: float
    # The provider's own settings (`extra_settings`), e.g. Smartlead's fetch_message_history.
    options: t.Mapping[str, t.Any]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        return self.spec.label

    @classmethod
    def resolve(cls, spec: ProviderSpec, config: t.Mapping[str, t.Any]) -> ProviderSettings:
        """From a validated config (a missing or odd value falls back to its default)."""
        block = config.get(spec.name)
        block = block if isinstance(block, dict) else {}
        key = block.get("api_key")
        options = {p.name: block.get(p.name, p.default) for p in spec.extra_settings}
        return cls(
            spec=spec,
            api_key=key.strip() if isinstance(key, str) else "",  # a pasted key ends in "\n"
            api_url=str(block.get("api_url") or spec.api_url).rstrip("/"),
            requests_per_minute=_number(block.get("requests_per_minute",
                                                  spec.requests_per_minute)),
            campaign_ids=tuple(dict.fromkeys(block.get("campaign_ids") or ())),
            options=types.MappingProxyType(options),
            **{name: _run_setting(config, name) for name in RUN_SETTING_MINIMUMS},
        )


def _number(value: t.Any) -> t.Any:
    """A JSON number as a float (the SDK reads a config file's 0.5 as a Decimal)."""
    if isinstance(value, decimal.Decimal) and value.is_finite():
        return float(value)
    return value


def _run_setting(config: t.Mapping[str, t.Any], name: str) -> t.Any:
    value = config.get(name)
    return run_default(name) if value is None else value


# -- where settings come from -----------------------------------------------------------------


def merged_settings(base: t.Mapping[str, t.Any], over: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """`base` with `over` on top; where both hold an object, the objects merge key by key."""
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        if isinstance(below, dict) and isinstance(value, dict):
            merged[key] = merged_settings(below, value)
        else:
            merged[key] = value
    return merged


def nested_env_settings(
    specs: t.Iterable[ProviderSpec], properties: t.Mapping[str, t.Any],
    environ: t.Mapping[str, str],
) -> dict[str, dict[str, t.Any]]:
    """Provider settings from variables such as TAP_REPLIES_SMARTLEAD_API_KEY."""
    found: dict[str, dict[str, t.Any]] = {}
    for spec in specs:
        for key, schema in properties[spec.name]["properties"].items():
            raw = environ.get(f"{ENV_PREFIX}{spec.name.upper()}_{key.upper()}")
            if raw is not None:
                found.setdefault(spec.name, {})[key] = parse_env_value(raw, schema)
    return found


def parse_env_value(raw: str, schema: t.Mapping[str, t.Any]) -> t.Any:
    """An environment variable's text as the setting's type: a list from JSON or commas."""
    kinds = _kinds(schema)
    if "array" in kinds:
        try:
            value = json.loads(raw)
        except ValueError:
            value = [part.strip() for part in raw.split(",") if part.strip()]
        if "integer" in _kinds(schema.get("items") or {}) and isinstance(value, list):
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


def _kinds(schema: t.Mapping[str, t.Any]) -> list[t.Any]:
    kind = schema.get("type")
    return kind if isinstance(kind, list) else [kind]
