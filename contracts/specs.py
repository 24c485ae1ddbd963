"""The contract language as JSON: parse definitions (API bodies, plans) into specs, and
write specs back as JSON. One parser for the API, contracts-as-code and the admin, so
the three can never disagree. Every problem is reported at once, with a JSON Pointer.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rest_framework import serializers
from rest_framework.fields import SkipField, empty

from cdp_project.core.errors import FieldProblem, ProblemError, pointer, unprocessable
from cdp_project.core.serializers import StrictCharField, StrictSerializer, body_parse, choice_field

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

_NAME_RE = re.compile(NAME_PATTERN)
MAX_DESCRIPTION = 2000
MAX_PROPERTIES = 500
MAX_ENUM_VALUES = 500
MAX_ENUM_VALUE_LENGTH = 200
MAX_MAX_LENGTH = 1_000_000
_READ_ONLY = frozenset({"version"})

Path = tuple[str | int, ...]


class _Problems:
    def __init__(self) -> None:
        self.items: list[FieldProblem] = []

    def add(self, at: Path, code: str, detail: str) -> None:
        self.items.append(FieldProblem(pointer(*at), code, detail))


def raise_problems(problems: Sequence[FieldProblem]) -> None:
    if problems:
        count = len(problems)
        raise unprocessable(
            "validation_error",
            "Invalid request",
            f"{count} problem{'s' if count != 1 else ''} in the request body",
            tuple(problems),
        )


def normalize_number(value: float | int | None) -> float | int | None:
    """Bounds are stored as doubles; give integral ones back as ints, so `0` stays `0`."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_keys(data: Mapping[str, Any], allowed: Iterable[str], at: Path, problems: _Problems) -> None:
    known = set(allowed) | _READ_ONLY
    for key in data:
        if key not in known:
            problems.add((*at, key), "unknown_field", f"Unknown field {key!r}; expected one of {', '.join(allowed)}.")


def _name(data: Mapping[str, Any], key: str, at: Path, problems: _Problems, *, required: bool = True) -> str | None:
    if key not in data or data[key] is None:
        if required:
            problems.add((*at, key), "required", "This field is required.")
        return None
    value = data[key]
    if not isinstance(value, str) or not _NAME_RE.match(value):
        problems.add(
            (*at, key),
            "invalid",
            f"Use 1–{NAME_MAX_LENGTH} letters, digits, '_', '.' or '-', starting with a letter or '_'.",
        )
        return None
    return value


def _bool(data: Mapping[str, Any], key: str, at: Path, problems: _Problems, default: bool = False) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        problems.add((*at, key), "invalid", "Must be true or false.")
        return default
    return value


def _description(data: Mapping[str, Any], at: Path, problems: _Problems) -> str:
    value = data.get("description", "")
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.add((*at, "description"), "invalid", "Must be a string.")
        return ""
    if len(value) > MAX_DESCRIPTION:
        problems.add((*at, "description"), "too_long", f"At most {MAX_DESCRIPTION} characters.")
        return ""
    return value


def _choice(data: Mapping[str, Any], key: str, choices: Sequence[str], at: Path, problems: _Problems) -> str | None:
    if key not in data or data[key] is None:
        problems.add((*at, key), "required", "This field is required.")
        return None
    value = data[key]
    if value not in choices or not isinstance(value, str):
        problems.add((*at, key), "invalid_choice", f"Must be one of {', '.join(choices)}.")
        return None
    return value


def _object(data: Any, at: Path, problems: _Problems) -> Mapping[str, Any] | None:
    if not isinstance(data, Mapping):
        problems.add(at, "invalid", "Must be a JSON object.")
        return None
    return data


def _field(data: Any, at: Path, problems: _Problems, *, kind: str) -> FieldSpec | None:
    """kind is "property" (required and derivable apply) or "attribute"."""
    obj = _object(data, at, problems)
    if obj is None:
        return None
    allowed = ["name", "type", "values", "maxLength", "minimum", "maximum", "filterable", "description"]
    if kind == "property":
        allowed += ["required", "derivable"]
    before = len(problems.items)
    _check_keys(obj, allowed, at, problems)
    name = _name(obj, "name", at, problems)
    type_ = _choice(obj, "type", FIELD_TYPES, at, problems)

    values: tuple[str, ...] = ()
    raw_values = obj.get("values")
    if type_ == TYPE_ENUM:
        if raw_values is None:
            problems.add((*at, "values"), "required", "An enum needs its list of allowed values.")
        elif not isinstance(raw_values, list) or not raw_values:
            problems.add((*at, "values"), "invalid", "Must be a non-empty list of strings.")
        elif len(raw_values) > MAX_ENUM_VALUES:
            problems.add((*at, "values"), "invalid", f"At most {MAX_ENUM_VALUES} values.")
        else:
            for index, item in enumerate(raw_values):
                if not isinstance(item, str) or not item or len(item) > MAX_ENUM_VALUE_LENGTH:
                    problems.add(
                        (*at, "values", index),
                        "invalid",
                        f"Each value is a non-empty string of at most {MAX_ENUM_VALUE_LENGTH} characters.",
                    )
                elif item in raw_values[:index]:
                    problems.add((*at, "values", index), "duplicate", f"The value {item!r} appears twice.")
            values = tuple(v for v in raw_values if isinstance(v, str))
    elif raw_values not in (None, []) and type_ is not None:
        problems.add((*at, "values"), "not_allowed", "Only an enum has values.")

    max_length = obj.get("maxLength")
    if max_length is not None:
        if type_ is not None and type_ != TYPE_STRING:
            problems.add((*at, "maxLength"), "not_allowed", "Only a string has a maxLength.")
            max_length = None
        elif not isinstance(max_length, int) or isinstance(max_length, bool) or not 1 <= max_length <= MAX_MAX_LENGTH:
            problems.add((*at, "maxLength"), "invalid", f"Must be an integer from 1 to {MAX_MAX_LENGTH}.")
            max_length = None

    bounds: dict[str, float | int | None] = {}
    for key in ("minimum", "maximum"):
        bound = obj.get(key)
        bounds[key] = None
        if bound is None:
            continue
        if type_ is not None and type_ not in NUMERIC_TYPES:
            problems.add((*at, key), "not_allowed", "Only an integer or a number has bounds.")
        elif not _is_number(bound) or abs(bound) > 1e300:
            problems.add((*at, key), "invalid", "Must be a finite number.")
        else:
            bounds[key] = normalize_number(float(bound) if isinstance(bound, float) else bound)
    if bounds["minimum"] is not None and bounds["maximum"] is not None and bounds["minimum"] > bounds["maximum"]:
        problems.add((*at, "maximum"), "invalid", "The maximum is below the minimum.")

    required = _bool(obj, "required", at, problems) if kind == "property" else False
    derivable = _bool(obj, "derivable", at, problems) if kind == "property" else False
    filterable = _bool(obj, "filterable", at, problems)
    description = _description(obj, at, problems)
    if len(problems.items) != before or name is None or type_ is None:
        return None
    return FieldSpec(
        name=name,
        type=type_,
        required=required,
        filterable=filterable,
        derivable=derivable,
        values=values,
        max_length=max_length,
        minimum=bounds["minimum"],
        maximum=bounds["maximum"],
        description=description,
    )


def _properties(raw: Any, at: Path, problems: _Problems) -> tuple[FieldSpec, ...]:
    if not isinstance(raw, list):
        problems.add(at, "invalid", "Must be a list of property definitions.")
        return ()
    if len(raw) > MAX_PROPERTIES:
        problems.add(at, "invalid", f"At most {MAX_PROPERTIES} properties.")
        return ()
    specs: list[FieldSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        spec = _field(item, (*at, index), problems, kind="property")
        if spec is None:
            continue
        if spec.name in seen:
            problems.add((*at, index, "name"), "duplicate", f"The property {spec.name!r} is declared twice.")
            continue
        seen.add(spec.name)
        specs.append(spec)
    return tuple(specs)


def parse_property(data: Any, *, at: Path = ()) -> tuple[FieldSpec | None, tuple[FieldProblem, ...]]:
    problems = _Problems()
    spec = _field(data, at, problems, kind="property")
    return spec, tuple(problems.items)


def parse_event_type(
    data: Any, *, partial: bool = False, name: str | None = None, at: Path = ()
) -> dict[str, Any] | EventTypeSpec:
    """Parse an event type body. Whole (POST, PUT, plans): an EventTypeSpec, with defaults
    for what is absent. Partial (PATCH): a dict of only the given fields, snake_case.
    `name` is the name from the URL: the body may repeat it but not change it."""
    problems = _Problems()
    obj = _object(data, at, problems)
    if obj is None:
        raise_problems(problems.items)
    assert obj is not None
    _check_keys(obj, ["name", "description", "status", "allowAdditionalProperties", "properties"], at, problems)
    changes: dict[str, Any] = {}
    if name is None:
        changes["name"] = _name(obj, "name", at, problems)
    elif "name" in obj and obj["name"] != name:
        problems.add((*at, "name"), "immutable", "An event type cannot be renamed; create a new one.")
    if not partial or "description" in obj:
        changes["description"] = _description(obj, at, problems)
    if not partial or "status" in obj:
        changes["status"] = (
            _choice(obj, "status", STATUSES, at, problems) if "status" in obj else STATUSES[0]
        ) or STATUSES[0]
    if not partial or "allowAdditionalProperties" in obj:
        changes["allow_additional_properties"] = _bool(obj, "allowAdditionalProperties", at, problems)
    if not partial or "properties" in obj:
        changes["properties"] = _properties(obj.get("properties", []), (*at, "properties"), problems)
    raise_problems(problems.items)
    if partial:
        return changes
    return EventTypeSpec(name=changes.get("name") or name or "", **{k: v for k, v in changes.items() if k != "name"})


def parse_attribute_definition(
    data: Any, *, partial_of: FieldSpec | None = None, name: str | None = None, at: Path = ()
) -> FieldSpec:
    """Parse an attribute definition. For PATCH, `partial_of` is the current definition:
    the given fields are laid over it and the result is checked as a whole."""
    problems = _Problems()
    obj = _object(data, at, problems)
    raise_problems(problems.items)
    assert obj is not None
    if name is not None and "name" in obj and obj["name"] != name:
        problems.add((*at, "name"), "immutable", "An attribute cannot be renamed; create a new one.")
        raise_problems(problems.items)
    if partial_of is not None:
        merged = field_as_json(partial_of, kind="attribute")
        if "type" in obj and obj["type"] != partial_of.type:
            # A new type drops the old type's details unless they are given again.
            for key in ("values", "maxLength", "minimum", "maximum"):
                merged.pop(key, None)
        merged.update(obj)
        obj = {key: value for key, value in merged.items() if value is not None}
    spec = _field(obj, at, problems, kind="attribute")
    raise_problems(problems.items)
    assert spec is not None
    return spec


NAME_INVALID = f"Use 1–{NAME_MAX_LENGTH} letters, digits, '_', '.' or '-', starting with a letter or '_'."


def name_field(**kwargs: Any) -> StrictCharField:
    """A contract name (an event type, a property, an attribute); required unless
    `required=False`, when null is as absent. Its length is the pattern's."""
    null = "absent" if kwargs.get("required") is False else "required"
    return StrictCharField(
        max_length=NAME_MAX_LENGTH,
        regex=NAME_PATTERN,
        check_max_length=False,
        null=null,
        messages={"invalid": NAME_INVALID},
        **kwargs,
    )


def description_field(**kwargs: Any) -> StrictCharField:
    """Optional text; null and "" are no description."""
    return StrictCharField(
        required=False,
        max_length=MAX_DESCRIPTION,
        accept_blank=True,
        null="absent",
        messages={"invalid": "Must be a string.", "max_length": ("too_long", f"At most {MAX_DESCRIPTION} characters.")},
        **kwargs,
    )


_PROPERTY_NAME = name_field()


class DerivedAttributeBody(StrictSerializer):
    # A derived attribute as clients send it (the API's DerivedAttributeSerializer adds
    # what it answers). A count has no property; every other aggregation needs one.
    parse_order = ("name", "eventType", "aggregation", "property", "description")
    accepted_keys = tuple(_READ_ONLY)

    name = name_field()
    eventType = name_field()
    property = serializers.CharField(allow_null=True, required=False, help_text="null for count")
    aggregation = choice_field(AGGREGATIONS, null="required")
    description = description_field()

    def parse_property(self, value: Any, path: Path) -> tuple[str | None, list[FieldProblem]]:
        aggregation = self.parsed.get("aggregation")
        if aggregation == "count":
            if value is not empty and value is not None:
                return None, [FieldProblem(pointer(*path), "not_allowed", "A count has no property.")]
            return None, []
        if aggregation is None:
            raise SkipField()
        return _PROPERTY_NAME.run_validation(None if value is empty else value), []


def parse_derived_attribute(data: Any, *, at: Path = ()) -> DerivedAttributeSpec:
    parsed, problems = body_parse(DerivedAttributeBody, data, at=at)
    raise_problems(problems)
    assert parsed is not None
    return DerivedAttributeSpec(
        name=parsed["name"],
        event_type=parsed["eventType"],
        property=parsed.get("property"),
        aggregation=parsed["aggregation"],
        description=parsed.get("description", ""),
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
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def definition_from_json(definition: Mapping[str, Any]) -> tuple[bool, tuple[FieldSpec, ...]]:
    """Read a frozen version back (written by this module, so trusted but still checked)."""
    problems = _Problems()
    properties = _properties(definition.get("properties", []), ("properties",), problems)
    if problems.items:
        raise ProblemError(code="corrupt_contract", title="Corrupt contract", status=500, detail=str(problems.items[0]))
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
