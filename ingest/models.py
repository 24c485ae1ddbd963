from __future__ import annotations

import uuid

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from tenants.models import Tenant, hot_tenant_key

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


class RecordKind(models.TextChoices):
    EVENT = "event", "event"
    PROFILE_UPDATE = "profile_update", "profile update"
    CHANNEL_UPDATE = "channel_update", "channel update"


class IdempotencyKey(models.Model):
    """One row per `(tenant, source, externalEventId)`, for events, profile updates and
    channel updates alike, kept with no expiry window (DESIGN.md §7). It is written in
    the same transaction as the effects, first, so concurrent duplicates queue on it.
    It holds only a fingerprint of the payload, so it may outlive an erased profile."""

    tenant = hot_tenant_key()
    # No index of its own: the unique (tenant, source, external_id) one finds a source's keys.
    # With one, a source the statistics had not seen yet was read whole to find a batch's
    # replayed keys, and every key written paid a third B-tree entry. Sources are never deleted.
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="+", db_index=False)
    external_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=20, choices=RecordKind.choices)
    fingerprint = models.CharField(max_length=64)
    record_id = models.UUIDField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "source", "external_id"], name="idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.external_id}"


class AcceptedRecord(models.Model):
    """What every accepted event, profile update and channel update keeps: where it came
    from, when, the profile it was resolved to and why, and its payload fingerprint."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = hot_tenant_key()
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="+")
    external_event_id = models.CharField(max_length=255)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    profile = models.ForeignKey("profiles.Profile", on_delete=models.PROTECT, related_name="+")
    identity = models.JSONField(help_text="The normalized identity map as sent.")
    resolution = models.JSONField(help_text="Why the record landed on its profile.")
    fingerprint = models.CharField(max_length=64)

    class Meta:
        abstract = True


class Event(AcceptedRecord):
    """An accepted event: append-only, partition-ready by `occurred_at`."""

    event_type = models.CharField(max_length=100)
    contract_version = models.PositiveIntegerField()
    properties = models.JSONField()

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "profile", "-occurred_at"], name="event_profile_recent"),
            models.Index(fields=["tenant", "event_type", "occurred_at"], name="event_type_time"),
            models.Index(fields=["tenant", "source", "external_event_id"], name="event_external_id"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.external_event_id}"


class ProfileUpdate(AcceptedRecord):
    """An accepted profile update, kept for audit like an event."""

    attributes = models.JSONField()
    changed = models.JSONField(default=list, help_text="Attributes this update actually changed.")

    class Meta:
        indexes = [models.Index(fields=["tenant", "profile", "-occurred_at"], name="profileupdate_profile_recent")]

    def __str__(self) -> str:
        return f"profile update {self.external_event_id}"


class ChannelUpdate(AcceptedRecord):
    """An accepted channel update, kept for audit like an event. The endpoint state
    itself lives in the channels app."""

    update = models.JSONField(help_text="The normalized channel, address, consent, reachability and reason.")
    outcome = models.JSONField(default=dict, help_text="What the update changed.")

    class Meta:
        indexes = [models.Index(fields=["tenant", "profile", "-occurred_at"], name="channelupdate_profile_recent")]

    def __str__(self) -> str:
        return f"channel update {self.external_event_id}"


class Violation(models.Model):
    """How often data was refused, per tenant, source, event type and error code, so that
    'why are my events missing?' has an answer. Counted, never a copy of every payload."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    source_key = models.CharField(max_length=255, help_text="As sent; may be an unknown source.")
    event_type = models.CharField(max_length=255, help_text="As sent; '(profile update)' for profile updates.")
    code = models.CharField(max_length=64)
    count = models.PositiveBigIntegerField(default=0)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    sample = models.TextField(help_text="The latest refused payload with its problems, truncated.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "source_key", "event_type", "code"], name="violation_unique"),
            models.CheckConstraint(condition=Q(count__gte=1), name="violation_count_positive"),
        ]
        indexes = [models.Index(fields=["tenant", "-last_seen_at"], name="violation_recent")]

    def __str__(self) -> str:
        return f"{self.source_key}/{self.event_type}: {self.code} × {self.count}"


class QuarantinedItem(models.Model):
    """An item refused with a 422-class problem, kept whole so that it can be replayed
    once the contract (or the sender) is fixed. Everything is as sent: the source may be
    unknown and the key may be missing. Bounded per item by CDP_MAX_EVENT_BYTES, per
    tenant by CDP_QUARANTINE_MAX_ITEMS, in time by CDP_QUARANTINE_RETENTION_DAYS."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=RecordKind.choices)
    source_key = models.CharField(max_length=255, blank=True, help_text="As sent; may be an unknown source.")
    external_event_id = models.CharField(max_length=255, blank=True, help_text="As sent; the key of the replay.")
    event_type = models.CharField(max_length=255, blank=True, help_text="As sent; empty for updates.")
    code = models.CharField(max_length=64, help_text="The problem code the item was refused with.")
    errors = models.JSONField(default=list, help_text="The problems of the latest attempt.")
    payload = models.JSONField(help_text="The item exactly as sent.")
    digest = models.CharField(
        max_length=64, help_text="SHA-256 of the payload: an identical refusal refreshes its row."
    )
    identity = models.JSONField(
        default=dict, blank=True, help_text="The normalized identifiers that could be read, for erasure."
    )
    received_at = models.DateTimeField()
    position = models.PositiveIntegerField(
        default=0, help_text="The item's index in its request: replays keep the order."
    )
    replay_count = models.PositiveIntegerField(default=0)
    last_replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "quarantined item"
        indexes = [
            models.Index(fields=["tenant", "-received_at", "-id"], name="quarantine_recent"),
            models.Index(fields=["tenant", "event_type", "-received_at"], name="quarantine_event_type"),
            models.Index(fields=["tenant", "source_key", "-received_at"], name="quarantine_source"),
            models.Index(fields=["tenant", "code", "-received_at"], name="quarantine_code"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "digest"], name="quarantine_digest_unique"),
            models.CheckConstraint(condition=Q(kind__in=list(RecordKind.values)), name="quarantine_kind_known"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.source_key}/{self.external_event_id}: {self.code}"
