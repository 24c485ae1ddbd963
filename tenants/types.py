"""Plain data crossing the tenants app's boundary."""

from __future__ import annotations

from dataclasses import dataclass

from .models import ApiKey


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    plaintext: str  # shown once, never stored
