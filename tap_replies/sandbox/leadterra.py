"""The Leadterra API as documented in ../shared/api-docs (to be filled in by the leadterra issue)."""

from __future__ import annotations

import typing as t

from tap_replies.sandbox.core import ProviderEmulator, Route


class LeadterraEmulator(ProviderEmulator):
    name = "leadterra"
    api_key = "sk_live_sandbox_leadterra_7f3a9c"

    def routes(self) -> list[Route]:
        return []

    def add_activity(self, count: int = 5) -> dict[str, int]:
        return {}

    def ground_truth(self) -> dict[str, list[dict[str, t.Any]]]:
        return {}

    def primary_keys(self) -> dict[str, tuple[str, ...]]:
        return {}
