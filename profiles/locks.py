"""Row locks on profiles, always taken in one global order (DESIGN.md §8)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import connection

from cdp_project.core.bulk import TENANT_RECHECKED, array_literal, tenant_rechecked
from cdp_project.core.compiled import prepared_cursor

from .models import Profile


def profiles_lock(*, tenant_id: int, profile_ids: Iterable[uuid.UUID]) -> list[Profile]:
    """`SELECT … FOR UPDATE ORDER BY id`: two transactions locking overlapping sets wait
    for each other instead of deadlocking. Returns the locked rows as they are now
    (READ COMMITTED re-reads a row after waiting for it), tombstones included."""
    ids = sorted(set(profile_ids))
    if not ids:
        return []
    return list(tenant_rechecked(Profile.objects.filter(pk__in=ids), tenant_id).order_by("pk").select_for_update())


def profiles_lock_states(*, tenant_id: int, profile_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID | None]:
    """`profiles_lock` for the batch path: the same locks in the same order, answered as
    `{profile id: merged_into_id}` (None: live) without building model instances."""
    ids = sorted(set(profile_ids))
    if not ids:
        return {}
    if connection.vendor != "postgresql":
        rows = Profile.objects.filter(tenant_id=tenant_id, pk__in=ids).order_by("pk").select_for_update()
        return dict(rows.values_list("pk", "merged_into_id"))
    # The ids joined as a set, the tenant rechecked on each row (TENANT_RECHECKED): with
    # `tenant_id = %s` usable as a way in, the planner read the tenant's whole
    # `(tenant, created_at)` index for a batch's thousand ids.
    with prepared_cursor(connection) as cursor:
        cursor.execute(
            f"SELECT p.id, p.merged_into_id FROM unnest(%s::uuid[]) AS u(id) JOIN {Profile._meta.db_table} p"  # noqa: S608 - name from metadata
            f" ON p.id = u.id WHERE p.{TENANT_RECHECKED} ORDER BY p.id FOR UPDATE OF p",
            [array_literal(ids), tenant_id],
        )
        return dict(cursor.fetchall())
