"""The contract language as JSON: parse definitions (API bodies, plans) into specs, and
write specs back as JSON. One parser for the API, contracts-as-code and the admin, so
the three can never disagree. Every problem is reported at once, with a JSON Pointer.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from rest_framework import serializers
from rest_framework.fields import SkipField, empty

from cdp_project.core.errors import FieldProblem, Problem, invalid_body, pointer
from cdp_project.core.jsonvalues import canonical_json
from cdp_project.core.serializers import StrictBooleanField, StrictCharField, StrictSerializer, body_parse, choice_field

from .models import (
    AGGREGATIONS,
    FIELD_TYPES,
    NAME_MAX_LENGTH,
    NAME_PATTERN,
    NUMERIC_TYPES,
    STATUSES,
    TYPE_ENUM,
    TYPE_STRING,
)
from .types import DerivedAttributeSpec, EventTypeSpec, FieldSpec

MAX_DESCRIPTION = 2000
MAX_PROPERTIES = 500
MAX_ENUM_VALUES = 500
MAX_ENUM_VALUE_LENGTH = 200
MAX_MAX_LENGTH = 1_000_000
_READ_ONLY = frozenset({"version"})

Path = tuple[str | int, ...]


def raise_problems(problems: Sequence[FieldProblem]) -> None:
    if problems:
        raise invalid_body(problems)


def normalize_number(value: float | int | None) -> float | int | None:
    """Bounds are stored as doubles; give integral ones back as ints, so `0` stays `0`."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


NAME_INVALID = f"Use 1–{NAME_MAX_LENGTH} letters, digits, '_', '.' or '-', starting with a letter or '_'."


def name_field(**kwargs: Any) -> StrictCharField:
    """A contract name (an event type, a property, an attribute); required unless
    `required=False`, when null is as absent."""
    null = "absent" if kwargs.get("required") is False else "required"
    return StrictCharField(
        max_length=NAME_MAX_LENGTH,
        regex=NAME_PATTERN,
        null=null,
        messages={"invalid": NAME_INVALID},
        **kwargs,
    )


class DescriptionField(StrictCharField):
    """Optional text; null and "" are no description."""

    def __init__(self, **kwargs: Any):
        messages = {
            "invalid": "Must be a string.",
            "max_length": ("too_long", f"At most {MAX_DESCRIPTION} characters."),
        }
        super().__init__(required=False, max_length=MAX_DESCRIPTION, accept_blank=True, messages=messages, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        return "" if data is None else super().to_internal_value(data)


_NAME = name_field()


def _skip_unless_given(value: Any) -> None:
    if value is empty or value is None:
        raise SkipField()


class TypedFieldSerializer(StrictSerializer):
    # A typed field (an attribute definition; a property adds `required` and `derivable`):
    # the details a type does not have are refused, bounds must be in order.
    parse_order = (
        "name",
        "type",
        "values",
        "maxLength",
        "minimum",
        "maximum",
        "required",
        "derivable",
        "filterable",
        "description",
    )
    accepted_keys = tuple(_READ_ONLY)

    name = name_field()
    type = choice_field(FIELD_TYPES, null="required")
    values = serializers.ListField(child=serializers.CharField(), required=False, help_text="enum only")
    maxLength = serializers.IntegerField(min_value=1, required=False, help_text="string only")
    minimum = serializers.FloatField(required=False, help_text="integer and number only")
    maximum = serializers.FloatField(required=False, help_text="integer and number only")
    filterable = StrictBooleanField(default=False)
    description = DescriptionField()

    def parse_values(self, value: Any, path: Path) -> tuple[tuple[str, ...], list[FieldProblem]]:
        type_ = self.parsed.get("type")
        if type_ != TYPE_ENUM:
            if value in (empty, None, []) or type_ is None:
                raise SkipField()
            return (), [FieldProblem(pointer(*path), "not_allowed", "Only an enum has values.")]
        if value is empty or value is None:
            return (), [FieldProblem(pointer(*path), "required", "An enum needs its list of allowed values.")]
        if not isinstance(value, list) or not value:
            return (), [FieldProblem(pointer(*path), "invalid", "Must be a non-empty list of strings.")]
        if len(value) > MAX_ENUM_VALUES:
            return (), [FieldProblem(pointer(*path), "invalid", f"At most {MAX_ENUM_VALUES} values.")]
        problems = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item or len(item) > MAX_ENUM_VALUE_LENGTH:
                detail = f"Each value is a non-empty string of at most {MAX_ENUM_VALUE_LENGTH} characters."
                problems.append(FieldProblem(pointer(*path, index), "invalid", detail))
            elif item in value[:index]:
                problems.append(FieldProblem(pointer(*path, index), "duplicate", f"The value {item!r} appears twice."))
        return tuple(v for v in value if isinstance(v, str)), problems

    def parse_maxLength(self, value: Any, path: Path) -> tuple[int, list[FieldProblem]]:
        _skip_unless_given(value)
        type_ = self.parsed.get("type")
        if type_ is not None and type_ != TYPE_STRING:
            return value, [FieldProblem(pointer(*path), "not_allowed", "Only a string has a maxLength.")]
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_MAX_LENGTH:
            return value, [FieldProblem(pointer(*path), "invalid", f"Must be an integer from 1 to {MAX_MAX_LENGTH}.")]
        return value, []

    def parse_minimum(self, value: Any, path: Path) -> tuple[float | int | None, list[FieldProblem]]:
        _skip_unless_given(value)
        type_ = self.parsed.get("type")
        if type_ is not None and type_ not in NUMERIC_TYPES:
            return None, [FieldProblem(pointer(*path), "not_allowed", "Only an integer or a number has bounds.")]
        if not _is_number(value) or abs(value) > 1e300:
            return None, [FieldProblem(pointer(*path), "invalid", "Must be a finite number.")]
        return normalize_number(float(value) if isinstance(value, float) else value), []

    def parse_maximum(self, value: Any, path: Path) -> tuple[float | int | None, list[FieldProblem]]:
        maximum, problems = self.parse_minimum(value, path)
        minimum = self.parsed.get("minimum")
        if not problems and minimum is not None and maximum is not None and minimum > maximum:
            problems = [FieldProblem(pointer(*path), "invalid", "The maximum is below the minimum.")]
        return maximum, problems

    def spec(self, parsed: Mapping[str, Any]) -> FieldSpec:
        return FieldSpec(
            name=parsed["name"],
            type=parsed["type"],
            required=parsed.get("required", False),
            filterable=parsed["filterable"],
            derivable=parsed.get("derivable", False),
            values=parsed.get("values", ()),
            max_length=parsed.get("maxLength"),
            minimum=parsed.get("minimum"),
            maximum=parsed.get("maximum"),
            description=parsed["description"] if "description" in parsed else "",
        )


class PropertySerializer(TypedFieldSerializer):
    required = StrictBooleanField(default=False)
    derivable = StrictBooleanField(default=False)


def _field(data: Any, at: Path, *, kind: str) -> tuple[FieldSpec | None, list[FieldProblem]]:
    """kind is "property" (required and derivable apply) or "attribute"."""
    body = PropertySerializer if kind == "property" else TypedFieldSerializer
    parsed, problems = body_parse(body, data, at=at)
    return (None if parsed is None else body().spec(parsed)), problems


def _properties(raw: Any, at: Path) -> tuple[tuple[FieldSpec, ...], list[FieldProblem]]:
    if not isinstance(raw, list):
        return (), [FieldProblem(pointer(*at), "invalid", "Must be a list of property definitions.")]
    if len(raw) > MAX_PROPERTIES:
        return (), [FieldProblem(pointer(*at), "invalid", f"At most {MAX_PROPERTIES} properties.")]
    specs: list[FieldSpec] = []
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        spec, found = _field(item, (*at, index), kind="property")
        problems.extend(found)
        if spec is None:
            continue
        if spec.name in seen:
            detail = f"The property {spec.name!r} is declared twice."
            problems.append(FieldProblem(pointer(*at, index, "name"), "duplicate", detail))
            continue
        seen.add(spec.name)
        specs.append(spec)
    return tuple(specs), problems


def parse_property(data: Any, *, at: Path = ()) -> tuple[FieldSpec | None, tuple[FieldProblem, ...]]:
    spec, problems = _field(data, at, kind="property")
    return spec, tuple(problems)


class EventTypeSerializer(StrictSerializer):
    # An event type. Whole (POST, PUT, plans): defaults for what is absent. Partial
    # (PATCH): only what is given. Context `name`: the name in the URL, which the body may
    # repeat but not change. Output: `event_type_as_json`.
    accepted_keys = tuple(_READ_ONLY)

    name = name_field()
    description = DescriptionField(allow_blank=True)
    status = choice_field(STATUSES, default=STATUSES[0], null="required")
    version = serializers.IntegerField(read_only=True, help_text="Grows with every change of the properties.")
    allowAdditionalProperties = StrictBooleanField(default=False)
    properties = PropertySerializer(many=True, required=False)

    def parse_properties(self, value: Any, path: Path) -> tuple[tuple[FieldSpec, ...], list[FieldProblem]]:
        if value is empty and self.partial:
            raise SkipField()
        return _properties([] if value is empty else value, path)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return event_type_as_json(instance)


class EventTypeReplaceSerializer(EventTypeSerializer):
    name = name_field(required=False, help_text="If given, must be the name in the URL.")

    def parse_name(self, value: Any, path: Path) -> tuple[str, list[FieldProblem]]:
        if value is empty or value == self.context["name"]:
            raise SkipField()
        return value, [FieldProblem(pointer(*path), "immutable", "An event type cannot be renamed; create a new one.")]


_EVENT_TYPE_CHANGES = {
    "name": "name",
    "description": "description",
    "status": "status",
    "allowAdditionalProperties": "allow_additional_properties",
    "properties": "properties",
}


def parse_event_type(
    data: Any, *, partial: bool = False, name: str | None = None, at: Path = ()
) -> dict[str, Any] | EventTypeSpec:
    """Parse an event type body (`EventTypeSerializer`). Whole (POST, PUT, plans): an
    EventTypeSpec, with defaults for what is absent. Partial (PATCH): a dict of only the
    given fields, snake_case. `name` is the name from the URL: the body may repeat it but
    not change it."""
    body = EventTypeSerializer if name is None else EventTypeReplaceSerializer
    parsed, problems = body_parse(body, data, at=at, partial=partial, context={"name": name})
    raise_problems(problems)
    assert parsed is not None
    changes = {_EVENT_TYPE_CHANGES[key]: value for key, value in parsed.items() if key != "name"}
    if partial:
        return changes
    return EventTypeSpec(name=parsed.get("name") or name or "", **changes)


def parse_attribute_definition(
    data: Any, *, partial_of: FieldSpec | None = None, name: str | None = None, at: Path = ()
) -> FieldSpec:
    """Parse an attribute definition (`TypedFieldSerializer`). For PATCH, `partial_of` is the
    current definition: the given fields are laid over it and the result is checked as a whole."""
    if not isinstance(data, Mapping):
        raise_problems([FieldProblem(pointer(*at), "invalid", "Must be a JSON object.")])
    if name is not None and "name" in data and data["name"] != name:
        raise_problems(
            [FieldProblem(pointer(*at, "name"), "immutable", "An attribute cannot be renamed; create a new one.")]
        )
    if partial_of is not None:
        merged = field_as_json(partial_of, kind="attribute")
        if "type" in data and data["type"] != partial_of.type:
            # A new type drops the old type's details unless they are given again.
            for key in ("values", "maxLength", "minimum", "maximum"):
                merged.pop(key, None)
        merged.update(data)
        data = {key: value for key, value in merged.items() if value is not None}
    spec, problems = _field(data, at, kind="attribute")
    raise_problems(problems)
    assert spec is not None
    return spec


class DerivedAttributeBody(StrictSerializer):
    # A derived attribute as clients send it (the API's DerivedAttributeSerializer adds
    # what it answers). A count has no property; every other aggregation needs one.
    parse_order = ("name", "eventType", "aggregation", "property", "description")
    accepted_keys = tuple(_READ_ONLY)

    name = name_field()
    eventType = name_field()
    property = serializers.CharField(allow_null=True, required=False, help_text="null for count")
    aggregation = choice_field(AGGREGATIONS, null="required")
    description = DescriptionField()

    def parse_property(self, value: Any, path: Path) -> tuple[str | None, list[FieldProblem]]:
        aggregation = self.parsed.get("aggregation")
        if aggregation == "count":
            if value is not empty and value is not None:
                return None, [FieldProblem(pointer(*path), "not_allowed", "A count has no property.")]
            return None, []
        if aggregation is None:
            raise SkipField()
        return _NAME.run_validation(None if value is empty else value), []


def parse_derived_attribute(data: Any, *, at: Path = ()) -> DerivedAttributeSpec:
    parsed, problems = body_parse(DerivedAttributeBody, data, at=at)
    raise_problems(problems)
    assert parsed is not None
    return DerivedAttributeSpec(
        name=parsed["name"],
        event_type=parsed["eventType"],
        property=parsed.get("property"),
        aggregation=parsed["aggregation"],
        description=parsed["description"] if "description" in parsed else "",
    )


def field_as_json(spec: FieldSpec, *, kind: str) -> dict[str, Any]:
    """A property ("property") or an attribute definition ("attribute") as the API shows it.
    Details a type does not have are left out, as in API.md."""
    out: dict[str, Any] = {"name": spec.name, "type": spec.type}
    if spec.type == TYPE_ENUM:
        out["values"] = list(spec.values)
    if spec.max_length is not None:
        out["maxLength"] = spec.max_length
    if spec.minimum is not None:
        out["minimum"] = normalize_number(spec.minimum)
    if spec.maximum is not None:
        out["maximum"] = normalize_number(spec.maximum)
    if kind == "property":
        out["required"] = spec.required
    out["filterable"] = spec.filterable
    if kind == "property":
        out["derivable"] = spec.derivable
    if spec.description:
        out["description"] = spec.description
    return out


def definition_json(*, allow_additional_properties: bool, properties: Sequence[FieldSpec]) -> dict[str, Any]:
    """What a version of an event type freezes: what decides whether an event is valid."""
    return {
        "allowAdditionalProperties": allow_additional_properties,
        "properties": [field_as_json(p, kind="property") for p in properties],
    }


def definition_digest(*, allow_additional_properties: bool, properties: Sequence[FieldSpec]) -> str:
    """Equal digests mean equal rules. The order of the properties does not matter."""
    canonical = definition_json(
        allow_additional_properties=allow_additional_properties, properties=sorted(properties, key=lambda p: p.name)
    )
    return hashlib.sha256(canonical_json(canonical).encode()).hexdigest()


def definition_from_json(definition: Mapping[str, Any]) -> tuple[bool, tuple[FieldSpec, ...]]:
    """Read a frozen version back (written by this module, so trusted but still checked)."""
    properties, problems = _properties(definition.get("properties", []), ("properties",))
    if problems:
        raise Problem.CORRUPT_CONTRACT.error(str(problems[0]))
    return bool(definition.get("allowAdditionalProperties", False)), properties


def field_spec_from_row(row: Any) -> FieldSpec:
    """A PropertyDefinition or AttributeDefinition row as a spec."""
    return FieldSpec(
        name=row.name,
        type=row.type,
        required=getattr(row, "required", False),
        filterable=row.filterable,
        derivable=getattr(row, "derivable", False),
        values=tuple(row.values or ()),
        max_length=row.max_length,
        minimum=normalize_number(row.minimum),
        maximum=normalize_number(row.maximum),
        description=row.description,
    )


def event_type_as_json(event_type: Any, *, with_version: bool = True) -> dict[str, Any]:
    """An EventType row (properties prefetched in order) as API.md shows it. Plans leave
    the version out: it counts changes in one tenant and means nothing in another."""
    out: dict[str, Any] = {
        "name": event_type.name,
        "description": event_type.description,
        "status": event_type.status,
    }
    if with_version:
        out["version"] = event_type.version
    out["allowAdditionalProperties"] = event_type.allow_additional_properties
    out["properties"] = [field_as_json(field_spec_from_row(p), kind="property") for p in event_type.properties.all()]
    return out


def attribute_definition_as_json(definition: Any) -> dict[str, Any]:
    return field_as_json(field_spec_from_row(definition), kind="attribute")


def derived_attribute_as_json(spec: DerivedAttributeSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": spec.name,
        "eventType": spec.event_type,
        "property": spec.property,
        "aggregation": spec.aggregation,
    }
    if spec.description:
        out["description"] = spec.description
    return out
