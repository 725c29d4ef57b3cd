"""The dashboard's charts: plotly figures built from the rows dashboard.marts hands over."""

from __future__ import annotations

import datetime as dt
import typing as t
from collections import Counter, defaultdict

import plotly.graph_objects as go

from dashboard.marts import CLASSIFICATIONS, as_date, as_number
from dashboard.warehouse import Rows

COLOURS = {"interested": "#2ca02c", "not_interested": "#d62728", "out_of_office": "#9467bd",
           "bounce": "#8c564b", "unsubscribe": "#ff7f0e", "unknown": "#7f7f7f"}
PROVIDER_COLOURS = {"leadterra": "#1f77b4", "smartlead": "#17becf", "tuco": "#bcbd22"}
TOP_CAMPAIGNS = 15
# The ranking chart leaves out campaigns with fewer replies: one reply is not a rate (the table
# below it lists them all).
MIN_REPLIES_TO_RANK = 5
DAILY_UP_TO_DAYS = 120


def _layout(figure: go.Figure, title: str, height: int = 360) -> go.Figure:
    figure.update_layout(title={"text": title, "x": 0}, height=height, template="plotly_white",
                         margin={"l": 60, "r": 20, "t": 50, "b": 40}, legend={"orientation": "h"})
    return figure


def bucket(days: list[dt.date]) -> tuple[str, t.Callable[[dt.date], dt.date]]:
    """Days over a short range, weeks (from Monday) over a long one: bars a person can see."""
    if days and (max(days) - min(days)).days > DAILY_UP_TO_DAYS:
        return "week", lambda day: day - dt.timedelta(days=day.weekday())
    return "day", lambda day: day


def replies_over_time(by_day: Rows) -> go.Figure:
    """Replies per day (per week over a long range), stacked by classification."""
    unit, start_of = bucket([t.cast("dt.date", as_date(r["reply_date"])) for r in by_day])
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for row in by_day:
        day = start_of(t.cast("dt.date", as_date(row["reply_date"])))
        per[str(row["classification"])][day.isoformat()] += int(row["replies"])
    figure = go.Figure()
    for classification in CLASSIFICATIONS:
        if per[classification]:
            days = sorted(per[classification])
            figure.add_bar(x=days, y=[per[classification][d] for d in days], name=classification,
                           marker_color=COLOURS[classification])
    figure.update_layout(barmode="stack", xaxis_type="date")
    return _layout(figure, f"Replies per {unit}, by classification")


def providers_over_time(by_day: Rows) -> go.Figure:
    """Replies per day (per week over a long range), a line per provider."""
    unit, start_of = bucket([t.cast("dt.date", as_date(r["reply_date"])) for r in by_day])
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for row in by_day:
        day = start_of(t.cast("dt.date", as_date(row["reply_date"])))
        per[str(row["provider"])][day.isoformat()] += int(row["replies"])
    figure = go.Figure()
    for provider in sorted(per):
        days = sorted(per[provider])
        figure.add_scatter(x=days, y=[per[provider][d] for d in days], name=provider,
                           mode="lines+markers", line_color=PROVIDER_COLOURS.get(provider))
    figure.update_layout(xaxis_type="date")
    return _layout(figure, f"Replies per {unit}, by provider", height=300)


def replies_by_provider(by_day: Rows) -> go.Figure:
    """Replies per provider and classification over the whole range."""
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for row in by_day:
        per[str(row["classification"])][str(row["provider"])] += int(row["replies"])
    providers = sorted({str(row["provider"]) for row in by_day})
    figure = go.Figure()
    for classification in CLASSIFICATIONS:
        if per[classification]:
            figure.add_bar(y=providers, x=[per[classification][p] for p in providers],
                           name=classification, orientation="h",
                           marker_color=COLOURS[classification])
    figure.update_layout(barmode="stack")
    return _layout(figure, "Replies per provider, by classification", height=260)


def campaign_label(row: t.Mapping[str, t.Any]) -> str:
    name = row.get("campaign_name") or row["campaign_id"]
    return f"{name} ({row['provider']})"


def campaign_ranking(campaigns: Rows) -> go.Figure:
    """The campaigns with the best positive reply rate (interested / replies)."""
    ranked = [r for r in campaigns if int(r["replies"]) >= MIN_REPLIES_TO_RANK] or campaigns
    top = list(reversed(ranked[:TOP_CAMPAIGNS]))
    figure = go.Figure(go.Bar(
        y=[campaign_label(r) for r in top], x=[as_number(r["positive_rate"]) for r in top],
        orientation="h", text=[f"{r['interested']}/{r['replies']}" for r in top],
        marker_color=[PROVIDER_COLOURS.get(str(r["provider"]), "#1f77b4") for r in top],
        customdata=[[r.get("leads") if r.get("leads") is not None else "—"] for r in top],
        hovertemplate="%{y}<br>positive %{x:.1%} (%{text} replies)<br>leads %{customdata[0]}"
                      "<extra></extra>"))
    figure.update_layout(xaxis_tickformat=".0%")
    return _layout(figure, f"Top {len(top)} campaigns by positive reply rate "
                           f"(≥ {MIN_REPLIES_TO_RANK} replies)",
                   height=max(260, 40 + 26 * len(top)))


def followups_by_sdr(followups: Rows) -> go.Figure:
    """Due follow-ups per SDR, the overdue ones apart."""
    rows = list(reversed(followups))
    names = [str(r["sdr_name"]) for r in rows]
    figure = go.Figure()
    figure.add_bar(y=names, x=[int(r["overdue"]) for r in rows], name="overdue",
                   orientation="h", marker_color="#d62728")
    figure.add_bar(y=names, x=[int(r["due"]) - int(r["overdue"]) for r in rows],
                   name="due, not yet overdue", orientation="h", marker_color="#aec7e8")
    figure.update_layout(barmode="stack")
    return _layout(figure, "Follow-ups due per SDR (Leadterra)",
                   height=max(260, 60 + 24 * len(rows)))


def category_movement(moves: Counter[tuple[str, str]]) -> go.Figure:
    """Leads moving from one category to another: a Sankey from the old to the new one."""
    sources = sorted({before for before, _ in moves})
    targets = sorted({after for _, after in moves})
    labels = [f"{s} →" for s in sources] + [f"→ {d}" for d in targets]
    figure = go.Figure(go.Sankey(
        node={"label": labels, "pad": 12},
        link={"source": [sources.index(b) for b, _ in moves],
              "target": [len(sources) + targets.index(a) for _, a in moves],
              "value": list(moves.values())}))
    return _layout(figure, "Lead category movement over the period")
