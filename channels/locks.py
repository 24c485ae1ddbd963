"""Locks of the channels app, taken after identity's (identifier keys, then profile rows;
DESIGN.md §8) and always in this order:

1. the endpoint key `(tenant, channel, address)`: two declarations of one endpoint run
   one after the other, so neither inserts it twice nor loses the other's ownership move;
2. the channel state of every profile whose endpoints change (the claimer, the previous
   owner; survivor and merged profile in a merge), sorted: their `active` flags change
   together;
3. the endpoint rows themselves.

Transaction-scoped advisory locks on PostgreSQL; on SQLite the IMMEDIATE write
transaction already serializes writers, so these are no-ops there."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

from django.db import connection

from cdp_project.core.bulk import array_literal

from .models import Endpoint

# classids of pg_advisory_xact_lock(int, int), apart from identity's 0x1D.
ENDPOINT_NAMESPACE = 0x1E
PROFILE_CHANNELS_NAMESPACE = 0x1F


def _key32(*parts: object) -> int:
    digest = hashlib.blake2b("\x1f".join(str(part) for part in parts).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _advisory_locks(namespace: int, keys: Iterable[int]) -> None:
    ordered = sorted(set(keys))
    if connection.vendor != "postgresql" or not ordered:
        return
    with connection.cursor() as cursor:
        if len(ordered) == 1:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [namespace, ordered[0]])
            return
        # The keys travel as one array; the `OFFSET 0` subquery keeps them sorted while the
        # locks are taken (as identity's batch locks do).
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, k) FROM"
            " (SELECT k FROM unnest(%s::integer[]) AS k ORDER BY k OFFSET 0) AS ordered",
            [namespace, array_literal(ordered)],
        )


def endpoint_key_lock(*, tenant_id: int, channel: str, address_key: str) -> None:
    """Step 1: the endpoint key (a hash collision only over-locks)."""
    _advisory_locks(ENDPOINT_NAMESPACE, [_key32(tenant_id, channel, address_key)])


def profile_channels_lock(*, tenant_id: int, profile_ids: Iterable[uuid.UUID]) -> None:
    """Step 2: the channel state of these profiles, in sorted order, in one statement."""
    _advisory_locks(PROFILE_CHANNELS_NAMESPACE, [_key32(tenant_id, profile_id) for profile_id in set(profile_ids)])


def endpoint_lock(*, tenant_id: int, channel: str, address_key: str) -> Endpoint | None:
    """Step 3: the endpoint row, `SELECT … FOR UPDATE`, or None when nobody declared it yet."""
    return (
        Endpoint.objects.select_for_update()
        .filter(tenant_id=tenant_id, channel=channel, address_key=address_key)
        .first()
    )
