"""Channel endpoints (where a customer can be reached, and whether we may) and their
append-only history. Kept apart from identifiers (DESIGN.md §1, §5): a PHONE identifier
and an SMS endpoint for the same number are two rows with different lifecycles."""

from __future__ import annotations

import hashlib

from django.db import models
from django.db.models import Q

from profiles.models import Profile
from tenants.models import Tenant

from .types import CHANNELS, CONSENT_STATES, REACHABILITY_STATES

ENDPOINT_UNIQUE_CONSTRAINT = "endpoint_tenant_channel_address_unique"
MAX_ADDRESS_LENGTH = 4096
MAX_REASON_LENGTH = 500

# "unknown": consent was never given for the current owner (or it was reset when the
# endpoint changed hands). It is never accepted as input; readiness reads it as no_consent.
CONSENT_UNKNOWN = "unknown"
CONSENT_VALUES = (CONSENT_UNKNOWN, *CONSENT_STATES)


def address_digest(address: str) -> str:
    """The SHA-256 of a normalized address: the indexed half of the endpoint key. A push
    token may be 4096 characters, more than a PostgreSQL btree entry can hold."""
    return hashlib.sha256(address.encode("utf-8")).hexdigest()


class Channel(models.TextChoices):
    EMAIL = "EMAIL"
    SMS = "SMS"
    PUSH = "PUSH"
    WHATSAPP = "WHATSAPP"


class Consent(models.TextChoices):
    UNKNOWN = CONSENT_UNKNOWN, "unknown (never given)"
    GRANTED = "granted"
    DENIED = "denied"
    PENDING = "pending"


class Reachability(models.TextChoices):
    REACHABLE = "reachable"
    BOUNCED = "bounced"
    UNREACHABLE = "unreachable"


class Endpoint(models.Model):
    """One address on one channel, `(tenant, channel, address)`, owned by one profile.

    Every state field carries the `occurredAt` that set it, so an update that arrives late
    never overwrites a newer one. Ownership follows the latest declaration; consent counts
    only when given by the current owner after the last declaration by anyone else
    (`others_declared_at`), so a recycled number never inherits an opt-in. Reachability
    belongs to the address and survives a change of owner. `active` marks the profile's
    endpoint that readiness and exports use on this channel (at most one per profile and
    channel). Rows are written only by `channels.services`."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    address = models.CharField(max_length=MAX_ADDRESS_LENGTH, help_text="Normalized for its channel.")
    address_key = models.CharField(max_length=64, editable=False, help_text="SHA-256 of the address (indexed).")
    number_type = models.CharField(
        max_length=32, blank=True, help_text="SMS/WHATSAPP: the phonenumbers type (MOBILE, FIXED_LINE, …)."
    )
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")
    active = models.BooleanField(default=False, help_text="The profile's endpoint in use on this channel.")
    declared_at = models.DateTimeField(help_text="Latest occurredAt of a declaration by the current owner.")
    declared_source = models.CharField(max_length=63, blank=True)
    others_declared_at = models.DateTimeField(
        null=True, blank=True, help_text="Latest occurredAt of a declaration by any other profile (the consent floor)."
    )
    consent = models.CharField(max_length=16, choices=Consent.choices, default=Consent.UNKNOWN)
    consent_occurred_at = models.DateTimeField(null=True, blank=True)
    consent_source = models.CharField(max_length=63, blank=True)
    consent_evidence = models.CharField(max_length=MAX_REASON_LENGTH, blank=True)
    reachability = models.CharField(max_length=16, choices=Reachability.choices, default=Reachability.REACHABLE)
    reachability_occurred_at = models.DateTimeField(null=True, blank=True)
    reachability_source = models.CharField(max_length=63, blank=True)
    reachability_reason = models.CharField(max_length=MAX_REASON_LENGTH, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant_id", "channel", "address"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "channel", "address_key"], name=ENDPOINT_UNIQUE_CONSTRAINT),
            models.UniqueConstraint(
                fields=["tenant", "profile", "channel"],
                condition=Q(active=True),
                name="endpoint_one_active_per_channel",
            ),
            models.CheckConstraint(condition=Q(channel__in=CHANNELS), name="endpoint_channel_known"),
            models.CheckConstraint(condition=~Q(address=""), name="endpoint_address_not_empty"),
            models.CheckConstraint(condition=Q(consent__in=CONSENT_VALUES), name="endpoint_consent_known"),
            models.CheckConstraint(
                condition=Q(reachability__in=REACHABILITY_STATES), name="endpoint_reachability_known"
            ),
            models.CheckConstraint(
                condition=Q(consent=CONSENT_UNKNOWN) | Q(consent_occurred_at__isnull=False),
                name="endpoint_consent_has_occurred_at",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "profile", "channel"], name="endpoint_tenant_profile")]

    def __str__(self) -> str:
        return f"{self.channel}:{self.address[:80]}"


class HistoryKind(models.TextChoices):
    CONSENT = "consent"
    REACHABILITY = "reachability"
    OWNERSHIP = "ownership"


class EndpointHistory(models.Model):
    """One change reported for an endpoint, appended and never edited: consent (with its
    evidence, such as a double-opt-in confirmation reference), reachability (with its
    reason), and changes of owner. `profile_id` is the profile it concerned at the time, a
    plain UUID so the trail outlives ownership moves; `effect` says what it did on arrival
    (an update older than the current state is kept but does not apply)."""

    EFFECT_APPLIED = "applied"
    EFFECT_OLDER = "older_than_current"
    EFFECT_BEFORE_OWNER = "before_current_owner"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="history")
    profile_id = models.UUIDField(help_text="The profile this change concerned when it arrived.")
    kind = models.CharField(max_length=16, choices=HistoryKind.choices)
    state = models.CharField(
        max_length=16, help_text="consent or reachability state; for ownership: claimed, released or merged."
    )
    source = models.CharField(max_length=63, blank=True)
    occurred_at = models.DateTimeField()
    evidence = models.CharField(max_length=MAX_REASON_LENGTH, blank=True, help_text="Evidence or reason as sent.")
    trigger = models.CharField(max_length=512, help_text='What reported it, e.g. "channel update crm/cu-1".')
    effect = models.CharField(max_length=32, default=EFFECT_APPLIED)
    note = models.CharField(max_length=300, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = "endpoint history entry"
        verbose_name_plural = "endpoint history"
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=HistoryKind.values), name="endpoint_history_kind_known"),
        ]
        indexes = [
            models.Index(fields=["tenant", "endpoint", "occurred_at"], name="endpoint_history_endpoint"),
            models.Index(fields=["tenant", "profile_id"], name="endpoint_history_profile"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}={self.state} at {self.occurred_at:%Y-%m-%d %H:%M}"
