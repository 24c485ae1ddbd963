"""`{% quarantine_impact event_type %}`: the contract impact note of the event-type page.

The contracts admin cannot import ingest (DESIGN.md §2); its template loads this tag."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from ingest.quarantine_selectors import contract_impact

register = template.Library()


@register.inclusion_tag("admin/ingest/quarantineditem/impact_note.html")
def quarantine_impact(event_type: Any) -> dict[str, Any]:
    if event_type is None or getattr(event_type, "pk", None) is None:
        return {"impact": None}
    impact = contract_impact(tenant=event_type.tenant, event_type=event_type.name)
    if not impact.quarantined:
        return {"impact": None}
    return {
        "impact": impact,
        "acceptable": f"{impact.acceptable:,}",
        "quarantined": f"{impact.quarantined:,}",
        "checked": f"{impact.checked:,}",
        "partial": impact.checked < impact.quarantined,
        "url": reverse("admin:ingest_quarantineditem_impact", args=[event_type.pk]),
    }
