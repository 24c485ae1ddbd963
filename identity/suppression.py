"""Keyed identifier hashes and the suppression list of erased identifiers.

An erased customer's identifiers are kept only as HMAC-SHA256 digests under a secret of
their tenant, so the list can answer "was this identifier erased?" for data that
arrives, and nobody holding a copy of the table can recompute which addresses it holds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping, Sequence

from django.db import IntegrityError, connection, transaction

from cdp_project.core.bulk import array_literal
from cdp_project.core.compiled import prepared_cursor
from tenants.models import Tenant

from .models import IdentifierHashKey, Suppression

_SECRETS: dict[tuple[int, object], bytes] = {}


def _tenant_secret(tenant: Tenant) -> bytes:
    """The tenant's hash secret, created on first use; cached per process (it never
    changes; the cache key includes the tenant's creation time, so a recreated tenant
    that reuses an id never gets another tenant's secret)."""
    cache_key = (tenant.pk, tenant.created_at)
    cached = _SECRETS.get(cache_key)
    if cached is not None:
        return cached
    row = IdentifierHashKey.objects.filter(tenant=tenant).first()
    if row is None:
        try:
            with transaction.atomic():
                row = IdentifierHashKey.objects.create(tenant=tenant, secret=secrets.token_hex(32))
        except IntegrityError:  # another process created it first
            row = IdentifierHashKey.objects.get(tenant=tenant)
    _SECRETS[cache_key] = row.secret.encode()
    return _SECRETS[cache_key]


def identifier_digest(*, tenant: Tenant, type: str, value: str) -> str:
    """HMAC-SHA256 of a normalized identifier under the tenant's secret (hex)."""
    return hmac.new(_tenant_secret(tenant), f"{type}\x1f{value}".encode(), hashlib.sha256).hexdigest()


def value_digest(*, tenant: Tenant, value: object) -> str:
    """The keyed hash that replaces an erased value in the audit trail: `hmac:<hex>`."""
    text = value if isinstance(value, str) else repr(value)
    digest = hmac.new(_tenant_secret(tenant), f"value\x1f{text}".encode(), hashlib.sha256).hexdigest()
    return f"hmac:{digest[:32]}"


def suppressions_add(*, tenant: Tenant, identifiers: Iterable[tuple[str, str]], reason: str, erasure_id: object) -> int:
    """Suppress identifiers (type, normalized value); those already suppressed stay as they
    are. Returns how many identifiers the list now holds of the given ones."""
    rows = {identifier_digest(tenant=tenant, type=type, value=value): type for type, value in identifiers}
    if not rows:
        return 0
    Suppression.objects.bulk_create(
        [
            Suppression(tenant=tenant, type=type, digest=digest, reason=reason[:500], erasure_id=erasure_id)
            for digest, type in rows.items()
        ],
        ignore_conflicts=True,
    )
    return len(rows)


def suppressed_indexes(*, tenant: Tenant, identities: Sequence[Mapping[str, str]]) -> set[int]:
    """The positions of the identity maps that hold a suppressed identifier, in one query."""
    wanted: dict[str, list[int]] = {}
    for position, identity in enumerate(identities):
        for type, value in identity.items():
            wanted.setdefault(identifier_digest(tenant=tenant, type=type, value=value), []).append(position)
    if not wanted:
        return set()
    if connection.vendor == "postgresql":  # the digests as one array, not a parameter each
        with prepared_cursor(connection) as cursor:
            cursor.execute(
                f"SELECT digest FROM {Suppression._meta.db_table}"  # noqa: S608 - name from metadata
                " WHERE tenant_id = %s AND digest = ANY(%s::varchar[])",
                [tenant.pk, array_literal(list(wanted))],
            )
            found = [digest for (digest,) in cursor.fetchall()]
    else:
        rows = Suppression.objects.filter(tenant=tenant, digest__in=list(wanted))
        found = list(rows.values_list("digest", flat=True))
    return {position for digest in found for position in wanted[digest]}


def identity_suppressed(*, tenant: Tenant, identity: Mapping[str, str]) -> bool:
    return bool(suppressed_indexes(tenant=tenant, identities=[identity]))
