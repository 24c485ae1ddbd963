"""The segment definition language (API.md "Segments and exports", docs/segments.md):
parsing and checking a definition against the tenant's contracts.

`definition_check` reads the JSON of a definition and answers either a typed tree of
frozen dataclasses (what `segments.compiler` turns into SQL) or every problem at once,
each with a JSON Pointer such as `/definition/all/2/where/0/property`. Only `filterable`
attributes and properties, known derived attributes and operators that fit the declared
type pass; values are typed from the contract, so the compiled comparisons are typed too
(the same answer on PostgreSQL and SQLite).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from cdp_project.core.errors import FieldProblem, pointer
from cdp_project.core.jsonvalues import json_type_name
from cdp_project.core.timestamps import parse_rfc3339_or_none
from channels.types import CHANNELS
from contracts.selectors import attribute_definition_list, derived_attribute_list, event_type_get
from contracts.types import DERIVED_BACKFILLING, NAME_PATTERN, FieldSpec

OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "exists")
COUNT_OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte")

# What the compiler compares a contract type as.
KIND_NUMBER = "number"
KIND_TEXT = "text"
KIND_BOOLEAN = "boolean"
KIND_DATETIME = "datetime"
KIND_JSON = "json"
KIND_OF_TYPE = {
    "integer": KIND_NUMBER,
    "number": KIND_NUMBER,
    "string": KIND_TEXT,
    "enum": KIND_TEXT,
    "boolean": KIND_BOOLEAN,
    "datetime": KIND_DATETIME,
    "array": KIND_JSON,
    "object": KIND_JSON,
}
OPERATORS_OF_KIND = {
    KIND_NUMBER: OPERATORS,
    KIND_DATETIME: OPERATORS,
    # No ordering of strings: PostgreSQL's collations and SQLite's byte order disagree.
    KIND_TEXT: ("eq", "neq", "in", "exists"),
    KIND_BOOLEAN: ("eq", "neq", "exists"),
    KIND_JSON: ("exists",),
}

MAX_DEPTH = 8  # nesting of all/any/not
MAX_CONDITIONS = 200  # leaf conditions in one definition
MAX_IN_VALUES = 1000
MAX_WHERE = 20
MAX_TEXT = 1000
MAX_COUNT = 1_000_000_000
MAX_WITHIN = dt.timedelta(days=3660)
_DURATION = re.compile(r"^P(?:(\d{1,6})W)?(?:(\d{1,6})D)?(?:T(?:(\d{1,7})H)?(?:(\d{1,9})M)?(?:(\d{1,10})S)?)?$")
_NAME = re.compile(NAME_PATTERN)

# --- the typed tree ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """`op` with a value typed for `kind`: float for numbers, str for text, bool,
    an aware datetime, a tuple of those for `in`, None for `exists`."""

    op: str
    kind: str
    value: Any = None


@dataclass(frozen=True)
class AttributeCondition:
    name: str
    comparison: Comparison


@dataclass(frozen=True)
class DerivedCondition:
    name: str
    aggregation: str
    comparison: Comparison


@dataclass(frozen=True)
class PropertyCondition:
    name: str
    comparison: Comparison


@dataclass(frozen=True)
class EventCondition:
    event_type: str
    within: dt.timedelta | None
    where: tuple[PropertyCondition, ...]
    count: tuple[str, int] | None  # (operator, value); None means "at least one"


@dataclass(frozen=True)
class ChannelCondition:
    channel: str
    ready: bool


@dataclass(frozen=True)
class AllOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Union[AttributeCondition, DerivedCondition, EventCondition, ChannelCondition, AllOf, AnyOf, Not]  # noqa: UP007


@dataclass(frozen=True)
class Reference:
    """One contract field a definition relies on, with the type it was checked against."""

    kind: str  # "attribute", "property" or "derived"
    name: str
    type: str
    event_type: str = ""
    pointer: str = ""


@dataclass(frozen=True)
class CheckedDefinition:
    root: Node
    references: tuple[Reference, ...]


# --- the contracts as the checker sees them ------------------------------------------------------


@dataclass(frozen=True)
class TypedField:
    type: str
    filterable: bool = True
    values: tuple[str, ...] = ()


@dataclass
class ContractView:
    """The tenant's contracts, read lazily, once per check. The overrides describe a
    contract change that is not saved yet: what would a segment say to it?"""

    tenant_id: int
    attribute_overrides: Mapping[str, FieldSpec | None] = field(default_factory=dict)
    property_overrides: Mapping[str, Sequence[FieldSpec]] = field(default_factory=dict)
    derived_removed: frozenset[str] = frozenset()
    _attributes: dict[str, TypedField] | None = None
    _derived: dict[str, Any] | None = None
    _event_types: dict[str, dict[str, FieldSpec] | None] = field(default_factory=dict)

    def attribute(self, name: str) -> TypedField | None:
        if self._attributes is None:
            self._attributes = {
                d.name: TypedField(type=d.type, filterable=d.filterable, values=d.values)
                for d in attribute_definition_list(tenant_id=self.tenant_id)
            }
            for override_name, spec in self.attribute_overrides.items():
                if spec is None:
                    self._attributes.pop(override_name, None)
                else:
                    self._attributes[override_name] = TypedField(spec.type, spec.filterable, tuple(spec.values))
        return self._attributes.get(name)

    def properties(self, event_type: str) -> dict[str, FieldSpec] | None:
        """The event type's properties by name, or None when it is not registered."""
        if event_type not in self._event_types:
            info = event_type_get(tenant_id=self.tenant_id, name=event_type)
            if info is None:
                self._event_types[event_type] = None
            else:
                properties = self.property_overrides.get(event_type, info.properties)
                self._event_types[event_type] = {p.name: p for p in properties}
        return self._event_types[event_type]

    def _derived_definition(self, name: str) -> Any:
        if self._derived is None:
            self._derived = {d.name: d for d in derived_attribute_list(tenant_id=self.tenant_id)}
        return self._derived.get(name) if name not in self.derived_removed else None

    def derived_backfilling(self, name: str) -> bool:
        """Whether the derived attribute's values are still being computed (incomplete)."""
        definition = self._derived_definition(name)
        return definition is not None and definition.status == DERIVED_BACKFILLING

    def derived(self, name: str) -> tuple[str, TypedField] | None:
        """(aggregation, the type of its values) of a derived attribute, or None."""
        definition = self._derived_definition(name)
        if definition is None:
            return None
        if definition.aggregation == "count":
            return definition.aggregation, TypedField("integer")
        if definition.aggregation in ("sum", "min", "max"):
            return definition.aggregation, TypedField("number")
        prop = (self.properties(definition.event_type) or {}).get(definition.property or "")
        if prop is None:
            return definition.aggregation, TypedField(
                "object"
            )  # its property is gone: only `exists` still means something
        return definition.aggregation, TypedField(prop.type, values=tuple(prop.values))


# --- checking ----------------------------------------------------------------------------------------


def _json_type(value: object) -> str:
    return json_type_name(value, integers=False)


class _Checker:
    def __init__(self, contract: ContractView) -> None:
        self.contract = contract
        self.problems: list[FieldProblem] = []
        self.references: list[Reference] = []
        self.leaves = 0

    def add(self, at: Sequence[str | int], code: str, detail: str) -> None:
        self.problems.append(FieldProblem(pointer(*at), code, detail))

    def keys(self, obj: Mapping[str, Any], allowed: Sequence[str], at: tuple) -> None:
        for key in obj:
            if key not in allowed:
                self.add((*at, key), "unknown_field", f"Unknown field {key!r}; expected {', '.join(allowed)}.")

    def node(self, obj: Any, at: tuple, depth: int) -> Node | None:
        if not isinstance(obj, Mapping):
            self.add(at, "type", f"A condition is a JSON object, got {_json_type(obj)}.")
            return None
        kinds = [k for k in ("all", "any", "not", "attribute", "derived", "event", "channel") if k in obj]
        if len(kinds) != 1:
            found = f"found {', '.join(kinds)}" if kinds else "found none"
            self.add(
                at,
                "invalid_condition",
                "A condition has exactly one of all, any, not, attribute, derived, event, channel; " + found + ".",
            )
            return None
        kind = kinds[0]
        if kind in ("all", "any", "not"):
            if depth >= MAX_DEPTH:
                self.add(at, "too_deep", f"all/any/not nest at most {MAX_DEPTH} levels deep.")
                return None
            self.keys(obj, [kind], at)
            if kind == "not":
                item = self.node(obj["not"], (*at, "not"), depth + 1)
                return Not(item) if item is not None else None
            items = obj[kind]
            if not isinstance(items, list) or not items:
                self.add((*at, kind), "type", f"{kind} takes a non-empty list of conditions.")
                return None
            parsed = [self.node(item, (*at, kind, i), depth + 1) for i, item in enumerate(items)]
            if any(p is None for p in parsed):
                return None
            return AllOf(tuple(parsed)) if kind == "all" else AnyOf(tuple(parsed))  # type: ignore[arg-type]
        self.leaves += 1
        if self.leaves == MAX_CONDITIONS + 1:
            self.add(at, "too_many_conditions", f"A definition holds at most {MAX_CONDITIONS} conditions.")
        return getattr(self, f"_{kind}")(obj, at)

    # leaves

    def _name(self, obj: Mapping[str, Any], key: str, at: tuple) -> str | None:
        value = obj.get(key)
        if not isinstance(value, str) or not _NAME.match(value):
            self.add((*at, key), "type", f"{key} must be a name such as 'tier', got {_json_type(value)}.")
            return None
        return value

    def comparison(
        self, obj: Mapping[str, Any], at: tuple, typed: TypedField, what: str, has_row_for_zero: bool = False
    ) -> Comparison | None:
        kind = KIND_OF_TYPE[typed.type]
        op = obj.get("op")
        if op not in OPERATORS:
            self.add((*at, "op"), "unknown_operator", f"op must be one of {', '.join(OPERATORS)}.")
            return None
        if op not in OPERATORS_OF_KIND[kind]:
            allowed = ", ".join(OPERATORS_OF_KIND[kind])
            self.add((*at, "op"), "operator_not_allowed", f"{what} is {typed.type}: use one of {allowed}.")
            return None
        if op == "exists":
            if "value" in obj:
                self.add((*at, "value"), "unexpected_value", "exists takes no value.")
                return None
            return Comparison(op=op, kind=kind)
        if "value" not in obj:
            self.add((*at, "value"), "required", f"{op} needs a value.")
            return None
        raw = obj["value"]
        if op == "in":
            if not isinstance(raw, list) or not raw or len(raw) > MAX_IN_VALUES:
                self.add((*at, "value"), "type", f"in needs a list of 1 to {MAX_IN_VALUES} values.")
                return None
            values = [self.value(item, (*at, "value", i), typed, what) for i, item in enumerate(raw)]
            if any(v is None for v in values):
                return None
            return Comparison(op=op, kind=kind, value=tuple(dict.fromkeys(values)))
        value = self.value(raw, (*at, "value"), typed, what)
        return None if value is None else Comparison(op=op, kind=kind, value=value)

    def value(self, raw: Any, at: tuple, typed: TypedField, what: str) -> Any:
        kind = KIND_OF_TYPE[typed.type]
        if kind == KIND_NUMBER:
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw) or abs(raw) > 1e15:
                self.add(at, "type", f"{what} is {typed.type}: expected a number, got {_json_type(raw)}.")
                return None
            return float(raw)
        if kind == KIND_BOOLEAN:
            if not isinstance(raw, bool):
                self.add(at, "type", f"{what} is boolean: expected true or false, got {_json_type(raw)}.")
                return None
            return raw
        if kind == KIND_DATETIME:
            parsed = parse_rfc3339_or_none(raw, exact=True)
            if parsed is None:
                self.add(at, "type", f"{what} is datetime: expected an RFC 3339 timestamp with an offset.")
                return None
            return parsed.astimezone(dt.UTC)
        if not isinstance(raw, str) or len(raw) > MAX_TEXT or "\x00" in raw:
            self.add(at, "type", f"{what} is {typed.type}: expected a string of at most {MAX_TEXT} characters.")
            return None
        if typed.type == "enum" and raw not in typed.values:
            self.add(at, "not_allowed", f"{raw[:40]!r} is not one of {what}'s values: {', '.join(typed.values)}.")
            return None
        return raw

    def _attribute(self, obj: Mapping[str, Any], at: tuple) -> Node | None:
        self.keys(obj, ["attribute", "op", "value"], at)
        name = self._name(obj, "attribute", at)
        if name is None:
            return None
        typed = self.contract.attribute(name)
        if typed is None:
            self.add((*at, "attribute"), "unknown_attribute", f"{name!r} is not a registered attribute.")
            return None
        self.references.append(Reference("attribute", name, typed.type, pointer=pointer(*at, "attribute")))
        if not typed.filterable:
            self.add((*at, "attribute"), "not_filterable", f"{name!r} is not filterable; mark it filterable first.")
            return None
        comparison = self.comparison(obj, at, typed, f"attribute {name!r}")
        return None if comparison is None else AttributeCondition(name, comparison)

    def _derived(self, obj: Mapping[str, Any], at: tuple) -> Node | None:
        self.keys(obj, ["derived", "op", "value"], at)
        name = self._name(obj, "derived", at)
        if name is None:
            return None
        found = self.contract.derived(name)
        if found is None:
            self.add((*at, "derived"), "unknown_derived", f"{name!r} is not a derived attribute.")
            return None
        aggregation, typed = found
        self.references.append(Reference("derived", name, typed.type, pointer=pointer(*at, "derived")))
        comparison = self.comparison(obj, at, typed, f"derived attribute {name!r}")
        return None if comparison is None else DerivedCondition(name, aggregation, comparison)

    def _event(self, obj: Mapping[str, Any], at: tuple) -> Node | None:
        self.keys(obj, ["event", "within", "where", "count"], at)
        name = self._name(obj, "event", at)
        if name is None:
            return None
        properties = self.contract.properties(name)
        if properties is None:
            self.add((*at, "event"), "unknown_event_type", f"{name!r} is not a registered event type.")
            return None
        ok = True
        within = None
        if "within" in obj:
            within = self.duration(obj["within"], (*at, "within"))
            ok = within is not None
        where: list[PropertyCondition] = []
        raw_where = obj.get("where", [])
        if not isinstance(raw_where, list) or len(raw_where) > MAX_WHERE:
            self.add((*at, "where"), "type", f"where takes a list of at most {MAX_WHERE} property conditions.")
            ok = False
            raw_where = []
        for i, item in enumerate(raw_where):
            condition = self.property_condition(item, (*at, "where", i), name, properties)
            ok = ok and condition is not None
            if condition is not None:
                where.append(condition)
        count = None
        if "count" in obj:
            count = self.count(obj["count"], (*at, "count"))
            ok = ok and count is not None
        return EventCondition(name, within, tuple(where), count) if ok else None

    def property_condition(
        self, obj: Any, at: tuple, event_type: str, properties: Mapping[str, FieldSpec]
    ) -> PropertyCondition | None:
        if not isinstance(obj, Mapping):
            self.add(at, "type", f"A property condition is a JSON object, got {_json_type(obj)}.")
            return None
        self.keys(obj, ["property", "op", "value"], at)
        name = self._name(obj, "property", at)
        if name is None:
            return None
        spec = properties.get(name)
        if spec is None:
            self.add((*at, "property"), "unknown_property", f"{event_type!r} has no property {name!r}.")
            return None
        self.references.append(
            Reference("property", name, spec.type, event_type=event_type, pointer=pointer(*at, "property"))
        )
        if not spec.filterable:
            self.add((*at, "property"), "not_filterable", f"{name!r} of {event_type!r} is not filterable.")
            return None
        typed = TypedField(spec.type, True, tuple(spec.values))
        comparison = self.comparison(obj, at, typed, f"property {name!r}")
        return None if comparison is None else PropertyCondition(name, comparison)

    def duration(self, raw: Any, at: tuple) -> dt.timedelta | None:
        match = _DURATION.match(raw) if isinstance(raw, str) else None
        if match is None or not any(match.groups()) or raw.endswith("T"):
            hint = " (years and months have no fixed length: use days)" if isinstance(raw, str) and "Y" in raw else ""
            self.add(at, "invalid_duration", f"within is an ISO 8601 duration such as P30D or PT12H{hint}.")
            return None
        weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
        try:
            duration = dt.timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
        except OverflowError:
            duration = MAX_WITHIN * 2
        if not dt.timedelta(0) < duration <= MAX_WITHIN:
            self.add(at, "invalid_duration", f"within must be longer than 0 and at most {MAX_WITHIN.days} days.")
            return None
        return duration

    def count(self, raw: Any, at: tuple) -> tuple[str, int] | None:
        if not isinstance(raw, Mapping):
            self.add(at, "type", 'count is an object such as {"op": "gte", "value": 2}.')
            return None
        self.keys(raw, ["op", "value"], at)
        op, value = raw.get("op"), raw.get("value")
        ok = True
        if op not in COUNT_OPERATORS:
            self.add((*at, "op"), "unknown_operator", f"count op must be one of {', '.join(COUNT_OPERATORS)}.")
            ok = False
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
            self.add((*at, "value"), "type", f"count value must be a whole number from 0 to {MAX_COUNT}.")
            ok = False
        return (op, value) if ok else None

    def _channel(self, obj: Mapping[str, Any], at: tuple) -> Node | None:
        self.keys(obj, ["channel", "ready"], at)
        channel, ready = obj.get("channel"), obj.get("ready")
        ok = True
        if channel not in CHANNELS:
            self.add((*at, "channel"), "unknown_channel", f"channel must be one of {', '.join(CHANNELS)}.")
            ok = False
        if not isinstance(ready, bool):
            self.add((*at, "ready"), "type", "ready must be true or false.")
            ok = False
        return ChannelCondition(channel, ready) if ok else None


def definition_check(
    *, definition: Any, contract: ContractView, at: Sequence[str | int] = ("definition",)
) -> tuple[CheckedDefinition | None, tuple[FieldProblem, ...]]:
    """The typed tree of a definition, or None with every problem found (pointers under `at`)."""
    checker = _Checker(contract)
    root = checker.node(definition, tuple(at), 0)
    if checker.problems or root is None:
        return None, tuple(checker.problems)
    return CheckedDefinition(root=root, references=tuple(checker.references)), ()


def definition_references(*, definition: Any, contract: ContractView) -> tuple[Reference, ...]:
    """The contract fields a definition names (also when it no longer checks)."""
    checker = _Checker(contract)
    checker.node(definition, ("definition",), 0)
    return tuple(checker.references)
