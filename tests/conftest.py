"""Every test talks to a real sandbox server on 127.0.0.1, never to the network."""

from __future__ import annotations

import typing as t

import pytest

from tap_replies.sandbox import Sandbox
from tests.postgres_cluster import PostgresServer, postgres_server


@pytest.fixture
def sandbox() -> t.Iterator[Sandbox]:
    """A fresh sandbox per test: tests may add activity, switch shapes or inject faults."""
    with Sandbox(seed=7, scale=1) as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> t.Iterator[PostgresServer]:
    """One throwaway PostgreSQL server per test session (see tests/postgres_cluster.py).

    Each test module that loads into it takes a database of its own: `postgres.create_database(…)`.
    """
    yield from postgres_server()
