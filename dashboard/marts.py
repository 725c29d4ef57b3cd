"""What the dashboard shows, computed from the marts' rows and the page's filters (no SQL here:
the same rows come from DuckDB, PostgreSQL or Snowflake)."""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import typing as t
from collections import Counter
from dataclasses import dataclass, field

from dashboard.warehouse import HINT, MODEL_SCHEMA, MartRows, Rows, WarehouseError

# Read by the dashboard; the first five must exist (dbt builds them), the history is optional.
REQUIRED_MARTS = ("replies_by_day", "campaign_reply_rates", "followups_due_by_sdr",
                  "workspace_loads", "stream_loads")
HISTORY_MART = "lead_category_history"
MARTS = (*REQUIRED_MARTS, HISTORY_MART)
CLASSIFICATIONS = ("interested", "not_interested", "out_of_office", "bounce", "unsubscribe",
                   "unknown")
# The history's columns, by the names a dbt snapshot of a lead's category may give them.
LEAD_COLUMNS = ("lead_key", "lead_id", "lead_email", "email")
CATEGORY_COLUMNS = ("category_name", "category", "lead_category", "classification")
SINCE_COLUMNS = ("valid_from", "dbt_valid_from", "changed_at")


@dataclass(frozen=True)
class Filters:
    """The page's filters (query string): empty means all."""

    workspace: str = ""
    provider: str = ""
    start: dt.date | None = None
    end: dt.date | None = None

    def keeps(self, row: t.Mapping[str, t.Any], day: str | None = None) -> bool:
        if self.workspace and row.get("workspace") != self.workspace:
            return False
        if self.provider and row.get("provider", self.provider) != self.provider:
            return False
        return self.in_range(as_date(row.get(day))) if day else True

    def in_range(self, day: dt.date | None) -> bool:
        if day is None:
            return True
        return not ((self.start and day < self.start) or (self.end and day > self.end))


def as_date(value: t.Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def as_number(value: t.Any) -> float:
    return float(value) if isinstance(value, decimal.Decimal) else float(value or 0)


def naive_utc(value: t.Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, dt.datetime) and value.tzinfo:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return t.cast("dt.datetime", value)


@dataclass(frozen=True)
class Totals:
    replies: int
    interested: int
    campaigns: int
    followups_due: int
    followups_overdue: int
    workspaces: int
    stale_workspaces: int

    @property
    def positive_share(self) -> float | None:
        return self.interested / self.replies if self.replies else None


@dataclass(frozen=True)
class Marts:
    """The marts' rows as read once from the warehouse; views of them under a filter."""

    rows: MartRows
    read_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    @classmethod
    def checked(cls, rows: MartRows, where: str, now: dt.datetime | None = None) -> Marts:
        missing = [mart for mart in REQUIRED_MARTS if rows.get(mart) is None]
        if missing:
            raise WarehouseError(f"dashboard: {where} has no marts yet "
                                 f"({MODEL_SCHEMA}.{missing[0]} missing) — {HINT}")
        return cls(rows, now or dt.datetime.now(dt.timezone.utc))

    def mart(self, name: str) -> Rows:
        return self.rows.get(name) or []

    def choices(self, column: str) -> list[str]:
        values = {str(r[column]) for mart in REQUIRED_MARTS for r in self.mart(mart)
                  if r.get(column) is not None}
        return sorted(values)

    def replies_by_day(self, filters: Filters) -> Rows:
        return [r for r in self.mart("replies_by_day") if filters.keeps(r, "reply_date")]

    def campaigns(self, filters: Filters) -> Rows:
        rows = [r for r in self.mart("campaign_reply_rates") if filters.keeps(r)]
        return sorted(rows, key=lambda r: (-as_number(r["positive_rate"]), -int(r["replies"]),
                                           str(r["provider"]), str(r["campaign_id"])))

    def followups(self, filters: Filters) -> Rows:
        if filters.provider not in ("", "leadterra"):
            return []
        rows = [r for r in self.mart("followups_due_by_sdr") if filters.keeps(r)]
        return sorted(rows, key=lambda r: (-int(r["overdue"]), -int(r["due"]), str(r["sdr_name"])))

    def workspaces(self, filters: Filters) -> Rows:
        """workspace_loads with `stale` as of now (the mart's flag is as of its build)."""
        now = self.read_at.astimezone(dt.timezone.utc).replace(tzinfo=None)
        out = []
        for row in self.mart("workspace_loads"):
            if filters.workspace and row["workspace"] != filters.workspace:
                continue
            last = naive_utc(row.get("last_loaded_at"))
            age = dt.timedelta(hours=int(row.get("max_load_age_hours") or 48))
            out.append({**row, "last_loaded_at": last,
                        "stale": last is None or now - last > age})
        return sorted(out, key=lambda r: (not r["stale"], str(r["workspace"])))

    def streams(self, filters: Filters) -> Rows:
        rows = [r for r in self.mart("stream_loads") if filters.keeps(r)]
        return sorted(rows, key=lambda r: (str(r["workspace"]), str(r["stream"])))

    def totals(self, filters: Filters) -> Totals:
        by_day = self.replies_by_day(filters)
        followups = self.followups(filters)
        workspaces = self.workspaces(filters)
        return Totals(
            replies=sum(int(r["replies"]) for r in by_day),
            interested=sum(int(r["replies"]) for r in by_day
                           if r["classification"] == "interested"),
            campaigns=len(self.campaigns(filters)),
            followups_due=sum(int(r["due"]) for r in followups),
            followups_overdue=sum(int(r["overdue"]) for r in followups),
            workspaces=len(workspaces),
            stale_workspaces=sum(1 for r in workspaces if r["stale"]))

    def has_history(self) -> bool:
        return bool(self.rows.get(HISTORY_MART))

    def category_movements(self, filters: Filters) -> Counter[tuple[str, str]]:
        """(from, to) → leads whose category moved so within the date range."""
        return category_movements(self.mart(HISTORY_MART), filters)


def _first(row: t.Mapping[str, t.Any], names: t.Sequence[str]) -> str | None:
    return next((name for name in names if name in row), None)


def category_movements(history: Rows, filters: Filters) -> Counter[tuple[str, str]]:
    """From a snapshot of leads' categories (a row per lead and period), each change of a lead's
    category whose new period starts within the filters' range, counted by (from, to)."""
    moves: Counter[tuple[str, str]] = Counter()
    if not history:
        return moves
    lead, category, since = (_first(history[0], LEAD_COLUMNS),
                             _first(history[0], CATEGORY_COLUMNS),
                             _first(history[0], SINCE_COLUMNS))
    if not (lead and category and since):
        return moves
    periods: dict[tuple[t.Any, ...], list[tuple[dt.datetime, str]]] = {}
    for row in history:
        if filters.keeps(row) and row.get(since) is not None:
            key = (row.get("workspace"), row.get("provider"), row[lead])
            when = t.cast("dt.datetime", naive_utc(row[since]))
            periods.setdefault(key, []).append((when, str(row[category] or "(none)")))
    for changes in periods.values():
        changes.sort()
        for (_, before), (when, after) in itertools.pairwise(changes):
            if before != after and filters.in_range(when.date()):
                moves[(before, after)] += 1
    return moves
