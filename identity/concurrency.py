"""Bounded retries of transactions that lost a race (DESIGN.md §8)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import DatabaseError, IntegrityError, OperationalError

from cdp_project.core.errors import ProblemError
from cdp_project.core.metrics import LOCK_RETRIES

from .models import IDENTIFIER_UNIQUE_CONSTRAINT

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEADLOCK_DETECTED = "40P01"
SERIALIZATION_FAILURE = "40001"
UNIQUE_VIOLATION = "23505"
_SQLITE_IDENTIFIER_UNIQUE = "identity_identifier.tenant_id, identity_identifier.type, identity_identifier.value"


def is_retryable(error: BaseException) -> bool:
    """A deadlock, a serialization failure, a busy SQLite database, or a concurrent insert
    of the same identifier: retrying the whole transaction can succeed."""
    cause = error.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if isinstance(error, IntegrityError):
        if sqlstate == UNIQUE_VIOLATION:
            diag = getattr(cause, "diag", None)
            return getattr(diag, "constraint_name", None) == IDENTIFIER_UNIQUE_CONSTRAINT
        return _SQLITE_IDENTIFIER_UNIQUE in str(error)
    if sqlstate in (DEADLOCK_DETECTED, SERIALIZATION_FAILURE):
        return True
    return isinstance(error, OperationalError) and "database is locked" in str(error)


def busy_problem() -> ProblemError:
    return ProblemError(
        code="busy",
        title="Service busy",
        status=503,
        detail="The request lost a race with concurrent requests too often; nothing was applied. Retry.",
        headers={"Retry-After": "1"},
    )


def run_with_retries(fn: Callable[[], T], *, attempts: int = 5) -> T:
    """Call `fn` (which opens its own `transaction.atomic(durable=True)`) and retry it, with a
    small jittered backoff, when it failed on a deadlock, a serialization failure or a
    concurrent insert of the same identifier. Each failed attempt rolled back entirely.
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
                raise busy_problem() from error
            LOCK_RETRIES.labels(outcome="retried").inc()
            logger.info("retrying after a lost race (attempt %s): %s", attempt, error)
            time.sleep(random.uniform(0.005, 0.02) * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
