"""Bounded retries of transactions that lost a race (DESIGN.md §8).

A deadlock, a serialization failure or a busy SQLite database is always worth another
attempt; a unique violation only on a constraint an app declared racy (two requests
inserting the same identifier at once): an app registers those with
`retryable_unique_register` beside the constraint, in its models module, so the
registration exists whenever the table does."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import DatabaseError, IntegrityError, OperationalError

from .errors import busy
from .hooks import Registry
from .metrics import LOCK_RETRIES

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEADLOCK_DETECTED = "40P01"
SERIALIZATION_FAILURE = "40001"
UNIQUE_VIOLATION = "23505"

# constraint name -> the columns SQLite names in its message ("UNIQUE constraint failed: <columns>")
_retryable_unique: Registry[str] = Registry("retryable unique constraint")

BUSY_DETAIL = "The request lost a race with concurrent requests too often; nothing was applied. Retry."


def retryable_unique_register(*, constraint: str, sqlite_columns: str) -> None:
    """A violation of this unique constraint means a concurrent insert of the same row:
    the retry finds the row and uses it."""
    _retryable_unique.register(constraint, sqlite_columns)


def is_retryable(error: BaseException) -> bool:
    """A deadlock, a serialization failure, a busy SQLite database, or a concurrent insert
    on a registered constraint: retrying the whole transaction can succeed."""
    cause = error.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if isinstance(error, IntegrityError):
        if sqlstate == UNIQUE_VIOLATION:
            diag = getattr(cause, "diag", None)
            return getattr(diag, "constraint_name", None) in _retryable_unique
        return any(columns in str(error) for columns in _retryable_unique.values())
    if sqlstate in (DEADLOCK_DETECTED, SERIALIZATION_FAILURE):
        return True
    return isinstance(error, OperationalError) and "database is locked" in str(error)


def run_with_retries(fn: Callable[[], T], *, attempts: int = 5) -> T:
    """Call `fn` (which opens its own `transaction.atomic(durable=True)`) and retry it, with a
    small jittered backoff, when it failed on a deadlock, a serialization failure or a
    concurrent insert on a registered constraint. Each failed attempt rolled back entirely.
    After the last attempt: ProblemError 503 `busy` with `Retry-After: 1`."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except DatabaseError as error:
            if not is_retryable(error):
                raise
            if attempt == attempts:
                LOCK_RETRIES.labels(outcome="gave_up").inc()
                logger.warning("giving up after %s attempts: %s", attempts, error)
                raise busy(BUSY_DETAIL) from error
            LOCK_RETRIES.labels(outcome="retried").inc()
            logger.info("retrying after a lost race (attempt %s): %s", attempt, error)
            time.sleep(random.uniform(0.005, 0.02) * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
