"""The one read-only admin: rows written only by services (resolution, merges, the
ledgers, audit trails, jobs) are shown in the admin and never added, edited or deleted
there, superusers included. Put it first among the bases, before the tenant scoping:
`class EventAdmin(ReadOnlyAdminMixin, TenantScopedAdmin)`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """For ModelAdmins and inlines alike (an inline's permission checks take `obj`)."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
