"""Where settings come from, and the mistakes people make writing them by hand.

Precedence, lowest first: the defaults in the settings schema, then the `--config` files (a later
file replaces an earlier file's top-level settings), then, with `--config ENV`, the environment,
merged key by key into each provider's block: `TAP_REPLIES_TUCO_API_KEY` replaces `tuco.api_key`
and leaves the file's `tuco.api_url` and `tuco.campaign_ids` as they were.
"""

from __future__ import annotations

import difflib
import typing as t

# Read by the SDK's streams without being declared in any settings schema.
SDK_UNDECLARED_SETTINGS = ("user_agent", "emit_activate_version_messages")


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


def unknown_setting_errors(
    config: t.Mapping[str, t.Any],
    properties: t.Mapping[str, t.Any],
    *,
    blocks: t.Mapping[str, str],
) -> list[str]:
    """One line per setting no schema declares, with the closest valid name.

    `properties` are the top-level settings the tap accepts (the SDK's own included); `blocks`
    maps each provider block's name to its label: their keys are checked too.
    """
    errors = _unknown([*properties, *SDK_UNDECLARED_SETTINGS], config, prefix="", label="")
    for name, label in blocks.items():
        block = config.get(name)
        block_schema = properties.get(name) or {}
        if isinstance(block, dict) and isinstance(block_schema.get("properties"), dict):
            errors += _unknown(list(block_schema["properties"]), block, prefix=f"{name}.",
                               label=f"{label}: ")
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


def api_key_problem(key: str) -> str | None:
    """What is wrong with a key (already stripped of surrounding whitespace) that no request
    could carry; None when nothing is. Never quotes the key."""
    if any(ord(char) < 32 or ord(char) == 127 for char in key):
        return ("has a control character inside it (a line break or tab pasted with it?): "
                "set it again as the bare key")
    return None
