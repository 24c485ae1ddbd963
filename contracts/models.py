"""The contract layer: which events and attributes a tenant's backends may rely on (DESIGN.md §6).

Every row carries its tenant, and every unique constraint leads with it. The current
definition of an event type lives in `PropertyDefinition` rows; each version of it is
also frozen, as JSON, in an `EventTypeVersion` row, which is what the validator compiles.
"""

from __future__ import annotations

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from tenants.models import Tenant

# The contract vocabulary lives in .types (modules that need only these names import it,
# not the models); re-exported here for the models and their migrations.
from .types import (  # noqa: F401
    AGGREGATIONS,
    DERIVED_BACKFILLING,
    DERIVED_READY,
    DERIVED_STATUSES,
    FIELD_TYPE_CHOICES,
    FIELD_TYPES,
    JOB_DERIVED_BACKFILL,
    JOB_DERIVED_RECOMPUTE,
    NAME_MAX_LENGTH,
    NAME_PATTERN,
    NUMERIC_AGGREGATIONS,
    NUMERIC_TYPES,
    STATUS_ACTIVE,
    STATUS_DEPRECATED,
    STATUSES,
    TYPE_ARRAY,
    TYPE_BOOLEAN,
    TYPE_DATETIME,
    TYPE_ENUM,
    TYPE_INTEGER,
    TYPE_NUMBER,
    TYPE_OBJECT,
    TYPE_STRING,
)

name_validator = RegexValidator(
    NAME_PATTERN, "Use 1–100 letters, digits, '_', '.' or '-', starting with a letter or '_'."
)


def _typed_field_constraints(prefix: str) -> list[models.BaseConstraint]:
    """The same invariants for property and attribute definitions: a known type,
    bounds only where the type has them."""
    return [
        models.CheckConstraint(condition=Q(type__in=FIELD_TYPES), name=f"{prefix}_type_known"),
        models.CheckConstraint(
            condition=Q(max_length__isnull=True) | Q(type=TYPE_STRING, max_length__gte=1),
            name=f"{prefix}_max_length_only_for_strings",
        ),
        models.CheckConstraint(
            condition=(Q(minimum__isnull=True) & Q(maximum__isnull=True)) | Q(type__in=NUMERIC_TYPES),
            name=f"{prefix}_bounds_only_for_numbers",
        ),
        models.CheckConstraint(
            condition=Q(minimum__isnull=True) | Q(maximum__isnull=True) | Q(minimum__lte=models.F("maximum")),
            name=f"{prefix}_minimum_not_above_maximum",
        ),
    ]


class TypedField(models.Model):
    """What a property definition and an attribute definition share: a typed value."""

    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[name_validator])
    type = models.CharField(max_length=16, choices=FIELD_TYPE_CHOICES)
    filterable = models.BooleanField(default=False, help_text="May be used in segment conditions.")
    values = models.JSONField(
        default=list, blank=True, help_text="For enum: the allowed values, as a JSON list of strings."
    )
    max_length = models.PositiveIntegerField(
        null=True, blank=True, help_text="For string: at most this many characters."
    )
    minimum = models.FloatField(null=True, blank=True, help_text="For integer and number: the smallest value allowed.")
    maximum = models.FloatField(null=True, blank=True, help_text="For integer and number: the largest value allowed.")
    description = models.TextField(blank=True, max_length=2000)

    class Meta:
        abstract = True


class EventType(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[name_validator])
    description = models.TextField(blank=True, max_length=2000)
    status = models.CharField(
        max_length=16,
        choices=[(s, s) for s in STATUSES],
        default=STATUS_ACTIVE,
        help_text="A deprecated event type is still accepted, with a warning to the sender.",
    )
    allow_additional_properties = models.BooleanField(
        default=False, help_text="Accept properties that are not declared below (they are stored unchecked)."
    )
    # Grows by one with every change of the properties or of allow_additional_properties.
    version = models.PositiveIntegerField(default=1, editable=False, validators=[MinValueValidator(1)])
    # SHA-256 of the current definition: tells a cached compiled validator from a stale one.
    definition_digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant_id", "name"]
        verbose_name = "event type"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="eventtype_tenant_name_unique"),
            models.CheckConstraint(condition=Q(status__in=STATUSES), name="eventtype_status_known"),
            models.CheckConstraint(condition=Q(version__gte=1), name="eventtype_version_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class PropertyDefinition(TypedField):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    event_type = models.ForeignKey(EventType, on_delete=models.CASCADE, related_name="properties")
    position = models.PositiveIntegerField(default=0)
    required = models.BooleanField(default=False)
    derivable = models.BooleanField(default=False, help_text="May feed derived attributes.")

    class Meta:
        ordering = ["event_type_id", "position", "name"]
        verbose_name = "property definition"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "event_type", "name"], name="propertydefinition_tenant_eventtype_name_unique"
            ),
            *_typed_field_constraints("propertydefinition"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"


class EventTypeVersion(models.Model):
    """One version of an event type's definition, frozen. Append-only: the history the
    admin shows, and the source the validator compiles (immutable, so safe to cache)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    event_type = models.ForeignKey(EventType, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    # {"allowAdditionalProperties": bool, "properties": [<property as in the API>, ...]}
    definition = models.JSONField()
    digest = models.CharField(max_length=64)
    changed_by = models.CharField(max_length=150, blank=True, help_text="Who made this version (user, API, import).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["event_type_id", "-version"]
        verbose_name = "event type version"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "event_type", "version"], name="eventtypeversion_tenant_eventtype_version_unique"
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="eventtypeversion_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type_id} v{self.version}"


class AttributeDefinition(TypedField):
    """A profile attribute that backends may set through profile updates."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant_id", "name"]
        verbose_name = "attribute definition"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="attributedefinition_tenant_name_unique"),
            *_typed_field_constraints("attributedefinition"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"


class DerivedAttributeDefinition(models.Model):
    """A profile value computed from the profile's events, e.g. the sum of order totals."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[name_validator])
    # PROTECT: an event type that feeds a derived attribute cannot disappear under it.
    event_type = models.ForeignKey(EventType, on_delete=models.PROTECT, related_name="derived_attributes")
    property_name = models.CharField(max_length=NAME_MAX_LENGTH, blank=True, help_text="Empty for count.")
    aggregation = models.CharField(max_length=8, choices=[(a, a) for a in AGGREGATIONS])
    description = models.TextField(blank=True, max_length=2000)
    # `backfilling` while the job that computes its values from the stored events runs: its
    # values are then incomplete and are not served (profile API, runtime context).
    status = models.CharField(max_length=12, choices=[(s, s) for s in DERIVED_STATUSES], default=DERIVED_READY)
    # The latest job that (re)computes its values: the backfill after creation, or a recompute.
    job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant_id", "name"]
        verbose_name = "derived attribute definition"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="derivedattribute_tenant_name_unique"),
            models.CheckConstraint(
                condition=Q(aggregation__in=AGGREGATIONS), name="derivedattribute_aggregation_known"
            ),
            models.CheckConstraint(condition=Q(status__in=DERIVED_STATUSES), name="derivedattribute_status_known"),
            models.CheckConstraint(
                condition=Q(aggregation="count", property_name="") | (~Q(aggregation="count") & ~Q(property_name="")),
                name="derivedattribute_property_unless_count",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "event_type"], name="derivedattribute_tenant_type")]

    def __str__(self) -> str:
        return self.name
