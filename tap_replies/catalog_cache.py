"""`tap-replies --config FILE --discover` answered from a cache: once per tap version and config.

Meltano runs discovery before every sync of a plugin installed editable (`pip_url: -e .`), and
caches no catalog for it, since its code may change at any time. Discovery costs a start of the
tap with singer-sdk imported (~0.5 CPU-s); the catalog changes only with the tap's code, the SDK
or the settings (the configured providers, smartlead.fetch_message_history). So the key is all of
those: a hash of every .py file of this package (its content, so an edit, a checkout or a copy is
seen), the Python and singer-sdk versions, the command's other arguments and the config files'
settings with every secret reduced to "set". It is read before singer-sdk is imported: a hit is a
file copied to stdout. No secret is written: the catalog holds none, the key only a hash.

Only the plain form is cached: `--discover`, `--config FILE` (any number; with `--config ENV`,
the TAP_REPLIES_* variables join the key) and the `--catalog` and `--state` that discovery
ignores, nothing else. Where the cache lives:
TAP_REPLIES_CATALOG_CACHE (a folder; `off` for no cache), else $XDG_CACHE_HOME/tap-replies or
~/.cache/tap-replies. The newest KEEP catalogs are kept. A folder that cannot be written is no
cache, never a failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import typing as t
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CACHE_VARIABLE = "TAP_REPLIES_CATALOG_CACHE"
ENV_PREFIX = "TAP_REPLIES_"
KEEP = 256  # catalogs are ~40 kB; workspaces differing only in keys share one
# Setting names whose values are secrets: only whether they are set joins the key.
SECRET_WORDS = ("api_key", "password", "secret", "token", "private_key")


def _is_secret(name: str) -> bool:
    return any(word in name.lower() for word in SECRET_WORDS)


def _without_secrets(value: t.Any) -> t.Any:
    if isinstance(value, dict):
        return {k: (bool(v) if _is_secret(k) else _without_secrets(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(item) for item in value]
    return value


def _config_files(args: list[str]) -> list[str] | None:
    """The --config values of a plain `--discover --config FILE...` command, else None.

    Meltano adds `--catalog` (its previous catalog) and `--state` to a discovery too: the SDK's
    discovery reads neither (its Tap gets the config alone), so they leave the catalog as it is.
    """
    configs: list[str] = []
    rest = iter(args)
    for arg in rest:
        name, equals, value = arg.partition("=")
        if name not in ("--config", "--catalog", "--state", "--discover"):
            return None
        if name != "--discover" and not equals:
            value = next(rest, "")
        if name == "--config":
            configs.append(value)
    return configs if "--discover" in args and all(configs) else None


def source_digest(package: Path = PACKAGE) -> str:
    """The package's code: every .py file's path and content."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _sdk_version() -> str:
    # The dist-info folder's name: no import of singer-sdk or importlib.metadata.
    for folder in map(Path, sys.path):
        with contextlib.suppress(OSError):
            for entry in folder.glob("singer_sdk-*.dist-info"):
                return entry.name
    return "unknown"


def cache_folder(environ: t.Mapping[str, str]) -> Path | None:
    chosen = environ.get(CACHE_VARIABLE)
    if chosen:
        return None if chosen.lower() == "off" else Path(chosen)
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tap-replies"


class CatalogCache:
    """One cached catalog: where it is kept for this command, code and config."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_command(cls, args: list[str], environ: t.Mapping[str, str],
                    package: Path = PACKAGE) -> CatalogCache | None:
        """The cache for `tap-replies ARGS`, or None where that command is not cached."""
        configs = _config_files(args)
        folder = cache_folder(environ)
        if configs is None or folder is None:
            return None
        settings: list[t.Any] = []
        for config in configs:
            if config == "ENV":
                settings.append(_without_secrets(
                    {k: v for k, v in environ.items() if k.startswith(ENV_PREFIX)}))
                continue
            try:
                settings.append(_without_secrets(json.loads(Path(config).read_text("utf-8"))))
            except (OSError, ValueError):
                return None  # the SDK names the file and the problem
        key = json.dumps([source_digest(package), sys.version, _sdk_version(), settings],
                         sort_keys=True, default=str)
        return cls(folder / f"catalog-{hashlib.sha256(key.encode()).hexdigest()[:32]}.json")

    def read(self) -> bytes | None:
        with contextlib.suppress(OSError):
            text = self.path.read_bytes()
            os.utime(self.path)  # recently used: kept by the pruning below
            return text
        return None

    def store(self, text: str) -> None:
        """Keep `text` (what discovery printed) for the next run; never fails the run."""
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.partial")
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, self.path)
            kept = sorted(self.path.parent.glob("catalog-*.json"),
                          key=lambda p: p.stat().st_mtime_ns, reverse=True)
            for stale in kept[KEEP:]:
                stale.unlink(missing_ok=True)
