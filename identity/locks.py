"""Advisory locks on identifier keys (DESIGN.md §8), the first step of the global lock order."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from django.db import connection

from cdp_project.core.bulk import array_literal

# classid of pg_advisory_xact_lock(int, int): keeps identity's keys apart from other apps' locks.
ADVISORY_NAMESPACE = 0x1D


def identifier_lock_key(*, tenant_id: int, type: str, value: str) -> int:
    """A signed 32-bit hash of (tenant, type, value). A collision only over-locks."""
    digest = hashlib.blake2b(f"{tenant_id}\x1f{type}\x1f{value}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def identifier_keys_lock(*, tenant_id: int, values: Mapping[str, str]) -> None:
    """Take transaction-scoped advisory locks on every identifier key, in sorted order, in
    one statement (PostgreSQL evaluates the select list left to right). Two resolutions
    touching the same identifier run one after the other; no two insert it at once.
    On SQLite the IMMEDIATE write transaction already serializes writers."""
    if connection.vendor != "postgresql" or not values:
        return
    keys = sorted({identifier_lock_key(tenant_id=tenant_id, type=t, value=v) for t, v in values.items()})
    calls = ", ".join(["pg_advisory_xact_lock(%s, %s)"] * len(keys))
    params: list[int] = []
    for key in keys:
        params.extend([ADVISORY_NAMESPACE, key])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {calls}", params)  # noqa: S608 - only placeholders are interpolated


def identifier_keys_lock_many(*, tenant_id: int, pairs: Iterable[tuple[str, str]]) -> None:
    """The advisory locks of many identity maps at once (a batch), all in sorted order and
    in one statement, so a batch holds every identifier key it may touch before it locks
    any profile row. The keys travel as one array; the `OFFSET 0` subquery keeps them
    sorted while the locks are taken."""
    if connection.vendor != "postgresql":
        return
    keys = sorted({identifier_lock_key(tenant_id=tenant_id, type=t, value=v) for t, v in pairs})
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, k) FROM"
            " (SELECT k FROM unnest(%s::integer[]) AS k ORDER BY k OFFSET 0) AS ordered",
            [ADVISORY_NAMESPACE, array_literal(keys)],
        )
