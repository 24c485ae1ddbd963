"""The strict validator of events and attribute updates (DESIGN.md §6).

Ingest calls it on its hot path, so the work is split in two:

- a *snapshot* reads a tenant's contract in one query (two when a version is new to
  this process; one more, lazily, for attribute definitions);
- the per-event-type checks are *compiled* once per `(event_type_id, version)` from the
  frozen `EventTypeVersion` row and cached for the whole process. A new version has a
  new key, so the next snapshot in any process compiles it; nothing goes stale.

Every check answers all problems at once, sorted by pointer, as `FieldProblem`s.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.db.models import F

from cdp_project.core import timestamps
from cdp_project.core.errors import FieldProblem, pointer
from cdp_project.core.jsonvalues import json_type_name

from . import specs
from .models import (
    STATUS_DEPRECATED,
    TYPE_ARRAY,
    TYPE_BOOLEAN,
    TYPE_DATETIME,
    TYPE_ENUM,
    TYPE_INTEGER,
    TYPE_NUMBER,
    TYPE_OBJECT,
    TYPE_STRING,
    AttributeDefinition,
    EventType,
    EventTypeVersion,
)
from .types import ContractCheck, FieldSpec

# A value check answers None (fine) or (code, detail).
ValueCheck = Callable[[object], tuple[str, str] | None]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _expected(type_: str, value: object) -> tuple[str, str]:
    return "type", f"expected {type_}, got {json_type_name(value)}"


def _bounds_check(spec: FieldSpec) -> Callable[[float | int], tuple[str, str] | None]:
    low, high = spec.minimum, spec.maximum

    def check(value: float | int) -> tuple[str, str] | None:
        if low is not None and value < low:
            return "out_of_range", f"must be at least {specs.normalize_number(low)}"
        if high is not None and value > high:
            return "out_of_range", f"must be at most {specs.normalize_number(high)}"
        return None

    return check


def canonical_datetime(value: str) -> str:
    """The stored form of a valid `datetime` value: the same instant in UTC with a Z, so
    every reader (segments, exports, PostgreSQL casts) sees an offset it can hold."""
    return timestamps.format_utc(timestamps.parse_rfc3339(value, exact=True))


def _string_check(spec: FieldSpec) -> ValueCheck:
    max_length = spec.max_length

    def check_string(value: object) -> tuple[str, str] | None:
        if not isinstance(value, str):
            return _expected("string", value)
        if max_length is not None and len(value) > max_length:
            return "too_long", f"at most {max_length} characters, got {len(value)}"
        return None

    return check_string


def _integer_check(spec: FieldSpec) -> ValueCheck:
    bounds = _bounds_check(spec)

    def check_integer(value: object) -> tuple[str, str] | None:
        # bool is an int in Python and 2.0 is a float: neither is a JSON integer here.
        if type(value) is not int:
            return _expected("integer", value)
        if not INT64_MIN <= value <= INT64_MAX:
            return "out_of_range", "does not fit in a signed 64-bit integer"
        return bounds(value)

    return check_integer


def _number_check(spec: FieldSpec) -> ValueCheck:
    bounds = _bounds_check(spec)

    def check_number(value: object) -> tuple[str, str] | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _expected("number", value)
        if isinstance(value, float) and not math.isfinite(value):
            return "type", "expected a finite number, got NaN or an infinity"
        if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            return "out_of_range", "does not fit in a signed 64-bit integer"
        return bounds(value)

    return check_number


def _datetime_check(spec: FieldSpec) -> ValueCheck:
    def check_datetime(value: object) -> tuple[str, str] | None:
        if not isinstance(value, str):
            return _expected("datetime (an RFC 3339 string)", value)
        try:
            timestamps.parse_rfc3339(value, exact=True)
        except timestamps.TimestampError as error:
            return "invalid_datetime", str(error)
        return None

    return check_datetime


def _enum_check(spec: FieldSpec) -> ValueCheck:
    allowed = frozenset(spec.values)
    listed = ", ".join(spec.values)

    def check_enum(value: object) -> tuple[str, str] | None:
        if not isinstance(value, str) or value not in allowed:
            return "enum", f"expected one of {listed}"
        return None

    return check_enum


def _boolean_check(spec: FieldSpec) -> ValueCheck:
    return lambda value: None if isinstance(value, bool) else _expected("boolean", value)


def _array_check(spec: FieldSpec) -> ValueCheck:
    return lambda value: None if isinstance(value, list) else _expected("array", value)


def _object_check(spec: FieldSpec) -> ValueCheck:
    return lambda value: None if isinstance(value, Mapping) else _expected("object", value)


# One check builder per declared field type (DESIGN.md §6).
_CHECK_BUILDERS: dict[str, Callable[[FieldSpec], ValueCheck]] = {
    TYPE_STRING: _string_check,
    TYPE_INTEGER: _integer_check,
    TYPE_NUMBER: _number_check,
    TYPE_BOOLEAN: _boolean_check,
    TYPE_DATETIME: _datetime_check,
    TYPE_ENUM: _enum_check,
    TYPE_ARRAY: _array_check,
    TYPE_OBJECT: _object_check,
}


def compile_value_check(spec: FieldSpec) -> ValueCheck:
    """One closure per declared field: the type rules of DESIGN.md §6."""
    type_ = spec.type
    if type_ not in _CHECK_BUILDERS:
        raise ValueError(f"unknown field type {type_!r}")
    return _CHECK_BUILDERS[type_](spec)


@dataclass(frozen=True)
class CompiledEventType:
    digest: str
    allow_additional_properties: bool
    # (name, required, check) in definition order
    fields: tuple[tuple[str, bool, ValueCheck], ...]
    declared: frozenset[str]
    datetimes: frozenset[str] = frozenset()

    def canonical(self, properties: Mapping[str, object]) -> dict[str, object]:
        """Valid properties as they are stored: datetime values in UTC (`canonical_datetime`)."""
        return _canonical(properties, self.datetimes)

    def problems(self, properties: object) -> tuple[FieldProblem, ...]:
        if not isinstance(properties, Mapping):
            return (FieldProblem("/properties", "type", f"expected object, got {json_type_name(properties)}"),)
        found: list[FieldProblem] = []
        for name, required, check in self.fields:
            value = properties.get(name)
            # An absent property and a null one are the same: optional ones may be either.
            if value is None:
                if required:
                    found.append(FieldProblem(pointer("properties", name), "required", f"'{name}' is required"))
                continue
            outcome = check(value)
            if outcome is not None:
                found.append(FieldProblem(pointer("properties", name), outcome[0], outcome[1]))
        if not self.allow_additional_properties:
            for name in properties:
                if name not in self.declared:
                    found.append(
                        FieldProblem(
                            pointer("properties", name), "undeclared", f"'{name}' is not declared by the event type"
                        )
                    )
        found.sort(key=lambda problem: (problem.pointer, problem.code))
        return tuple(found)


def compile_event_type(*, definition: Mapping[str, object], digest: str) -> CompiledEventType:
    allow, properties = specs.definition_from_json(definition)
    return CompiledEventType(
        digest=digest,
        allow_additional_properties=allow,
        fields=tuple((p.name, p.required, compile_value_check(p)) for p in properties),
        declared=frozenset(p.name for p in properties),
        datetimes=frozenset(p.name for p in properties if p.type == TYPE_DATETIME),
    )


def _canonical(values: Mapping[str, object], datetimes: frozenset[str]) -> dict[str, object]:
    return {
        name: canonical_datetime(value) if name in datetimes and isinstance(value, str) else value
        for name, value in values.items()
    }


class _CompiledCache:
    """Process-wide, bounded, keyed by (event_type_id, version). The digest guards
    against the rare reuse of an id (e.g. a rolled-back creation on SQLite)."""

    def __init__(self, max_size: int = 4096) -> None:
        self._items: OrderedDict[tuple[int, int], CompiledEventType] = OrderedDict()
        self._lock = threading.Lock()
        self._max_size = max_size

    def get(self, key: tuple[int, int], digest: str) -> CompiledEventType | None:
        with self._lock:
            compiled = self._items.get(key)
            if compiled is None or compiled.digest != digest:
                return None
            self._items.move_to_end(key)
            return compiled

    def put(self, key: tuple[int, int], compiled: CompiledEventType) -> None:
        with self._lock:
            self._items[key] = compiled
            self._items.move_to_end(key)
            while len(self._items) > self._max_size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


compiled_cache = _CompiledCache()


@dataclass(frozen=True)
class _KnownType:
    id: int
    name: str
    status: str
    version: int
    compiled: CompiledEventType


class ContractSnapshot:
    """A tenant's contract as of one moment. Build one per request or batch with
    `contract_snapshot`; checking with it touches the database at most once more
    (the first `check_attributes`)."""

    def __init__(self, *, tenant_id: int, types: Mapping[str, _KnownType]) -> None:
        self.tenant_id = tenant_id
        self._types = types
        self._attributes: dict[str, ValueCheck] | None = None
        self._attribute_datetimes: frozenset[str] = frozenset()

    def check_event(self, *, event_type: str, properties: object) -> ContractCheck:
        known = self._types.get(event_type) if isinstance(event_type, str) else None
        if known is None:
            return ContractCheck(
                event_type=event_type if isinstance(event_type, str) else "",
                event_type_id=None,
                version=None,
                problems=(
                    FieldProblem("/eventType", "unknown_event_type", f"'{event_type}' is not a registered event type"),
                ),
            )
        warnings: tuple[str, ...] = ()
        if known.status == STATUS_DEPRECATED:
            warnings = (
                f"The event type '{known.name}' is deprecated; it is still accepted, but plan to stop sending it.",
            )
        return ContractCheck(
            event_type=known.name,
            event_type_id=known.id,
            version=known.version,
            problems=known.compiled.problems(properties),
            warnings=warnings,
        )

    def check_attributes(self, *, attributes: object) -> tuple[FieldProblem, ...]:
        if not isinstance(attributes, Mapping):
            return (FieldProblem("/attributes", "type", f"expected object, got {json_type_name(attributes)}"),)
        checks = self._attribute_checks()
        found: list[FieldProblem] = []
        for name, value in attributes.items():
            check = checks.get(name)
            if check is None:
                found.append(
                    FieldProblem(
                        pointer("attributes", name), "unknown_attribute", f"'{name}' is not a registered attribute"
                    )
                )
                continue
            if value is None:  # null removes the attribute
                continue
            outcome = check(value)
            if outcome is not None:
                found.append(FieldProblem(pointer("attributes", name), outcome[0], outcome[1]))
        found.sort(key=lambda problem: (problem.pointer, problem.code))
        return tuple(found)

    def canonical_properties(self, *, event_type: str, properties: Mapping[str, object]) -> dict[str, object]:
        """Properties that passed `check_event`, as they are stored (datetimes in UTC)."""
        known = self._types.get(event_type)
        return dict(properties) if known is None else known.compiled.canonical(properties)

    def canonical_attributes(self, *, attributes: Mapping[str, object]) -> dict[str, object]:
        """Attributes that passed `check_attributes`, as they are stored (datetimes in UTC)."""
        self._attribute_checks()
        return _canonical(attributes, self._attribute_datetimes)

    def _attribute_checks(self) -> dict[str, ValueCheck]:
        if self._attributes is None:
            rows = [specs.field_spec_from_row(d) for d in AttributeDefinition.objects.filter(tenant_id=self.tenant_id)]
            self._attributes = {spec.name: compile_value_check(spec) for spec in rows}
            self._attribute_datetimes = frozenset(spec.name for spec in rows if spec.type == TYPE_DATETIME)
        return self._attributes


def contract_snapshot(*, tenant_id: int) -> ContractSnapshot:
    """One query for the tenant's event types; a second only for versions this process
    has not compiled yet, read from their frozen rows."""
    rows = list(
        EventType.objects.filter(tenant_id=tenant_id).values_list(
            "id", "name", "status", "version", "definition_digest"
        )
    )
    types: dict[str, _KnownType] = {}
    missing: dict[int, tuple[str, str]] = {}
    for type_id, name, status, version, digest in rows:
        compiled = compiled_cache.get((type_id, version), digest)
        if compiled is None:
            missing[type_id] = (name, status)
        else:
            types[name] = _KnownType(type_id, name, status, version, compiled)
    if missing:
        # The current version of each, read in one statement: if one changed since the
        # first query, its newer frozen row is used, with its own version number.
        frozen = EventTypeVersion.objects.filter(
            tenant_id=tenant_id, event_type_id__in=list(missing), version=F("event_type__version")
        ).values_list("event_type_id", "version", "digest", "definition")
        for type_id, version, digest, definition in frozen:
            compiled = compile_event_type(definition=definition, digest=digest)
            compiled_cache.put((type_id, version), compiled)
            name, status = missing[type_id]
            types[name] = _KnownType(type_id, name, status, version, compiled)
    return ContractSnapshot(tenant_id=tenant_id, types=types)


def event_check(*, tenant_id: int, event_type: str, properties: object) -> ContractCheck:
    return contract_snapshot(tenant_id=tenant_id).check_event(event_type=event_type, properties=properties)


def attributes_check(*, tenant_id: int, attributes: object) -> tuple[FieldProblem, ...]:
    return contract_snapshot(tenant_id=tenant_id).check_attributes(attributes=attributes)
