"""Ingest in the admin: sources, the event store (read-only) and the violations log,
which answers marketing ops' "why are my events missing?"."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from tenants.scoping import TenantScopedAdmin

from .models import Event, IdempotencyKey, ProfileUpdate, Source, Violation


@admin.register(Source)
class SourceAdmin(TenantScopedAdmin):
    list_display = ["key", "name", "tenant", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["key", "name"]
    readonly_fields = ["created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Source | None = None):
        # The key is part of every idempotency key already stored: it never changes.
        return [*self.readonly_fields, "tenant", "key"] if obj else self.readonly_fields


class ReadOnlyAdmin(TenantScopedAdmin):
    """Audit data: nobody adds, edits or deletes it here, superusers included."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Violation)
class ViolationAdmin(ReadOnlyAdmin):
    list_display = ["last_seen_at", "source_key", "event_type", "code", "count", "first_seen_at", "tenant"]
    list_filter = ["tenant", "code", "source_key", "event_type", "last_seen_at"]
    search_fields = ["source_key", "event_type", "code", "sample"]
    ordering = ["-last_seen_at"]
    fields = ["tenant", "source_key", "event_type", "code", "count", "first_seen_at", "last_seen_at", "sample"]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "event_type", "source", "external_event_id", "profile_id", "tenant"]
    list_filter = ["tenant", "event_type", "source"]
    search_fields = ["external_event_id", "=profile__id", "event_type"]
    raw_id_fields = ["profile"]
    list_select_related = ["source", "tenant"]
    show_full_result_count = False
    date_hierarchy = "occurred_at"


@admin.register(ProfileUpdate)
class ProfileUpdateAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "source", "external_event_id", "profile_id", "changed", "tenant"]
    list_filter = ["tenant", "source"]
    search_fields = ["external_event_id", "=profile__id"]
    raw_id_fields = ["profile"]
    show_full_result_count = False


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "source", "external_id", "record_id", "tenant"]
    list_filter = ["tenant", "kind", "source"]
    search_fields = ["external_id", "=record_id"]
    show_full_result_count = False
