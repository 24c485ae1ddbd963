"""Reads of the ingest app; every one is scoped by tenant."""

from __future__ import annotations

from django.db.models import QuerySet

from cdp_project.core.errors import not_found
from tenants.models import Tenant

from .models import Event, Source


def source_list(*, tenant: Tenant) -> QuerySet[Source]:
    return Source.objects.filter(tenant=tenant).order_by("key")


def source_get(*, tenant: Tenant, key: str) -> Source:
    source = Source.objects.filter(tenant=tenant, key=key).first()
    if source is None:
        raise not_found(f"No source {key!r}.")
    return source


def source_exists(*, tenant: Tenant, key: str) -> bool:
    return Source.objects.filter(tenant=tenant, key=key).exists()


def profile_events(*, tenant: Tenant, profile_id: object) -> QuerySet[Event]:
    return Event.objects.filter(tenant=tenant, profile_id=profile_id).select_related("source")
