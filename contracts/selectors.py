"""Reads of the contracts app; every one is scoped by tenant.

The `*_list`/`*_by_name` querysets serve this app's API and admin. `event_type_get`,
`attribute_definition_list` and `derived_attribute_list` are the boundary for the apps
above (profiles, segments, ingest): they answer frozen dataclasses, never querysets.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, Prefetch, QuerySet

from cdp_project.core.errors import not_found

from . import specs
from .models import (
    DERIVED_BACKFILLING,
    AttributeDefinition,
    DerivedAttributeDefinition,
    EventType,
    EventTypeVersion,
    PropertyDefinition,
)
from .types import AttributeDefinitionInfo, DerivedAttributeInfo, EventTypeInfo

_ORDERED_PROPERTIES = Prefetch("properties", queryset=PropertyDefinition.objects.order_by("position", "name"))


# --- for this app's API and admin -------------------------------------------------------------


def event_type_queryset(*, tenant_id: int) -> QuerySet[EventType]:
    return EventType.objects.filter(tenant_id=tenant_id).prefetch_related(_ORDERED_PROPERTIES).order_by("name")


def event_type_by_name(*, tenant_id: int, name: str) -> EventType:
    """The event type with its properties, or a 404 problem (also for another tenant's)."""
    event_type = event_type_queryset(tenant_id=tenant_id).filter(name=name).first()
    if event_type is None:
        raise not_found(f"No event type {name!r}.")
    return event_type


def event_type_versions(*, event_type: EventType) -> QuerySet[EventTypeVersion]:
    return EventTypeVersion.objects.filter(tenant_id=event_type.tenant_id, event_type=event_type).order_by("-version")


def attribute_definition_queryset(*, tenant_id: int) -> QuerySet[AttributeDefinition]:
    return AttributeDefinition.objects.filter(tenant_id=tenant_id).order_by("name")


def attribute_definition_by_name(*, tenant_id: int, name: str) -> AttributeDefinition:
    definition = attribute_definition_queryset(tenant_id=tenant_id).filter(name=name).first()
    if definition is None:
        raise not_found(f"No attribute definition {name!r}.")
    return definition


def derived_attribute_queryset(
    *, tenant_id: int, event_type: str | None = None
) -> QuerySet[DerivedAttributeDefinition]:
    queryset = DerivedAttributeDefinition.objects.filter(tenant_id=tenant_id).select_related("event_type", "job")
    if event_type is not None:
        queryset = queryset.filter(event_type__name=event_type)
    return queryset.order_by("name")


def derived_attribute_by_name(*, tenant_id: int, name: str) -> DerivedAttributeDefinition:
    definition = derived_attribute_queryset(tenant_id=tenant_id).filter(name=name).first()
    if definition is None:
        raise not_found(f"No derived attribute {name!r}.")
    return definition


# --- the boundary for the apps above ----------------------------------------------------------


def event_type_get(*, tenant_id: int, name: str) -> EventTypeInfo | None:
    """The current definition of one event type, or None when the tenant has none by that name."""
    event_type = event_type_queryset(tenant_id=tenant_id).filter(name=name).first()
    if event_type is None:
        return None
    return EventTypeInfo(
        id=event_type.pk,
        name=event_type.name,
        status=event_type.status,
        version=event_type.version,
        allow_additional_properties=event_type.allow_additional_properties,
        properties=tuple(specs.field_spec_from_row(p) for p in event_type.properties.all()),
    )


def attribute_definition_list(*, tenant_id: int) -> tuple[AttributeDefinitionInfo, ...]:
    return tuple(
        AttributeDefinitionInfo(
            id=d.pk, name=d.name, type=d.type, filterable=d.filterable, values=tuple(d.values or ())
        )
        for d in attribute_definition_queryset(tenant_id=tenant_id)
    )


def derived_attribute_list(*, tenant_id: int, event_type: str | None = None) -> tuple[DerivedAttributeInfo, ...]:
    """Derived-attribute definitions, all or only those fed by one event type, by name."""
    return tuple(
        DerivedAttributeInfo(
            id=d.pk,
            name=d.name,
            event_type=d.event_type.name,
            event_type_id=d.event_type_id,
            property=d.property_name or None,
            aggregation=d.aggregation,
            status=d.status,
        )
        for d in derived_attribute_queryset(tenant_id=tenant_id, event_type=event_type)
    )


def derived_attribute_statuses(*, tenant_id: int) -> dict[str, str]:
    """Every derived attribute's status by name: `ready`, or `backfilling` while its values are
    incomplete (one query)."""
    rows = DerivedAttributeDefinition.objects.filter(tenant_id=tenant_id).order_by("name")
    return dict(rows.values_list("name", "status"))


def derived_backfilling_exists(*, tenant_id: Any, name: Any) -> Exists:
    """An EXISTS expression, true when the derived attribute `name` of `tenant_id` (values or
    OuterRef()s) is backfilling: lets a query of values leave the incomplete ones out without
    a query of its own."""
    return Exists(
        DerivedAttributeDefinition.objects.filter(tenant_id=tenant_id, name=name, status=DERIVED_BACKFILLING)
    )
