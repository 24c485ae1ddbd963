"""Per-key request budget, answered with 429 and Retry-After, shared by every process.

One atomic statement per request counts it in the database (INSERT … ON CONFLICT DO UPDATE …
RETURNING, on PostgreSQL and SQLite alike): a fixed one-minute window per API key, exact
whatever the number of processes and hosts.

On PostgreSQL that statement, outside any transaction of the caller, commits asynchronously
(`synchronous_commit` off for its own transaction only, set within the statement): the count
is visible to every other process at once, as any commit is, but the request does not wait
for the budget's WAL flush before its own work (an ingest request would otherwise wait for
two flushes, the budget's and its transaction's). A crash of PostgreSQL may forget the
counts of its last fraction of a second: a few requests more in that minute, never fewer.
The statement is prepared once per connection (`cdp_project.core.compiled.prepared_cursor`)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from cdp_project.core.compiled import prepared_cursor

from .authentication import ApiKeyPrincipal
from .models import RateBudget

WINDOW_SECONDS = 60


def rate_budget_take(*, key_prefix: str, now: float | None = None) -> tuple[int, float]:
    """Count one request of `key_prefix` in the current minute; returns the count so far
    (this one included) and the seconds until the window ends."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    table = connection.ops.quote_name(RateBudget._meta.db_table)
    asynchronous = connection.vendor == "postgresql" and not connection.in_atomic_block
    # In its own transaction on PostgreSQL: commit without waiting for the WAL flush.
    rows = (
        "SELECT %s, %s, 1 FROM (SELECT set_config('synchronous_commit', 'off', true)) AS sync"
        if asynchronous
        else "VALUES (%s, %s, 1)"
    )
    with prepared_cursor(connection) as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key_prefix, minute, count) {rows} "  # noqa: S608 (quoted name)
            f"ON CONFLICT (key_prefix, minute) DO UPDATE SET count = {table}.count + 1 RETURNING count",
            [key_prefix, window],
        )
        count = cursor.fetchone()[0]
        if count == 1:  # the first request of a new minute clears the key's older windows
            cursor.execute(f"DELETE FROM {table} WHERE key_prefix = %s AND minute < %s", [key_prefix, window])  # noqa: S608
    return count, (window + 1) * WINDOW_SECONDS - now


class ApiKeyRateThrottle(BaseThrottle):
    def allow_request(self, request: Request, view: Any) -> bool:
        per_minute = settings.CDP_API_KEY_RATE_PER_MINUTE
        principal = request.user
        if not per_minute or not isinstance(principal, ApiKeyPrincipal):
            return True
        count, self.remaining = rate_budget_take(key_prefix=principal.key_prefix)
        return count <= per_minute

    def wait(self) -> float | None:
        return max(1.0, getattr(self, "remaining", WINDOW_SECONDS))
