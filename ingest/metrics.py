"""Ingest outcomes for /metrics (the metric objects live in cdp_project.core.metrics)."""

from __future__ import annotations

from collections.abc import Sequence

from cdp_project.core.metrics import INGEST_ITEMS

from .pipeline import Prepared
from .types import ItemResult


def ingest_items_count(*, items: Sequence[Prepared], results: Sequence[ItemResult]) -> None:
    """Count each item by kind, outcome and source. Sources the tenant does not have are
    counted as `unknown`, so a client cannot grow the label set."""
    for item, result in zip(items, results, strict=True):
        source = item.source.key if item.source is not None else "unknown"
        INGEST_ITEMS.labels(kind=item.kind, outcome=result.status, source=source).inc()
