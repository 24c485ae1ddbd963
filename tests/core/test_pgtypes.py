"""Timestamps load with psycopg's C loader (cdp_project.core.pgtypes) and come back exactly
as Django's own loader answers them: aware, in UTC, to the microsecond."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader

from cdp_project.core.pgtypes import UtcTimestamptzLoader

pytestmark = [pytest.mark.django_db, pytest.mark.postgres_only]

STAMPS = [
    "2026-12-02 05:24:37.780615+00",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "2000-02-29 12:00:00.5-07:30",  # another offset: the same instant in UTC
    "1969-12-31 23:59:59.000001+00",
    "2026-03-29 01:30:00+02",
    "1900-01-01 00:00:00+05:53:28",  # an offset with seconds
]
SQL = "SELECT x::timestamptz FROM unnest(%s::text[]) AS x"


def _read() -> list:
    with connection.cursor() as cursor:
        cursor.execute(SQL, [STAMPS])
        return [row[0] for row in cursor.fetchall()]


def test_each_connection_loads_timestamps_with_the_c_loader_and_answers_what_djangos_loader_does():
    connection.ensure_connection()
    raw = connection.connection
    assert raw.adapters.get_loader(1184, 0) is UtcTimestamptzLoader  # 1184: timestamptz, text format
    ours = _read()
    register_tzloader(connection.timezone, raw)  # Django's own loader, as it would register it
    try:
        djangos = _read()
    finally:
        raw.adapters.register_loader("timestamptz", UtcTimestamptzLoader)
    assert ours == djangos
    assert all(value.tzinfo is dt.UTC for value in ours)
    assert [value.utcoffset() for value in ours] == [dt.timedelta(0)] * len(STAMPS)
