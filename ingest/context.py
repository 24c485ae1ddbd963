"""The per-tenant ingest context, cached per process (DESIGN.md §9).

Every request checks its items against the tenant's sources and contract and folds its
events into derived values. Those change rarely, so each process keeps them per tenant
and asks the database only one cheap question per request: has anything changed? The
version is one statement of counts and latest change times of the tables involved;
any difference (a new, edited or deleted source, event type, attribute or derived
definition) reloads everything for that tenant. Nothing can go stale across processes:
every request compares against the database's current version before using the cache.
Blocked identifier values live on the tenant row the request authenticated with.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from django.db import connection

from cdp_project.core.compiled import prepared_cursor
from contracts.models import AttributeDefinition, DerivedAttributeDefinition, EventType
from contracts.types import DerivedAttributeInfo
from contracts.validator import ContractSnapshot, contract_snapshot
from tenants.models import Tenant

from .derived import derived_definitions
from .models import Source
from .pipeline import IngestContext

MAX_TENANTS = 256


@dataclass(frozen=True)
class _Cached:
    version: tuple
    sources: Mapping[str, Source]
    contracts: ContractSnapshot
    derived: Mapping[str, list[DerivedAttributeInfo]]


_lock = threading.Lock()
_cache: OrderedDict[int, _Cached] = OrderedDict()


def _version(tenant_id: int) -> tuple:
    parts = []
    params: list[object] = []
    for model, extra in (
        (Source, "MAX(updated_at)"),
        (EventType, "MAX(updated_at), SUM(version)"),
        (AttributeDefinition, "MAX(updated_at)"),
        (DerivedAttributeDefinition, "MAX(id), MAX(created_at)"),
    ):
        parts.append(f"SELECT COUNT(*), {extra} FROM {model._meta.db_table} WHERE tenant_id = %s")  # noqa: S608
        params.append(tenant_id)
    sql = "SELECT * FROM " + ", ".join(f"({part}) AS t{i}" for i, part in enumerate(parts))  # noqa: S608
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, params)
        return tuple(cursor.fetchone())


def ingest_context(*, tenant: Tenant) -> IngestContext:
    """The context to check and apply one request's items with: one statement when the
    tenant's sources and contract are unchanged since this process last loaded them."""
    version = _version(tenant.pk)
    with _lock:
        cached = _cache.get(tenant.pk)
    if cached is None or cached.version != version:
        contracts = contract_snapshot(tenant_id=tenant.pk)
        contracts.check_attributes(attributes={})  # loads the attribute definitions now, once
        cached = _Cached(
            version=version,
            sources={source.key: source for source in Source.objects.filter(tenant=tenant)},
            contracts=contracts,
            derived=derived_definitions(tenant_id=tenant.pk),
        )
        with _lock:
            _cache[tenant.pk] = cached
            _cache.move_to_end(tenant.pk)
            while len(_cache) > MAX_TENANTS:
                _cache.popitem(last=False)
    return IngestContext(tenant=tenant, sources=cached.sources, contracts=cached.contracts, derived=cached.derived)


def ingest_context_clear() -> None:
    """Forget every cached context (tests that change a contract behind the services' back)."""
    with _lock:
        _cache.clear()
