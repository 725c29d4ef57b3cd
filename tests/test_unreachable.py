"""A host that cannot be reached fails in seconds with the usual one line; a busy one is waited for.

The waits are read from the fake clock (`fake_clock.slept`): nothing here sleeps for real.
"""

from __future__ import annotations

import socket
import typing as t

import pytest

from tap_replies.http.errors import ProviderError
from tap_replies.http.reachability import UNREACHABLE_RETRIES
from tap_replies.sandbox import Sandbox
from tap_replies.sandbox.core import Response
from tests.clock import FakeClock
from tests.syncing import run_tap

UNRESOLVABLE = "api.smartlead.invalid"  # RFC 6761: .invalid never resolves
FAST = 100_000  # requests per minute: no pacing in the waits measured


@pytest.fixture
def failing_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    """The system resolver, except that UNRESOLVABLE does not resolve (as with a typo'd URL)."""
    resolve = socket.getaddrinfo

    def getaddrinfo(host: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
        if host == UNRESOLVABLE:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)


def failure_of(tap_class: type, config: dict[str, t.Any]) -> str:
    with pytest.raises(ProviderError) as caught:
        run_tap(config, tap_class=tap_class)
    return str(caught.value)


@pytest.mark.usefixtures("failing_resolver")
def test_a_name_that_does_not_resolve_fails_in_seconds_naming_the_url_setting(
        fast_tap, fake_clock: FakeClock):
    line = failure_of(fast_tap, {"smartlead": {
        "api_key": "sl_dns_key_01", "api_url": f"https://{UNRESOLVABLE}",
        "requests_per_minute": FAST}})
    attempts = UNREACHABLE_RETRIES + 1
    assert line.startswith(f"Smartlead GET /api/v1/campaigns/: gave up after {attempts} attempts "
                           "(unknown host)")
    assert "check smartlead.api_url and the network" in line
    assert "sl_dns_key_01" not in line
    # The default max_retries (8) would have waited ~3 minutes of backoff; this waited seconds.
    assert len(fake_clock.sleeps) == UNREACHABLE_RETRIES
    assert fake_clock.slept < 5


def test_a_refused_connection_fails_in_seconds_whatever_max_retries_says(
        fast_tap, fake_clock: FakeClock):
    with Sandbox(seed=1) as closed:
        url = closed.base_url  # nothing listens there any more
    line = failure_of(fast_tap, {"tuco": {"api_key": "tuco_sk_refused", "api_url": url,
                                          "requests_per_minute": FAST}, "max_retries": 20})
    attempts = UNREACHABLE_RETRIES + 1
    assert line.startswith(f"Tuco AI GET /api/replies: gave up after {attempts} attempts "
                           "(connection refused)")
    assert "check tuco.api_url" in line
    assert fake_clock.slept < 5


def test_a_server_that_answers_503_keeps_the_full_patience(fast_tap, fake_clock: FakeClock):
    with Sandbox(seed=1) as sandbox:
        sandbox.override("tuco", "/api/replies", Response(503, {"error": "busy"}), times=None)
        config = {"tuco": {**sandbox.tap_config()["tuco"], "requests_per_minute": FAST}}
        line = failure_of(fast_tap, config)
    assert line.startswith("Tuco AI GET /api/replies: gave up after 9 attempts (status 503)")
    assert fake_clock.slept > 60  # capped exponential backoff, as long as a rate window
