"""Smartlead streams (to be filled in by the smartlead issue)."""

from __future__ import annotations

from tap_replies.providers.base import ProviderStream


class SmartleadStream(ProviderStream):
    provider = "smartlead"
    provider_label = "Smartlead"


STREAMS: list[type[ProviderStream]] = []
