"""The merge ledger in the admin: read-only for everyone, superusers included."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from cdp_project.core.admin_base import ReadOnlyAdminMixin
from tenants.scoping import TenantScopedAdmin

from .models import MergeLedgerEntry

RULE_TEXT = dict(MergeLedgerEntry.RULE_CHOICES)


def profile_name(profile_id: Any, label: str | None = None) -> str:
    """How the console names a customer: its EXTERNAL id or email when known (see
    identity.selectors.profile_labels), else a short form of its id."""
    return label or f"profile {str(profile_id)[:8]}…"


def profile_link(profile_id: Any, label: str | None = None) -> str:
    url = reverse("admin:profiles_profile_change", args=[profile_id])
    return format_html('<a href="{}" title="{}">{}</a>', url, profile_id, profile_name(profile_id, label))


def merge_explanation(entry: MergeLedgerEntry, labels: dict | None = None) -> str:
    """One sentence an ops person can read: why this merge happened."""
    labels = labels or {}
    chosen = f" (chosen by its {entry.matched_by})" if entry.matched_by else ""
    merged = profile_name(entry.merged_id, labels.get(entry.merged_id))
    survivor = profile_name(entry.survivor_id, labels.get(entry.survivor_id))
    return (
        f"{entry.trigger or 'Data'} from source {entry.source or '?'} carried "
        f"{entry.identifier_type} {entry.identifier_value}, held by {merged}, "
        f"together with identifiers of {survivor}{chosen}. "
        f"Rule: {RULE_TEXT.get(entry.rule, entry.rule)}; the other profile was merged into it."
    )


@admin.register(MergeLedgerEntry)
class MergeLedgerEntryAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    """Append-only: nobody adds, changes or deletes ledger entries here, superusers included."""

    list_display = ["created_at", "tenant", "merged", "survivor", "rule", "identifier", "trigger", "source"]
    list_filter = ["tenant", "rule", "identifier_type"]
    search_fields = ["identifier_value", "trigger", "source"]
    search_help_text = "An identifier value, a trigger (e.g. an event id), a source, or a profile id."
    date_hierarchy = "created_at"
    fields = [
        "created_at",
        "tenant",
        "explanation",
        "merged",
        "survivor",
        "rule",
        "matched_by",
        "identifier_type",
        "identifier_value",
        "trigger",
        "source",
        "moved_pretty",
        "moved_identifiers_pretty",
        "taken_attributes",
        "lost_attributes_pretty",
    ]
    readonly_fields = fields

    @admin.display(description="Merged profile")
    def merged(self, obj: MergeLedgerEntry) -> str:
        return profile_link(obj.merged_id)

    @admin.display(description="Survivor")
    def survivor(self, obj: MergeLedgerEntry) -> str:
        return profile_link(obj.survivor_id)

    @admin.display(description="Identifier")
    def identifier(self, obj: MergeLedgerEntry) -> str:
        return f"{obj.identifier_type}:{obj.identifier_value}"

    @admin.display(description="Why")
    def explanation(self, obj: MergeLedgerEntry) -> str:
        return merge_explanation(obj)

    @admin.display(description="Moved (counts)")
    def moved_pretty(self, obj: MergeLedgerEntry) -> str:
        return ", ".join(f"{key}: {count}" for key, count in sorted(obj.moved.items()))

    @admin.display(description="Moved identifiers")
    def moved_identifiers_pretty(self, obj: MergeLedgerEntry) -> str:
        return ", ".join(f"{item['type']}:{item['value']}" for item in obj.moved_identifiers)

    @admin.display(description="Attribute values that lost")
    def lost_attributes_pretty(self, obj: MergeLedgerEntry) -> str:
        return "; ".join(
            f"{item['name']}={json.dumps(item['value'])} at {item['occurredAt']} ({item['from']})"
            for item in obj.lost_attributes
        )

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:

        try:
            profile_id = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(survivor_id=profile_id) | queryset.filter(merged_id=profile_id), False
