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

import uuid
from collections.abc import Iterable

from cdp_project.core.locks import advisory_key, advisory_locks

from .models import Endpoint

# classids of pg_advisory_xact_lock(int, int), apart from identity's 0x1D.
ENDPOINT_NAMESPACE = 0x1E
PROFILE_CHANNELS_NAMESPACE = 0x1F


def endpoint_key_lock(*, tenant_id: int, channel: str, address_key: str) -> None:
    """Step 1: the endpoint key (a hash collision only over-locks)."""
    advisory_locks(ENDPOINT_NAMESPACE, [advisory_key(tenant_id, channel, address_key)])


def profile_channels_lock(*, tenant_id: int, profile_ids: Iterable[uuid.UUID]) -> None:
    """Step 2: the channel state of these profiles, in sorted order, in one statement."""
    advisory_locks(PROFILE_CHANNELS_NAMESPACE, [advisory_key(tenant_id, profile_id) for profile_id in set(profile_ids)])


def endpoint_lock(*, tenant_id: int, channel: str, address_key: str) -> Endpoint | None:
    """Step 3: the endpoint row, `SELECT … FOR UPDATE`, or None when nobody declared it yet."""
    return (
        Endpoint.objects.select_for_update()
        .filter(tenant_id=tenant_id, channel=channel, address_key=address_key)
        .first()
    )
