"""What a stream does with each record before it is emitted: fill in the fields it gets from
elsewhere, keep only the wanted campaigns, check its types and key, note undocumented values.

The stream base calls it from the SDK's `post_process`; the checks themselves live in
record_shape.py.
"""

from __future__ import annotations

import logging
import typing as t

from tap_replies.providers.record_shape import RecordCheck

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class RecordGate:
    """One stream's per-record steps, configured from its declarations."""

    def __init__(
        self, stream_name: str, schema: dict[str, t.Any], logger: logging.Logger, *,
        primary_keys: tuple[str, ...],
        lifted_fields: t.Mapping[str, tuple[str, str]],
        documented_values: t.Mapping[str, tuple[str, ...]],
        campaign_filter: tuple[str | None, tuple[t.Any, ...]],
        provider_label: str,
    ) -> None:
        self.check = RecordCheck(stream_name, schema, logger, primary_keys=primary_keys)
        self.stream_name = stream_name
        self.logger = logger
        self.lifted_fields = lifted_fields
        self.documented_values = documented_values
        # (field, wanted ids): the endpoint cannot filter by campaign, so the tap does (no field,
        # or no ids: every record is wanted).
        field, wanted = campaign_filter
        self.campaign_filter = (field, wanted) if field and wanted else None
        self.provider_label = provider_label
        self.campaigns_listed: set[t.Any] = set()
        self._undocumented: set[tuple[str, t.Any]] = set()
        # Whether the catalog selects every property (record_messages.py): read at the first
        # record, once the catalog is fixed.
        self.selects_every_property: bool | None = None

    def conforms(self, row: dict[str, t.Any], context: Context | None,
                 admit: t.Callable[[dict[str, t.Any], Context | None], bool]) -> bool | None:
        """None: `row` is not emitted (an unwanted campaign, not admitted by the stream's
        strategy, no primary key). Otherwise whether it has every type its schema says, after
        putting drifted values right (the SDK's own conformance is then not needed)."""
        self.fill_in(row, context)
        if not self.wanted_campaign(row) or not admit(row, context):
            return None
        conforms = self.check.conforms_after_repair(row, self.label)
        if not self.check.has_primary_key(row):
            return None
        if self.documented_values:
            self.note_undocumented(row)
        return conforms

    def label(self, row: t.Mapping[str, t.Any]) -> str:
        """Which record this is, for a log line: its primary key (repr: safe for any text)."""
        keys = self.check.primary_keys
        return ", ".join(f"{key}={row.get(key)!r}" for key in keys) or "without a key"

    def fill_in(self, row: dict[str, t.Any], context: Context | None) -> None:
        """The fields a record gets from elsewhere: `lifted_fields`, and the partition's keys
        that the schema declares (the others, such as a chunk of campaign ids, are filters)."""
        for name, (outer, inner) in self.lifted_fields.items():
            holder = row.get(outer)
            row[name] = holder.get(inner) if isinstance(holder, dict) else None
        if context:
            declared = self.check.shape.keys
            for key, value in context.items():
                if key in declared:
                    row[key] = value

    def wanted_campaign(self, row: t.Mapping[str, t.Any]) -> bool:
        if self.campaign_filter is None:
            return True
        field, wanted = self.campaign_filter
        campaign = row.get(field)
        self.campaigns_listed.add(campaign)
        return campaign in wanted

    def warn_of_missing_campaigns(self, provider: str) -> None:
        """Once the whole list was read: the wanted campaign ids it did not hold."""
        if self.campaign_filter is None:
            return
        missing = [str(i) for i in self.campaign_filter[1] if i not in self.campaigns_listed]
        if missing:
            self.logger.warning("%s: %s.campaign_ids %s not among the account's campaigns; "
                                "check %s.campaign_ids", self.provider_label, provider,
                                ", ".join(missing), provider)

    def note_undocumented(self, row: t.Mapping[str, t.Any]) -> None:
        """A value a field is not documented to take: kept as sent, said once per value."""
        for name, documented in self.documented_values.items():
            value = row.get(name)
            if value is None or value in documented or (name, value) in self._undocumented:
                continue
            self._undocumented.add((name, value))
            self.logger.warning("%s: %s %r is not one of %s's documented values; kept as sent "
                                "(the unified model counts it as unknown)", self.stream_name,
                                name, value, self.provider_label)
