"""The batch path binds one array literal per column (cdp_project.core.bulk.array_literal):
whatever a customer's data holds, PostgreSQL reads back exactly the values that were sent."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.db import connection

from cdp_project.core.bulk import _json_text, array_literal
from profiles.models import MergeLedgerEntry

pytestmark = [pytest.mark.django_db, pytest.mark.postgres_only]

AWKWARD = [
    "plain",
    "",
    "NULL",
    'a "quoted" word',
    "back\\slash",
    'a\\"b',
    "\\",
    '"',
    "it's",
    "{,}",
    " padded ",
    "tab\tand\nnewline",
    "üñï€😀",
    None,
]


def _round_trip(literal: object, cast: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s::{cast}[]", [literal])
        return cursor.fetchone()[0]


def test_strings_with_quotes_backslashes_braces_and_nulls_come_back_unchanged():
    assert _round_trip(array_literal(AWKWARD), "varchar") == AWKWARD
    assert _round_trip(array_literal(AWKWARD), "text") == AWKWARD


def test_uuids_integers_booleans_and_timestamps_come_back_unchanged():
    ids = [uuid.uuid4(), None, uuid.uuid4()]
    numbers = [0, -7, 2**62, None]
    flags = [True, False, None]
    now = dt.datetime.now(dt.UTC)
    stamps = [now, None, now - dt.timedelta(days=400, microseconds=1)]
    assert _round_trip(array_literal(ids), "uuid") == ids
    assert _round_trip(array_literal(numbers), "bigint") == numbers
    assert _round_trip(array_literal(flags), "boolean") == flags
    assert _round_trip(array_literal(stamps), "timestamptz") == stamps


def test_other_values_are_left_to_psycopg():
    floats = [1.5, None, -0.25]
    assert array_literal(floats) == floats
    assert _round_trip(array_literal(floats), "float8") == floats


def test_rows_copied_in_bulk_come_back_unchanged(tenant):
    """rows_insert writes a batch with COPY: awkward strings, JSON holding
    quotes, backslashes, tabs and newlines, NULLs, floats, integers and timestamps are
    stored exactly as the ORM would store them."""
    from cdp_project.core.bulk import SMALL_INSERT, rows_insert
    from profiles.models import DerivedValue, Profile

    profile = Profile.objects.create(tenant=tenant)
    now = dt.datetime.now(dt.UTC)
    texts = [text for text in AWKWARD if text is not None]
    rows = [
        (tenant.pk, profile.pk, f"n{i}-{text}", {"v": text, "list": [text, i]} if i % 3 else None,
         None if i % 4 == 0 else i / 7, i, now - dt.timedelta(seconds=i), text, now)
        for i, text in enumerate(texts)
    ]  # fmt: skip
    assert len(rows) > SMALL_INSERT  # the COPY path
    columns = ["tenant", "profile", "name", "value", "number", "count", "occurred_at", "exact", "updated_at"]
    rows_insert(DerivedValue, columns, rows)
    stored = DerivedValue.objects.filter(tenant=tenant).order_by("count").values_list(*columns[2:8])
    assert list(stored) == [row[2:8] for row in rows]


JSON_VALUES = [
    {"name": "üñï€😀", "quote": 'a "b" \\ c', "controls": "\x01\t\n\x1f\x7f", "line": "\u2028\u2029"},
    {"ints": [0, -1, 2**63 - 1, -(2**63), 2**64 - 1, 10**19]},
    {"beyond 64 bits": [2**64, -(2**63) - 1, 2**70]},  # orjson refuses these: the standard encoder writes them
    {"floats": [0.1, 1e16, 1e-7, -0.0, 1.7976931348623157e308, 5e-324, 123456789.123456789]},
    {"nested": {"a": [{"b": None, "c": True, "d": False}], "": {}}, "empty": []},
    {1: "an integer key", "2": "a string key"},  # orjson refuses non-string keys, json writes them as strings
    [],
    "text",
    None,
]


@pytest.mark.parametrize("value", JSON_VALUES, ids=range(len(JSON_VALUES)))
def test_json_travels_as_text_that_postgresql_stores_as_the_standard_encoders_document(value):
    field = MergeLedgerEntry._meta.get_field("undo")
    text = _json_text(field, value)
    with connection.cursor() as cursor:  # jsonb's own text of each: the stored document (NUL never gets here)
        cursor.execute("SELECT %s::jsonb::text, %s::jsonb::text", [text, json.dumps(value)])
        ours, standard = cursor.fetchone()
    assert ours == standard, text
