"""`python -m dashboard` (`make dashboard`, `meltano invoke dashboard`): serve the dashboard on
127.0.0.1 over the marts of the warehouse the TARGET_* variables name, or write a snapshot.

    python -m dashboard [--port 8765] [--host 127.0.0.1] [--warehouse auto|duckdb|postgres|…]
    python -m dashboard --snapshot output/dashboard.html     # one self-contained HTML file
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import typing as t
from pathlib import Path

from dashboard.server import MartCache, make_server, render
from dashboard.warehouse import WAREHOUSES, WarehouseError, warehouse_from_env

ROOT = Path(os.environ.get("MELTANO_PROJECT_ROOT") or Path(__file__).resolve().parent.parent)


def parse(argv: t.Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dashboard",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DASHBOARD_PORT") or 8765),
                        help="port (DASHBOARD_PORT, else 8765; 0 picks a free one)")
    parser.add_argument("--warehouse", choices=WAREHOUSES, default="auto",
                        help="auto: Snowflake if TARGET_SNOWFLAKE_ACCOUNT is set, else PostgreSQL "
                             "if TARGET_POSTGRES_HOST is, else DuckDB (TARGET_DUCKDB_FILEPATH)")
    parser.add_argument("--snapshot", type=Path, help="write the page to this file and exit")
    return parser.parse_args(argv)


def serve(cache: MartCache, host: str, port: int) -> int:
    try:
        server = make_server(cache, host, port)
    except OSError as error:
        print(f"dashboard: cannot listen on {host}:{port} ({error.strerror}) — pick another "
              "--port", file=sys.stderr)
        return 2

    def stop(*_: t.Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    bound_port = server.server_address[1]
    print(f"dashboard: {cache.warehouse.description} on http://{host}:{bound_port}/ "
          "(Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv: t.Sequence[str] | None = None) -> int:
    args = parse(argv)
    try:
        warehouse = warehouse_from_env(os.environ, ROOT, args.warehouse)
    except WarehouseError as error:
        print(error, file=sys.stderr)
        return 2
    cache = MartCache(warehouse)
    marts, problem = cache.current()
    if marts is None:
        print(problem, file=sys.stderr)
        return 2
    if args.snapshot:
        _, text = render(cache, "", inline=True)
        args.snapshot.parent.mkdir(parents=True, exist_ok=True)
        args.snapshot.write_text(text, encoding="utf-8")
        print(f"dashboard: wrote {args.snapshot} ({warehouse.description})")
        return 0
    return serve(cache, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
