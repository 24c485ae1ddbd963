"""What ingest adds to the admin profile page: derived attributes and recent events."""

from __future__ import annotations

import json
import uuid

from django.urls import reverse

from profiles.extensions import AdminSection
from profiles.selectors import profile_derived_rows

from .models import Event, Violation

RECENT = 20


def derived_section(*, tenant_id: int, profile_id: uuid.UUID) -> AdminSection:
    rows = profile_derived_rows(tenant_id=tenant_id, profile_id=profile_id)
    return AdminSection(
        title="Derived attributes",
        columns=("name", "value", "events aggregated", "updated"),
        rows=[(row.name, json.dumps(row.value), row.count, row.updated_at) for row in rows],
        empty="No derived attribute has a value for this profile.",
    )


def recent_events_section(*, tenant_id: int, profile_id: uuid.UUID) -> AdminSection:
    events = list(
        Event.objects.filter(tenant_id=tenant_id, profile_id=profile_id)
        .select_related("source")
        .order_by("-occurred_at")[:RECENT]
    )
    rows = [
        (
            event.occurred_at,
            event.event_type,
            f"{event.source.key}/{event.external_event_id}",
            json.dumps(event.properties, ensure_ascii=False)[:200],
            (event.resolution or {}).get("matchedBy") or "new profile",
        )
        for event in events
    ]
    events_url = reverse("admin:ingest_event_changelist") + f"?q={profile_id}"
    return AdminSection(
        title=f"Recent events (newest {RECENT})",
        columns=("occurred at", "event type", "source / external id", "properties", "matched by"),
        rows=rows,
        empty="No events yet.",
        links=(("All events of this profile", events_url),),
    )


def rejected_hint_section(*, tenant_id: int, profile_id: uuid.UUID) -> AdminSection | None:
    """Rejected data never reaches a profile; point ops at the violations log instead."""
    latest = Violation.objects.filter(tenant_id=tenant_id).order_by("-last_seen_at").first()
    if latest is None:
        return None
    return AdminSection(
        title="Missing events?",
        columns=(),
        note=(
            "Refused events never reach a profile. The violations log counts them per source, "
            f"event type and error code (latest: {latest.code} for {latest.event_type} from {latest.source_key})."
        ),
        links=(("Open the violations log", reverse("admin:ingest_violation_changelist")),),
    )
