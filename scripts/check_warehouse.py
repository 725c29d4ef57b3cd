#!/usr/bin/env python3
"""The warehouse's settings, checked before a Meltano job starts its loader: one line, exit 2.

    scripts/check_warehouse.py duckdb|postgres|snowflake

Each job in meltano.yml runs it first (`warehouse-check:<warehouse>`), so a missing variable is a
line naming it, not a loader's traceback (target-postgres 0.8.1 answers a missing password with a
35-line `AssertionError`). The loader and its dbt utility read the same variables
(`env_aliases`), so these are the whole connection; Meltano hands the check the process
environment and the project's `.env`. Standard library only: it runs on whatever `python3` is.
"""

from __future__ import annotations

import os
import sys
import typing as t
from pathlib import Path

POSTGRES_REQUIRED = ("HOST", "USER", "PASSWORD", "DATABASE")
SNOWFLAKE_REQUIRED = ("ACCOUNT", "USER", "DATABASE")
SNOWFLAKE_CREDENTIALS = ("PASSWORD", "PRIVATE_KEY", "PRIVATE_KEY_PATH")
HOW_TO_SET = "export it or put it in .env"


def _unset(env: t.Mapping[str, str], prefix: str, names: t.Iterable[str]) -> list[str]:
    return [f"{prefix}_{name}" for name in names if not env.get(f"{prefix}_{name}", "").strip()]


def postgres_problem(env: t.Mapping[str, str]) -> str | None:
    missing = _unset(env, "TARGET_POSTGRES", POSTGRES_REQUIRED)
    if not missing:
        return None
    line = (f"target-postgres: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not "
            f"set — {HOW_TO_SET} (the job needs TARGET_POSTGRES_HOST, _USER, _PASSWORD, "
            "_DATABASE; _PORT defaults to 5432)")
    if "TARGET_POSTGRES_PASSWORD" in missing:
        line += ("; trust or peer authentication never checks the password, but target-postgres "
                 "requires one: TARGET_POSTGRES_PASSWORD=unused")
    return line


def snowflake_problem(env: t.Mapping[str, str]) -> str | None:
    missing = _unset(env, "TARGET_SNOWFLAKE", SNOWFLAKE_REQUIRED)
    if len(_unset(env, "TARGET_SNOWFLAKE", SNOWFLAKE_CREDENTIALS)) == len(SNOWFLAKE_CREDENTIALS):
        missing.append("one of TARGET_SNOWFLAKE_PASSWORD, _PRIVATE_KEY, _PRIVATE_KEY_PATH")
    if missing:
        return (f"target-snowflake: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                f"not set — {HOW_TO_SET}")
    key_path = env.get("TARGET_SNOWFLAKE_PRIVATE_KEY_PATH", "").strip()
    if key_path and not Path(key_path).expanduser().is_file():
        return (f"target-snowflake: TARGET_SNOWFLAKE_PRIVATE_KEY_PATH names no file ({key_path})"
                " — point it at the PEM private key")
    return None


def duckdb_problem(env: t.Mapping[str, str]) -> str | None:
    default = Path(env.get("MELTANO_PROJECT_ROOT") or ".") / "output" / "replies.duckdb"
    path = Path(env.get("TARGET_DUCKDB_FILEPATH", "").strip() or default).expanduser()
    if path.parent.is_dir():
        return None
    return (f"target-duckdb: the folder of the DuckDB file does not exist ({path.parent}) — "
            f"DuckDB creates the file, not the folder: mkdir -p {path.parent}, or set "
            "TARGET_DUCKDB_FILEPATH")


CHECKS: dict[str, t.Callable[[t.Mapping[str, str]], str | None]] = {
    "duckdb": duckdb_problem, "postgres": postgres_problem, "snowflake": snowflake_problem}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in CHECKS:
        print(f"check_warehouse.py: expected one of {', '.join(CHECKS)}", file=sys.stderr)
        return 2
    problem = CHECKS[argv[0]](os.environ)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
