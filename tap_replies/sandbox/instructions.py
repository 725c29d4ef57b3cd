"""What `python -m tap_replies.sandbox` prints under its URL: the settings that point the tap at it.

The keys are the sandbox's own (each emulator accepts only its key), so a user copies these lines
instead of reading them out of the emulators' source.
"""

from __future__ import annotations

import json
import shlex
import typing as t


def environment(config: t.Mapping[str, t.Any]) -> dict[str, str]:
    """TAP_REPLIES_<PROVIDER>_<SETTING> for each provider block: what `--config ENV` reads."""
    return {f"TAP_REPLIES_{provider.upper()}_{key.upper()}": str(value)
            for provider, block in config.items() if isinstance(block, dict)
            for key, value in block.items() if value is not None}


def instructions(config: t.Mapping[str, t.Any]) -> str:
    blocks = {provider: {key: value for key, value in block.items() if value is not None}
              for provider, block in config.items() if isinstance(block, dict)}
    exports = "\n".join(f"export {name}={shlex.quote(value)}"
                        for name, value in environment(config).items())
    return (f"# Point tap-replies at the sandbox (then `tap-replies --config ENV`, or "
            f"`meltano run replies-duckdb`):\n{exports}\n"
            f"# or as a config file (tap-replies --config sandbox.json):\n"
            f"# {json.dumps(blocks, separators=(',', ':'))}")
