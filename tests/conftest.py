"""Every test talks to a real sandbox server on 127.0.0.1, never to the network."""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest

from tap_replies.sandbox import Sandbox
from tap_replies.tap import TapReplies
from tests.clock import FakeClock, tap_on
from tests.elt_scenario import Scenario, duckdb_scenario, require_plugins
from tests.postgres_cluster import PostgresServer, postgres_server


@pytest.fixture(scope="session", autouse=True)
def catalog_cache(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Path]:
    """Discovery's catalog cache (tap_replies/catalog_cache.py) in the session's temp folder,
    for every tap the tests start, never the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("catalog-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TAP_REPLIES_CATALOG_CACHE", str(folder))
        yield folder


@pytest.fixture
def sandbox() -> t.Iterator[Sandbox]:
    """A fresh sandbox per test: tests may add activity, switch shapes or inject faults."""
    with Sandbox(seed=7, scale=1) as server:
        yield server


@pytest.fixture
def fake_clock() -> FakeClock:
    """The fake clock `fast_tap` runs on: read `fake_clock.slept` for the waits the tap honoured."""
    return FakeClock()


@pytest.fixture
def fast_tap(fake_clock: FakeClock) -> type[TapReplies]:
    """A TapReplies subclass on `fake_clock`: pacing and retry waits cost no time."""
    return tap_on(fake_clock)


@pytest.fixture(scope="session")
def postgres() -> t.Iterator[PostgresServer]:
    """One throwaway PostgreSQL server per test session (see tests/postgres_cluster.py).

    Each test module that loads into it takes a database of its own: `postgres.create_database(…)`.
    """
    yield from postgres_server()


@pytest.fixture(scope="session")
def meltano_project() -> Path:
    """The repository's Meltano project, every plugin the tests run installed (`make` does it)."""
    return require_plugins()


@pytest.fixture(scope="session")
def duckdb_elt(meltano_project: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> t.Iterator[Scenario]:
    """`meltano run replies-duckdb` twice against one sandbox, activity in between (~40 s, once
    per session): tests/test_elt.py checks it against the ground truth, test_warehouses.py
    compares the other warehouses' marts with its marts."""
    yield from duckdb_scenario(tmp_path_factory.mktemp("elt"))
