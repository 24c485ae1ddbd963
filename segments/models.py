"""Segments: saved definitions in the JSON language of API.md, evaluated on demand.

A segment stores only its definition; membership is computed by one SQL query whenever
it is asked for (`segments.compiler`), so it is always current. Every row carries its
tenant, and the unique key leads with it."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from tenants.models import Tenant

KEY_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"
KEY_MAX_LENGTH = 100
NAME_MAX_LENGTH = 200
key_validator = RegexValidator(
    KEY_PATTERN, "Use 1–100 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit."
)


class Segment(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=KEY_MAX_LENGTH, validators=[key_validator])
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    definition = models.JSONField(help_text="The conditions, in the definition language of docs/segments.md.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant_id", "key"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="segment_tenant_key_unique"),
            models.CheckConstraint(condition=~Q(key=""), name="segment_key_not_empty"),
            models.CheckConstraint(condition=~Q(name=""), name="segment_name_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"
