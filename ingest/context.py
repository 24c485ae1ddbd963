"""The per-tenant ingest context, cached per process (DESIGN.md §9).

Every request checks its items against the tenant's sources and contract and folds its
events into derived values. Those change rarely, so each process keeps them per tenant
and asks the database only one cheap question per request: has anything changed? The
version is one statement of counts and latest change times of the tables involved;
any difference (a new, edited or deleted source, event type, attribute or derived
definition) reloads everything for that tenant. Nothing can go stale across processes:
every request compares against the database's current version before anything it decided
with the cache is committed.

A request that writes asks that question in its own transaction, in the same round trip as
its BEGIN and the claim of its keys (`ingest_context(verified=False)`, then
`ingest_context_check`): a single event spares a round trip of its own. If the answer is
"changed", the transaction rolls back, the context is reloaded and the items are checked
again (`ContextChanged`). A request that writes nothing (every item refused, a dry run)
asks first, as a statement of its own, since nothing else would.
Blocked identifier values live on the tenant row the request authenticated with.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

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


class ContextChanged(Exception):
    """The tenant's sources or contract changed since the context the request checked its
    items with was loaded: roll back, reload, check the items again."""


def _version_sql(tenant_id: int) -> tuple[str, list[object]]:
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
    return sql, params


def _version(tenant_id: int) -> tuple:
    with prepared_cursor(connection) as cursor:
        cursor.execute(*_version_sql(tenant_id))
        return tuple(cursor.fetchone())


def ingest_context(*, tenant: Tenant, verified: bool = True) -> IngestContext:
    """The context to check and apply one request's items with: one statement when the
    tenant's sources and contract are unchanged since this process last loaded them.

    With `verified=False`, a context this process holds comes back unchecked, at no
    statement at all (`IngestContext.unverified`): the caller must ask `ingest_context_check`
    before it commits anything it decided with it."""
    with _lock:
        cached = _cache.get(tenant.pk)
    if cached is not None and not verified:
        return _context(tenant, cached, unverified=cached.version)
    version = _version(tenant.pk)
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
    return _context(tenant, cached, unverified=None)


def ingest_context_verified(ctx: IngestContext) -> tuple[IngestContext, bool]:
    """An unverified context compared with the database, in a statement of its own: the
    current context, and whether it differs from the one given."""
    if _version(ctx.tenant.pk) == ctx.unverified:
        return replace(ctx, unverified=None), False
    return ingest_context(tenant=ctx.tenant), True


def _context(tenant: Tenant, cached: _Cached, *, unverified: tuple | None) -> IngestContext:
    return IngestContext(
        tenant=tenant, sources=cached.sources, contracts=cached.contracts, derived=cached.derived, unverified=unverified
    )


def ingest_context_check(ctx: IngestContext) -> Callable[[], None]:
    """Send the version question for an unverified context and return what checks the answer:
    it raises ContextChanged if the context is not current. Inside `statements_pipelined` the
    question travels with the statements that follow it and the answer is read afterwards,
    without a round trip of its own. A verified context needs no question."""
    if ctx.unverified is None:
        return lambda: None
    cursor = prepared_cursor(connection)
    cursor.execute(*_version_sql(ctx.tenant.pk))

    def check() -> None:
        try:
            current = tuple(cursor.fetchone())
        finally:
            cursor.close()
        if current != ctx.unverified:
            raise ContextChanged(f"the ingest context of tenant {ctx.tenant.pk} changed")

    return check


def ingest_context_clear() -> None:
    """Forget every cached context (tests that change a contract behind the services' back)."""
    with _lock:
        _cache.clear()
