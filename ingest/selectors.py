"""Reads of the ingest app; every one is scoped by tenant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db.models import QuerySet

from cdp_project.core.errors import not_found
from tenants.models import Tenant

from .models import ChannelUpdate, Event, IdempotencyKey, ProfileUpdate, RecordKind, Source


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


def events_of_type(*, tenant_id: int, event_type: str) -> QuerySet[Event]:
    """The tenant's events of one type, not yet run (segments narrow it and correlate it
    with their profile in `EXISTS` and `IN` subqueries)."""
    return Event.objects.filter(tenant_id=tenant_id, event_type=event_type)


def records_occurred_at(*, tenant: Tenant, source_key: str, external_ids: Sequence[str]) -> dict[str, dt.datetime]:
    """The occurredAt stored for each key of the source that was already applied."""
    keys = IdempotencyKey.objects.filter(tenant=tenant, source__key=source_key, external_id__in=external_ids)
    by_kind: dict[str, dict[object, str]] = {}
    for external_id, kind, record_id in keys.values_list("external_id", "kind", "record_id"):
        by_kind.setdefault(kind, {})[record_id] = external_id
    models = {
        RecordKind.EVENT: Event,
        RecordKind.PROFILE_UPDATE: ProfileUpdate,
        RecordKind.CHANNEL_UPDATE: ChannelUpdate,
    }
    found: dict[str, dt.datetime] = {}
    for kind, records in by_kind.items():
        rows = models[kind].objects.filter(tenant=tenant, id__in=list(records)).values_list("id", "occurred_at")
        for record_id, occurred_at in rows:
            found[records[record_id]] = occurred_at
    return found
