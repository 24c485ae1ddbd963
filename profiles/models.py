"""Profiles: customer-level facts, tombstones of merged profiles and the merge ledger."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q, Value

from tenants.models import hot_tenant_key


class Profile(models.Model):
    """One customer. A profile that was merged away keeps its row as a tombstone:
    `merged_into` points at the survivor, so a lookup by the old id still answers."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = hot_tenant_key()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # RESTRICT, not PROTECT: deleting a tenant cascades to tombstones and survivors together.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.RESTRICT, related_name="tombstones", editable=False
    )
    merged_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The profile's current attribute values by name (removed ones left out): a copy of its
    # AttributeValue rows for segment reads, kept exact by database triggers on
    # profiles_attributevalue (migration 0005, docs/storage.md). Never written by Python:
    # on PostgreSQL a direct write is ignored, on SQLite it is recomputed from the rows.
    attributes = models.JSONField(default=dict, db_default=Value({}, output_field=models.JSONField()), editable=False)

    class Meta:
        ordering = ["tenant_id", "-created_at"]
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="profile_tenant_created"),
            models.Index(fields=["tenant", "merged_into"], name="profile_tenant_merged_into"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(merged_into=F("id")), name="profile_not_merged_into_itself"),
            models.CheckConstraint(
                condition=Q(merged_into__isnull=True, merged_at__isnull=True)
                | Q(merged_into__isnull=False, merged_at__isnull=False),
                name="profile_tombstone_has_merged_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} (merged)" if self.merged_into_id else str(self.id)

    @property
    def is_live(self) -> bool:
        return self.merged_into_id is None


class AttributeValue(models.Model):
    """The current value of one attribute of one profile, by attribute *name* (ingest
    validates values against the contract before calling us). `value` NULL means the
    attribute was removed at `occurred_at`; the row stays so an older update cannot
    bring the value back."""

    tenant = hot_tenant_key()
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="attribute_values")
    name = models.CharField(max_length=255)
    value = models.JSONField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=63, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["profile_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "profile", "name"], name="attribute_value_tenant_profile_name"),
            models.CheckConstraint(condition=~Q(name=""), name="attribute_value_name_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value!r}"

    @property
    def is_removed(self) -> bool:
        return self.value is None


class DerivedValue(models.Model):
    """The current value of one derived attribute of one profile (e.g. `ordersTotal`).
    Ingest keeps it current inside each event's transaction and recomputes it exactly
    after merges and backfills; `number` is a numeric copy for segment filters."""

    tenant = hot_tenant_key()
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="derived_values")
    name = models.CharField(max_length=255)
    value = models.JSONField(null=True, blank=True)
    number = models.FloatField(null=True, blank=True)
    count = models.PositiveBigIntegerField(default=0, help_text="Events aggregated so far.")
    occurred_at = models.DateTimeField(null=True, blank=True, help_text="For first/last: the chosen event's time.")
    exact = models.TextField(blank=True, default="", help_text="For sums: the exact decimal total.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["profile_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "profile", "name"], name="derived_value_tenant_profile_name"),
        ]
        indexes = [models.Index(fields=["tenant", "name", "number"], name="derived_value_tenant_name_num")]

    def __str__(self) -> str:
        return f"{self.name}={self.value!r}"


class MergeLedgerEntry(models.Model):
    """One merge, appended and never changed: enough to explain it and to undo it later.
    Profile ids are plain UUIDs, not foreign keys, so the audit trail outlives the rows."""

    RULE_EXTERNAL_OWNER = "external_owner"
    RULE_CLAIMED = "claimed_by_external"
    RULE_NEW_PROFILE = "new_profile_for_external"
    RULE_PRECEDENCE = "highest_precedence"
    RULE_NEW = "new_profile"
    RULE_REVERT = "revert"
    RULE_CHOICES = [
        (RULE_EXTERNAL_OWNER, "primary is the owner of the event's EXTERNAL id"),
        (RULE_CLAIMED, "primary is an anonymous profile claimed by a new EXTERNAL id"),
        (RULE_NEW_PROFILE, "primary is a new profile for a new EXTERNAL id"),
        (RULE_PRECEDENCE, "primary is the owner of the highest-precedence matched identifier"),
        (RULE_NEW, "primary is a new profile"),
        (RULE_REVERT, "a revert of an earlier merge: the merged profile is live again"),
    ]

    tenant = hot_tenant_key()
    created_at = models.DateTimeField(auto_now_add=True)
    survivor_id = models.UUIDField()
    merged_id = models.UUIDField()
    rule = models.CharField(max_length=40, choices=RULE_CHOICES)
    matched_by = models.CharField(max_length=16, blank=True, help_text="Identifier type that chose the survivor.")
    identifier_type = models.CharField(max_length=16, help_text="Identifier of the merged profile in the identity map.")
    identifier_value = models.CharField(max_length=255)
    trigger = models.CharField(max_length=512, help_text='What caused it, e.g. "event shop-backend/order-1".')
    source = models.CharField(max_length=63, blank=True)
    moved = models.JSONField(default=dict, help_text='Counts of moved rows, e.g. {"identifiers": 2, "events": 3}.')
    moved_identifiers = models.JSONField(default=list)
    taken_attributes = models.JSONField(default=list, help_text="Attributes whose merged-profile value won.")
    lost_attributes = models.JSONField(default=list, help_text="Attribute values that lost, with their side.")
    undo = models.JSONField(
        null=True,
        blank=True,
        help_text="What the merge changed beyond the counts, so that it can be reverted exactly "
        "(both profiles' attribute values before it, the tombstones it re-pointed, the endpoints and "
        "participants it moved). Empty on entries written before reverts existed, and once erased.",
    )
    reverts = models.BigIntegerField(null=True, blank=True, help_text="On a revert entry: the merge it reverted.")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "merge ledger entry"
        verbose_name_plural = "merge ledger"
        indexes = [
            models.Index(fields=["tenant", "survivor_id", "created_at"], name="merge_tenant_survivor"),
            models.Index(fields=["tenant", "merged_id"], name="merge_tenant_merged"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(survivor_id=F("merged_id")), name="merge_survivor_not_merged"),
        ]

    def __str__(self) -> str:
        return f"{self.merged_id} → {self.survivor_id}"
