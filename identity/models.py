"""Identifiers (who a profile is) and the identity conflicts ops review."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q

from cdp_project.core.retries import retryable_unique_register
from profiles.models import Profile
from tenants.models import Tenant, hot_tenant_key

from .types import IDENTIFIER_TYPES

IDENTIFIER_UNIQUE_CONSTRAINT = "identifier_tenant_type_value_unique"
# Two requests inserting the same identifier at once: run_with_retries tries again, and the
# retry finds the identifier and uses it.
retryable_unique_register(
    constraint=IDENTIFIER_UNIQUE_CONSTRAINT,
    sqlite_columns="identity_identifier.tenant_id, identity_identifier.type, identity_identifier.value",
)


class IdentifierType(models.TextChoices):
    EXTERNAL = "EXTERNAL"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    DEVICE_KEY = "DEVICE_KEY"


class Identifier(models.Model):
    """A normalized identifier, owned by exactly one live profile. Merges move it to the
    survivor; it never points at a tombstone once its transaction commits."""

    tenant = hot_tenant_key()
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="identifiers")
    type = models.CharField(max_length=16, choices=IdentifierType.choices)
    value = models.CharField(max_length=255)
    source = models.CharField(max_length=63, blank=True, help_text="The source that first sent it.")
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant_id", "type", "value"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "type", "value"], name=IDENTIFIER_UNIQUE_CONSTRAINT),
            # A profile holds at most one EXTERNAL id (DESIGN.md §3).
            models.UniqueConstraint(
                fields=["tenant", "profile"], condition=Q(type="EXTERNAL"), name="identifier_one_external_per_profile"
            ),
            models.CheckConstraint(condition=Q(type__in=IDENTIFIER_TYPES), name="identifier_type_known"),
            models.CheckConstraint(condition=~Q(value=""), name="identifier_value_not_empty"),
            models.CheckConstraint(condition=Q(first_seen_at__lte=F("last_seen_at")), name="identifier_seen_order"),
        ]
        indexes = [models.Index(fields=["tenant", "profile"], name="identifier_tenant_profile")]

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


class IdentityConflict(models.Model):
    """A merge the rules refused: the identifier stayed with `owner_profile_id` although an
    identity map put it together with `primary_profile_id` (two different EXTERNAL ids).
    One row per (identifier, owner, primary), counted on every repetition."""

    REASON_DIFFERENT_EXTERNAL = "different_external_id"
    REASON_REVERTED_MERGE = "reverted_merge"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    identifier_type = models.CharField(max_length=16, choices=IdentifierType.choices)
    identifier_value = models.CharField(max_length=255)
    owner_profile_id = models.UUIDField(help_text="Keeps the identifier.")
    primary_profile_id = models.UUIDField(help_text="Got the event; was not merged with the owner.")
    reason = models.CharField(max_length=40, default=REASON_DIFFERENT_EXTERNAL)
    trigger = models.CharField(max_length=512, help_text="The latest trigger.")
    source = models.CharField(max_length=63, blank=True)
    occurrences = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "identifier_type", "identifier_value", "owner_profile_id", "primary_profile_id"],
                name="identity_conflict_unique",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "last_seen_at"], name="identity_conflict_tenant_seen")]

    def __str__(self) -> str:
        return f"{self.identifier_type}:{self.identifier_value} ({self.reason})"


class MergeBlock(models.Model):
    """Two profiles that must never be merged again automatically: a merge of them was
    reverted. Profile ids are plain UUIDs; a block follows each side into later merges
    (its tombstone leads to the live profile), so the families stay apart. Data naming
    identifiers of both goes to the profile of its highest-precedence identifier and the
    refusal is recorded as an `IdentityConflict` with reason `reverted_merge`."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    profile_a = models.UUIDField(help_text="The survivor of the reverted merge.")
    profile_b = models.UUIDField(help_text="The profile the revert restored.")
    revert_entry_id = models.BigIntegerField(help_text="The merge-ledger entry of the revert.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "profile_a", "profile_b"], name="merge_block_unique"),
            models.CheckConstraint(condition=~Q(profile_a=F("profile_b")), name="merge_block_two_profiles"),
        ]

    def __str__(self) -> str:
        return f"{self.profile_a} ≠ {self.profile_b}"


class IdentifierHashKey(models.Model):
    """A tenant's secret for keyed identifier hashes (HMAC-SHA256). Suppressions and the
    scrubbed audit trail keep only such hashes: without this secret nobody can test
    whether a given email address was ever erased, as anyone could with a bare SHA-256."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="+")
    secret = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"identifier hash key of tenant {self.tenant_id}"


class Suppression(models.Model):
    """An erased identifier that must not come back: kept only as a keyed hash of
    `(type, normalized value)`. Data naming it is answered `suppressed` and not stored.
    Deleting the row lifts the suppression (the identifier then starts a new customer)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=16, choices=IdentifierType.choices)
    digest = models.CharField(max_length=64, editable=False, help_text="HMAC-SHA256 of the type and value.")
    reason = models.CharField(max_length=500, blank=True)
    erasure_id = models.UUIDField(null=True, blank=True, help_text="The erasure that suppressed it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "digest"], name="suppression_tenant_digest_unique"),
            models.CheckConstraint(condition=Q(type__in=IDENTIFIER_TYPES), name="suppression_type_known"),
        ]

    def __str__(self) -> str:
        return f"suppressed {self.type} {self.digest[:12]}…"
