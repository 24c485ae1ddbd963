"""Compiling a checked definition (`segments.language`) to one SQL query over the
tenant's live profiles, with the ORM: attribute conditions are conditions on the profile
row's attribute document (`Profile.attributes`, kept exact by database triggers:
docs/storage.md), derived and channel conditions are `EXISTS` subqueries, event conditions
`EXISTS` (or `IN` over a grouped count). On another model's query (an export's endpoints)
attribute conditions are `EXISTS` over the attribute rows.

Comparisons are typed from the contract, never from the stored JSON: a condition on a
number matches only JSON numbers, on a string only JSON strings, and so on. PostgreSQL
compares `jsonb` with `jsonb` (which an index on the value could serve); SQLite extracts
typed scalars with `json_type`/`json_extract`. Both give the same answer.

Semantics (docs/segments.md): a comparison (`eq neq gt gte lt lte in`) holds only for a
profile that has a value of the declared type, so `neq` never matches a missing value;
`not` is plain negation. A missing `count` derived value reads as 0.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Callable, Mapping
from typing import Any

from django.db.models import BooleanField, Count, Exists, Expression, F, OuterRef, Q, QuerySet
from django.utils import timezone

from channels.selectors import ready_endpoints
from ingest.selectors import events_of_type
from profiles.selectors import attribute_values_present, derived_values_present, profiles_live

from .language import (
    KIND_BOOLEAN,
    KIND_DATETIME,
    KIND_NUMBER,
    KIND_TEXT,
    AllOf,
    AnyOf,
    AttributeCondition,
    ChannelCondition,
    CheckedDefinition,
    Comparison,
    DerivedCondition,
    EventCondition,
    Node,
    Not,
)

_SQL_OPERATORS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_PYTHON_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
_JSONB_TYPE = {KIND_NUMBER: "number", KIND_TEXT: "string", KIND_BOOLEAN: "boolean"}
# The predicate of the partial index segments_attribute_scalar (migration 0002), word for
# word: repeating it next to a comparison lets PostgreSQL prove the index applies.
SCALAR_INDEX_PREDICATE = (
    "jsonb_typeof({column}) IN ('string', 'number', 'boolean') AND octet_length({column}::text) < 512"
)
# A stored value equal to a compared one has its length; shorter ones are surely indexed.
_INDEXED_VALUE_LENGTH = 400
# What the contracts' datetime validator lets through (stored in UTC since issue 11), so
# the cast below cannot fail. Offsets are limited to what PostgreSQL holds (±15:59): a
# value stored with a wider one before values were normalized is no datetime to a segment.
_RFC3339_SQL = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-](0\d|1[0-5]):[0-5]\d)$"
# Channel readiness, as channels.selectors.readiness_judge decides it (proven equal by a test).


def _sqlite_datetime_text(value: dt.datetime) -> str:
    """The UTC text SQLite's strftime('%Y-%m-%d %H:%M:%f') gives for the same instant."""
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S.") + f"{utc.microsecond // 1000:03d}"


class JsonCompare(Expression):
    """`<JSON column>[ -> key] <op> <typed value>` as a boolean SQL expression, typed by
    the contract: a JSON value of another type never matches (not even `neq`). `exists`
    means present and not JSON null."""

    output_field = BooleanField()
    conditional = True

    def __init__(
        self, column: str | Expression, key: str | None, comparison: Comparison, *, scalar_index: bool = False
    ) -> None:
        super().__init__()
        self.column = F(column) if isinstance(column, str) else column
        self.key = key
        self.comparison = comparison
        self.scalar_index = scalar_index  # the column is covered by segments_attribute_scalar

    def get_source_expressions(self) -> list[Expression]:
        return [self.column]

    def set_source_expressions(self, exprs: list[Expression]) -> None:
        (self.column,) = exprs

    def _values(self) -> tuple[Any, ...]:
        comparison = self.comparison
        return tuple(comparison.value) if comparison.op == "in" else (comparison.value,)

    def _apply(self, scalar: str, scalar_params: list[Any], param: str, values: tuple[Any, ...]) -> tuple[str, list]:
        """`scalar op param`, or `scalar IN (param, ...)`."""
        op = self.comparison.op
        if op == "in":
            placeholders = ", ".join([param] * len(values))
            return f"({scalar}) IN ({placeholders})", [*scalar_params, *values]
        return f"({scalar}) {_SQL_OPERATORS[op]} {param}", [*scalar_params, *values]

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list]:
        column, params = compiler.compile(self.column)
        if self.key is None:
            json_sql, json_params = column, list(params)
        else:
            json_sql, json_params = f"({column} -> %s::text)", [*params, self.key]
        kind, op = self.comparison.kind, self.comparison.op
        if op == "exists":
            return f"(jsonb_typeof({json_sql}) IS NOT NULL AND jsonb_typeof({json_sql}) <> 'null')", [
                *json_params,
                *json_params,
            ]
        if kind == KIND_DATETIME:
            scalar = (
                f"CASE WHEN jsonb_typeof({json_sql}) = 'string' AND ({json_sql} #>> '{{}}') ~ %s "
                f"THEN ({json_sql} #>> '{{}}')::timestamptz END"
            )
            scalar_params = [*json_params, *json_params, _RFC3339_SQL, *json_params]
            return self._apply(scalar, scalar_params, "%s", self._values())
        # jsonb = jsonb is type-aware ('"5"' never equals '5'); the type guard keeps
        # neq and the orderings on values of the declared type.
        values = tuple(json.dumps(v) for v in self._values())
        sql, sql_params = self._apply(json_sql, json_params, "%s::jsonb", values)
        if op not in ("eq", "in"):
            sql, sql_params = (
                f"(jsonb_typeof({json_sql}) = %s AND {sql})",
                [*json_params, _JSONB_TYPE[kind], *sql_params],
            )
        short = all(len(v.encode("utf-8")) < _INDEXED_VALUE_LENGTH for v in values)
        if self.scalar_index and self.key is None and op != "neq" and (short or kind == KIND_NUMBER):
            sql = f"({sql} AND {SCALAR_INDEX_PREDICATE.format(column=json_sql)})"
            sql_params = [*sql_params, *json_params, *json_params]
        return sql, sql_params

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list]:
        """SQLite (JSON1): typed scalars from json_type/json_extract."""
        column, params = compiler.compile(self.column)
        path = "$" if self.key is None else '$."' + self.key + '"'
        jt = f"json_type({column}, %s)"
        je = f"json_extract({column}, %s)"
        kind = self.comparison.kind
        values = self._values()
        if self.comparison.op == "exists":
            return f"({jt} IS NOT NULL AND {jt} <> 'null')", [*params, path, *params, path]
        if kind == KIND_NUMBER:
            scalar = f"CASE WHEN {jt} IN ('integer', 'real') THEN CAST({je} AS REAL) END"
            scalar_params = [*params, path, *params, path]
        elif kind == KIND_TEXT:
            scalar = f"CASE WHEN {jt} = 'text' THEN {je} END"
            scalar_params = [*params, path, *params, path]
        elif kind == KIND_BOOLEAN:
            scalar = f"CASE {jt} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END"
            scalar_params = [*params, path]
            values = tuple(1 if v else 0 for v in values)
        elif kind == KIND_DATETIME:
            scalar = f"CASE WHEN {jt} = 'text' THEN strftime('%%Y-%%m-%%d %%H:%%M:%%f', {je}) END"
            scalar_params = [*params, path, *params, path]
            values = tuple(_sqlite_datetime_text(v) for v in values)
        else:
            raise ValueError(f"no comparison for {kind}")
        return self._apply(scalar, scalar_params, "%s", values)


class DocumentCompare(JsonCompare):
    """`<profile document> -> name <op> <typed value>` (Profile.attributes, one key per
    attribute that has a value), with the answer of `EXISTS` over the attribute's row: never
    NULL (a missing key is false, also under `not`), and on PostgreSQL an equality or `in`
    on a number, string or boolean is a containment (`attributes @> '{"name": value}'`),
    which the document's GIN index answers."""

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list]:
        comparison = self.comparison
        if comparison.op in ("eq", "in") and comparison.kind in _JSONB_TYPE:
            column, params = compiler.compile(self.column)
            parts = [f"{column} @> %s::jsonb" for _ in self._values()]
            values = [json.dumps({self.key: value}) for value in self._values()]
            return "(" + " OR ".join(parts) + ")", [p for value in values for p in (*params, value)]
        sql, params = super().as_postgresql(compiler, connection)
        return f"COALESCE({sql}, false)", params

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list]:
        sql, params = super().as_sql(compiler, connection)
        return f"COALESCE({sql}, 0)", params


def _holds(comparison: Comparison, value: float) -> bool:
    """The comparison applied in Python to one number (for "a missing count is 0")."""
    if comparison.op == "in":
        return value in comparison.value
    return _PYTHON_OPERATORS[comparison.op](value, comparison.value)


class _Compiler:
    def __init__(
        self, *, tenant_id: int, now: dt.datetime, profile: str = "pk", joined: Mapping[str, str] | None = None
    ) -> None:
        self.tenant_id = tenant_id
        self.now = now
        self.profile = profile  # the outer query's field that holds the profile id
        self.joined = joined or {}  # attribute name -> the outer query's field of its joined row's value

    def compile_root(self, node: Node) -> Q:
        """`compile`, but a comparison every member must pass (at the top, alone or in `all`)
        on an attribute whose row the outer query joins is a condition on that row's value:
        the same answer (one row per profile and name), one lookup fewer per row."""
        items = node.items if isinstance(node, AllOf) else (node,)
        q = Q()
        for item in items:
            if isinstance(item, AttributeCondition) and item.name in self.joined and item.comparison.op != "exists":
                q &= Q(JsonCompare(self.joined[item.name], None, item.comparison, scalar_index=True))
            else:
                q &= self.compile(item)
        return q

    def compile(self, node: Node) -> Q:
        if isinstance(node, AllOf):
            q = Q()
            for item in node.items:
                q &= self.compile(item)
            return q
        if isinstance(node, AnyOf):
            q = self.compile(node.items[0])
            for item in node.items[1:]:
                q |= self.compile(item)
            return q
        if isinstance(node, Not):
            return ~self.compile(node.item)
        if isinstance(node, AttributeCondition):
            return self.attribute(node)
        if isinstance(node, DerivedCondition):
            return self.derived(node)
        if isinstance(node, EventCondition):
            return self.event(node)
        if isinstance(node, ChannelCondition):
            endpoints = ready_endpoints(tenant_id=self.tenant_id, channel=node.channel, profile=OuterRef(self.profile))
            ready = Q(Exists(endpoints))
            return ready if node.ready else ~ready
        raise TypeError(f"unknown node {node!r}")

    def attribute(self, node: AttributeCondition) -> Q:
        if self.profile == "pk":
            # The outer query reads the profiles: the condition is on the row's attribute
            # document (Profile.attributes), no lookup of another row at all.
            return Q(DocumentCompare("attributes", node.name, node.comparison))
        rows = attribute_values_present(tenant_id=self.tenant_id, profile=OuterRef(self.profile), name=node.name)
        if node.comparison.op != "exists":
            rows = rows.filter(JsonCompare("value", None, node.comparison, scalar_index=True))
        return Q(Exists(rows))

    def derived(self, node: DerivedCondition) -> Q:
        comparison = node.comparison
        rows = derived_values_present(tenant_id=self.tenant_id, profile=OuterRef(self.profile), name=node.name)
        if comparison.op == "exists":
            return Q(Exists(rows))
        if comparison.kind == KIND_NUMBER:
            # `number` is the float copy of numeric values, indexed (tenant, name, number).
            matching = rows.filter(_number_lookup("number", comparison))
        else:
            matching = rows.filter(JsonCompare("value", None, comparison))
        q = Q(Exists(matching))
        if node.aggregation == "count" and _holds(comparison, 0.0):
            q |= ~Q(Exists(rows))
        return q

    def event(self, node: EventCondition) -> Q:
        events = events_of_type(tenant_id=self.tenant_id, event_type=node.event_type)
        if node.within is not None:
            events = events.filter(occurred_at__gte=self.now - node.within)
        for condition in node.where:
            events = events.filter(JsonCompare("properties", condition.name, condition.comparison))
        if node.count is None:
            return Q(Exists(events.filter(profile_id=OuterRef(self.profile))))
        op, value = node.count
        # count(*), not count(id): the grouped rows then carry the profile id alone.
        counted = events.order_by().values("profile_id").annotate(matched=Count("*"))
        lookup = Q(**{f"matched__{'exact' if op in ('eq', 'neq') else op}": value})
        satisfying = ~lookup if op == "neq" else lookup
        if _holds(Comparison(op=op, kind=KIND_NUMBER, value=float(value)), 0.0):
            # Profiles without a matching event qualify: exclude those whose count fails.
            return ~Q(**{f"{self.profile}__in": counted.filter(~satisfying).values("profile_id")})
        return Q(**{f"{self.profile}__in": counted.filter(satisfying).values("profile_id")})


def _number_lookup(column: str, comparison: Comparison) -> Q:
    if comparison.op == "in":
        return Q(**{f"{column}__in": list(comparison.value)})
    if comparison.op == "neq":
        return ~Q(**{column: comparison.value}) & Q(**{f"{column}__isnull": False})
    name = "exact" if comparison.op == "eq" else comparison.op
    return Q(**{f"{column}__{name}": comparison.value})


def members_queryset(
    *, tenant_id: int, checked: CheckedDefinition, now: dt.datetime | None = None
) -> QuerySet:
    """The live profiles of the tenant matching the definition: one SQL query. `now`
    anchors `within` (the time of the request by default)."""
    return profiles_live(tenant_id=tenant_id).filter(members_condition(tenant_id=tenant_id, checked=checked, now=now))


def members_condition(
    *,
    tenant_id: int,
    checked: CheckedDefinition,
    now: dt.datetime | None = None,
    profile: str = "pk",
    joined: Mapping[str, str] | None = None,
) -> Q:
    """The definition as a condition on the query of another model whose field `profile`
    holds the (live) profile's id, e.g. `profile_id` of the endpoints an export reads: the
    export then joins the conditions to its own rows, with no second pass over the profiles.
    The caller keeps to live profiles. `joined` names, per attribute, the field of the value
    of that attribute's row when the query joins it (by tenant, profile and name), as an
    export does for its columns: see `_Compiler.compile_root`."""
    compiler = _Compiler(tenant_id=tenant_id, now=now or timezone.now(), profile=profile, joined=joined)
    return compiler.compile_root(checked.root)
