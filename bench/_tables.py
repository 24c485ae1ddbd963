"""Set-based rows for the benchmarks, shaped by the product's Django models (issue 20).

A benchmark that writes `INSERT INTO profiles_derivedvalue (a, b, c) SELECT ...` by hand
breaks silently the day a migration adds a NOT NULL column. `insert_select` builds the
statement from the model instead: every concrete column of the table is written, either
from the SQL expression the benchmark gives, or from what Django itself would write when
the field is left out (`auto_now`/`auto_now_add` -> now(), a constant default, NULL for
a nullable field). A NOT NULL column without a default that the benchmark does not
mention, a name that is not a column, or a NOT NULL column the database has but the model
does not know stops the benchmark with `BenchSchemaError` naming it, before any row is
written. The smoke run inside `make test` (tests/bench) therefore fails on the commit
that changes the schema, not months later.

Not a benchmark itself (the leading underscore keeps it out of the smoke run's discovery).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import connection, models


class BenchSchemaError(RuntimeError):
    """The benchmark's rows no longer match the product's schema."""


def _columns(model: type[models.Model]) -> dict[str, models.Field]:
    return {field.column: field for field in model._meta.concrete_fields}


def insert_select(
    model: type[models.Model], values: Mapping[str, str], *, source: str, params: Mapping[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """`INSERT INTO <model's table> (<every column>) SELECT <expressions> <source>` and its
    parameters. `values` maps column names (`profile_id`, not `profile`) to SQL expressions
    over `source` (the `FROM ...` part, with `%(name)s` parameters from `params`)."""
    columns = _columns(model)
    unknown = sorted(set(values) - set(columns))
    if unknown:
        raise BenchSchemaError(f"{model._meta.label} has no column(s) {', '.join(unknown)}")
    _check_database(model, columns)
    names, expressions = [], []
    all_params = dict(params or {})
    for column, field in columns.items():
        if column in values:
            expression = values[column]
        elif isinstance(field, models.AutoField | models.BigAutoField | models.SmallAutoField):
            continue  # the database numbers the rows
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            expression = "now()"
        elif field.has_default():
            if field.primary_key or field.unique:
                raise BenchSchemaError(
                    f"{model._meta.label}.{field.name} is unique: the benchmark must generate {column} per row"
                )
            key = f"_default_{column}"
            all_params[key] = field.get_db_prep_save(field.get_default(), connection)
            expression = f"%({key})s"
        elif field.null:
            expression = "NULL"
        else:
            raise BenchSchemaError(
                f"{model._meta.label}.{field.name} is NOT NULL and has no default: "
                f"the benchmark must say what to write in {model._meta.db_table}.{column}"
            )
        names.append(f'"{column}"')
        expressions.append(expression)
    sql = f'INSERT INTO "{model._meta.db_table}" ({", ".join(names)}) SELECT {", ".join(expressions)} {source}'
    return sql, all_params


def _check_database(model: type[models.Model], columns: Mapping[str, models.Field]) -> None:
    """The table as the database has it: a NOT NULL column without a default that the
    model does not declare (raw SQL in a migration) would fail the insert obscurely."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT column_name FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = %s
                 AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'""",
            [model._meta.db_table],
        )
        strangers = sorted(name for (name,) in cursor.fetchall() if name not in columns)
    if strangers:
        raise BenchSchemaError(
            f"{model._meta.db_table} has NOT NULL column(s) {', '.join(strangers)} that {model._meta.label} lacks"
        )


def execute(model: type[models.Model], values: Mapping[str, str], *, source: str, params=None) -> int:
    """Run `insert_select`; returns the rows written."""
    sql, all_params = insert_select(model, values, source=source, params=params)
    with connection.cursor() as cursor:
        cursor.execute(sql, all_params)
        return cursor.rowcount
