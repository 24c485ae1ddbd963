"""Merging profiles into others, and the registry of merge handlers.

The identity app decides *that* profiles merge and moves the identifiers; this module
moves what profiles owns (attribute values), lets higher apps move their rows (events,
channel endpoints, participants) through registered handlers, turns the merged profiles
into tombstones and appends the ledger entries. Profiles never imports the apps that
register handlers (DESIGN.md §2).

Set-based: `profiles_apply` takes every merge and attribute update a batch decided, in
the order they happen, simulates them in memory on the rows read once, and writes the
outcome with a constant number of statements whatever the number of merges."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from cdp_project.core.bulk import (
    TENANT_RECHECKED,
    array_literal,
    as_uuid,
    ids_in,
    rows_insert,
    rows_update,
    values_cte,
)
from cdp_project.core.compiled import prepared_cursor
from cdp_project.core.hooks import Registry
from cdp_project.core.metrics import MERGES
from cdp_project.core.timestamps import format_utc

from .models import AttributeValue, MergeLedgerEntry, Profile
from .services import attribute_wins, canonical_json

MergePairs = Sequence[tuple[uuid.UUID, uuid.UUID]]
# handler(*, tenant_id, pairs) -> {merged_id: {"events": 3, ...}}
MergeHandler = Callable[..., Mapping[uuid.UUID, Mapping[str, int]]]

_handlers: Registry[MergeHandler] = Registry("merge handler")

# The shape of MergeLedgerEntry.undo; a revert refuses entries of another version.
UNDO_VERSION = 1


def register_merge_handler(key: str, handler: MergeHandler) -> None:
    """Register `handler(*, tenant_id, pairs) -> {merged_id: {"events": 3, ...}}`.

    `pairs` lists every merge of the batch as `(merged_id, survivor_id)` in the order they
    happened; a survivor may itself be merged by a later pair (a chain), and
    `merge_final_survivors(pairs)` says where each merged profile ends up. The handler
    moves its rows for all pairs at once, inside the merge transaction, after identifiers
    and attributes moved and before the merged profiles become tombstones. Every profile
    of `pairs` is row-locked already (DESIGN.md §8); a handler takes its own app's locks
    for all of them at once, in its documented order. The integer counts it returns per
    merged profile go into that merge's ledger entry (`moved`); any other value (a list of
    the rows it moved, say) goes into the entry's `undo` under its name, for a revert to
    read back. Handlers run in key order.
    Registering a key again replaces the previous handler (AppConfig.ready() may run twice)."""
    _handlers[key] = handler


def unregister_merge_handler(key: str) -> None:
    _handlers.pop(key, None)


def merge_final_survivors(pairs: MergePairs) -> dict[uuid.UUID, uuid.UUID]:
    """merged profile -> the live profile it ends up in after all pairs (chains followed)."""
    immediate = dict(pairs)
    final: dict[uuid.UUID, uuid.UUID] = {}
    for merged in immediate:
        target = immediate[merged]
        hops = 0
        while target in immediate and hops <= len(immediate):
            target = immediate[target]
            hops += 1
        final[merged] = target
    return final


@dataclass(frozen=True)
class MergeStep:
    """One merge a resolution decided, with what its ledger entry explains."""

    merged_id: uuid.UUID
    survivor_id: uuid.UUID
    rule: str
    matched_by: str | None
    identifier_type: str
    identifier_value: str
    trigger: str
    source: str
    moved_identifiers: tuple[Mapping[str, str], ...] = ()
    survivor_identifiers: tuple[Mapping[str, str], ...] = ()  # what the survivor held just before


@dataclass(frozen=True)
class AttributeStep:
    """Attribute values observed at `occurred_at` for one (live) profile."""

    profile_id: uuid.UUID
    attributes: Mapping[str, object]
    occurred_at: dt.datetime
    source: str


@dataclass
class _Row:
    pk: int | None
    name: str
    value: object
    occurred_at: dt.datetime
    source: str


LEDGER_COLUMNS = (
    "tenant",
    "created_at",
    "survivor_id",
    "merged_id",
    "rule",
    "matched_by",
    "identifier_type",
    "identifier_value",
    "trigger",
    "source",
    "moved",
    "moved_identifiers",
    "taken_attributes",
    "lost_attributes",
    "undo",
)


@dataclass
class Applied:
    """What `profiles_apply` did: the changed attribute names of each AttributeStep (in
    order) and how many merges it wrote to the ledger."""

    changed: list[tuple[str, ...]] = field(default_factory=list)
    merges: int = 0


def _snapshot(rows: Mapping[str, _Row] | None) -> list[dict[str, Any]]:
    """Attribute rows as a revert restores them."""
    return [
        {"name": row.name, "value": row.value, "occurredAt": format_utc(row.occurred_at), "source": row.source}
        for _, row in sorted((rows or {}).items())
    ]


def _tombstones_before(*, tenant_id: int, pairs: MergePairs) -> dict[uuid.UUID, list[str]]:
    """For each merge in order: the tombstones that pointed at the merged profile when it
    merged (stored ones and those of earlier merges in the batch); the merge re-points
    them to its survivor, and a revert points them back. One query."""
    merged_ids = [merged for merged, _ in pairs]
    pointing: dict[uuid.UUID, set[uuid.UUID]] = {}
    condition, params = ids_in(Profile, "merged_into", merged_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, merged_into_id FROM {Profile._meta.db_table}"  # noqa: S608 - names from metadata
            f" WHERE {condition} AND {TENANT_RECHECKED}",
            [*params, tenant_id],
        )
        stored = [(as_uuid(pid), as_uuid(into)) for pid, into in cursor.fetchall()]
    for pid, into in stored:
        pointing.setdefault(into, set()).add(pid)
    before: dict[uuid.UUID, list[str]] = {}
    for merged, survivor in pairs:
        mine = pointing.pop(merged, set())
        before[merged] = sorted(str(pid) for pid in mine)
        pointing.setdefault(survivor, set()).update(mine | {merged})
    return before


def _lost(row: _Row, side: str) -> dict[str, Any]:
    return {
        "name": row.name,
        "value": row.value,
        "occurredAt": row.occurred_at.isoformat().replace("+00:00", "Z"),
        "source": row.source,
        "from": side,
    }


def _read_attributes(*, tenant_id: int, steps: Sequence[MergeStep | AttributeStep]) -> dict[uuid.UUID, dict[str, _Row]]:
    """Every attribute row the steps may touch, in one query: all rows of merge
    participants, the named rows of updated profiles."""
    whole = {pid for s in steps if isinstance(s, MergeStep) for pid in (s.merged_id, s.survivor_id)}
    named: dict[uuid.UUID, set[str]] = {}
    for s in steps:
        if isinstance(s, AttributeStep) and s.profile_id not in whole and s.attributes:
            named.setdefault(s.profile_id, set()).update(s.attributes)
    state: dict[uuid.UUID, dict[str, _Row]] = {pid: {} for pid in (*whole, *named)}
    if not state:
        return state
    names = sorted({n for wanted in named.values() for n in wanted})
    rows: Any
    if connection.vendor == "postgresql":  # the ids and names as arrays, the values decoded once here
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, profile_id, name, value, occurred_at, source FROM {AttributeValue._meta.db_table}"  # noqa: S608
                " WHERE (profile_id = ANY(%s::uuid[]) OR (profile_id = ANY(%s::uuid[]) AND name = ANY(%s::varchar[])))"
                f" AND {TENANT_RECHECKED}",
                [array_literal(sorted(whole)), array_literal(sorted(named)), array_literal(names), tenant_id],
            )
            rows = [
                (pk, pid, name, None if value is None else json.loads(value), at, source)
                for pk, pid, name, value, at, source in cursor.fetchall()
            ]
    else:
        condition = Q(profile_id__in=whole) if whole else Q(pk__in=[])
        if named:
            condition |= Q(profile_id__in=list(named), name__in=names)
        rows = AttributeValue.objects.filter(condition, tenant_id=tenant_id).values_list(
            "pk", "profile_id", "name", "value", "occurred_at", "source"
        )
    for pk, profile_id, name, value, occurred_at, source in rows:
        if profile_id in whole or name in named.get(profile_id, ()):
            state[profile_id][name] = _Row(pk, name, value, occurred_at, source)
    return state


def _merge_attributes(
    state: dict[uuid.UUID, dict[str, _Row]], step: MergeStep
) -> tuple[list[str], list[dict[str, Any]]]:
    """Per attribute the latest occurred_at wins; ties go to the survivor (DESIGN.md §4)."""
    survivor = state.setdefault(step.survivor_id, {})
    merged = state.pop(step.merged_id, {})
    taken: list[str] = []
    lost: list[dict[str, Any]] = []
    for name in sorted(merged):
        row = merged[name]
        kept = survivor.get(name)
        if kept is None:
            taken.append(name)
            survivor[name] = row
        elif row.occurred_at > kept.occurred_at:
            taken.append(name)
            lost.append(_lost(kept, "survivor"))
            survivor[name] = row
        else:
            lost.append(_lost(row, "merged"))
    return taken, lost


def _attributes_step(state: dict[uuid.UUID, dict[str, _Row]], step: AttributeStep) -> tuple[str, ...]:
    """profiles.services.profile_attributes_apply, in memory."""
    rows = state.setdefault(step.profile_id, {})
    changed: list[str] = []
    for name in sorted(step.attributes):
        value = step.attributes[name]
        row = rows.get(name)
        if row is None:
            rows[name] = _Row(None, name, value, step.occurred_at, step.source)
            if value is not None:
                changed.append(name)
            continue
        if not attribute_wins(
            new_occurred_at=step.occurred_at, new_value=value, old_occurred_at=row.occurred_at, old_value=row.value
        ):
            continue
        if canonical_json(row.value) != canonical_json(value):
            changed.append(name)
        row.value, row.occurred_at, row.source = value, step.occurred_at, step.source
    return tuple(changed)


def _attributes_write(
    *,
    tenant_id: int,
    original: Mapping[int, tuple[uuid.UUID, object, dt.datetime, str]],
    state: Mapping[uuid.UUID, Mapping[str, _Row]],
    now: dt.datetime,
) -> None:
    """The simulated end state in at most three statements: drop the rows that lost,
    update the rows that moved or changed, insert the new ones."""
    kept: set[int] = set()
    updates: list[tuple[object, ...]] = []
    inserts: list[tuple[object, ...]] = []
    for profile_id, rows in state.items():
        for row in rows.values():
            if row.pk is None:
                inserts.append((tenant_id, profile_id, row.name, row.value, row.occurred_at, row.source, now))
                continue
            kept.add(row.pk)
            if original[row.pk] != (profile_id, row.value, row.occurred_at, row.source):
                updates.append((row.pk, profile_id, row.value, row.occurred_at, row.source, now))
    dropped = [pk for pk in original if pk not in kept]
    if dropped:
        AttributeValue.objects.filter(tenant_id=tenant_id, pk__in=dropped).delete()
    # Rows only ever move to a profile that keeps its other rows, so one UPDATE cannot
    # collide with (tenant, profile, name) on the way.
    rows_update(
        AttributeValue,
        ["profile", "value", "occurred_at", "source", "updated_at"],
        updates,
        tenant_id=tenant_id,
    )
    rows_insert(AttributeValue, ["tenant", "profile", "name", "value", "occurred_at", "source", "updated_at"], inserts)


def _tombstones_write(*, tenant_id: int, final: Mapping[uuid.UUID, uuid.UUID], now: dt.datetime) -> None:
    """Merged profiles become tombstones of their final survivor, and older tombstones of
    them are re-pointed there too (chains stay compressed), in one statement."""
    cte, params = values_cte("m", Profile, ["id", "merged_into"], final.items())
    table = Profile._meta.db_table
    sql = (
        f"WITH {cte} UPDATE {table} SET merged_into_id = m.merged_into_id,"  # noqa: S608 - names from metadata
        f" merged_at = CASE WHEN {table}.id = m.id THEN %s ELSE {table}.merged_at END, updated_at = %s"
        f" FROM m WHERE ({table}.id = m.id OR {table}.merged_into_id = m.id) AND {table}.{TENANT_RECHECKED}"
    )
    field = Profile._meta.get_field("merged_at")
    stamp = field.get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, stamp, stamp, tenant_id])


def profiles_apply(
    *,
    tenant_id: int,
    steps: Sequence[MergeStep | AttributeStep],
    touched: Sequence[uuid.UUID] = (),
) -> Applied:
    """Apply merges and attribute updates in their order, set-based.

    The caller (the identity resolver) runs this inside its transaction, holds row locks
    on every profile of `steps` and has already moved the merged profiles' identifiers.
    `touched`: live profiles whose `updated_at` moves anyway (an identifier was attached)."""
    applied = Applied()
    if not steps and not touched:
        return applied
    now = timezone.now()
    state = _read_attributes(tenant_id=tenant_id, steps=steps)
    original = {
        row.pk: (profile_id, row.value, row.occurred_at, row.source)
        for profile_id, rows in state.items()
        for row in rows.values()
        if row.pk is not None
    }
    merges: list[tuple[MergeStep, list[str], list[dict[str, Any]]]] = []
    undo: dict[uuid.UUID, dict[str, Any]] = {}
    changed_profiles: set[uuid.UUID] = set(touched)
    for step in steps:
        if isinstance(step, MergeStep):
            undo[step.merged_id] = {
                "version": UNDO_VERSION,
                "survivorAttributes": _snapshot(state.get(step.survivor_id)),
                "mergedAttributes": _snapshot(state.get(step.merged_id)),
                "survivorIdentifiers": [dict(item) for item in step.survivor_identifiers],
            }
            taken, lost = _merge_attributes(state, step)
            merges.append((step, taken, lost))
            changed_profiles.add(step.survivor_id)
        else:
            changed = _attributes_step(state, step)
            applied.changed.append(changed)
            if changed:
                changed_profiles.add(step.profile_id)
    _attributes_write(tenant_id=tenant_id, original=original, state=state, now=now)

    if merges:
        final = _merges_write(tenant_id=tenant_id, merges=merges, undo=undo, now=now)
        changed_profiles -= set(final)
        applied.merges = len(merges)
    if changed_profiles:
        _updated_write(tenant_id=tenant_id, profile_ids=changed_profiles, now=now)
    return applied


def _merges_write(
    *,
    tenant_id: int,
    merges: Sequence[tuple[MergeStep, list[str], list[dict[str, Any]]]],
    undo: dict[uuid.UUID, dict[str, Any]],
    now: dt.datetime,
) -> dict[uuid.UUID, uuid.UUID]:
    """The merges of the batch after their attributes: the other apps' rows move (the merge
    handlers, in key order), the merged profiles become tombstones and each merge gets its
    ledger row. Returns merged profile -> final survivor."""
    pairs = [(step.merged_id, step.survivor_id) for step, _, _ in merges]
    counts: dict[uuid.UUID, dict[str, int]] = {
        step.merged_id: {"identifiers": len(step.moved_identifiers), "attributes": len(taken)}
        for step, taken, _ in merges
    }
    for merged_id, tombstones in _tombstones_before(tenant_id=tenant_id, pairs=pairs).items():
        undo[merged_id]["tombstones"] = tombstones
    for key in sorted(_handlers):
        for merged_id, moved in (_handlers[key](tenant_id=tenant_id, pairs=pairs) or {}).items():
            target = counts[merged_id]
            for name, count in moved.items():
                if isinstance(count, int):
                    target[name] = target.get(name, 0) + count
                else:  # the detail a revert needs, e.g. the moved endpoints and their flags
                    undo[merged_id][name] = count
    final = merge_final_survivors(pairs)
    _tombstones_write(tenant_id=tenant_id, final=final, now=now)
    merged_count = len(merges)
    transaction.on_commit(lambda: MERGES.inc(merged_count))  # counted when (and if) they commit
    # The ledger rows go in with COPY: no model instances, no client-side parameters.
    rows_insert(
        MergeLedgerEntry,
        LEDGER_COLUMNS,
        [
            (
                tenant_id,
                now,
                step.survivor_id,
                step.merged_id,
                step.rule,
                step.matched_by or "",
                step.identifier_type,
                step.identifier_value,
                step.trigger[:512],
                step.source[:63],
                counts[step.merged_id],
                [dict(item) for item in step.moved_identifiers],
                taken,
                lost,
                undo[step.merged_id],
            )
            for step, taken, lost in merges
        ],
    )
    return final


def _updated_write(*, tenant_id: int, profile_ids: Collection[uuid.UUID], now: dt.datetime) -> None:
    """`updated_at` of many profiles in one statement (the ids as one array on PostgreSQL,
    joined as a set: see `profiles_lock_states`)."""
    stamp = Profile._meta.get_field("updated_at").get_db_prep_value(now, connection)
    table = Profile._meta.db_table
    if connection.vendor == "postgresql":
        with prepared_cursor(connection) as cursor:
            cursor.execute(
                f"UPDATE {table} SET updated_at = %s FROM unnest(%s::uuid[]) AS u(id)"  # noqa: S608 - names from metadata
                f" WHERE {table}.id = u.id AND {table}.{TENANT_RECHECKED}",
                [stamp, array_literal(sorted(profile_ids)), tenant_id],
            )
        return
    condition, params = ids_in(Profile, "id", sorted(profile_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET updated_at = %s WHERE tenant_id = %s AND {condition}",  # noqa: S608 - names from metadata
            [stamp, tenant_id, *params],
        )


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
    survivor_identifiers: Sequence[Mapping[str, str]] = (),
) -> None:
    """Merge `merged_id` into `survivor_id` and append the ledger entry: `profiles_apply`
    with one merge. The caller (the identity resolver) runs this inside its transaction,
    holds row locks on both profiles and has already moved the merged profile's identifiers."""
    step = MergeStep(
        merged_id=merged_id,
        survivor_id=survivor_id,
        rule=rule,
        matched_by=matched_by,
        identifier_type=identifier_type,
        identifier_value=identifier_value,
        trigger=trigger,
        source=source,
        moved_identifiers=tuple(moved_identifiers),
        survivor_identifiers=tuple(survivor_identifiers),
    )
    profiles_apply(tenant_id=tenant_id, steps=[step])
