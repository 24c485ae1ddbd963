"""Hot-path reads compiled once: a `values_list` queryset built by the ORM (so its SQL
follows the models and their migrations), turned into SQL once per thread and database
connection, then executed with new parameters and Django's own value converters.

Building and compiling a queryset costs a millisecond or more of CPU; sending a compiled
statement costs a tenth of that. On PostgreSQL the statement is also prepared once per
connection (parameters bound by the server, `CDP_DATABASE_PREPARE`): planning these small
index reads took longer than running them (0.75 ms of planning for 0.2 ms of execution for the
runtime token's participant). Only for reads on paths that run on every request."""

from __future__ import annotations

import datetime as dt
import functools
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from django.db.models import Field, Model, QuerySet
from django.utils.connection import ConnectionProxy

T = TypeVar("T")


class CompiledQuery:
    """`build(**sentinels)` must return a `values_list` queryset in which every sentinel
    value appears as a parameter of the SQL; `run(**values)` executes that SQL with each
    sentinel replaced by the value of the same name, prepared for the database by its
    field (`fields`), and answers the converted rows as tuples."""

    def __init__(
        self,
        build: Callable[..., QuerySet[Any]],
        *,
        fields: Mapping[str, Field],
        sentinels: Mapping[str, Any],
        using: str = "default",
    ) -> None:
        self._build = build
        self._fields = dict(fields)
        self._sentinels = dict(sentinels)
        self._using = using
        self._local = threading.local()

    def _compiled(self, connection: Any) -> tuple[Any, str, list[Any]]:
        state = getattr(self._local, "state", None)
        if state is not None and state[0] is connection:
            return state[1]
        queryset = self._build(**self._sentinels)
        compiler = queryset.query.get_compiler(using=self._using)
        sql, params = compiler.as_sql()
        prepared = {
            name: self._fields[name].get_db_prep_value(value, connection) for name, value in self._sentinels.items()
        }
        template: list[Any] = []
        for param in params:
            names = [name for name, value in prepared.items() if value == param]
            template.append(("param", names[0]) if names else ("constant", param))
        missing = set(self._sentinels) - {item[1] for item in template if item[0] == "param"}
        if missing:
            raise ValueError(f"sentinels {sorted(missing)} do not appear in the compiled query")
        # Django's results_iter looks the converters of every column up again on each call.
        converters = compiler.get_converters([s[0] for s in compiler.select[0 : compiler.col_count]])
        compiled = (compiler, sql, template, converters)
        self._local.state = (connection, compiled)
        return compiled

    @property
    def using(self) -> str:
        return self._using

    def prepare(
        self, connection: Any, values: Mapping[str, Any]
    ) -> tuple[Callable[[list[Any]], list[Any]], str, list[Any]]:
        """(converter of fetched rows, SQL, parameters) for these values on this connection."""
        compiler, sql, _, converters = self._compiled(connection)
        params = self.params(connection, values)

        def convert(rows: list[Any]) -> list[tuple[Any, ...]]:
            return [tuple(row) for row in compiler.apply_converters(rows, converters)] if converters else rows

        return convert, sql, params

    def params(self, connection: Any, values: Mapping[str, Any]) -> list[Any]:
        """The statement's parameters for these values on this connection."""
        template = self._compiled(connection)[2]
        return [
            self._fields[value].get_db_prep_value(values[value], connection) if kind == "param" else value
            for kind, value in template
        ]

    def run(self, **values: Any) -> list[tuple[Any, ...]]:
        connection = connections[self._using]
        convert, sql, params = self.prepare(connection, values)
        with prepared_cursor(connection) as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return convert(rows)

    def read(self, shape: Callable[[list[tuple[Any, ...]]], T], **values: Any) -> Read[T]:
        """This query with these values, for `reads_run`."""
        return Read(self, values, shape)


def model_columns(model: type[Model], *, via: str = "") -> list[str]:
    """The `values_list` names of every concrete column of `model`, reached through the
    relation path `via` (e.g. "tenant") when given: a compiled read of whole instances."""
    prefix = f"{via}__" if via else ""
    return [prefix + field.attname for field in model._meta.concrete_fields]


def model_from_row(model: type[Model], row: tuple[Any, ...], using: str = "default") -> Model:
    """An instance of `model` from the slice of a compiled row that `model_columns` named, as
    the ORM would have built it (converted values, `_state` of a row from the database)."""
    return model.from_db(using, [field.attname for field in model._meta.concrete_fields], row)


def prepared_cursor(connection: Any) -> Any:
    """A cursor of Django's (so its statements are logged and counted like any other) for a
    statement of one fixed text whatever its values (the compiled reads, and hot-path
    statements that bind arrays as one parameter, never a rendered list of placeholders): on
    PostgreSQL its parameters are bound by the server and it is prepared once per connection,
    so it is parsed once and planned from cached statistics (`CDP_DATABASE_PREPARE`);
    elsewhere Django's own cursor. Django's own cursors bind on the client and never prepare:
    the ORM's SQL is not always preparable (#20516)."""
    if isinstance(connection, ConnectionProxy):  # django.db.connection: each attribute a lookup
        connection = connections[connection._alias]
    if connection.vendor != "postgresql" or not settings.CDP_DATABASE_PREPARE:
        return connection.cursor()
    # What connection.cursor() does, with a server-binding cursor.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    cursor_class, debug_class = _preparing_classes()
    with connection.wrap_database_errors:
        cursor = cursor_class(connection.connection)
    return debug_class(cursor, connection) if connection.queries_logged else connection.make_cursor(cursor)


def generic_plans_set(sender: Any, connection: Any, **kwargs: Any) -> None:
    """`connection_created`: the statements prepared by `prepared_cursor` are planned once per
    connection, from the statistics, whatever their values (`plan_cache_mode`).

    PostgreSQL's own choice replans them on every execution. After five executions it compares
    the cost of a plan for any values with the average cost of the plans it made for the actual
    ones, and keeps the cheaper. A statement that binds a batch's keys as one array
    (`unnest($1::uuid[])`) looks cheaper for the actual values, an array of one element for a
    single event, than for any array, which the planner assumes holds ten. So each execution was
    planned again: about 350 µs of the 1.5 ms of PostgreSQL CPU that a single event took, for
    the same plans (the index reads by key that DESIGN's hot tables are built for). The
    statements whose plans must not depend on the statistics of one tenant recheck the tenant
    outside the index (`cdp_project.core.bulk.TENANT_RECHECKED`), so a plan for any values is the
    one they want. Only these statements are bound by the server: Django's own are sent with
    their values inlined, and each of those is planned for its values, as before."""
    if connection.vendor != "postgresql" or not settings.CDP_DATABASE_PREPARE:
        return
    with connection.connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")


# Django turns preparing off for every connection (prepare_threshold None), and psycopg then
# keeps no statistics of any statement. Preparing is turned on only while one of these cursors
# executes, so Django's own statements (large bulk inserts among them) are not hashed and
# counted by psycopg's statement cache on every execute.
_PREPARE_AFTER = 1_000_000


@functools.cache
def _preparing_classes() -> tuple[type, type]:
    from django.db.backends.postgresql.base import CursorDebugWrapper, ServerBindingCursor

    class PreparingCursor(ServerBindingCursor):
        def execute(self, query, params=None, *, prepare=None, binary=None):
            raw = self.connection
            before = raw.prepare_threshold
            raw.prepare_threshold = _PREPARE_AFTER if before is None else before
            try:
                return super().execute(query, params, prepare=True, binary=binary)
            finally:
                raw.prepare_threshold = before

    class PreparingDebugWrapper(CursorDebugWrapper):
        """Logs the statement with its values inlined, as for Django's own cursors (Django's
        logging reads the client-side bound text, which a server-binding cursor has not)."""

        def execute(self, sql, params=None):
            with self.debug_sql(self.db.ops.compose_sql(sql, params)):
                return self._execute_with_wrappers(sql, params, many=False, executor=self._execute)

    return PreparingCursor, PreparingDebugWrapper


@dataclass(frozen=True)
class Read(Generic[T]):
    """One compiled read, ready to run: the query, its values, and how to shape its rows."""

    query: CompiledQuery
    values: Mapping[str, Any]
    shape: Callable[[list[tuple[Any, ...]]], T]


def reads_run(*reads: Read[Any]) -> list[Any]:
    """Run independent reads and answer their shaped results in order. On PostgreSQL they
    are one statement (`_Combined`: each read's rows as a JSON array, the reads in one JSON
    array), else, when a column's type cannot make the trip through JSON, one round trip
    (psycopg's pipeline mode) of a statement each; elsewhere one after the other."""
    if not reads:
        return []
    using = reads[0].query.using
    connection = connections[using]
    if connection.vendor == "postgresql" and len(reads) > 1:
        combined = _combined(connection, tuple(read.query for read in reads))
        if combined is not None:
            return combined.run(connection, reads)
    prepared = [read.query.prepare(connection, read.values) for read in reads]
    cursors = [prepared_cursor(connection) for _ in reads]  # connects (and health-checks) first
    raw = connection.connection
    try:
        if connection.vendor == "postgresql" and hasattr(raw, "pipeline") and len(reads) > 1:
            with connection.wrap_database_errors, raw.pipeline():
                for cursor, (_, sql, params) in zip(cursors, prepared, strict=True):
                    cursor.execute(sql, params)
                fetched = [cursor.fetchall() for cursor in cursors]
        else:
            fetched = []
            for cursor, (_, sql, params) in zip(cursors, prepared, strict=True):
                cursor.execute(sql, params)
                fetched.append(cursor.fetchall())
    finally:
        for cursor in cursors:
            cursor.close()
    return [read.shape(convert(rows)) for read, (convert, _, _), rows in zip(reads, prepared, fetched, strict=True)]


def reads_unchecked(work: Callable[[], T], *, using: str = "default") -> T | None:
    """`work()`, which only reads, without Django's health check of a persistent connection:
    on the first statement of every request that check sends `SELECT 1` and waits for it, a
    round trip of its own. Should the connection turn out to be dead, `work` fails in the
    check's stead: this answers None with the check owed again, so the caller's fallback (the
    full path) checks the connection, reconnects and answers exactly as it would have."""
    connection = connections[using]
    owed = connection.health_check_enabled and not connection.health_check_done
    connection.health_check_done = True
    try:
        return work()
    except (OperationalError, InterfaceError):
        connection.health_check_done = not owed
        return None


# --- several reads in one statement (PostgreSQL) -------------------------------------------

# How a column's value comes back from JSON, by the internal type of its field: what psycopg
# and Django's converters would have made of the column itself. A read with a column of any
# other type (or a JSONField with its own decoder) is not combined.
_FROM_JSON: dict[str, Callable[[Any], Any]] = {
    "UUIDField": uuid.UUID,
    "DateTimeField": dt.datetime.fromisoformat,  # PostgreSQL writes ISO 8601, in the session's UTC
    "FloatField": float,  # also "NaN" and "Infinity", which JSON writes as strings
}
_AS_IS = frozenset(
    {
        "AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField", "SmallIntegerField",
        "PositiveIntegerField", "PositiveBigIntegerField", "PositiveSmallIntegerField", "BooleanField",
        "CharField", "SlugField", "TextField", "JSONField",
    }
)  # fmt: skip


def _column_decoder(field: Field) -> Callable[[Any], Any] | None | bool:
    """The decoder of a column's JSON value; None when the value is already right; False when
    this column's type is not known to survive the trip."""
    kind = field.get_internal_type()
    if kind == "JSONField" and getattr(field, "decoder", None) is not None:
        return False
    if kind in _FROM_JSON:
        return _FROM_JSON[kind]
    return None if kind in _AS_IS else False


class _Combined:
    """Several compiled reads as one statement:

        SELECT json_build_array(
            (SELECT coalesce(json_agg(json_build_array(t.c0, t.c1…)), '[]') FROM (<read 1>) AS t(c0, c1…)),
            …)::text

    One statement instead of several in a pipeline: psycopg's CPU for a pipelined statement
    (its own cursor, results and conversions) is about 0.2 ms, most of a small read's cost.
    Each read keeps its order: a sorted subquery under a plain aggregate is aggregated in its
    order by PostgreSQL. Values come back as JSON and are decoded by their fields' types
    (`_FROM_JSON`), to the values psycopg and Django's converters give for the columns."""

    def __init__(self, sql: str, decoders: list[list[Callable[[Any], Any] | None]]) -> None:
        self.sql = sql
        self.decoders = decoders

    def run(self, connection: Any, reads: tuple[Read[Any], ...]) -> list[Any]:
        params: list[Any] = []
        for read in reads:
            params.extend(read.query.params(connection, read.values))
        with prepared_cursor(connection) as cursor:
            cursor.execute(self.sql, params)
            (text,) = cursor.fetchone()
        answers = []
        for read, decoders, rows in zip(reads, self.decoders, json.loads(text), strict=True):
            if any(decoders):
                rows = [
                    tuple(v if v is None or d is None else d(v) for d, v in zip(decoders, row, strict=True))
                    for row in rows
                ]
            else:
                rows = [tuple(row) for row in rows]
            answers.append(read.shape(rows))
        return answers


def _combined(connection: Any, queries: tuple[CompiledQuery, ...]) -> _Combined | None:
    """The combined statement of these queries on this connection (built once per thread and
    connection), or None when one of their columns cannot make the trip through JSON."""
    cache = getattr(_combined_local, "cache", None)
    if cache is None or cache[0] is not connection:
        cache = _combined_local.cache = (connection, {})
    if queries not in cache[1]:  # the queries themselves as the key: kept alive, never an id reused
        cache[1][queries] = _combined_build(connection, queries)
    return cache[1][queries]


_combined_local = threading.local()


def _combined_build(connection: Any, queries: tuple[CompiledQuery, ...]) -> _Combined | None:
    parts, decoders = [], []
    for query in queries:
        compiler, sql, _, _ = query._compiled(connection)
        fields = [column[0].output_field for column in compiler.select[: compiler.col_count]]
        columns = [_column_decoder(field) for field in fields]
        if any(decoder is False for decoder in columns):
            return None
        names = [f"c{i}" for i in range(len(fields))]
        row = ", ".join(f"t.{name}" for name in names)
        parts.append(
            f"(SELECT coalesce(json_agg(json_build_array({row})), '[]'::json) FROM ({sql}) AS t({', '.join(names)}))"  # noqa: S608 - compiled SQL
        )
        decoders.append(columns)
    return _Combined(f"SELECT json_build_array({', '.join(parts)})::text", decoders)
