from __future__ import annotations

from identity.models import Identifier
from ingest.models import Event, IdempotencyKey, ProfileUpdate, Violation
from profiles.models import AttributeValue, MergeLedgerEntry, Profile

TABLES = (Event, IdempotencyKey, ProfileUpdate, Profile, Identifier, AttributeValue, MergeLedgerEntry)


def row_counts(*, with_violations: bool = True) -> dict[str, int]:
    counts = {model.__name__: model.objects.count() for model in TABLES}
    if with_violations:
        counts["Violation"] = sum(Violation.objects.values_list("count", flat=True))
    return counts
