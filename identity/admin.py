"""The identity side of the ops console: profiles found by any identifier as a human
types it, with identifiers, attributes, merge history and the sections higher apps add;
identifiers (read-only) and identity conflicts for review."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html

from cdp_project.core.admin_base import ReadOnlyAdminMixin
from profiles.admin import RULE_TEXT, merge_explanation, profile_link, profile_name
from profiles.extensions import profile_admin_sections
from profiles.models import Profile
from profiles.selectors import merge_ledger_for_profile, profile_attribute_values
from tenants.scoping import TenantScopedAdmin

from .models import Identifier, IdentityConflict
from .selectors import LABEL_ORDER, admin_profile_ids_search, profile_identifiers, profile_labels
from .services import identity_conflicts_mark_reviewed


def customer_link(profile_id: Any) -> str:
    """A link to a profile named by its EXTERNAL id or email rather than its UUID."""
    return profile_link(profile_id, profile_labels(profile_ids=[profile_id]).get(profile_id))


class LiveFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("live", "Live"), ("merged", "Merged away (tombstone)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "live":
            return queryset.filter(merged_into__isnull=True)
        if self.value() == "merged":
            return queryset.filter(merged_into__isnull=False)
        return queryset


def _identifier_search(request: HttpRequest, queryset: QuerySet, search_term: str, field: str) -> QuerySet:
    ids = admin_profile_ids_search(text=search_term)
    partial = search_term.strip()
    condition = Q(**{f"{field}__in": ids})
    if len(partial) >= 3:
        condition |= Q(**{f"{field}__in": Identifier.objects.filter(value__icontains=partial).values("profile_id")})
    return queryset.filter(condition)


@admin.register(Profile)
class ProfileAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["customer", "identifier_list", "status", "tenant", "created_at", "updated_at"]
    list_filter = ["tenant", LiveFilter]
    search_fields = ["id"]  # replaced by get_search_results; declared so the search box shows
    search_help_text = (
        "Any identifier as typed (e.g. 'ANN@example.com ', '020 7946 0958' with the tenant's region), "
        "an EXTERNAL id, a device key, or a profile id."
    )
    fields = ["id", "tenant", "created_at", "updated_at", "survivor", "merged_at"]
    readonly_fields = fields
    change_form_template = "admin/identity/profile/change_form.html"
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("tenant").prefetch_related("identifiers")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        if not search_term.strip():
            return queryset, False
        return _identifier_search(request, queryset, search_term, "pk"), False

    @admin.display(description="Customer")
    def customer(self, obj: Profile) -> str:
        items = sorted(obj.identifiers.all(), key=lambda i: (LABEL_ORDER.index(i.type), i.value))
        return profile_name(obj.pk, items[0].value if items else None)

    @admin.display(description="Identifiers")
    def identifier_list(self, obj: Profile) -> str:
        items = sorted(obj.identifiers.all(), key=lambda i: (i.type, i.value))
        return ", ".join(f"{i.type}:{i.value}" for i in items) or "—"

    @admin.display(description="Status")
    def status(self, obj: Profile) -> str:
        return "merged" if obj.merged_into_id else "live"

    @admin.display(description="Merged into")
    def survivor(self, obj: Profile) -> str:
        return profile_link(obj.merged_into_id) if obj.merged_into_id else "—"

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        profile = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if profile is not None:
            context.update(self._profile_context(profile))
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _profile_context(self, profile: Profile) -> dict[str, Any]:
        entries = list(merge_ledger_for_profile(tenant_id=profile.tenant_id, profile_id=profile.pk)[:100])
        labels = profile_labels(
            profile_ids=[profile.pk, *(e.merged_id for e in entries), *(e.survivor_id for e in entries)]
        )
        history = [
            {
                "entry": entry,
                "explanation": merge_explanation(entry, labels),
                "rule_text": RULE_TEXT.get(entry.rule, entry.rule),
                "merged_link": profile_link(entry.merged_id, labels.get(entry.merged_id)),
                "survivor_link": profile_link(entry.survivor_id, labels.get(entry.survivor_id)),
                "moved": ", ".join(f"{key}: {count}" for key, count in sorted(entry.moved.items())),
                "moved_identifiers": ", ".join(f"{i['type']}:{i['value']}" for i in entry.moved_identifiers),
                "lost": [
                    {**item, "value_json": json.dumps(item["value"], ensure_ascii=False)}
                    for item in entry.lost_attributes
                ],
            }
            for entry in entries
        ]
        attributes = [
            {"row": row, "value_json": json.dumps(row.value, ensure_ascii=False)}
            for row in profile_attribute_values(profile_id=profile.pk)
        ]
        return {
            "profile": profile,
            "customer_label": profile_name(profile.pk, labels.get(profile.pk)),
            "identifiers": profile_identifiers(profile_id=profile.pk),
            "attribute_rows": attributes,
            "merge_history": history,
            "sections": profile_admin_sections(tenant_id=profile.tenant_id, profile_id=profile.pk),
            "survivor_link": profile_link(profile.merged_into_id) if profile.merged_into_id else None,
        }


@admin.register(Identifier)
class IdentifierAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["type", "value", "tenant", "profile_link", "source", "first_seen_at", "last_seen_at"]
    list_filter = ["tenant", "type"]
    search_fields = ["value"]
    search_help_text = "An identifier as typed; it is normalized first."
    list_select_related = ["tenant"]
    fields = ["tenant", "type", "value", "profile_link", "source", "first_seen_at", "last_seen_at", "created_at"]
    readonly_fields = fields

    @admin.display(description="Profile")
    def profile_link(self, obj: Identifier) -> str:
        return customer_link(obj.profile_id)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        if not search_term.strip():
            return queryset, False
        return _identifier_search(request, queryset, search_term, "profile_id"), False


@admin.register(IdentityConflict)
class IdentityConflictAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = [
        "last_seen_at",
        "tenant",
        "identifier",
        "owner",
        "primary",
        "reason",
        "occurrences",
        "trigger",
        "reviewed",
    ]
    list_filter = ["tenant", ("reviewed_at", admin.EmptyFieldListFilter), "reason", "identifier_type"]
    search_fields = ["identifier_value", "trigger", "source"]
    list_select_related = ["tenant"]
    actions = ["mark_reviewed"]
    fields = [
        "tenant",
        "identifier",
        "reason_text",
        "owner",
        "primary",
        "trigger",
        "source",
        "occurrences",
        "first_seen_at",
        "last_seen_at",
        "reviewed_at",
        "reviewed_by",
    ]
    readonly_fields = fields

    @admin.display(description="Identifier")
    def identifier(self, obj: IdentityConflict) -> str:
        return f"{obj.identifier_type}:{obj.identifier_value}"

    @admin.display(description="Kept by")
    def owner(self, obj: IdentityConflict) -> str:
        return customer_link(obj.owner_profile_id)

    @admin.display(description="Event went to")
    def primary(self, obj: IdentityConflict) -> str:
        return customer_link(obj.primary_profile_id)

    @admin.display(description="Reviewed", boolean=True)
    def reviewed(self, obj: IdentityConflict) -> bool:
        return obj.reviewed_at is not None

    @admin.display(description="Why")
    def reason_text(self, obj: IdentityConflict) -> str:
        if obj.reason == IdentityConflict.REASON_DIFFERENT_EXTERNAL:
            return format_html(
                "Both profiles carry different EXTERNAL ids, so they were not merged (two customers are never merged); "
                "{} stayed with its owner. Check upstream whether two customers share it.",
                self.identifier(obj),
            )
        if obj.reason == IdentityConflict.REASON_REVERTED_MERGE:
            return format_html(
                "A merge of these two profiles was reverted, so they are never merged again automatically; "
                "{} stayed with its owner. Merge them by hand upstream only if they really are one customer.",
                self.identifier(obj),
            )
        return obj.reason

    @admin.action(description="Mark selected conflicts as reviewed", permissions=["view"])
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = identity_conflicts_mark_reviewed(
            conflict_ids=queryset.values_list("pk", flat=True), reviewer=request.user.get_username()
        )
        self.message_user(request, f"Marked {count} conflict(s) as reviewed.", messages.SUCCESS)
