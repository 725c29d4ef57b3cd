"""The mistakes people make writing settings by hand, each as one line naming the fix."""

from __future__ import annotations

import datetime as dt
import difflib
import typing as t
from urllib.parse import urlparse

from tap_replies.settings import ENV_PREFIX, RUN_SETTING_MINIMUMS, ProviderSettings, ProviderSpec

# Read by the SDK's streams without being declared in any settings schema.
SDK_UNDECLARED_SETTINGS = ("user_agent", "emit_activate_version_messages")
NOT_HTTP = "is not an http(s) URL"


def settings_errors(
    config: t.Mapping[str, t.Any], properties: t.Mapping[str, t.Any],
    specs: t.Sequence[ProviderSpec],
) -> list[str]:
    """Problems a person must fix before any request: one line each.

    `properties` are the top-level settings the tap accepts, the SDK's own included.
    """
    errors = unknown_setting_errors(config, properties, specs)
    errors += [f"'{spec.name}' must be a settings block (an object with api_key), "
               f"not {type(config[spec.name]).__name__}"
               for spec in specs if config.get(spec.name) is not None
               and not isinstance(config[spec.name], dict)]
    if errors:
        return errors
    configured = [spec for spec in specs if isinstance(config.get(spec.name), dict)]
    if not configured:
        blocks = ", ".join(f"'{spec.name}'" for spec in specs)
        return [f"no provider configured: add at least one of the settings blocks {blocks}, "
                "each with its api_key"]
    start_date = config.get("start_date")
    if start_date is not None and not _is_iso(start_date):
        errors.append(f"start_date {start_date!r} is not an ISO 8601 date-time: "
                      "use e.g. 2025-01-31T00:00:00Z")
    for spec in configured:
        errors += provider_errors(ProviderSettings.resolve(spec, config), config[spec.name])
    for name, minimum in RUN_SETTING_MINIMUMS.items():
        value = config.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < minimum
        ):
            errors.append(f"{name} must be a whole number of at least {minimum}, not {value!r}")
    return errors


def provider_errors(settings: ProviderSettings, block: t.Mapping[str, t.Any]) -> list[str]:
    """What is wrong in one provider's block, each line starting with the provider's label."""
    name, label = settings.name, settings.label
    errors: list[str] = []
    if not settings.api_key:
        errors.append(f"{name}.api_key is missing or empty: set it (or "
                      f"{ENV_PREFIX}{name.upper()}_API_KEY), or remove the '{name}' block")
    elif (problem := api_key_problem(settings.api_key)) is not None:
        errors.append(f"{name}.api_key {problem}")
    url = block.get("api_url")
    url = settings.spec.api_url if url in (None, "") else url
    parsed = urlparse(url) if isinstance(url, str) else None
    if not parsed or parsed.scheme not in ("http", "https") or not parsed.netloc:
        errors.append(f"{name}.api_url {url!r} {NOT_HTTP}: use e.g. {settings.spec.api_url}")
    rpm = settings.requests_per_minute
    if rpm is not None and (not isinstance(rpm, int | float) or rpm <= 0):
        errors.append(f"{name}.requests_per_minute must be a positive number")
    errors += campaign_id_errors(settings.spec, block.get("campaign_ids"))
    return [f"{label}: {error}" for error in errors]


def campaign_id_errors(spec: ProviderSpec, value: t.Any) -> list[str]:
    """campaign_ids must be a list of the provider's id type (Smartlead: integers)."""
    if value is None:
        return []
    wants_int = spec.campaign_ids_are_integers
    example = "[123, 456]" if wants_int else '["cmp_123", "cmp_456"]'
    fix = (f"{spec.name}.campaign_ids must be a list of {'integers' if wants_int else 'strings'},"
           f" e.g. {example}")
    if not isinstance(value, list):
        return [f"{fix}, not {type(value).__name__}"]
    for item in value:
        ok = (isinstance(item, int) and not isinstance(item, bool)) if wants_int else (
            isinstance(item, str) and item.strip() != ""
        )
        if not ok:
            return [f"{fix}; {item!r} is not one"]
    return []


def api_key_problem(key: str) -> str | None:
    """What is wrong with a key (already stripped of surrounding whitespace) that no request
    could carry; None when nothing is. Never quotes the key."""
    if any(ord(char) < 32 or ord(char) == 127 for char in key):
        return ("has a control character inside it (a line break or tab pasted with it?): "
                "set it again as the bare key")
    return None


def unknown_setting_errors(
    config: t.Mapping[str, t.Any], properties: t.Mapping[str, t.Any],
    specs: t.Sequence[ProviderSpec],
) -> list[str]:
    """One line per setting no schema declares, with the closest valid name; the keys inside
    each provider's block are checked too."""
    errors = _unknown([*properties, *SDK_UNDECLARED_SETTINGS], config, prefix="", label="")
    for spec in specs:
        block = config.get(spec.name)
        block_schema = properties.get(spec.name) or {}
        if isinstance(block, dict) and isinstance(block_schema.get("properties"), dict):
            errors += _unknown(list(block_schema["properties"]), block, prefix=f"{spec.name}.",
                               label=f"{spec.label}: ")
    return errors


def _unknown(valid: list[str], given: t.Iterable[str], *, prefix: str, label: str) -> list[str]:
    errors = []
    for name in given:
        if name in valid:
            continue
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        hint = (f"did you mean '{prefix}{close[0]}'?" if close
                else "`tap-replies --about` lists the settings")
        errors.append(f"{label}unknown setting '{prefix}{name}': {hint} (an unknown setting "
                      "would otherwise be ignored)")
    return errors


def _is_iso(value: t.Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
