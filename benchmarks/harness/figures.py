"""Numbers and how they are printed: medians, per-10k figures, tables, verdicts."""

from __future__ import annotations

import math
import statistics
import typing as t


def median(values: t.Iterable[float]) -> float:
    data = list(values)
    return statistics.median(data) if data else float("nan")


def spread(values: t.Iterable[float], digits: int = 2) -> str:
    """`min-max` of a few runs, so a noisy figure shows as one."""
    data = list(values)
    if len(data) < 2:
        return "-"
    return f"{fmt(min(data), digits)}-{fmt(max(data), digits)}"


def per_10k(cpu: float, records: int) -> float:
    return cpu / records * 10_000 if records else float("nan")


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
            for r in rows]
    return "\n".join([line, rule, *body])


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"
