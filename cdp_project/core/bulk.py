"""Set-based SQL that works on PostgreSQL and SQLite alike: a batch changes many rows in
one statement instead of one statement per row (DESIGN.md §9).

- `values_cte`: a `WITH name(cols) AS (…)` table of rows, joined by `UPDATE … FROM` (both
  databases support it): on PostgreSQL one array parameter per column, unnested
  server-side, so a batch of 500 rows costs a handful of parameters, not thousands of
  client-side rendered placeholders; on SQLite a `VALUES` list;
- `ids_in`: `col IN (…)`, on PostgreSQL `col = ANY(array)`;
- `rows_update`: "set these columns of these rows (by primary key) to these values";
- `rows_insert`: many rows into one table, with `COPY` on PostgreSQL (no client-side
  parameter rendering at all; a few rows as one `INSERT` of arrays, one round trip) and
  one multi-row `INSERT` on SQLite.

Values are prepared by the model fields (`get_db_prep_value`), so UUIDs, datetimes and
JSON are stored exactly as the ORM would store them. COPY statements are added to
Django's query log, so `CaptureQueriesContext` counts them like any other statement."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db import connection, models

from .compiled import prepared_cursor
from .jsonvalues import compact_utf8


def _prep(field: models.Field, value: object) -> object:
    if value is None:
        return None  # SQL NULL (for JSON fields too, as the ORM stores None)
    return field.get_db_prep_value(value, connection, prepared=False)


def _cast(field: models.Field) -> str:
    if connection.vendor != "postgresql":
        return "%s"
    return f"%s::{field.cast_db_type(connection)}"


def values_cte(
    name: str,
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    aliases: Sequence[str] | None = None,
) -> tuple[str, list[object]]:
    """`name(col, …) AS (VALUES (…), …)` with each value prepared (and, on PostgreSQL,
    cast) as the model's field of that name; use after `WITH`. `aliases` renames the
    columns of the CTE (default: the fields' column names)."""
    fields = [model._meta.get_field(column) for column in columns]
    if connection.vendor == "postgresql":
        return _unnest_cte(name, model, fields, rows, aliases=aliases)
    row_sql = "(" + ", ".join(_cast(field) for field in fields) + ")"
    params: list[object] = []
    count = 0
    for row in rows:
        count += 1
        params += [_prep(field, value) for field, value in zip(fields, row, strict=True)]
    assert count, "values_cte needs at least one row"
    names = ", ".join(aliases or [connection.ops.quote_name(fields_column(model, c)) for c in columns])
    return f"{name}({names}) AS (VALUES {', '.join([row_sql] * count)})", params


def _json_text(field: models.JSONField, value: object) -> str:
    """The text PostgreSQL casts to jsonb, written by orjson (a merge's ledger row holds five
    JSON values): jsonb keeps the value, not the text, so the stored document is the same."""
    if field.encoder is None:
        return compact_utf8(value).decode()
    return json.dumps(value, cls=field.encoder, ensure_ascii=False)


def _array_value(field: models.Field, value: object) -> object:
    """A value as an element of a bound array: psycopg adapts UUIDs, datetimes, numbers
    and strings itself; JSON travels as its text and is cast server-side."""
    if value is None:
        return None
    if isinstance(field, models.JSONField):
        return _json_text(field, value)
    return value


def array_literal(values: Sequence[object]) -> object:
    """A PostgreSQL array literal (`{"a","b"}`) of plain values, built in one pass: psycopg's
    client-side array dumper costs microseconds per element, which a batch of 500 rows
    pays for thousands of them. Bind it with a cast (`%s::uuid[]`). Values of any other
    type (floats, decimals) are left to psycopg: the list comes back unchanged."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if len(kinds) == 1:  # one type (and NULLs), the common case: one comprehension
        kind = kinds.pop()
        if kind is uuid.UUID:
            parts = ["NULL" if v is None else v.hex for v in values]  # type: ignore[union-attr]
        elif kind is str:
            parts = ["NULL" if v is None else _array_text(v) for v in values]  # type: ignore[arg-type]
        elif kind is int:
            parts = ["NULL" if v is None else str(v) for v in values]
        elif kind is dt.datetime:
            parts = ["NULL" if v is None else '"' + v.isoformat(sep=" ") + '"' for v in values]  # type: ignore[union-attr]
        else:
            return _array_literal_mixed(values)
        return "{" + ",".join(parts) + "}"
    return _array_literal_mixed(values)


def _array_text(value: str) -> str:
    if "\\" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + value + '"'


def _array_literal_mixed(values: Sequence[object]) -> object:
    parts: list[str] = []
    append = parts.append
    for value in values:
        if value is None:
            append("NULL")
        elif isinstance(value, str):
            append(_array_text(value))
        elif isinstance(value, uuid.UUID):
            append(value.hex)
        elif isinstance(value, bool):
            append("t" if value else "f")
        elif isinstance(value, int):
            append(str(int(value)))
        elif isinstance(value, dt.datetime):
            append('"' + value.isoformat(sep=" ") + '"')
        else:
            return list(values)
    return "{" + ",".join(parts) + "}"


def as_uuid(value: object) -> uuid.UUID:
    """A UUID column read with a raw cursor (PostgreSQL gives UUIDs, SQLite hex text)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def array_type(field: models.Field) -> str:
    """The PostgreSQL element type a column's values are bound as (JSON as text)."""
    known = _array_types.get(field)
    if known is None:
        known = _array_types[field] = "text" if isinstance(field, models.JSONField) else field.cast_db_type(connection)
    return known


_array_types: dict[models.Field, str] = {}  # a field's type depends on the field alone: one database engine a process


def _unnest_cte(
    name: str,
    model: type[models.Model],
    fields: Sequence[models.Field],
    rows: Iterable[Sequence[object]],
    *,
    aliases: Sequence[str] | None,
) -> tuple[str, list[object]]:
    columns: list[list[object]] = [[] for _ in fields]
    for row in rows:
        for values, field, value in zip(columns, fields, row, strict=True):
            values.append(_array_value(field, value))
    assert columns and columns[0], "values_cte needs at least one row"
    params = [array_literal(values) for values in columns]
    quote = connection.ops.quote_name
    names = list(aliases or [quote(field.column) for field in fields])
    inner = [f"c{i}" for i in range(len(fields))]
    select = ", ".join(
        f"u.{c}::jsonb" if isinstance(field, models.JSONField) else f"u.{c}"
        for c, field in zip(inner, fields, strict=True)
    )
    arrays = ", ".join(f"%s::{array_type(field)}[]" for field in fields)
    sql = f"{name}({', '.join(names)}) AS (SELECT {select} FROM unnest({arrays}) AS u({', '.join(inner)}))"  # noqa: S608 - names from metadata
    return sql, params


def fields_column(model: type[models.Model], name: str) -> str:
    return model._meta.get_field(name).column


def rows_update(
    model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[object]], *, tenant_id: int
) -> int:
    """One `UPDATE … FROM (VALUES …)`: each row is (pk, *values of `columns`). Rows are
    matched by primary key within the tenant."""
    if not rows:
        return 0
    table = model._meta.db_table
    pk = model._meta.pk.column
    cte, params = values_cte("v", model, [model._meta.pk.name, *columns], rows)
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(fields_column(model, c))} = v.{quote(fields_column(model, c))}" for c in columns)
    sql = (
        f"WITH {cte} UPDATE {table} SET {assignments} FROM v"  # noqa: S608 - identifiers come from model metadata
        f" WHERE {table}.{pk} = v.{pk} AND {table}.{TENANT_RECHECKED}"
    )
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [*params, tenant_id])
        return cursor.rowcount


SMALL_INSERT = 8  # up to this many rows, rows_insert binds arrays instead of COPY


@contextlib.contextmanager
def statements_pipelined(*, enabled: bool = True) -> Iterator[None]:
    """Statements of the block whose results nobody reads (writes, advisory locks) go out
    together with the next statement whose result is read, instead of one round trip each
    (psycopg's pipeline mode, PostgreSQL only). The statements and their order are the same;
    an error surfaces at the next read or at the end of the block, which is why the block
    must not catch database errors inside it (a savepoint that expects an IntegrityError).
    `rows_insert` writes with one INSERT of arrays inside it (COPY cannot be pipelined)."""
    if not enabled or connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield


def _pipelined() -> bool:
    raw = connection.connection
    return raw is not None and bool(raw.pgconn.pipeline_status)


def _copy_text(field: models.Field, value: object) -> object:
    if value is None:
        return None
    if isinstance(field, models.JSONField):
        return _json_text(field, value)
    return value


def rows_insert(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[object]]) -> int:
    """Insert many rows (no conflict handling): `COPY … FROM STDIN` on PostgreSQL, one
    multi-row `INSERT` on SQLite (chunked below its parameter limit)."""
    if not rows:
        return 0
    fields = [model._meta.get_field(column) for column in columns]
    table = model._meta.db_table
    names = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    if connection.vendor == "postgresql" and (len(rows) <= SMALL_INSERT or _pipelined()):
        # A few rows (a single event): one `INSERT … SELECT FROM unnest(…)` is one round
        # trip, where COPY needs two (start, then data and end).
        select, params = _unnest_cte("v", model, fields, rows, aliases=None)
        with prepared_cursor(connection) as cursor:
            cursor.execute(f"WITH {select} INSERT INTO {table} ({names}) SELECT * FROM v", params)  # noqa: S608
        return len(rows)
    if connection.vendor == "postgresql":
        sql = f"COPY {table} ({names}) FROM STDIN"
        started = time.monotonic()
        # The raw psycopg COPY: its errors become Django's (IntegrityError, OperationalError…).
        with connection.wrap_database_errors, connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row([_copy_text(field, value) for field, value in zip(fields, row, strict=True)])
        if connection.queries_logged:
            connection.queries_log.append(
                {"sql": f"{sql} -- {len(rows)} rows", "time": f"{time.monotonic() - started:.3f}"}
            )
        return len(rows)
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    per_statement = max(1, 30_000 // len(fields))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params: list[Any] = []
            for row in chunk:
                params += [_prep(field, value) for field, value in zip(fields, row, strict=True)]
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([row_sql] * len(chunk))}",  # noqa: S608
                params,
            )
    return len(rows)


# The tenant of rows found by a key of their own (primary key, profile id) given as a set: a
# filter on each row found, never a way in. Written `tenant_id = %s`, the planner may instead
# walk an index that starts with tenant_id and filter the keys, which looks cheapest while its
# statistics hold a few rows for the tenant (a table not analyzed since the tenant arrived or
# grew, a bulk import) and reads every row of the tenant, in every batch, once it has many:
# such a tenant's batches of 500 took 987 ms instead of 116 (docs/architecture.md, "The
# tenant key of the hot tables").
TENANT_RECHECKED = "tenant_id + 0 = %s"


def tenant_rechecked(queryset: models.QuerySet, tenant_id: int) -> models.QuerySet:
    """`queryset` of the tenant's rows, the tenant checked as TENANT_RECHECKED describes."""
    tenant = models.ExpressionWrapper(models.F("tenant_id") + 0, output_field=models.BigIntegerField())
    return queryset.alias(_tenant_rechecked=tenant).filter(_tenant_rechecked=tenant_id)


def ids_in(model: type[models.Model], name: str, values: Iterable[object]) -> tuple[str, list[object]]:
    """`col IN (%s, …)` with prepared values (at least one)."""
    field = model._meta.get_field(name)
    if connection.vendor == "postgresql":
        array = [_array_value(field, value) for value in values]
        assert array
        return f"{field.column} = ANY(%s::{array_type(field)}[])", [array_literal(array)]
    prepared = [_prep(field, value) for value in values]
    assert prepared
    return f"{field.column} IN ({', '.join([_cast(field)] * len(prepared))})", prepared
