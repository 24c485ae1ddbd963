"""A background job: long work of one tenant, run by the worker, observable through the Jobs API.

The django-tasks database backend carries the "run job X" messages (and their SKIP LOCKED
claiming); this row is the job itself: what to do, how far it got, where to resume, and the
lease that tells a live run from one whose worker died."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    params = models.JSONField(default=dict, blank=True)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    # Where a resumed run starts again; written by the handler through `progress`.
    checkpoint = models.JSONField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    # A message for the API and the admin, never a traceback (tracebacks go to the logs).
    error = models.TextField(blank=True, default="")
    # Runs started so far; also the fencing token of the current run (see jobs.runner).
    attempts = models.PositiveIntegerField(default=0)
    # A running job whose lease has passed lost its worker; the sweeper queues it again.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # The django-tasks result that carries the latest run of this job.
    task_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="jobs_tenant_created_idx"),
            models.Index(fields=["tenant", "kind", "status"], name="jobs_tenant_kind_status_idx"),
            models.Index(fields=["lease_expires_at"], name="jobs_running_lease_idx", condition=Q(status="running")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress_done__gte=0) & Q(progress_total__gte=0), name="jobs_progress_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)
