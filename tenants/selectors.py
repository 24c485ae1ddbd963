"""Reads of the tenants app."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from . import keys
from .models import ApiKey, Tenant


@dataclass(frozen=True)
class KeyCheck:
    api_key: ApiKey | None
    failure: str | None  # None when the key may be used


def api_key_check(*, plaintext: str) -> KeyCheck:
    """Look a presented key up and say whether it may be used. Checked against the
    database on every call, so a revocation or expiry takes effect on the next request."""
    parsed = keys.parse(plaintext)
    if parsed is None:
        return KeyCheck(None, "The API key is malformed.")
    api_key = ApiKey.objects.select_related("tenant").filter(prefix=parsed.prefix).first()
    if api_key is None or not keys.matches(plaintext, api_key.hashed_key):
        return KeyCheck(None, "The API key is not known.")
    if api_key.revoked_at is not None:
        return KeyCheck(api_key, "The API key has been revoked.")
    if api_key.expires_at is not None and api_key.expires_at <= timezone.now():
        return KeyCheck(api_key, "The API key has expired.")
    return KeyCheck(api_key, None)


def tenant_get_by_slug(*, slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()
