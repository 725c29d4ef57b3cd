"""Two extractors that would load the same rows: the same provider account and campaigns, or
the same schema. Either makes the warehouse false (one account's replies counted once per client,
or two clients' rows upserted into one table), so the orchestrator refuses before any sync.

Pure functions over what each extractor reads (`Read`) and where it lands (`Landing`), built by
`MeltanoProject.overlaps()`; the wording of each refusal lives here, once.
"""

from __future__ import annotations

import itertools
import typing as t
from dataclasses import dataclass


@dataclass(frozen=True)
class Read:
    """What one extractor reads from one provider: which account (a fingerprint of its key and
    API URL, never the key) and which campaigns (None: all of them)."""

    extractor: str  # "workspace acme", or "the parent tap-replies"
    workspace: str | None  # None for the parent
    provider: str
    label: str
    api_url: str
    account: str
    campaigns: frozenset[str] | None
    key_variable: str  # where this extractor's key is set: the fix names it

    def overlaps(self, other: Read) -> bool:
        if (self.provider, self.account) != (other.provider, other.account):
            return False
        if self.workspace is None or other.workspace is None:
            # The parent's key is where an agency key shared by every workspace is set, and the
            # parent loads only in the single-account jobs: a workspace clashes with it when it
            # reads exactly what the parent reads, e.g. by inheriting its key and no filter.
            return self.campaigns == other.campaigns
        return self.campaigns is None or other.campaigns is None or bool(
            self.campaigns & other.campaigns)


@dataclass(frozen=True)
class Landing:
    """The schema an extractor's rows land in, and why (the setting that put them there)."""

    extractor: str
    schema: str
    because: str  # "" for the default, else e.g. "load_schema tap_replies__acme"


def account_clashes(reads: t.Sequence[Read]) -> list[str]:
    """One line per pair of extractors that would read the same account and campaigns."""
    lines = []
    for first, second in itertools.combinations(reads, 2):
        if first.overlaps(second):
            lines.append(
                f"{first.extractor} and {second.extractor} would both read the same "
                f"{first.label} account (one key at {first.api_url}) and "
                f"{_campaigns_in_common(first.campaigns, second.campaigns)}: give "
                f"{second.extractor} its own key ({second.key_variable}) or "
                f"{first.provider}.campaign_ids of its own")
    return lines


def schema_clashes(landings: t.Sequence[Landing]) -> list[str]:
    """One line per pair of extractors whose rows would land in one schema."""
    lines = []
    for first, second in itertools.combinations(landings, 2):
        if first.schema != second.schema:
            continue
        why = "; ".join(f"{x.extractor}: {x.because}" for x in (first, second) if x.because)
        lines.append(
            f"{first.extractor} and {second.extractor} would both load into schema "
            f"{first.schema}" + (f" ({why})" if why else "")
            + ": give each workspace a schema of its own (remove the setting: a workspace's "
            "default is tap_replies__<name>)")
    return lines


def _campaigns_in_common(one: frozenset[str] | None, other: frozenset[str] | None) -> str:
    if one is None and other is None:
        return "every campaign"
    common = sorted(one & other if one is not None and other is not None else one or other or ())
    return ("campaign " if len(common) == 1 else "campaigns ") + ", ".join(common)
