from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

from tenants.models import Tenant

KEY_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
key_validator = RegexValidator(
    KEY_PATTERN, "Use 1–63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit."
)


class Source(models.Model):
    """A system that sends data, e.g. `shop-backend`. Part of every idempotency key."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=63, validators=[key_validator])
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant_id", "key"]
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="source_tenant_key_unique")]

    def __str__(self) -> str:
        return self.key
