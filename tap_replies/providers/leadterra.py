"""Leadterra streams (to be filled in by the leadterra issue)."""

from __future__ import annotations

from tap_replies.providers.base import ProviderStream


class LeadterraStream(ProviderStream):
    provider = "leadterra"
    provider_label = "Leadterra"


STREAMS: list[type[ProviderStream]] = []
