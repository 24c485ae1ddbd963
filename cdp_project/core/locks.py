"""Transaction-scoped advisory locks (DESIGN.md §8): the one SQL that takes them.

Each app keeps its own namespace (the `classid` of `pg_advisory_xact_lock(int, int)`) and
its lock order in its `locks.py`; this module hashes keys and takes the locks, always in
sorted order and in one statement, so two transactions wanting overlapping keys wait for
each other instead of deadlocking. On SQLite the IMMEDIATE write transaction already
serializes writers: there the locks are no-ops."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.db import connection

from .bulk import array_literal
from .compiled import prepared_cursor


def advisory_key(*parts: object) -> int:
    """A signed 32-bit hash of the parts (joined by U+001F). A collision only over-locks."""
    digest = hashlib.blake2b("\x1f".join(str(part) for part in parts).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def advisory_locks(namespace: int, keys: Iterable[int]) -> None:
    """`pg_advisory_xact_lock(namespace, key)` on every key, in sorted order, in one statement."""
    if connection.vendor != "postgresql":
        return
    ordered = sorted(set(keys))
    if not ordered:
        return
    with prepared_cursor(connection) as cursor:
        if len(ordered) == 1:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [namespace, ordered[0]])
            return
        # The keys travel as one array; the `OFFSET 0` subquery keeps them sorted while the
        # locks are taken (PostgreSQL evaluates the select list row by row, in that order).
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, k) FROM"
            " (SELECT k FROM unnest(%s::integer[]) AS k ORDER BY k OFFSET 0) AS ordered",
            [namespace, array_literal(ordered)],
        )
