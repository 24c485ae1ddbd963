"""Merging one profile into another, and the registry of merge handlers.

The identity app decides *that* two profiles merge and moves the identifiers; this
module moves what profiles owns (attribute values), lets higher apps move their rows
(events, channel endpoints, participants) through registered handlers, turns the
merged profile into a tombstone and appends the ledger entry. Profiles never imports
the apps that register handlers (DESIGN.md §2)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from cdp_project.core.metrics import MERGES

from .models import AttributeValue, MergeLedgerEntry, Profile

MergeHandler = Callable[..., Mapping[str, int]]

_handlers: dict[str, MergeHandler] = {}


def register_merge_handler(key: str, handler: MergeHandler) -> None:
    """Register `handler(*, tenant_id, survivor_id, merged_id) -> {"events": 3, ...}`.

    It runs inside the merge transaction, after identifiers and attributes moved and
    before the merged profile becomes a tombstone; the counts it returns go into the
    ledger entry's `moved`. Handlers run in key order. Registering a key again replaces
    the previous handler, so AppConfig.ready() may run twice."""
    _handlers[key] = handler


def unregister_merge_handler(key: str) -> None:
    _handlers.pop(key, None)


def merge_handler_keys() -> tuple[str, ...]:
    return tuple(sorted(_handlers))


def _attribute_row(row: AttributeValue, side: str) -> dict[str, Any]:
    return {
        "name": row.name,
        "value": row.value,
        "occurredAt": row.occurred_at.isoformat().replace("+00:00", "Z"),
        "source": row.source,
        "from": side,
    }


def _attributes_merge(*, survivor_id: uuid.UUID, merged_id: uuid.UUID) -> tuple[list[str], list[dict[str, Any]]]:
    """Per attribute the latest occurred_at wins; ties go to the survivor (DESIGN.md §4)."""
    survivor_rows = {row.name: row for row in AttributeValue.objects.filter(profile_id=survivor_id)}
    merged_rows = list(AttributeValue.objects.filter(profile_id=merged_id).order_by("name"))
    taken: list[str] = []
    lost: list[dict[str, Any]] = []
    move_ids: list[int] = []
    replaced: list[AttributeValue] = []
    drop_ids: list[int] = []
    for row in merged_rows:
        kept = survivor_rows.get(row.name)
        if kept is None:
            taken.append(row.name)
            move_ids.append(row.pk)
        elif row.occurred_at > kept.occurred_at:
            taken.append(row.name)
            lost.append(_attribute_row(kept, "survivor"))
            replaced.append(kept)
            drop_ids.append(kept.pk)
            move_ids.append(row.pk)
        else:
            lost.append(_attribute_row(row, "merged"))
            drop_ids.append(row.pk)
    if drop_ids:
        AttributeValue.objects.filter(pk__in=drop_ids).delete()
    if move_ids:
        AttributeValue.objects.filter(pk__in=move_ids).update(profile_id=survivor_id)
    return taken, lost


def profile_merge(
    *,
    tenant_id: int,
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
    rule: str,
    matched_by: str | None,
    identifier_type: str,
    identifier_value: str,
    trigger: str,
    source: str,
    moved_identifiers: Sequence[Mapping[str, str]],
) -> MergeLedgerEntry:
    """Merge `merged_id` into `survivor_id` and append the ledger entry.

    The caller (the identity resolver) runs this inside its transaction, holds row locks
    on both profiles and has already moved the merged profile's identifiers."""
    now = timezone.now()
    taken, lost = _attributes_merge(survivor_id=survivor_id, merged_id=merged_id)
    moved: dict[str, int] = {"identifiers": len(moved_identifiers), "attributes": len(taken)}
    for key in sorted(_handlers):
        counts = _handlers[key](tenant_id=tenant_id, survivor_id=survivor_id, merged_id=merged_id)
        for name, count in (counts or {}).items():
            moved[name] = moved.get(name, 0) + int(count)
    # Compress chains: tombstones of the merged profile now point straight at the survivor.
    Profile.objects.filter(tenant_id=tenant_id, merged_into_id=merged_id).update(merged_into_id=survivor_id)
    Profile.objects.filter(tenant_id=tenant_id, pk=merged_id).update(
        merged_into_id=survivor_id, merged_at=now, updated_at=now
    )
    Profile.objects.filter(tenant_id=tenant_id, pk=survivor_id).update(updated_at=now)
    transaction.on_commit(MERGES.inc)  # counted once, when (and if) the merge commits
    return MergeLedgerEntry.objects.create(
        tenant_id=tenant_id,
        survivor_id=survivor_id,
        merged_id=merged_id,
        rule=rule,
        matched_by=matched_by or "",
        identifier_type=identifier_type,
        identifier_value=identifier_value,
        trigger=trigger[:512],
        source=source[:63],
        moved=moved,
        moved_identifiers=[dict(item) for item in moved_identifiers],
        taken_attributes=taken,
        lost_attributes=lost,
    )
