"""The contract suite's fixtures: every test runs once per provider of the registry, the tests'
own fourth provider among them, on a sandbox that serves them all."""

from __future__ import annotations

import typing as t

import pytest

from tap_replies.registry import Provider
from tap_replies.sandbox import Sandbox
from tap_replies.tap import TapReplies, tap_reading
from tests.contract.instantly import REGISTRY


@pytest.fixture(params=list(REGISTRY.values()), ids=list(REGISTRY))
def provider(request: pytest.FixtureRequest) -> Provider:
    return t.cast("Provider", request.param)


@pytest.fixture
def sandbox() -> t.Iterator[Sandbox]:
    """The root conftest's sandbox, serving the fourth provider too."""
    with Sandbox(seed=7, scale=1, registry=REGISTRY) as server:
        yield server


@pytest.fixture
def contract_tap(fast_tap: type[TapReplies]) -> type[TapReplies]:
    """The tap on the fake clock, reading every provider of the contract's registry."""
    return tap_reading(REGISTRY, fast_tap)
