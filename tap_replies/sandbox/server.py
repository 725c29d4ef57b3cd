"""The sandbox HTTP server: every provider of the registry on one loopback port, routed by path.

The providers' paths do not overlap (each emulator's `routes`), so one base URL serves every
`api_url` setting.
"""

from __future__ import annotations

import copy
import json
import random
import socket
import struct
import threading
import time
import typing as t
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tap_replies.sandbox.core import (
    FAULTS,
    OVERRIDE_FAULTS,
    ApiError,
    LoggedRequest,
    ProviderEmulator,
    Request,
    Response,
    Route,
    ServerBucket,
)

if t.TYPE_CHECKING:
    from tap_replies.registry import Registry


@dataclass
class _Override:
    provider: str
    path_contains: str
    outcome: Response | str | t.Callable[[t.Any], t.Any]
    times: int | None
    method: str | None


class Sandbox:
    """The emulated APIs. Start in-process for tests, or `python -m tap_replies.sandbox`."""

    def __init__(
        self,
        *,
        seed: int = 1,
        scale: int = 1,
        port: int = 0,
        host: str = "127.0.0.1",
        rates: dict[str, float] | None = None,
        latency_ms: float = 0.0,
        fault_rate: float = 0.0,
        faults: t.Sequence[str] = FAULTS,
        only: t.Collection[str] | None = None,
        registry: Registry | None = None,
    ) -> None:
        if registry is None:
            # Here, not at the top: the registry imports the emulators, which import this package.
            from tap_replies.registry import PROVIDERS

            registry = PROVIDERS
        self.seed = seed
        self.scale = scale
        # `only`: build just these providers (a benchmark at a large scale need not wait for all).
        self.providers: dict[str, ProviderEmulator] = {
            name: provider.emulator(seed=seed, scale=scale) for name, provider in registry.items()
            if only is None or name in only
        }
        self.routes: list[tuple[ProviderEmulator, Route]] = [
            (emulator, r) for emulator in self.providers.values() for r in emulator.routes()
        ]
        self.latency_ms = latency_ms
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.fault_rng = random.Random(f"faults:{seed}")
        self.request_log: list[LoggedRequest] = []
        self.log_lock = threading.Lock()
        self._overrides: list[_Override] = []
        # How long the "timeout" fault keeps a request waiting: well past the tests' 1 s timeouts,
        # even on a loaded machine.
        self.hang_seconds = 5.0
        for provider, rpm in (rates or {}).items():
            self.set_rate(provider, rpm)
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}"

    def start(self) -> Sandbox:
        # A short poll interval: stop() waits up to one interval, and tests stop many servers.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- knobs for tests ------------------------------------------------------------------

    def set_rate(self, provider: str, requests_per_minute: float | None) -> None:
        self.providers[provider].rate_limit = (
            ServerBucket(requests_per_minute) if requests_per_minute else None
        )

    def override(
        self,
        provider: str,
        path_contains: str,
        outcome: Response | str | t.Callable[[t.Any], t.Any],
        *,
        times: int | None = 1,
        method: str | None = None,
    ) -> None:
        """Answer the next `times` matching requests (None: all of them) differently.

        `outcome` is a `Response` to send instead (its body may be raw `bytes`, e.g. an HTML
        page or broken JSON), a fault name from OVERRIDE_FAULTS, or a function that rewrites
        the body the emulator would have sent (odd records: a missing key, nulls, extra
        fields; another shape) or returns a `Response` made from it (the same body with a
        header, or cut short). Overrides apply after the rate limit and auth, in the order they
        were added.
        """
        if provider not in self.providers:
            raise ValueError(f"unknown provider {provider!r}")
        if isinstance(outcome, str) and outcome not in OVERRIDE_FAULTS:
            raise ValueError(f"unknown fault {outcome!r}; one of {', '.join(OVERRIDE_FAULTS)}")
        with self.log_lock:
            self._overrides.append(_Override(provider, path_contains, outcome, times, method))

    def clear_overrides(self) -> None:
        with self.log_lock:
            self._overrides.clear()

    def _take_override(self, emulator: ProviderEmulator, request: Request) -> _Override | None:
        with self.log_lock:
            for item in self._overrides:
                if (item.provider == emulator.name and item.path_contains in request.path
                        and (item.method is None or item.method == request.method)):
                    if item.times is not None:
                        item.times -= 1
                        if item.times <= 0:
                            self._overrides.remove(item)
                    return item
        return None

    def tap_config(self, **overrides: t.Any) -> dict[str, t.Any]:
        """A complete tap config pointed at this sandbox, one block per provider."""
        config: dict[str, t.Any] = {
            name: emulator.config(self.base_url) for name, emulator in self.providers.items()
        }
        config.update(overrides)
        return config

    def add_activity(self, count: int = 5) -> dict[str, dict[str, int]]:
        return {name: p.add_activity(count) for name, p in self.providers.items()}

    def ground_truth(self) -> dict[str, list[dict[str, t.Any]]]:
        truth: dict[str, list[dict[str, t.Any]]] = {}
        for emulator in self.providers.values():
            truth.update(emulator.ground_truth())
        return truth

    def primary_keys(self) -> dict[str, tuple[str, ...]]:
        keys: dict[str, tuple[str, ...]] = {}
        for emulator in self.providers.values():
            keys.update(emulator.primary_keys())
        return keys

    def requests_for(
        self, provider: str | None = None, path_contains: str = ""
    ) -> list[LoggedRequest]:
        with self.log_lock:
            return [
                r for r in self.request_log
                if (provider is None or r.provider == provider) and path_contains in r.path
            ]

    def clear_log(self) -> None:
        with self.log_lock:
            self.request_log.clear()

    # -- dispatch -------------------------------------------------------------------------

    def dispatch(self, request: Request) -> tuple[ProviderEmulator | None, Response | str]:
        """The response to send, or a fault name ("reset", ...) for the handler to act out."""
        for emulator, candidate in self.routes:
            match = candidate.pattern.match(request.path)
            if not match or candidate.method != request.method:
                continue
            request.match = match.groupdict()
            return emulator, self._answer(emulator, candidate, request)
        return None, Response(404, {"error": f"No route for {request.method} {request.path}"})

    def _answer(
        self, emulator: ProviderEmulator, candidate: Route, request: Request
    ) -> Response | str:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000.0)
        if emulator.rate_limit is not None:
            wait = emulator.rate_limit.take()
            if wait is not None:
                retry_after = max(1, int(wait + 0.999))
                return Response(429, emulator.error_body(emulator.rate_limited_body()),
                                {"Retry-After": str(retry_after)})
        if not emulator.authenticate(request):
            return Response(401, emulator.error_body(emulator.unauthorized()))
        rewrite: t.Callable[[t.Any], t.Any] | None = None
        override = self._take_override(emulator, request)
        if override is not None:
            if isinstance(override.outcome, Response):
                return override.outcome
            if isinstance(override.outcome, str):
                return self._fault(emulator, override.outcome)
            rewrite = override.outcome
        if self.fault_rate and self.fault_rng.random() < self.fault_rate:
            return self._fault(emulator, self.fault_rng.choice(self.faults))
        try:
            with emulator.lock:
                body = candidate.handler(request)
        except ApiError as error:
            return Response(error.status, emulator.error_body(error))
        response = body if isinstance(body, Response) else Response(200, body)
        if rewrite is not None and response.status == 200:
            rewritten = rewrite(copy.deepcopy(response.body))
            response = (rewritten if isinstance(rewritten, Response)
                        else Response(200, rewritten, response.headers))
        return response

    @staticmethod
    def _fault(emulator: ProviderEmulator, fault: str) -> Response | str:
        if fault in ("reset", "truncated", "timeout"):
            return fault
        status = int(fault)
        message = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                   504: "Gateway Timeout", 429: "Rate limit exceeded"}[status]
        headers = {"Retry-After": "1"} if status == 429 else {}
        return Response(status, emulator.error_body(ApiError(status, message)), headers)


def _handler_for(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class SandboxHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: t.Any) -> None:
            pass  # the request log is kept in memory; stdout belongs to whoever runs us

        def _handle(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=url.path,
                query=parse_qs(url.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            emulator, outcome = sandbox.dispatch(request)
            status = 0 if isinstance(outcome, str) else outcome.status
            try:
                logged_body: t.Any = json.loads(body) if body else None
            except ValueError:
                logged_body = body.decode("utf-8", "replace")
            with sandbox.log_lock:
                sandbox.request_log.append(LoggedRequest(
                    provider=emulator.name if emulator else "",
                    method=request.method,
                    path=request.path,
                    query=request.query,
                    body=logged_body,
                    status=status,
                    at=time.time(),
                ))
            if outcome == "reset":
                self.close_connection = True
                try:
                    # Linger 0: close() sends a RST, as a crashed proxy would.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                finally:
                    self.connection.close()
                return
            if outcome == "timeout":
                # Longer than any test's request_timeout, then hang up without a word.
                time.sleep(sandbox.hang_seconds)
                self.close_connection = True
                return
            if outcome == "truncated":
                payload = json.dumps({"data": [{"id": "cut"}] * 20}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload[: len(payload) // 2])
                self.close_connection = True
                return
            assert isinstance(outcome, Response)
            if isinstance(outcome.body, bytes):  # a raw body from an override: HTML, bad JSON
                data = outcome.body
            else:
                try:
                    data = json.dumps(outcome.body, ensure_ascii=False).encode("utf-8")
                except UnicodeEncodeError:
                    # Half of a UTF-16 pair (a test's broken text) has no UTF-8 form: sent as
                    # the JSON escape `\ud83d`, as a JavaScript server would.
                    data = json.dumps(outcome.body).encode("ascii")
            headers = {"Content-Type": "application/json; charset=utf-8", **outcome.headers}
            self.send_response(outcome.status)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if outcome.cut_after is not None:
                self.wfile.write(data[: outcome.cut_after])
                self.close_connection = True
                return
            self.wfile.write(data)

        do_GET = _handle
        do_POST = _handle
        do_PUT = _handle
        do_DELETE = _handle

    return SandboxHandler
