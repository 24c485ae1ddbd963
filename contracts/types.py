"""Plain data crossing the contracts app's boundary (the interface ingest relies on)."""

from __future__ import annotations

from dataclasses import dataclass

from cdp_project.core.errors import FieldProblem

# Names of event types, properties and attributes: what backends type into JSON.
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$"
NAME_MAX_LENGTH = 100

TYPE_STRING = "string"
TYPE_INTEGER = "integer"
TYPE_NUMBER = "number"
TYPE_BOOLEAN = "boolean"
TYPE_DATETIME = "datetime"
TYPE_ENUM = "enum"
TYPE_ARRAY = "array"
TYPE_OBJECT = "object"
FIELD_TYPES = (
    TYPE_STRING,
    TYPE_INTEGER,
    TYPE_NUMBER,
    TYPE_BOOLEAN,
    TYPE_DATETIME,
    TYPE_ENUM,
    TYPE_ARRAY,
    TYPE_OBJECT,
)
NUMERIC_TYPES = (TYPE_INTEGER, TYPE_NUMBER)
FIELD_TYPE_CHOICES = [(t, t) for t in FIELD_TYPES]

STATUS_ACTIVE = "active"
STATUS_DEPRECATED = "deprecated"
STATUSES = (STATUS_ACTIVE, STATUS_DEPRECATED)

AGGREGATIONS = ("count", "sum", "min", "max", "first", "last")
NUMERIC_AGGREGATIONS = ("sum", "min", "max")
DERIVED_READY = "ready"
DERIVED_BACKFILLING = "backfilling"
DERIVED_STATUSES = (DERIVED_READY, DERIVED_BACKFILLING)
# Kinds of the jobs that compute derived values (ingest registers their handlers).
JOB_DERIVED_BACKFILL = "derived.backfill"
JOB_DERIVED_RECOMPUTE = "derived.recompute"


@dataclass(frozen=True)
class ContractCheck:
    """The verdict of the validator on one event's type and properties.

    `problems` carry JSON Pointers relative to the request body of one event
    (`/eventType`, `/properties/total`); empty means the event may be stored.
    `warnings` are human-readable (e.g. a deprecated event type) and go back to the client.
    """

    event_type: str
    event_type_id: int | None
    version: int | None
    problems: tuple[FieldProblem, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class FieldSpec:
    """A typed value as a definition declares it: a property of an event type (where
    `required` and `derivable` apply) or a profile attribute."""

    name: str
    type: str
    required: bool = False
    filterable: bool = False
    derivable: bool = False
    values: tuple[str, ...] = ()
    max_length: int | None = None
    minimum: float | int | None = None
    maximum: float | int | None = None
    description: str = ""


@dataclass(frozen=True)
class EventTypeSpec:
    name: str
    description: str = ""
    status: str = "active"
    allow_additional_properties: bool = False
    properties: tuple[FieldSpec, ...] = ()


@dataclass(frozen=True)
class DerivedAttributeSpec:
    name: str
    event_type: str
    property: str | None
    aggregation: str
    description: str = ""


@dataclass(frozen=True)
class EventTypeInfo:
    """An event type's current definition, for the apps above (segments, ingest)."""

    id: int
    name: str
    status: str
    version: int
    allow_additional_properties: bool
    properties: tuple[FieldSpec, ...]

    def property(self, name: str) -> FieldSpec | None:
        return next((p for p in self.properties if p.name == name), None)


@dataclass(frozen=True)
class AttributeDefinitionInfo:
    id: int
    name: str
    type: str
    filterable: bool
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class DerivedAttributeInfo:
    id: int
    name: str
    event_type: str
    event_type_id: int
    property: str | None  # None for count
    aggregation: str
    status: str = "ready"  # "backfilling" while its values are being computed (incomplete)
