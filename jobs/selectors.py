"""Reads of the jobs app, always scoped by tenant."""

from __future__ import annotations

import uuid

from django.db.models import Count, QuerySet

from cdp_project.core.errors import not_found

from .models import Job


def job_queryset(*, tenant_id: int) -> QuerySet[Job]:
    return Job.objects.filter(tenant_id=tenant_id).order_by("-created_at", "pk")


def job_get(*, tenant_id: int, job_id: str | uuid.UUID) -> Job:
    """The tenant's job, or a 404 problem: for a malformed id, an unknown one, or another
    tenant's, alike."""
    try:
        key = job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(str(job_id))
    except ValueError:
        raise not_found("No such job.") from None
    job = job_queryset(tenant_id=tenant_id).filter(pk=key).first()
    if job is None:
        raise not_found("No such job.")
    return job


def job_latest(*, tenant_id: int, kind: str, subject: str) -> Job | None:
    """The newest job of `kind` whose params name `subject` (params["subject"])."""
    return job_queryset(tenant_id=tenant_id).filter(kind=kind, params__subject=subject).first()


def jobs_count_by_kind_and_status() -> list[tuple[str, str, int]]:
    """How many jobs there are of each kind in each status, across tenants (for /metrics)."""
    rows = Job.objects.values_list("kind", "status").annotate(n=Count("pk")).order_by("kind", "status")
    return [(kind, status, n) for kind, status, n in rows]
