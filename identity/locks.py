"""Advisory locks on identifier keys (DESIGN.md §8), the first step of the global lock order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cdp_project.core.locks import advisory_key, advisory_locks

# classid of pg_advisory_xact_lock(int, int): keeps identity's keys apart from other apps' locks.
ADVISORY_NAMESPACE = 0x1D


def identifier_lock_key(*, tenant_id: int, type: str, value: str) -> int:
    """A signed 32-bit hash of (tenant, type, value). A collision only over-locks."""
    return advisory_key(tenant_id, type, value)


def identifier_keys_lock(*, tenant_id: int, values: Mapping[str, str]) -> None:
    """Take transaction-scoped advisory locks on every identifier key, in sorted order, in
    one statement. Two resolutions touching the same identifier run one after the other;
    no two insert it at once."""
    identifier_keys_lock_many(tenant_id=tenant_id, pairs=values.items())


def identifier_keys_lock_many(*, tenant_id: int, pairs: Iterable[tuple[str, str]]) -> None:
    """The advisory locks of many identity maps at once (a batch), all in sorted order and
    in one statement, so a batch holds every identifier key it may touch before it locks
    any profile row."""
    advisory_locks(ADVISORY_NAMESPACE, (identifier_lock_key(tenant_id=tenant_id, type=t, value=v) for t, v in pairs))
