"""The dashboard over HTTP (the standard library's server, on loopback): `/` the page (filters in
the query string), `/snapshot.html` the same page with plotly.js inlined, to save and share,
`/plotly.min.js` plotly's own bundle (nothing is fetched from the internet)."""

from __future__ import annotations

import datetime as dt
import html
import json
import threading
import time
import typing as t
from collections.abc import Callable, Hashable
from functools import cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from dashboard.marts import MARTS, Filters, Marts
from dashboard.page import Page
from dashboard.warehouse import Warehouse, WarehouseError

# A warehouse that cannot say whether it changed (PostgreSQL, Snowflake) is read again after this.
REFRESH_SECONDS = 60.0


@cache
def plotly_js() -> bytes:
    from plotly.offline import get_plotlyjs

    return t.cast("str", get_plotlyjs()).encode("utf-8")


class MartCache:
    """The marts as last read; read again when the warehouse's version changed (DuckDB: the file)
    or, for a warehouse without one, after `refresh_seconds`. A failed read keeps what was read
    before and says why."""

    def __init__(self, warehouse: Warehouse, refresh_seconds: float = REFRESH_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.warehouse, self.refresh_seconds, self.clock = warehouse, refresh_seconds, clock
        self._lock = threading.Lock()
        self._marts: Marts | None = None
        self._version: Hashable | None = None
        self._read_at = -float("inf")

    def _stale(self, version: Hashable | None) -> bool:
        if self._marts is None:
            return True
        if version is not None:
            return version != self._version
        return self.clock() - self._read_at >= self.refresh_seconds

    def current(self) -> tuple[Marts | None, str | None]:
        with self._lock:
            version = self.warehouse.version()
            if not self._stale(version):
                return self._marts, None
            try:
                rows = self.warehouse.read_marts(MARTS)
                self._marts = Marts.checked(rows, self.warehouse.description)
            except WarehouseError as error:
                return self._marts, str(error)
            self._version, self._read_at = version, self.clock()
            return self._marts, None


def filters_from(query: str) -> tuple[Filters, str | None]:
    values = {k: v[0].strip() for k, v in parse_qs(query).items() if v}
    try:
        start = dt.date.fromisoformat(values["from"]) if values.get("from") else None
        end = dt.date.fromisoformat(values["to"]) if values.get("to") else None
    except ValueError:
        return (Filters(values.get("workspace", ""), values.get("provider", "")),
                "dashboard: from/to must be dates (YYYY-MM-DD); showing every date")
    return Filters(values.get("workspace", ""), values.get("provider", ""), start, end), None


def render(cache_: MartCache, query: str, *, inline: bool) -> tuple[HTTPStatus, str]:
    marts, problem = cache_.current()
    if marts is None:
        text = html.escape(problem or "dashboard: no marts read")
        return HTTPStatus.SERVICE_UNAVAILABLE, (
            f"<!doctype html><html><body><h1>Replies dashboard</h1><p>{text}</p></body></html>")
    filters, bad_filter = filters_from(query)
    script = (f"<script>{plotly_js().decode('utf-8')}</script>" if inline
              else '<script src="plotly.min.js"></script>')
    page = Page(marts, filters, cache_.warehouse.description, problem or bad_filter)
    return HTTPStatus.OK, page.render(script)


class DashboardHandler(BaseHTTPRequestHandler):
    cache: t.ClassVar[MartCache]
    server_version = "tap-replies-dashboard"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path in ("/", "/index.html", "/snapshot.html"):
            status, text = render(self.cache, url.query, inline=url.path == "/snapshot.html")
            self._send(status, text.encode("utf-8"), "text/html; charset=utf-8")
        elif url.path == "/plotly.min.js":
            self._send(HTTPStatus.OK, plotly_js(), "application/javascript",
                       {"Cache-Control": "max-age=86400"})
        elif url.path == "/healthz":
            marts, problem = self.cache.current()
            body = {"ok": marts is not None, "problem": problem}
            self._send(HTTPStatus.OK if marts else HTTPStatus.SERVICE_UNAVAILABLE,
                       json.dumps(body).encode(), "application/json")
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")

    def _send(self, status: HTTPStatus, body: bytes, kind: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: t.Any) -> None:
        """Quiet: a request line per page view would bury the one line that matters."""


def make_server(cache_: MartCache, host: str = "127.0.0.1", port: int = 8765
                ) -> ThreadingHTTPServer:
    handler = type("BoundDashboardHandler", (DashboardHandler,), {"cache": cache_})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
