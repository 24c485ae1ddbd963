"""Ingest in the admin: sources, the event store (read-only) and the violations log,
which answers marketing ops' "why are my events missing?"."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from cdp_project.core.admin_base import ReadOnlyAdminMixin
from tenants.models import Tenant
from tenants.scoping import NO_TENANT, TenantScopedAdmin, request_tenant_id

from .models import Event, IdempotencyKey, ProfileUpdate, Source, Violation
from .overview import overview_build
from .quarantine_admin import quarantined_items_link


@admin.register(Source)
class SourceAdmin(TenantScopedAdmin):
    list_display = ["key", "name", "tenant", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["key", "name"]
    readonly_fields = ["created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Source | None = None):
        # The key is part of every idempotency key already stored: it never changes.
        return [*self.readonly_fields, "tenant", "key"] if obj else self.readonly_fields


@admin.register(Violation)
class ViolationAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["last_seen_at", "source_key", "event_type", "code", "count", "first_seen_at", "tenant", "kept"]
    list_filter = ["tenant", "code", "source_key", "event_type", "last_seen_at"]
    search_fields = ["source_key", "event_type", "code", "sample"]
    ordering = ["-last_seen_at"]
    fields = ["tenant", "source_key", "event_type", "code", "count", "first_seen_at", "last_seen_at", "sample", "kept"]
    readonly_fields = ["kept"]

    @admin.display(description="quarantine")
    def kept(self, obj: Violation) -> str:
        return quarantined_items_link(obj)


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["occurred_at", "event_type", "source", "external_event_id", "profile_id", "tenant"]
    list_filter = ["tenant", "event_type", "source"]
    search_fields = ["external_event_id", "=profile__id", "event_type"]
    raw_id_fields = ["profile"]
    list_select_related = ["source", "tenant"]
    show_full_result_count = False
    date_hierarchy = "occurred_at"


@admin.register(ProfileUpdate)
class ProfileUpdateAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["occurred_at", "source", "external_event_id", "profile_id", "changed", "tenant"]
    list_filter = ["tenant", "source"]
    search_fields = ["external_event_id", "=profile__id"]
    raw_id_fields = ["profile"]
    show_full_result_count = False


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    superuser_only = True  # an engineering detail behind "duplicate" answers: not for ops
    list_display = ["created_at", "kind", "source", "external_id", "record_id", "tenant"]
    list_filter = ["tenant", "kind", "source"]
    search_fields = ["external_id", "=record_id"]
    show_full_result_count = False


# --- the overview: the admin's home page ------------------------------------------------------

_site_index = admin.site.index


def overview_index(request: HttpRequest, extra_context: dict | None = None) -> Any:
    """The admin's home with the overview on top, scoped like every admin page."""
    scope = request_tenant_id(request)
    context = dict(extra_context or {})
    if scope is not NO_TENANT:
        context["overview"] = overview_build(tenant_id=scope)
        context["overview_scope"] = "all tenants" if scope is None else Tenant.objects.get(pk=scope).name
        context["title"] = "Overview"
    return _site_index(request, context)


admin.site.index = overview_index  # type: ignore[method-assign]
admin.site.index_template = "admin/overview.html"
