"""Hot-path reads compiled once: a `values_list` queryset built by the ORM (so its SQL
follows the models and their migrations), turned into SQL once per thread and database
connection, then executed with new parameters and Django's own value converters.

Building and compiling a queryset costs a millisecond or more of CPU; sending a compiled
statement costs a tenth of that. Only for reads on paths that run on every request."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import Field, QuerySet

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
        compiled = (compiler, sql, template)
        self._local.state = (connection, compiled)
        return compiled

    @property
    def using(self) -> str:
        return self._using

    def prepare(self, connection: Any, values: Mapping[str, Any]) -> tuple[Any, str, list[Any]]:
        """(compiler, SQL, parameters) for these values on this connection."""
        compiler, sql, template = self._compiled(connection)
        params = [
            self._fields[value].get_db_prep_value(values[value], connection) if kind == "param" else value
            for kind, value in template
        ]
        return compiler, sql, params

    def run(self, **values: Any) -> list[tuple[Any, ...]]:
        connection = connections[self._using]
        compiler, sql, params = self.prepare(connection, values)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return list(compiler.results_iter(results=[rows], tuple_expected=True))

    def read(self, shape: Callable[[list[tuple[Any, ...]]], T], **values: Any) -> Read[T]:
        """This query with these values, for `reads_run`."""
        return Read(self, values, shape)


@dataclass(frozen=True)
class Read(Generic[T]):
    """One compiled read, ready to run: the query, its values, and how to shape its rows."""

    query: CompiledQuery
    values: Mapping[str, Any]
    shape: Callable[[list[tuple[Any, ...]]], T]


def reads_run(*reads: Read[Any]) -> list[Any]:
    """Run independent reads and answer their shaped results in order. On PostgreSQL they
    go out in one round trip (psycopg's pipeline mode), each still its own statement;
    elsewhere one after the other."""
    if not reads:
        return []
    using = reads[0].query.using
    connection = connections[using]
    prepared = [read.query.prepare(connection, read.values) for read in reads]
    cursors = [connection.cursor() for _ in reads]  # connects (and health-checks) first
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
    return [
        read.shape(list(compiler.results_iter(results=[rows], tuple_expected=True)))
        for read, (compiler, _, _), rows in zip(reads, prepared, fetched, strict=True)
    ]
