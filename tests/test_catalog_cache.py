"""Discovery once per tap version and config (issue 23): `--discover` answered from a cache that
an edit of the tap's code or of a schema-shaping setting can never leave stale."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tap_replies.catalog_cache import CatalogCache
from tap_replies.sandbox import Sandbox

PACKAGE = Path(__file__).resolve().parent.parent / "tap_replies"
# Run as the console script does, from whichever copy of the package is first on the path.
ENTRY = "from tap_replies.cli import main; main()"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TAP_REPLIES_CATALOG_CACHE", str(folder))
    return folder


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "config.json"
    # A sandbox's config (its URLs and keys); discovery sends no request.
    with Sandbox(seed=3, scale=1) as sandbox:
        path.write_text(json.dumps(sandbox.tap_config()))
    return path


def discover(config: Path, *, cwd: Path | None = None, importtime: bool = False
             ) -> subprocess.CompletedProcess[str]:
    flags = ["-X", "importtime"] if importtime else []
    proc = subprocess.run([sys.executable, *flags, "-c", ENTRY, "--config", str(config),
                           "--discover"], cwd=cwd, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def properties(catalog_text: str, stream: str) -> set[str]:
    entry = next(s for s in json.loads(catalog_text)["streams"] if s["tap_stream_id"] == stream)
    return set(entry["schema"]["properties"])


def test_a_repeated_discovery_prints_the_same_catalog_without_importing_the_sdk(cache, config):
    first = discover(config)
    second = discover(config, importtime=True)
    assert second.stdout == first.stdout
    assert json.loads(second.stdout)["streams"]
    assert "singer_sdk" not in second.stderr  # -X importtime lists every module imported


def test_a_changed_stream_schema_is_in_the_next_discovery(cache, config, tmp_path):
    copy = tmp_path / "tap"
    shutil.copytree(PACKAGE, copy / "tap_replies", ignore=shutil.ignore_patterns("__pycache__"))
    before = discover(config, cwd=copy)
    assert "addedByTheTest" not in properties(before.stdout, "tuco_replies")
    tuco = copy / "tap_replies" / "providers" / "tuco.py"
    tuco.write_text(tuco.read_text().replace(
        'th.Property("leadId", th.StringType, required=True),',
        'th.Property("leadId", th.StringType, required=True),\n'
        '        th.Property("addedByTheTest", th.StringType),', 1))
    after = discover(config, cwd=copy)
    assert "addedByTheTest" in properties(after.stdout, "tuco_replies")
    assert len(list(cache.glob("catalog-*.json"))) == 2


def test_a_setting_that_shapes_a_schema_gets_its_own_catalog(cache, config):
    settings = json.loads(config.read_text())
    plain = properties(discover(config).stdout, "smartlead_inbox_replies")
    settings["smartlead"]["fetch_message_history"] = True
    config.write_text(json.dumps(settings))
    with_history = properties(discover(config).stdout, "smartlead_inbox_replies")
    assert with_history != plain


def test_a_provider_left_out_is_left_out_of_the_next_discovery(cache, config):
    settings = json.loads(config.read_text())
    assert "tuco_replies" in discover(config).stdout
    config.write_text(json.dumps({k: v for k, v in settings.items() if k != "tuco"}))
    assert "tuco_replies" not in discover(config).stdout


def test_the_cache_holds_no_secret(cache, config):
    discover(config)
    keys = [block["api_key"] for block in json.loads(config.read_text()).values()]
    written = [(path.name, path.read_text()) for path in cache.iterdir()]
    assert written
    assert not [key for key in keys for name, text in written if key in name or key in text]


def test_a_cache_folder_that_cannot_be_written_is_no_cache(tmp_path, monkeypatch, config):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("TAP_REPLIES_CATALOG_CACHE", str(blocked / "cache"))
    assert json.loads(discover(config).stdout)["streams"]


@pytest.mark.parametrize("args", [
    ["--about"], ["--config", "c.json"], ["--config", "c.json", "--discover", "--about"],
    ["--config", "c.json", "--catalog", "k.json"], ["--discover", "--config"],
    ["--config", "c.json", "--discover", "--test"], ["--config", "c.json", "--discover=x"],
])
def test_only_a_plain_discovery_is_cached(args, tmp_path, monkeypatch):
    (tmp_path / "c.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert CatalogCache.for_command(args, {"TAP_REPLIES_CATALOG_CACHE": str(tmp_path)}) is None


def test_a_discovery_as_meltano_runs_it_is_cached(tmp_path):
    # Meltano passes its previous catalog and the state to discovery too; the SDK ignores both.
    (tmp_path / "c.json").write_text("{}")
    args = ["--config", str(tmp_path / "c.json"), "--catalog", "missing.json",
            "--state=missing.json", "--discover"]
    assert CatalogCache.for_command(args, {"TAP_REPLIES_CATALOG_CACHE": str(tmp_path)})


def test_cache_off_is_no_cache(tmp_path):
    config = tmp_path / "c.json"
    config.write_text("{}")
    args = ["--config", str(config), "--discover"]
    assert CatalogCache.for_command(args, {"TAP_REPLIES_CATALOG_CACHE": "off"}) is None
    assert CatalogCache.for_command(args, {"TAP_REPLIES_CATALOG_CACHE": str(tmp_path)})
