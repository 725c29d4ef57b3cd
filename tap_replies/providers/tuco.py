"""Tuco streams (to be filled in by the tuco issue)."""

from __future__ import annotations

from tap_replies.providers.base import ProviderStream


class TucoStream(ProviderStream):
    provider = "tuco"
    provider_label = "Tuco"


STREAMS: list[type[ProviderStream]] = []
