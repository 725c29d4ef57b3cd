"""python -m tap_replies.sql [DUCKDB_FILE]: build the unified model, then print the summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tap_replies.sql import LOADED_SCHEMA, build_model
from tap_replies.sql.report import summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tap_replies.sql", description=__doc__)
    parser.add_argument("path", nargs="?", default="output/replies.duckdb",
                        help="the file target-duckdb loads (default output/replies.duckdb)")
    parser.add_argument("--schema", default=LOADED_SCHEMA,
                        help="schema of the stream tables (target-duckdb's default_target_schema)")
    parser.add_argument("--no-summary", action="store_true", help="build only")
    args = parser.parse_args(argv)
    if not Path(args.path).is_file():
        parser.error(f"{args.path} does not exist: run `meltano run tap-replies target-duckdb` "
                     "first")
    build = build_model(args.path, schema=args.schema)
    counts = ", ".join(f"analytics.{name} {rows}" for name, rows in build.rows.items())
    print(f"built {counts}")
    if build.missing_sources:
        print(f"(no table yet for: {', '.join(build.missing_sources)})")
    if not args.no_summary:
        print()
        print(summary(args.path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
