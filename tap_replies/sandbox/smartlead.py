"""The Smartlead API as documented in ../shared/api-docs (to be filled in by the smartlead issue)."""

from __future__ import annotations

import typing as t

from tap_replies.sandbox.core import ApiError, ProviderEmulator, Request, Route


class SmartleadEmulator(ProviderEmulator):
    name = "smartlead"
    api_key = "sl_sandbox_key_4b2f6e1d9a"

    def authenticate(self, request: Request) -> bool:
        return request.arg("api_key") == self.api_key

    def error_body(self, error: ApiError) -> t.Any:
        return {"message": error.message, "statusCode": error.status}

    def unauthorized(self) -> ApiError:
        return ApiError(401, "Invalid or missing API key")

    def routes(self) -> list[Route]:
        return []

    def add_activity(self, count: int = 5) -> dict[str, int]:
        return {}

    def ground_truth(self) -> dict[str, list[dict[str, t.Any]]]:
        return {}

    def primary_keys(self) -> dict[str, tuple[str, ...]]:
        return {}
