"""A terminal summary of the dbt marts (schema analytics): replies per provider and
classification, the campaigns with the best positive reply rate, and follow-ups due per SDR.

    .venv/bin/python scripts/summary.py [output/replies.duckdb]

A missing file, or one without the marts, is one line naming the fix (exit 2).
"""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

import duckdb

MODEL_SCHEMA = "analytics"
CLASSIFICATIONS = ("interested", "not_interested", "out_of_office", "bounce", "unsubscribe",
                   "unknown")

# Only Smartlead's API names its campaigns; the others' rows carry the id alone.
NO_NAME = {"leadterra": "(no name in the API)", "tuco": "(no name in the API)"}

SHORT = {"interested": "interested", "not_interested": "not int.", "out_of_office": "ooo",
         "bounce": "bounce", "unsubscribe": "unsub.", "unknown": "unknown"}


def _table(
    headers: t.Sequence[str], rows: t.Sequence[t.Sequence[t.Any]], indent: str = "  "
) -> str:
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: t.Sequence[str]) -> str:
        # Text left, numbers right: a column is numeric when every value in it is.
        out = []
        for i, value in enumerate(values):
            numeric = all(_is_number(r[i]) for r in cells if r[i]) and bool(cells)
            out.append(value.rjust(widths[i]) if numeric else value.ljust(widths[i]))
        return indent + "  ".join(out).rstrip()

    rule = indent + "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def _is_number(value: str) -> bool:
    try:
        float(value.rstrip("%"))
    except ValueError:
        return False
    return True


def _truncate(value: t.Any, width: int) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def summary(path: str | Path, *, top: int = 5, min_replies: int = 5) -> str:
    """The demo's summary, read from the marts in `path` (opened read-only: DuckDB allows one
    writer, and the next `meltano run` must be able to open the file)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        counts = con.execute(
            f"SELECT provider, classification, count(*) FROM {MODEL_SCHEMA}.replies "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        campaigns = con.execute(
            f"SELECT provider, campaign_id, campaign_name, replies, interested, positive_rate "
            f"FROM {MODEL_SCHEMA}.campaign_reply_rates WHERE replies >= ? "
            "ORDER BY positive_rate DESC, replies DESC, provider, campaign_id LIMIT ?",
            [min_replies, top],
        ).fetchall()
        followups = con.execute(
            f"SELECT sdr_name, due, overdue, strftime(next_due_at, '%Y-%m-%d %H:%M') "
            f"FROM {MODEL_SCHEMA}.followups_due_by_sdr ORDER BY due DESC, sdr_name"
        ).fetchall()
    finally:
        con.close()

    by_provider: dict[str, dict[str, int]] = {}
    for provider, classification, n in counts:
        by_provider.setdefault(provider, {})[classification] = n
    rows = [
        [provider, *(by_provider[provider].get(c, 0) for c in CLASSIFICATIONS),
         sum(by_provider[provider].values())]
        for provider in sorted(by_provider)
    ]
    rows.append(["all", *(sum(p.get(c, 0) for p in by_provider.values()) for c in CLASSIFICATIONS),
                 sum(sum(p.values()) for p in by_provider.values())])
    parts = [
        "Replies per provider and classification (analytics.replies)",
        _table(["provider", *(SHORT[c] for c in CLASSIFICATIONS), "total"], rows),
        "",
        f"Best positive reply rate (interested / replies, campaigns with ≥ {min_replies} replies)",
        _table(["provider", "campaign", "name", "replies", "interested", "positive"],
               [[p, _truncate(cid, 26), _truncate(name or NO_NAME.get(p, ""), 28), n, i,
                 f"{rate * 100:.1f}%"]
                for p, cid, name, n, i, rate in campaigns]) if campaigns else "  (none yet)",
        "",
        "Leadterra follow-ups due per SDR (analytics.followups_due_by_sdr)",
        _table(["sdr", "due", "overdue", "next due (UTC)"], followups)
        if followups else "  (none due)",
    ]
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "output/replies.duckdb")
    if not path.is_file():
        print(f"summary.py: no DuckDB file at {path} — run `make demo` (or `meltano run "
              "replies-duckdb`) first, or give the file's path", file=sys.stderr)
        return 2
    try:
        print(summary(path))
    except duckdb.CatalogException:
        print(f"summary.py: {path} has no marts (schema {MODEL_SCHEMA}) — build them: "
              "`.venv/bin/meltano invoke dbt-duckdb:build`", file=sys.stderr)
        return 2
    except duckdb.IOException as exc:
        print(f"summary.py: cannot open {path}: {' '.join(str(exc).split())[:200]}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
