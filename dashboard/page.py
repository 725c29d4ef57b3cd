"""The dashboard as one HTML page: filters, totals, charts (plotly.js, served locally or inlined
in a snapshot) and the load tables. Every total carries `data-total` so a test can read it."""

from __future__ import annotations

import datetime as dt
import html
import typing as t
from urllib.parse import urlencode

import plotly.graph_objects as go

from dashboard import figures
from dashboard.marts import Filters, Marts, Totals
from dashboard.warehouse import HINT

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#222}
header{background:#1f2937;color:#fff;padding:12px 24px}
header h1{font-size:20px;margin:0 0 4px}header p{margin:0;font-size:13px;color:#cbd5e1}
form{display:flex;gap:12px;align-items:end;flex-wrap:wrap;padding:12px 24px;background:#fff;
border-bottom:1px solid #e5e7eb}form label{font-size:12px;display:flex;flex-direction:column}
main{padding:16px 24px}section{background:#fff;border:1px solid #e5e7eb;border-radius:6px;
padding:12px 16px;margin-bottom:16px}h2{font-size:16px;margin:4px 0 8px}
.kpis{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:16px}
.kpi{background:#fff;border:1px solid #e5e7eb;border-radius:6px;padding:10px 16px;min-width:120px}
.kpi .value{font-size:24px;font-weight:600;display:block}.kpi .label{font-size:12px;color:#555}
table{border-collapse:collapse;font-size:13px;width:100%}th,td{text-align:left;padding:4px 8px;
border-bottom:1px solid #eee}td.num{text-align:right}tr.stale td{background:#fdecea}
.banner{background:#fdecea;border:1px solid #f5c2c0;padding:8px 12px;margin-bottom:16px}
.empty{color:#666;font-style:italic}
"""
# Marks the page once every chart has drawn: document.body.dataset.chartsRendered = count.
RENDER = """
const ids = Object.keys(FIGURES);
Promise.all(ids.map(id => Plotly.newPlot(id, FIGURES[id].data, FIGURES[id].layout,
    {displaylogo: false, responsive: true})))
  .then(() => { document.body.dataset.chartsRendered =
      ids.filter(id => document.getElementById(id).querySelector('.main-svg')).length; })
  .catch(error => { document.body.dataset.chartError = String(error); });
"""


def esc(value: t.Any) -> str:
    return html.escape("" if value is None else str(value))


def when(value: t.Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, dt.datetime) else esc(value)


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}%"


def _options(name: str, values: list[str], chosen: str, everything: str) -> str:
    items = [f'<option value="">{everything}</option>'] + [
        f'<option value="{esc(v)}"{" selected" if v == chosen else ""}>{esc(v)}</option>'
        for v in values]
    return f'<select name="{name}">{"".join(items)}</select>'


def filter_form(marts: Marts, filters: Filters) -> str:
    start = filters.start.isoformat() if filters.start else ""
    end = filters.end.isoformat() if filters.end else ""
    snapshot = "snapshot.html?" + urlencode({k: v for k, v in query(filters).items() if v})
    workspaces = _options("workspace", marts.choices("workspace"), filters.workspace, "all")
    providers = _options("provider", marts.choices("provider"), filters.provider, "all")
    return (
        f'<form method="get" action="./"><label>Workspace{workspaces}</label>'
        f'<label>Provider{providers}</label>'
        f'<label>From<input type="date" name="from" value="{start}"></label>'
        f'<label>To<input type="date" name="to" value="{end}"></label>'
        '<button type="submit">Apply</button>'
        f'<a href="{esc(snapshot)}" download="replies-dashboard.html">Download a snapshot</a>'
        "</form>")


def query(filters: Filters) -> dict[str, str]:
    return {"workspace": filters.workspace, "provider": filters.provider,
            "from": filters.start.isoformat() if filters.start else "",
            "to": filters.end.isoformat() if filters.end else ""}


def kpis(totals: Totals) -> str:
    cards = [("replies", totals.replies, "replies"),
             ("interested", totals.interested, "interested"),
             ("positive_share", percent(totals.positive_share), "positive share"),
             ("campaigns", totals.campaigns, "campaigns with replies"),
             ("followups_due", totals.followups_due, "follow-ups due"),
             ("followups_overdue", totals.followups_overdue, "overdue"),
             ("stale_workspaces", f"{totals.stale_workspaces}/{totals.workspaces}",
              "workspaces stale")]
    return '<div class="kpis">' + "".join(
        f'<div class="kpi"><span class="value" data-total="{name}">{esc(value)}</span>'
        f'<span class="label">{label}</span></div>' for name, value, label in cards) + "</div>"


def table(headers: list[str], rows: list[list[t.Any]], numeric: set[int],
          row_classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f'<td class="num">{esc(v)}</td>' if j in numeric else f"<td>{esc(v)}</td>"
                        for j, v in enumerate(row))
        css = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def section(title: str, body: str, anchor: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{body}</section>'


def chart(anchor: str) -> str:
    return f'<div class="chart" id="{anchor}"></div>'


def empty(text: str) -> str:
    return f'<p class="empty">{esc(text)}</p>'


class Page:
    """One rendering of the dashboard: the marts under the filters, as HTML."""

    def __init__(self, marts: Marts, filters: Filters, source: str,
                 problem: str | None = None) -> None:
        self.marts, self.filters, self.source, self.problem = marts, filters, source, problem
        self.figures: dict[str, go.Figure] = {}

    def _chart(self, anchor: str, figure: go.Figure) -> str:
        self.figures[anchor] = figure
        return chart(anchor)

    def loads(self) -> str:
        rows = self.marts.workspaces(self.filters)
        body = table(
            ["workspace", "stale", "last load (UTC)", "rows", "rows loaded in its last day",
             "streams", "oldest stream load (UTC)"],
            [[r["workspace"], "STALE" if r["stale"] else "ok", when(r["last_loaded_at"]) or "never",
              r["row_count"], r["rows_loaded_last_day"], r["streams_loaded"],
              when(r.get("oldest_stream_loaded_at"))] for r in rows],
            {3, 4, 5}, ["stale" if r["stale"] else "" for r in rows])
        return section("Loads: one row per workspace", body, "loads")

    def replies(self) -> str:
        by_day = self.marts.replies_by_day(self.filters)
        if not by_day:
            return section("Replies", empty(f"No replies in this selection — {HINT}."), "replies")
        charts = [("chart-replies-over-time", figures.replies_over_time(by_day)),
                  ("chart-providers-over-time", figures.providers_over_time(by_day)),
                  ("chart-replies-by-provider", figures.replies_by_provider(by_day))]
        return section("Replies", "".join(self._chart(a, f) for a, f in charts), "replies")

    def campaigns(self) -> str:
        rows = self.marts.campaigns(self.filters)
        if not rows:
            return section("Campaigns", empty("No campaign has replies yet."), "campaigns")
        listing = table(["campaign", "provider", "name", "leads", "replies", "interested",
                         "positive rate"],
                        [[r["campaign_id"], r["provider"], r.get("campaign_name"), r.get("leads"),
                          r["replies"], r["interested"], percent(float(r["positive_rate"]))]
                         for r in rows], {3, 4, 5, 6})
        return section("Campaigns by positive reply rate (all time)",
                       self._chart("chart-campaigns", figures.campaign_ranking(rows)) + listing,
                       "campaigns")

    def followups(self) -> str:
        rows = self.marts.followups(self.filters)
        if not rows:
            return section("Follow-ups", empty("No follow-ups due."), "followups")
        return section("Follow-ups due and overdue per SDR (the current due list)",
                       self._chart("chart-followups", figures.followups_by_sdr(rows)),
                       "followups")

    def history(self) -> str:
        if not self.marts.has_history():
            return section("Lead category movement", empty(
                "No history yet: analytics.lead_category_history has no rows."), "history")
        moves = self.marts.category_movements(self.filters)
        if not moves:
            return section("Lead category movement", empty(
                "No lead changed category in this period."), "history")
        return section("Lead category movement",
                       self._chart("chart-history", figures.category_movement(moves)), "history")

    def streams(self) -> str:
        rows = self.marts.streams(self.filters)
        return section("Streams", table(
            ["workspace", "provider", "stream", "rows", "rows loaded in its last day",
             "last load (UTC)"],
            [[r["workspace"], r["provider"], r["stream"], r["row_count"],
              r["rows_loaded_last_day"], when(r["last_loaded_at"])] for r in rows], {3, 4}),
            "streams")

    def render(self, plotly_script: str) -> str:
        body = "".join([self.loads(), self.replies(), self.campaigns(), self.followups(),
                        self.history(), self.streams()])
        banner = f'<div class="banner">{esc(self.problem)}</div>' if self.problem else ""
        data = "{" + ",".join(f'"{anchor}": {figure.to_json()}'
                              for anchor, figure in self.figures.items()) + "}"
        data = data.replace("</", "<\\/")  # no "</script>" inside the script
        read_at = self.marts.read_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>Replies dashboard</title><style>{STYLE}</style>{plotly_script}</head>"
            f'<body data-charts="{len(self.figures)}"><header><h1>Replies dashboard</h1>'
            f"<p>{esc(self.source)} · marts read {read_at}</p></header>"
            f"{filter_form(self.marts, self.filters)}<main>{banner}"
            f"{kpis(self.marts.totals(self.filters))}{body}</main>"
            f"<script>const FIGURES = {data};{RENDER}</script>"
            "</body></html>")
