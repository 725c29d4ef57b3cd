"""The three marts computed in Python from the sandbox's ground truth, independently of dbt, and
the one shape every warehouse's marts are compared in.

The rules are the README's (section "Where the data lands"), written a second time on purpose:
a mistake in the dbt macros then shows up as a difference rather than being copied.
"""

from __future__ import annotations

import datetime as dt
import decimal
import typing as t

Row = dict[str, t.Any]
Truth = dict[str, list[dict[str, t.Any]]]

MARTS = ("replies", "campaign_reply_rates", "followups_due_by_sdr")
KEYS: dict[str, tuple[str, ...]] = {
    "replies": ("workspace", "provider", "reply_id"),
    "campaign_reply_rates": ("workspace", "provider", "campaign_id"),
    "followups_due_by_sdr": ("workspace", "sdr_id"),
}
COLUMNS: dict[str, tuple[str, ...]] = {
    "replies": ("workspace", "provider", "reply_id", "lead_email", "campaign_id", "received_at",
                "classification", "source_classification", "snippet"),
    "campaign_reply_rates": ("workspace", "provider", "campaign_id", "campaign_name", "leads",
                             "replies", "interested", "negative", "positive_rate",
                             "positive_per_lead", "last_reply_at"),
    "followups_due_by_sdr": ("workspace", "sdr_id", "sdr_name", "sdr_email", "due", "overdue",
                             "next_due_at"),
}
TIMESTAMPS = {"received_at", "last_reply_at", "next_due_at"}
RATES = {"positive_rate", "positive_per_lead"}
CLASSIFICATIONS = ("interested", "not_interested", "out_of_office", "bounce", "unsubscribe",
                   "unknown")

LABELS = {"interested", "not_interested", "out_of_office", "bounce", "unsubscribe"}
OPT_OUT_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
SMARTLEAD_NAMES = {
    "interested": "interested", "meeting request": "interested", "meeting booked": "interested",
    "information request": "interested", "not interested": "not_interested",
    "wrong person": "not_interested", "do not contact": "unsubscribe",
    "unsubscribe": "unsubscribe", "unsubscribed": "unsubscribe", "out of office": "out_of_office",
    "ooo": "out_of_office", "bounce": "bounce", "bounced": "bounce",
    "sender originated bounce": "bounce",
}
CLOSED_FOLLOWUP_STATUSES = {"completed", "skipped", "done", "cancelled"}
SNIPPET_CHARS = 280


# -- one shape for every warehouse -----------------------------------------------------------


def utc(value: t.Any) -> dt.datetime | None:
    """A date-time (ISO text or datetime) as a naive UTC datetime, to the second."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return t.cast("dt.datetime", value).replace(microsecond=0)


def normalise(mart: str, row: t.Mapping[str, t.Any]) -> Row:
    """A mart row as compared: lower-case names, rates as 4-place decimals, date-times as naive
    UTC datetimes, empty text as NULL (the loaders store '' as NULL)."""
    lowered = {name.lower(): value for name, value in row.items()}
    out: Row = {}
    for name in COLUMNS[mart]:
        value = lowered.get(name)
        if value is None or value == "":
            value = None
        elif name in RATES:
            value = decimal.Decimal(str(value)).quantize(decimal.Decimal("0.0001"))
        elif name in TIMESTAMPS:
            value = utc(value)
        elif isinstance(value, decimal.Decimal):
            value = int(value)
        out[name] = value
    return out


def by_key(mart: str, rows: t.Iterable[t.Mapping[str, t.Any]]) -> dict[tuple[t.Any, ...], Row]:
    normalised = [normalise(mart, row) for row in rows]
    keyed = {tuple(row[k] for k in KEYS[mart]): row for row in normalised}
    assert len(keyed) == len(normalised), f"{mart}: a key appears twice"
    return keyed


def differences(
    mart: str, got: t.Iterable[t.Mapping[str, t.Any]], want: t.Iterable[t.Mapping[str, t.Any]]
) -> list[str]:
    """How `got` differs from `want`, row by row, matched by the mart's key."""
    got_rows, want_rows = by_key(mart, got), by_key(mart, want)
    problems = [f"{mart}: missing {key}" for key in sorted(want_rows.keys() - got_rows.keys(),
                                                          key=repr)]
    problems += [f"{mart}: unexpected {key}" for key in sorted(got_rows.keys() - want_rows.keys(),
                                                              key=repr)]
    for key in sorted(got_rows.keys() & want_rows.keys(), key=repr):
        for name, value in want_rows[key].items():
            if got_rows[key][name] != value:
                problems.append(f"{mart} {key}: {name} is {got_rows[key][name]!r}, want {value!r}")
    return problems


# -- the marts from ground truth -------------------------------------------------------------


def rate(numerator: int, denominator: int) -> decimal.Decimal:
    """numerator / denominator rounded half up to 4 places."""
    return (decimal.Decimal(numerator) / decimal.Decimal(denominator)).quantize(
        decimal.Decimal("0.0001"), rounding=decimal.ROUND_HALF_UP)


def label_classification(label: str | None) -> str | None:
    cleaned = (label or "").strip().lower()
    return cleaned if cleaned in LABELS else None


def tuco_classification(message: str | None) -> str:
    return "unsubscribe" if (message or "").strip().upper() in OPT_OUT_WORDS else "unknown"


def smartlead_classification(name: str | None, sentiment: str | None) -> str:
    by_name = SMARTLEAD_NAMES.get((name or "").strip().lower())
    if by_name:
        return by_name
    return {"positive": "interested", "negative": "not_interested"}.get(
        (sentiment or "").lower(), "unknown")


def expected_replies(truth: Truth, workspace: str = "default") -> list[Row]:
    rows: list[Row] = []
    for reply in truth.get("leadterra_replies", []):
        rows.append({
            "workspace": workspace, "provider": "leadterra", "reply_id": reply["id"],
            "lead_email": reply.get("email"), "campaign_id": reply.get("campaignId"),
            "received_at": reply["receivedAt"],
            "classification": label_classification(reply.get("classification")) or "unknown",
            "source_classification": reply.get("classification"),
            "snippet": reply.get("threadSnippet"),
        })
    rows += _smartlead_replies(truth, workspace)
    for reply in truth.get("tuco_replies", []):
        rows.append({
            "workspace": workspace, "provider": "tuco", "reply_id": reply["leadId"],
            "lead_email": reply.get("recipientEmail"),
            "campaign_id": reply.get("campaign_id") or reply.get("campaignId"),
            "received_at": reply["respondedAtUtc"],
            "classification": tuco_classification(reply.get("message")),
            "source_classification": None,
            "snippet": (reply.get("message") or "")[:SNIPPET_CHARS],
        })
    return rows


def _smartlead_replies(truth: Truth, workspace: str) -> list[Row]:
    # The lead's current category (its newest row by lead id, per campaign and email) wins over
    # the one the reply was read with.
    current: dict[tuple[str, str], tuple[int | None, str | None]] = {}
    for lead in sorted(truth.get("smartlead_campaign_leads", []), key=lambda r: r["id"]):
        if lead.get("email"):
            current[(str(lead["campaign_id"]), lead["email"].lower())] = (
                lead.get("category_id"), lead.get("category_name"))
    categories = {c["id"]: c for c in truth.get("smartlead_lead_categories", [])}
    rows: list[Row] = []
    for message in truth.get("smartlead_inbox_replies", []):
        email = (message.get("lead") or {}).get("email")
        campaign_id = str((message.get("campaign") or {}).get("id"))
        category = message.get("category") or {}
        category_id, name = current.get((campaign_id, (email or "").lower()),
                                        (category.get("id"), category.get("name")))
        known = categories.get(category_id, {})
        name = name or known.get("name")
        rows.append({
            "workspace": workspace, "provider": "smartlead", "reply_id": message["id"],
            "lead_email": email, "campaign_id": campaign_id,
            "received_at": message.get("received_at")
            or (message.get("last_message") or {}).get("received_at"),
            "classification": smartlead_classification(name, known.get("sentiment_type")),
            "source_classification": name,
            "snippet": ((message.get("last_message") or {}).get("body") or "")[:SNIPPET_CHARS],
        })
    return rows


def expected_campaign_reply_rates(truth: Truth, workspace: str = "default") -> list[Row]:
    per_campaign: dict[tuple[str, str], list[Row]] = {}
    for reply in expected_replies(truth, workspace):
        if reply["campaign_id"] is not None:
            per_campaign.setdefault((reply["provider"], reply["campaign_id"]), []).append(reply)
    leads: dict[str, int] = {}
    for lead in truth.get("smartlead_campaign_leads", []):
        leads[str(lead["campaign_id"])] = leads.get(str(lead["campaign_id"]), 0) + 1
    names = {str(c["id"]): c.get("name") for c in truth.get("smartlead_campaigns", [])}
    rows: list[Row] = []
    for (provider, campaign_id), replies in per_campaign.items():
        interested = sum(r["classification"] == "interested" for r in replies)
        smartlead = provider == "smartlead"
        lead_count = leads.get(campaign_id) if smartlead else None
        rows.append({
            "workspace": workspace, "provider": provider, "campaign_id": campaign_id,
            "campaign_name": names.get(campaign_id) if smartlead else None,
            "leads": lead_count, "replies": len(replies), "interested": interested,
            "negative": sum(r["classification"] in ("not_interested", "unsubscribe")
                            for r in replies),
            "positive_rate": rate(interested, len(replies)),
            "positive_per_lead": rate(interested, lead_count) if lead_count else None,
            "last_reply_at": max(t.cast("dt.datetime", utc(r["received_at"])) for r in replies),
        })
    return rows


def expected_followups_due_by_sdr(
    truth: Truth, now: dt.datetime, workspace: str = "default"
) -> list[Row]:
    sdrs = {s["id"]: s for s in truth.get("leadterra_sdrs", [])}
    per_sdr: dict[str | None, list[dt.datetime]] = {}
    for followup in truth.get("leadterra_followups", []):
        if (followup.get("status") or "").lower() not in CLOSED_FOLLOWUP_STATUSES:
            per_sdr.setdefault(followup.get("sdrId"),
                               []).append(t.cast("dt.datetime", utc(followup["dueAt"])))
    naive_now = t.cast("dt.datetime", utc(now))
    return [{
        "workspace": workspace, "sdr_id": sdr_id or "(unassigned)",
        "sdr_name": sdrs.get(sdr_id, {}).get("name") or sdr_id or "(unassigned)",
        "sdr_email": sdrs.get(sdr_id, {}).get("email"), "due": len(due),
        "overdue": sum(d < naive_now for d in due), "next_due_at": min(due),
    } for sdr_id, due in per_sdr.items()]


def expected_marts(
    truth: Truth, now: dt.datetime, workspace: str = "default"
) -> dict[str, list[Row]]:
    return {
        "replies": expected_replies(truth, workspace),
        "campaign_reply_rates": expected_campaign_reply_rates(truth, workspace),
        "followups_due_by_sdr": expected_followups_due_by_sdr(truth, now, workspace),
    }
