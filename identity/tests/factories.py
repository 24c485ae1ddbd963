"""Build test state through the real services: normalize, then resolve in a transaction."""

from __future__ import annotations

import datetime as dt
import itertools

from django.db import transaction

from cdp_project.core.retries import run_with_retries
from identity.normalization import identity_normalize
from identity.resolver import identity_resolve
from identity.types import Resolution

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
_counter = itertools.count(1)


def resolve(
    tenant,
    identity: dict,
    *,
    source: str = "shop-backend",
    trigger: str | None = None,
    occurred_at: dt.datetime = T0,
    dry_run: bool = False,
) -> Resolution:
    normalized = identity_normalize(tenant=tenant, identity=identity)
    assert not normalized.problems, normalized.problems
    trigger = trigger or f"event {source}/evt-{next(_counter)}"

    def work() -> Resolution:
        with transaction.atomic(durable=True):
            return identity_resolve(
                tenant=tenant,
                identity=normalized,
                occurred_at=occurred_at,
                source=source,
                trigger=trigger,
                dry_run=dry_run,
            )

    return run_with_retries(work)
