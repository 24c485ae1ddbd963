"""Erasure requests: who asked to forget which customer, when, why, and the receipt.

The record never holds an erased value: the target is kept as a profile id (which answers
404 once the erasure is done) and the receipt holds counts only."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from tenants.models import Tenant


class ErasureStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Erasure(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=ErasureStatus.choices, default=ErasureStatus.QUEUED)
    target_profile_id = models.UUIDField(help_text="The profile the request named (or that its identity found).")
    suppress = models.BooleanField(default=True, help_text="Keep the erased identifiers out from now on.")
    reason = models.CharField(max_length=500, blank=True)
    requested_by = models.CharField(max_length=150, blank=True, help_text="API key or admin user that asked.")
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    family = models.JSONField(default=list, blank=True, help_text="Ids of the live profile and its tombstones.")
    stage = models.PositiveSmallIntegerField(default=0, help_text="Resumption point of the erasure job.")
    receipt = models.JSONField(default=dict, blank=True, help_text="Counts of what was removed, per kind.")
    error = models.TextField(blank=True)
    job_id = models.CharField(max_length=64, blank=True, help_text="The background job that runs it.")

    class Meta:
        ordering = ["-requested_at", "id"]
        indexes = [models.Index(fields=["tenant", "requested_at"], name="erasure_tenant_requested")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ErasureStatus.values), name="erasure_status_known"),
        ]

    def __str__(self) -> str:
        return f"erasure {self.id} ({self.status})"
