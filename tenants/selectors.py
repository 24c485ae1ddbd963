"""Reads of the tenants app."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from cdp_project.core.compiled import CompiledQuery, model_columns, model_from_row, reads_unchecked

from . import keys
from .models import ApiKey, Tenant


@dataclass(frozen=True)
class KeyCheck:
    api_key: ApiKey | None
    failure: str | None  # None when the key may be used


_KEY_COLUMNS = (model_columns(ApiKey), model_columns(Tenant, via="tenant"))
_key_by_prefix = CompiledQuery(
    lambda *, prefix: (
        ApiKey.objects.filter(prefix=prefix).order_by().values_list(*_KEY_COLUMNS[0], *_KEY_COLUMNS[1])[:1]
    ),
    fields={"prefix": ApiKey._meta.get_field("prefix")},
    sentinels={"prefix": "\x01compiled-prefix"},
)


def _api_key_by_prefix(prefix: str) -> ApiKey | None:
    """The key with this prefix and its tenant: a compiled read, as every request with an
    API key starts with it, sent without Django's `SELECT 1` check of a persistent connection
    (a round trip of its own before the first statement of every request). Should the
    connection be dead, the read fails in the check's stead and runs again checked, on a new
    connection."""
    rows = reads_unchecked(lambda: _key_by_prefix.run(prefix=prefix))
    if rows is None:
        rows = _key_by_prefix.run(prefix=prefix)
    if not rows:
        return None
    split = len(_KEY_COLUMNS[0])
    api_key = model_from_row(ApiKey, rows[0][:split])
    api_key.tenant = model_from_row(Tenant, rows[0][split:])
    return api_key


def api_key_check(*, plaintext: str) -> KeyCheck:
    """Look a presented key up and say whether it may be used. Checked against the
    database on every call, so a revocation or expiry takes effect on the next request."""
    parsed = keys.parse(plaintext)
    if parsed is None:
        return KeyCheck(None, "The API key is malformed.")
    api_key = _api_key_by_prefix(parsed.prefix)
    if api_key is None or not keys.matches(plaintext, api_key.hashed_key):
        return KeyCheck(None, "The API key is not known.")
    if api_key.revoked_at is not None:
        return KeyCheck(api_key, "The API key has been revoked.")
    if api_key.expires_at is not None and api_key.expires_at <= timezone.now():
        return KeyCheck(api_key, "The API key has expired.")
    return KeyCheck(api_key, None)


def tenant_get_by_slug(*, slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()
