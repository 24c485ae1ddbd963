"""Per-key request budget, answered with 429 and Retry-After."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from .authentication import ApiKeyPrincipal


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_rate(self) -> str | None:
        per_minute = settings.CDP_API_KEY_RATE_PER_MINUTE
        return f"{per_minute}/min" if per_minute else None

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        principal = request.user
        if not isinstance(principal, ApiKeyPrincipal):
            return None
        return f"throttle_api_key_{principal.key_prefix}"
