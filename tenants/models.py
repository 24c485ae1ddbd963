from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

SCOPE_INGEST = "ingest"
SCOPE_ADMIN = "admin"
SCOPE_RUNTIME = "runtime"
SCOPES = (SCOPE_INGEST, SCOPE_ADMIN, SCOPE_RUNTIME)

# Values that upstream systems send when they have no real identifier. They are never
# allowed to join two customers (DESIGN.md §3). Compared case-insensitively after trimming.
DEFAULT_BLOCKED_IDENTIFIER_VALUES = (
    "null",
    "undefined",
    "none",
    "nil",
    "nan",
    "0",
    "-1",
    "anonymous",
    "unknown",
    "n/a",
    "na",
    "test",
    "test@test.com",
    "test@example.com",
    "noemail@noemail.com",
    "[object object]",
    "00000000-0000-0000-0000-000000000000",
)


def default_blocked_identifier_values() -> list[str]:
    return list(DEFAULT_BLOCKED_IDENTIFIER_VALUES)


def validate_region(value: str) -> None:
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"{value!r} is not a region code known to libphonenumber (e.g. GB, DE, US).")


class Tenant(models.Model):
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    default_region = models.CharField(
        max_length=2,
        default="GB",
        validators=[validate_region],
        help_text="ISO 3166 region used to read phone numbers written without a leading +.",
    )
    blocked_identifier_values = models.JSONField(
        default=default_blocked_identifier_values,
        blank=True,
        help_text="Identifier values that are ignored wherever they arrive (compared case-insensitively).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=~Q(slug=""), name="tenant_slug_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


def hot_tenant_key() -> models.ForeignKey[Tenant]:
    """The tenant of a table written on every ingest: no foreign-key constraint and no index
    of its own. Each row would otherwise pay a referential check at COMMIT (and lock the one
    tenant row FOR KEY SHARE, which concurrent ingest turns into MultiXacts), and a B-tree
    insert into an index every `(tenant, ...)` index already covers. Rows get their tenant
    from the authenticated caller, and no page or API deletes a tenant (the admin refuses
    it): a deletion running beside ingest could leave rows of no tenant. `on_delete=CASCADE`
    is Django's, not the database's."""
    return models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)


class ApiKey(models.Model):
    """A server API key. Only a SHA-256 hash of the secret is stored: the key is a
    random 256-bit secret, so a fast hash is as strong as a slow one and keeps
    authentication off the hot path's budget."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=120, blank=True)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    hashed_key = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list)
    source_key = models.CharField(
        max_length=63,
        blank=True,
        default="",
        help_text="Set on a write key: the source every message sent with it belongs to (Segment-compatible ingress).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["tenant_id", "-created_at"]
        verbose_name = "API key"
        indexes = [models.Index(fields=["tenant", "created_at"], name="apikey_tenant_created")]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @property
    def is_write_key(self) -> bool:
        return bool(self.source_key)

    @property
    def display_prefix(self) -> str:
        return f"rfk_{self.prefix}"


class RateBudget(models.Model):
    """Requests counted per API key and minute, in the database, so that every process and host
    of the deployment draws on one budget (tenants.throttling). Rows of past minutes are
    deleted as new minutes begin."""

    key_prefix = models.CharField(max_length=32)
    minute = models.BigIntegerField(help_text="Minutes since the epoch.")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key_prefix", "minute"], name="ratebudget_key_minute_unique")]

    def __str__(self) -> str:
        return f"{self.key_prefix}@{self.minute}: {self.count}"


class Operator(models.Model):
    """An admin account of marketing ops that belongs to one tenant: the console shows it
    only that tenant's data (tenants.scoping). Superusers have no Operator row."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cdp_operator")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="operators")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant_id", "user_id"]

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.tenant.slug})"
