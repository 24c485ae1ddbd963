"""The campaign runtime: campaigns, their typed variables, participants and variable values.

Campaign variables are runtime state of one campaign's execution, never CDP data
(DESIGN.md §1): nothing here is read by profiles, segments or exports. Every row carries
its tenant, and every unique constraint and hot index leads with it.
"""

from __future__ import annotations

import uuid

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from contracts.models import FIELD_TYPE_CHOICES, FIELD_TYPES, NAME_MAX_LENGTH, NUMERIC_TYPES, TYPE_STRING
from contracts.models import name_validator as variable_name_validator
from profiles.models import Profile
from tenants.models import Tenant

CAMPAIGN_KEY_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"
CAMPAIGN_KEY_MAX_LENGTH = 100
campaign_key_validator = RegexValidator(
    CAMPAIGN_KEY_PATTERN, "Use 1–100 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit."
)


class Campaign(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=CAMPAIGN_KEY_MAX_LENGTH, validators=[campaign_key_validator])
    name = models.CharField(max_length=200)
    active = models.BooleanField(
        default=True, help_text="Deactivating a campaign makes every runtime token of it fail at once."
    )
    variables_version = models.PositiveIntegerField(
        default=1,
        editable=False,
        help_text="Goes up with every change of the variable definitions; per-process caches compare it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant_id", "key"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="campaign_tenant_key_unique"),
            models.CheckConstraint(condition=~Q(key=""), name="campaign_key_not_empty"),
            models.CheckConstraint(condition=~Q(name=""), name="campaign_name_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


class VariableDefinition(models.Model):
    """A typed campaign variable, in the contracts' type vocabulary. `default` is what a
    participant holds until the runtime sets a value (null: no default)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variables")
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[variable_name_validator])
    type = models.CharField(max_length=16, choices=FIELD_TYPE_CHOICES)
    values = models.JSONField(default=list, blank=True, help_text="For enum: the allowed values.")
    max_length = models.PositiveIntegerField(
        null=True, blank=True, help_text="For string: at most this many characters."
    )
    minimum = models.FloatField(null=True, blank=True, help_text="For integer and number.")
    maximum = models.FloatField(null=True, blank=True, help_text="For integer and number.")
    default = models.JSONField(null=True, blank=True, help_text="JSON value of the variable's type, or null.")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["campaign_id", "position", "name"]
        verbose_name = "variable definition"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "campaign", "name"], name="variabledefinition_tenant_campaign_name_unique"
            ),
            models.CheckConstraint(condition=Q(type__in=FIELD_TYPES), name="variabledefinition_type_known"),
            models.CheckConstraint(
                condition=Q(max_length__isnull=True) | Q(type=TYPE_STRING, max_length__gte=1),
                name="variabledefinition_max_length_only_for_strings",
            ),
            models.CheckConstraint(
                condition=(Q(minimum__isnull=True) & Q(maximum__isnull=True)) | Q(type__in=NUMERIC_TYPES),
                name="variabledefinition_bounds_only_for_numbers",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"


class Participant(models.Model):
    """One profile taking part in one campaign. Merges move participants to the survivor
    (and combine two participants of the same campaign), so `profile` is always live."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="participants")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant_id", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "campaign", "profile"], name="participant_tenant_campaign_profile_unique"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "profile"], name="participant_tenant_profile")]

    def __str__(self) -> str:
        return str(self.id)


class VariableValue(models.Model):
    """A participant's value of one variable. Removing the definition removes its values."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="variable_values")
    definition = models.ForeignKey(VariableDefinition, on_delete=models.CASCADE, related_name="+")
    value = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["participant_id", "definition_id"]
        verbose_name = "variable value"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "participant", "definition"], name="variablevalue_tenant_participant_definition"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.definition_id}={self.value!r}"
