"""The sandbox HTTP server: all three providers on one loopback port, routed by path.

The providers' paths do not overlap (/v1/... Leadterra, /api/v1/... Smartlead, /api/replies Tuco),
so one base URL serves every `api_url` setting.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tap_replies.sandbox.core import (
    FAULTS,
    ApiError,
    LoggedRequest,
    ProviderEmulator,
    Request,
    Response,
    Route,
    ServerBucket,
)
from tap_replies.sandbox.leadterra import LeadterraEmulator
from tap_replies.sandbox.smartlead import SmartleadEmulator
from tap_replies.sandbox.tuco import TucoEmulator

EMULATORS: tuple[type[ProviderEmulator], ...] = (LeadterraEmulator, SmartleadEmulator, TucoEmulator)


class Sandbox:
    """The three emulated APIs. Start in-process for tests, or via `python -m tap_replies.sandbox`."""

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
    ) -> None:
        self.seed = seed
        self.scale = scale
        self.providers: dict[str, ProviderEmulator] = {
            cls.name: cls(seed=seed, scale=scale) for cls in EMULATORS
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
        for provider, rpm in (rates or {}).items():
            self.set_rate(provider, rpm)
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Sandbox:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
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

    def requests_for(self, provider: str | None = None, path_contains: str = "") -> list[LoggedRequest]:
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
        """The response to send, or a fault name ("reset", "truncated") for the handler to act out."""
        for emulator, candidate in self.routes:
            match = candidate.pattern.match(request.path)
            if not match or candidate.method != request.method:
                continue
            request.match = match.groupdict()
            return emulator, self._answer(emulator, candidate, request)
        return None, Response(404, {"error": f"No route for {request.method} {request.path}"})

    def _answer(self, emulator: ProviderEmulator, candidate: Route, request: Request) -> Response | str:
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
        if self.fault_rate and self.fault_rng.random() < self.fault_rate:
            fault = self.fault_rng.choice(self.faults)
            if fault in ("reset", "truncated"):
                return fault
            status = int(fault)
            message = {500: "Internal Server Error", 503: "Service Unavailable",
                       429: "Rate limit exceeded"}[status]
            headers = {"Retry-After": "1"} if status == 429 else {}
            return Response(status, emulator.error_body(ApiError(status, message)), headers)
        try:
            with emulator.lock:
                body = candidate.handler(request)
        except ApiError as error:
            return Response(error.status, emulator.error_body(error))
        if isinstance(body, Response):
            return body
        return Response(200, body)


def _handler_for(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class SandboxHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002
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
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                finally:
                    self.connection.close()
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
            data = json.dumps(outcome.body, ensure_ascii=False).encode("utf-8")
            self.send_response(outcome.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in outcome.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = _handle
        do_POST = _handle
        do_PUT = _handle
        do_DELETE = _handle

    return SandboxHandler
