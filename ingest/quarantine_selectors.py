"""Reads of the quarantine beyond plain lists: discovery of unregistered event types and
the contract impact (how many quarantined items the current contract would accept)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Max, Min, QuerySet, Window
from django.db.models.functions import RowNumber

from cdp_project.core.jsonvalues import json_type_name
from cdp_project.core.timestamps import parse_rfc3339_or_none
from contracts.selectors import event_type_queryset
from contracts.types import TYPE_DATETIME, TYPE_INTEGER, TYPE_NUMBER, TYPE_STRING
from contracts.validator import contract_snapshot
from tenants.models import Tenant

from .models import QuarantinedItem, RecordKind
from .pipeline import IngestContext, prepare_event
from .selectors import source_list

# Properties are inferred from at most this many of the newest items of each type.
DISCOVERY_SAMPLE = 50
# The contract impact checks at most this many of the newest items of an event type.
IMPACT_LIMIT = 2_000


# --- discovery ----------------------------------------------------------------------------------


def discovered_queryset(*, tenant: Tenant, source: str | None = None) -> QuerySet:
    """One row per event type that was sent, is quarantined and is not registered now:
    `{"event_type", "count", "first_seen_at", "last_seen_at"}`, ordered by name."""
    rows = (
        QuarantinedItem.objects.filter(tenant=tenant, kind=RecordKind.EVENT)
        .exclude(event_type="")
        .exclude(event_type__in=event_type_queryset(tenant_id=tenant.pk).values("name"))
    )
    if source is not None:
        rows = rows.filter(source_key=source)
    return (
        rows.values("event_type")
        .annotate(count=Count("id"), first_seen_at=Min("received_at"), last_seen_at=Max("received_at"))
        .order_by("event_type")
    )


@dataclass(frozen=True)
class InferredProperty:
    name: str
    type: str
    types: tuple[str, ...]
    seen: int
    required: bool


@dataclass(frozen=True)
class DiscoveredEventType:
    event_type: str
    count: int
    sources: tuple[str, ...]
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    sampled: int
    properties: tuple[InferredProperty, ...]


def _value_type(value: Any) -> str:
    name = json_type_name(value)
    if name == TYPE_STRING and parse_rfc3339_or_none(value, exact=True) is not None:
        return TYPE_DATETIME
    return name


def _suggested(types: Counter[str]) -> str:
    """The contract type that fits what was seen: integers and numbers together are
    numbers, datetimes among other strings are strings; otherwise the most common."""
    kinds = set(types)
    if kinds == {TYPE_INTEGER, TYPE_NUMBER}:
        return TYPE_NUMBER
    if kinds == {TYPE_DATETIME, TYPE_STRING}:
        return TYPE_STRING
    return sorted(types.items(), key=lambda pair: (-pair[1], pair[0]))[0][0]


def properties_infer(payloads: Sequence[Any]) -> tuple[int, tuple[InferredProperty, ...]]:
    """Infer property types from sample payloads: answers (items sampled, properties by name)."""
    sampled = 0
    seen: dict[str, Counter[str]] = {}
    for payload in payloads:
        properties = payload.get("properties") if isinstance(payload, Mapping) else None
        if not isinstance(properties, Mapping):
            continue
        sampled += 1
        for name, value in properties.items():
            if value is not None:
                seen.setdefault(str(name), Counter())[_value_type(value)] += 1
    inferred = tuple(
        InferredProperty(
            name=name,
            type=_suggested(types),
            types=tuple(sorted(types)),
            seen=sum(types.values()),
            required=sum(types.values()) == sampled,
        )
        for name, types in sorted(seen.items())
    )
    return sampled, inferred


def discovered_describe(
    *, tenant: Tenant, rows: Sequence[Mapping[str, Any]], source: str | None = None
) -> list[DiscoveredEventType]:
    """Sources and inferred properties for one page of `discovered_queryset`, in two queries."""
    names = [row["event_type"] for row in rows]
    if not names:
        return []
    items = QuarantinedItem.objects.filter(tenant=tenant, kind=RecordKind.EVENT, event_type__in=names)
    if source is not None:
        items = items.filter(source_key=source)
    sources: dict[str, set[str]] = {}
    for name, key in items.values_list("event_type", "source_key").distinct():
        sources.setdefault(name, set()).add(key)
    newest = (
        items.annotate(rank=Window(RowNumber(), partition_by=[F("event_type")], order_by=[F("received_at").desc()]))
        .filter(rank__lte=DISCOVERY_SAMPLE)
        .values_list("event_type", "payload")
    )
    samples: dict[str, list[Any]] = {}
    for name, payload in newest:
        samples.setdefault(name, []).append(payload)
    found = []
    for row in rows:
        name = row["event_type"]
        sampled, properties = properties_infer(samples.get(name, []))
        found.append(
            DiscoveredEventType(
                event_type=name,
                count=row["count"],
                sources=tuple(sorted(sources.get(name, ()))),
                first_seen_at=row["first_seen_at"],
                last_seen_at=row["last_seen_at"],
                sampled=sampled,
                properties=properties,
            )
        )
    return found


def discovered_get(*, tenant: Tenant, event_type: str) -> DiscoveredEventType | None:
    rows = list(discovered_queryset(tenant=tenant).filter(event_type=event_type))
    found = discovered_describe(tenant=tenant, rows=rows)
    return found[0] if found else None


# --- contract impact -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractImpact:
    event_type: str
    version: int | None
    quarantined: int
    checked: int
    acceptable: int


def contract_impact(*, tenant: Tenant, event_type: str) -> ContractImpact:
    """How many quarantined events of `event_type` the tenant's current contract would
    accept now (every check of the pipeline, no write), among the newest IMPACT_LIMIT."""
    rows = QuarantinedItem.objects.filter(tenant=tenant, kind=RecordKind.EVENT, event_type=event_type)
    quarantined = rows.count()
    ctx = IngestContext(
        tenant=tenant,
        sources={source.key: source for source in source_list(tenant=tenant)},
        contracts=contract_snapshot(tenant_id=tenant.pk),
    )
    payloads = rows.order_by("-received_at").values_list("payload", flat=True)[:IMPACT_LIMIT]
    checked = acceptable = 0
    version = None
    for index, payload in enumerate(payloads):
        item = prepare_event(index, payload, ctx)
        checked += 1
        acceptable += item.ok
        version = version or item.contract_version
    if version is None:
        check = ctx.contracts.check_event(event_type=event_type, properties={})
        version = check.version
    return ContractImpact(
        event_type=event_type, version=version, quarantined=quarantined, checked=checked, acceptable=acceptable
    )
