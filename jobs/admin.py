"""Jobs in the ops console: read-only, with status and progress."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from cdp_project.core.admin_base import ReadOnlyAdminMixin
from tenants.scoping import SuperuserOnlyAdmin, TenantScopedAdmin

from .models import Job


@admin.register(Job)
class JobAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["kind", "tenant", "status", "progress_display", "attempts", "created_at", "finished_at", "error"]
    list_filter = ["tenant", "status", "kind"]
    search_fields = ["id", "kind"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    fields = [
        "id",
        "tenant",
        "kind",
        "status",
        "progress_display",
        "params",
        "checkpoint",
        "result",
        "error",
        "attempts",
        "lease_expires_at",
        "task_id",
        "created_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        return super().get_queryset(request).select_related("tenant")

    @admin.display(description="Progress")
    def progress_display(self, job: Job) -> str:
        if job.progress_total:
            percent = 100 * job.progress_done // job.progress_total
            return f"{job.progress_done} / {job.progress_total} ({percent}%)"
        return str(job.progress_done)


def _task_results_superuser_only() -> None:
    """django-tasks-db's own admin lists raw task rows of every tenant: engineers only."""
    from django_tasks_db.models import DBTaskResult

    if admin.site.is_registered(DBTaskResult):
        existing = type(admin.site._registry[DBTaskResult])
        admin.site.unregister(DBTaskResult)
        admin.site.register(DBTaskResult, type("DBTaskResultAdmin", (SuperuserOnlyAdmin, existing), {}))


_task_results_superuser_only()
