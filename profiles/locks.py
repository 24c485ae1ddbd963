"""Row locks on profiles, always taken in one global order (DESIGN.md §8)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from .models import Profile


def profiles_lock(*, tenant_id: int, profile_ids: Iterable[uuid.UUID]) -> list[Profile]:
    """`SELECT … FOR UPDATE ORDER BY id`: two transactions locking overlapping sets wait
    for each other instead of deadlocking. Returns the locked rows as they are now
    (READ COMMITTED re-reads a row after waiting for it), tombstones included."""
    ids = sorted(set(profile_ids))
    if not ids:
        return []
    return list(Profile.objects.filter(tenant_id=tenant_id, pk__in=ids).order_by("pk").select_for_update())
