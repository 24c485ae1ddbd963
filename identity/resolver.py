"""Identity resolution (DESIGN.md §3, §4, §8): one identity map in, one live profile and
the explanation of the decision out. Deterministic: the same input against the same
state gives the same result, every time."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from django.db import connection
from django.db.models import Q
from django.db.models.functions import Greatest, Least
from django.utils import timezone

from cdp_project.core.bulk import TENANT_RECHECKED, array_literal, rows_insert, statements_pipelined, values_cte
from cdp_project.core.compiled import prepared_cursor
from cdp_project.core.errors import FieldProblem, Problem, busy
from profiles.locks import profiles_lock, profiles_lock_states
from profiles.merging import AttributeStep, MergeStep, profile_merge, profiles_apply
from profiles.models import MergeLedgerEntry, Profile
from profiles.services import profile_create, profile_touch, profiles_create
from tenants.models import Tenant

from .locks import identifier_keys_lock, identifier_keys_lock_many
from .models import Identifier, IdentityConflict, MergeBlock
from .types import IDENTIFIER_TYPES, Conflict, NormalizedIdentity, Resolution

# A concurrent merge can turn a profile we read into a tombstone before we lock it;
# we then read again. Each round needs a concurrent commit, so a few suffice.
MAX_RECHECKS = 8


@dataclass(frozen=True)
class Plan:
    """What resolution will do, decided from the current owners alone (a pure function)."""

    primary_id: uuid.UUID | None  # None: a new profile
    matched_by: str | None
    rule: str
    merges: tuple[tuple[uuid.UUID, str], ...]  # (merged profile, the identifier type that matched it)
    attach: tuple[str, ...]
    conflicts: tuple[Conflict, ...]


def resolution_plan(
    *,
    values: Mapping[str, str],
    owners: Mapping[str, uuid.UUID],
    externals: Mapping[uuid.UUID, str | None],
    blocked: Collection[frozenset[uuid.UUID]] = (),
) -> Plan:
    """DESIGN.md §3 as a pure function.

    values: type -> normalized value; owners: type -> live owner profile (matched types only);
    externals: owner profile -> the EXTERNAL value it holds, if any; blocked: pairs of live
    profiles whose merge was reverted (never merged again: refused like two EXTERNAL ids)."""
    matched = [(t, owners[t]) for t in IDENTIFIER_TYPES if t in values and t in owners]
    external = values.get("EXTERNAL")
    primary: uuid.UUID | None
    if external is not None:
        if "EXTERNAL" in owners:
            primary, matched_by, rule = owners["EXTERNAL"], "EXTERNAL", MergeLedgerEntry.RULE_EXTERNAL_OWNER
        elif matched and externals.get(matched[0][1]) is None:
            primary, matched_by, rule = matched[0][1], matched[0][0], MergeLedgerEntry.RULE_CLAIMED
        else:
            primary, matched_by, rule = None, None, MergeLedgerEntry.RULE_NEW_PROFILE
        primary_external: str | None = external
    elif matched:
        primary, matched_by, rule = matched[0][1], matched[0][0], MergeLedgerEntry.RULE_PRECEDENCE
        primary_external = externals.get(primary)
    else:
        primary, matched_by, rule, primary_external = None, None, MergeLedgerEntry.RULE_NEW, None

    merges: list[tuple[uuid.UUID, str]] = []
    merged: set[uuid.UUID] = set()
    refused: set[uuid.UUID] = set()
    conflicts: list[Conflict] = []
    for type, owner in matched:  # precedence order decides which merge happens first
        if owner == primary or owner in merged:
            continue
        owner_external = externals.get(owner)
        reason = None
        if owner in refused or (owner_external is not None and primary_external not in (None, owner_external)):
            reason = IdentityConflict.REASON_DIFFERENT_EXTERNAL
        # A reverted merge keeps the two families apart, whichever of them the primary grew from.
        if blocked and any(frozenset((member, owner)) in blocked for member in (primary, *merged)):
            reason = reason or IdentityConflict.REASON_REVERTED_MERGE
        if reason is not None:
            refused.add(owner)
            conflicts.append(Conflict(type=type, value=values[type], owner_profile_id=owner, reason=reason))
            continue
        merges.append((owner, type))
        merged.add(owner)
        if owner_external is not None:
            primary_external = owner_external
    attach = tuple(t for t in IDENTIFIER_TYPES if t in values and t not in owners)
    return Plan(
        primary_id=primary,
        matched_by=matched_by,
        rule=rule,
        merges=tuple(merges),
        attach=attach,
        conflicts=tuple(conflicts),
    )


def _values_filter(values: Mapping[str, str]) -> Q:
    condition = Q()
    for type, value in values.items():
        condition |= Q(type=type, value=value)
    return condition


def _read_owners(*, tenant: Tenant, values: Mapping[str, str]) -> dict[str, Identifier]:
    return {row.type: row for row in Identifier.objects.filter(_values_filter(values), tenant=tenant)}


def _read_externals(*, tenant: Tenant, owner_ids: set[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    externals: dict[uuid.UUID, str | None] = dict.fromkeys(owner_ids)
    if owner_ids:
        rows = Identifier.objects.filter(tenant=tenant, type="EXTERNAL", profile_id__in=owner_ids)
        externals.update(rows.values_list("profile_id", "value"))
    return externals


def _read_held(*, tenant: Tenant, owner_ids: set[uuid.UUID]) -> dict[uuid.UUID, set[tuple[str, str]]]:
    """Every identifier the profiles hold, in one query (index `(tenant, profile)`)."""
    held: dict[uuid.UUID, set[tuple[str, str]]] = {pid: set() for pid in owner_ids}
    if not owner_ids:
        return held
    if connection.vendor != "postgresql":
        rows = Identifier.objects.filter(tenant=tenant, profile_id__in=owner_ids).values_list(
            "profile_id", "type", "value"
        )
    else:
        with prepared_cursor(connection) as cursor:
            cursor.execute(
                "SELECT profile_id, type, value FROM identity_identifier"  # noqa: S608 - a constant of ours
                f" WHERE profile_id = ANY(%s::uuid[]) AND {TENANT_RECHECKED}",
                [array_literal(sorted(owner_ids)), tenant.pk],
            )
            rows = cursor.fetchall()
    for profile_id, type, value in rows:
        held[profile_id].add((type, value))
    return held


def merge_blocks_among(*, tenant_id: int, profile_ids: Collection[uuid.UUID]) -> set[frozenset[uuid.UUID]]:
    """The reverted-merge blocks between live profiles of `profile_ids`, in one query: each
    side of a block is followed to the live profile its family ends in now."""
    if len(profile_ids) < 2:
        return set()
    live = "COALESCE({0}.merged_into_id, {0}.id)"
    profile_table, block_table = Profile._meta.db_table, MergeBlock._meta.db_table
    ids = sorted(profile_ids)
    field = Profile._meta.get_field("id")
    if connection.vendor == "postgresql":
        params: list[object] = [array_literal(ids)] * 2
        marks = "SELECT unnest(%s::uuid[])"
    else:
        params = [field.get_db_prep_value(pid, connection) for pid in ids] * 2
        marks = ", ".join(["%s"] * len(ids))
    sql = (
        f"SELECT {live.format('pa')}, {live.format('pb')} FROM {block_table} b"  # noqa: S608 - names from metadata
        f" JOIN {profile_table} pa ON pa.id = b.profile_a JOIN {profile_table} pb ON pb.id = b.profile_b"
        f" WHERE b.tenant_id = %s AND {live.format('pa')} IN ({marks}) AND {live.format('pb')} IN ({marks})"
    )
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [tenant_id, *params])
        rows = cursor.fetchall()
    return {frozenset((field.to_python(a), field.to_python(b))) for a, b in rows if a != b}


def identity_resolve(
    *,
    tenant: Tenant,
    identity: NormalizedIdentity,
    occurred_at: dt.datetime,
    source: str,
    trigger: str,
    dry_run: bool = False,
) -> Resolution:
    """Resolve an identity map to one live profile: create, claim, merge and attach as
    DESIGN.md §3/§4 say, record refused merges as conflicts, and explain it all.

    Runs inside the caller's `transaction.atomic()`, so the caller's effects and the
    resolution commit together; takes the §8 locks (identifier keys, then profile rows by
    id) and keeps them until that transaction ends. Wrap the caller's transaction in
    `run_with_retries`. With `dry_run=True` nothing is written or locked and the same
    explanation is returned (`profile_id` None when a profile would be created)."""
    values = dict(identity.values)
    _check_usable(identity)
    if not dry_run:
        if not connection.in_atomic_block:
            raise RuntimeError("identity_resolve must run inside the caller's transaction.atomic()")
        identifier_keys_lock(tenant_id=tenant.pk, values=values)

    for _ in range(MAX_RECHECKS):
        found = _read_owners(tenant=tenant, values=values)
        owner_ids = {row.profile_id for row in found.values()}
        if dry_run or not owner_ids:
            break  # with no owner, our advisory locks already keep every identifier of the map ours
        locked = profiles_lock(tenant_id=tenant.pk, profile_ids=owner_ids)
        if len(locked) == len(owner_ids) and all(profile.merged_into_id is None for profile in locked):
            # Locked and live. A merge may have moved one of our identifiers between the read
            # and the lock: read again; once the owners hold still, they cannot change any more.
            again = _read_owners(tenant=tenant, values=values)
            if {t: r.profile_id for t, r in again.items()} == {t: r.profile_id for t, r in found.items()}:
                found = again
                break
    else:
        raise busy("The identity kept changing under concurrent merges; retry.")

    externals = _read_externals(tenant=tenant, owner_ids={row.profile_id for row in found.values()})
    owners = {type: row.profile_id for type, row in found.items()}
    plan = resolution_plan(values=values, owners=owners, externals=externals)
    if plan.merges:  # only a possible merge can meet a reverted one
        involved = {owner for owner, _ in plan.merges} | ({plan.primary_id} if plan.primary_id else set())
        blocked = merge_blocks_among(tenant_id=tenant.pk, profile_ids=involved)
        if blocked:
            plan = resolution_plan(values=values, owners=owners, externals=externals, blocked=blocked)
    if dry_run:
        return _resolution(plan, plan.primary_id, identity)
    primary_id = _apply(
        tenant=tenant, values=values, found=found, plan=plan, occurred_at=occurred_at, source=source, trigger=trigger
    )
    return _resolution(plan, primary_id, identity)


def _resolution(plan: Plan, profile_id: uuid.UUID | None, identity: NormalizedIdentity) -> Resolution:
    return Resolution(
        profile_id=profile_id,
        matched_by=plan.matched_by,
        created_profile=plan.primary_id is None,
        merged_profiles=tuple(owner for owner, _ in plan.merges),
        attached=plan.attach,
        conflicts=plan.conflicts,
        ignored=identity.ignored,
        extra={"rule": plan.rule},
    )


def _apply(
    *,
    tenant: Tenant,
    values: Mapping[str, str],
    found: Mapping[str, Identifier],
    plan: Plan,
    occurred_at: dt.datetime,
    source: str,
    trigger: str,
) -> uuid.UUID:
    now = timezone.now()
    if plan.primary_id is None:
        primary_id = profile_create(tenant_id=tenant.pk)
    else:
        primary_id = plan.primary_id

    for merged_id, type in plan.merges:
        moving = Identifier.objects.filter(tenant=tenant, profile_id=merged_id)
        moved_identifiers = list(moving.order_by("type", "value").values("type", "value"))
        kept = Identifier.objects.filter(tenant=tenant, profile_id=primary_id).order_by("type", "value")
        survivor_identifiers = list(kept.values("type", "value"))
        moving.update(profile_id=primary_id)
        profile_merge(
            tenant_id=tenant.pk,
            survivor_id=primary_id,
            merged_id=merged_id,
            rule=plan.rule,
            matched_by=plan.matched_by,
            identifier_type=type,
            identifier_value=values[type],
            trigger=trigger,
            source=source,
            moved_identifiers=moved_identifiers,
            survivor_identifiers=survivor_identifiers,
        )

    if plan.attach:
        Identifier.objects.bulk_create(
            [
                Identifier(
                    tenant=tenant,
                    profile_id=primary_id,
                    type=type,
                    value=values[type],
                    source=source[:63],
                    first_seen_at=occurred_at,
                    last_seen_at=occurred_at,
                )
                for type in plan.attach
            ]
        )

    seen_ids = [row.pk for row in found.values()]
    if seen_ids:
        Identifier.objects.filter(pk__in=seen_ids).filter(
            Q(last_seen_at__lt=occurred_at) | Q(first_seen_at__gt=occurred_at)
        ).update(
            last_seen_at=Greatest("last_seen_at", occurred_at),
            first_seen_at=Least("first_seen_at", occurred_at),
        )

    _conflicts_write(
        tenant=tenant, conflicts=[(conflict, primary_id, trigger, source) for conflict in plan.conflicts], now=now
    )

    if plan.primary_id is not None and (plan.attach and not plan.merges):
        profile_touch(profile_id=primary_id, now=now)
    return primary_id


def _conflicts_write(
    *,
    tenant: Tenant,
    conflicts: Sequence[tuple[Conflict, uuid.UUID, str, str]],
    now: dt.datetime,
) -> None:
    """Record refused merges, in one upsert for all of them: one row per (identifier,
    owner, primary), counted on every repetition, with the latest trigger and source; a
    repetition makes a reviewed conflict unreviewed again. The advisory locks on the
    identifier keys serialize writers of these rows on PostgreSQL."""
    if not conflicts:
        return
    rows: dict[tuple[str, str, uuid.UUID, uuid.UUID], list] = {}
    for conflict, primary_id, trigger, source in conflicts:
        key = (conflict.type, conflict.value, conflict.owner_profile_id, primary_id)
        if key in rows:
            rows[key][1] += 1
            rows[key][2], rows[key][3] = trigger[:512], source[:63]
        else:
            rows[key] = [conflict.reason, 1, trigger[:512], source[:63]]
    ordered = sorted(rows.items(), key=lambda item: (item[0][0], item[0][1], str(item[0][2]), str(item[0][3])))
    cte, params = values_cte(
        "c",
        IdentityConflict,
        ["identifier_type", "identifier_value", "owner_profile_id", "primary_profile_id", "reason", "occurrences",
         "trigger", "source"],
        [(*key, *rest) for key, rest in ordered],
    )  # fmt: skip
    table = IdentityConflict._meta.db_table
    stamp = IdentityConflict._meta.get_field("last_seen_at").get_db_prep_value(now, connection)
    with prepared_cursor(connection) as cursor:
        cursor.execute(
            f"WITH {cte} INSERT INTO {table} (tenant_id, identifier_type, identifier_value, owner_profile_id,"  # noqa: S608
            " primary_profile_id, reason, occurrences, trigger, source, first_seen_at, last_seen_at, reviewed_by)"
            " SELECT %s, c.identifier_type, c.identifier_value, c.owner_profile_id, c.primary_profile_id, c.reason,"
            " c.occurrences, c.trigger, c.source, %s, %s, '' FROM c WHERE true"
            " ON CONFLICT (tenant_id, identifier_type, identifier_value, owner_profile_id, primary_profile_id)"
            f" DO UPDATE SET occurrences = {table}.occurrences + excluded.occurrences, trigger = excluded.trigger,"
            " source = excluded.source, last_seen_at = excluded.last_seen_at, reviewed_at = NULL, reviewed_by = ''",
            [*params, tenant.pk, stamp, stamp],
        )


@dataclass(frozen=True)
class ResolveRequest:
    """One identity map of a batch, with what the ledger needs to explain it. A profile
    update also carries its attributes: they apply to the resolved profile right after
    its map resolved, before the next map of the batch."""

    identity: NormalizedIdentity
    occurred_at: dt.datetime
    source: str
    trigger: str
    attributes: Mapping[str, object] | None = None


@dataclass
class _Batch:
    """The state of a batch resolution in memory: who owns each identifier of the batch,
    what each profile's EXTERNAL is, and everything to write at the end."""

    owner: dict[tuple[str, str], uuid.UUID]
    held: dict[uuid.UUID, set[tuple[str, str]]]
    externals: dict[uuid.UUID, str | None]
    new_profiles: list[uuid.UUID] = field(default_factory=list)
    new_rows: dict[tuple[str, str], list] = field(default_factory=dict)  # key -> [profile, source, first, last]
    seen: dict[tuple[str, str], tuple[dt.datetime, dt.datetime]] = field(default_factory=dict)
    merged_into: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    # In order: ("merge", merged, survivor, step fields) / ("attach", profile, key) / AttributeStep
    log: list = field(default_factory=list)
    conflicts: list[tuple[Conflict, uuid.UUID, str, str]] = field(default_factory=list)
    touched: set[uuid.UUID] = field(default_factory=set)
    stored: dict[uuid.UUID, set[tuple[str, str]]] = field(default_factory=dict)  # owners' stored identifiers
    blocked: set[frozenset[uuid.UUID]] = field(default_factory=set)  # reverted merges, between live profiles

    def final(self, profile_id: uuid.UUID) -> uuid.UUID:
        hops = 0
        while profile_id in self.merged_into and hops <= len(self.merged_into):
            profile_id = self.merged_into[profile_id]
            hops += 1
        return profile_id


def identities_resolve(*, tenant: Tenant, requests: Sequence[ResolveRequest]) -> list[Resolution]:
    """Resolve many identity maps in order, inside the caller's transaction, with the same
    results as calling `identity_resolve` for each in turn (and applying each request's
    attributes right after it).

    Set-based whatever the batch holds: the advisory locks of every identifier in the
    batch are taken up front in one sorted statement, the owners are read in one query
    and their rows locked in one `SELECT … FOR UPDATE ORDER BY id` (DESIGN.md §8). With
    every key locked, identifiers only move by our own merges, so every map is then
    decided in memory by the pure `resolution_plan`, in order, each seeing the merges,
    creations and attaches of the maps before it. The outcome is written with a constant
    number of statements: new profiles, new identifiers, moved identifiers, first/last
    seen, and `profiles_apply` for attributes, merge handlers, tombstones and the ledger."""
    if not requests:
        return []
    if not connection.in_atomic_block:
        raise RuntimeError("identities_resolve must run inside the caller's transaction.atomic()")
    for request in requests:
        _check_usable(request.identity)
    pairs = {(type, value) for request in requests for type, value in request.identity.values.items()}
    with statements_pipelined():  # the locks travel with the first read, which runs once they are held
        identifier_keys_lock_many(tenant_id=tenant.pk, pairs=pairs)
        cache = _read_pairs(tenant=tenant, pairs=pairs)
    for attempt in range(MAX_RECHECKS):
        if attempt:
            cache = _read_pairs(tenant=tenant, pairs=pairs)
        owner_ids = {row.profile_id for row in cache.values()}
        locked = profiles_lock_states(tenant_id=tenant.pk, profile_ids=owner_ids)
        # With every key of the batch locked, identifiers only move by a merge, which turns
        # their old owner into a tombstone: owners that are all live and locked are current.
        if len(locked) == len(owner_ids) and all(into is None for into in locked.values()):
            break
    else:
        raise busy("The identities kept changing under concurrent merges; retry.")

    # Everything the owners hold, read once under their locks: their EXTERNAL ids decide,
    # and what a merged profile and its survivor held goes into the merge's ledger entry.
    stored = _read_held(tenant=tenant, owner_ids=owner_ids)
    externals: dict[uuid.UUID, str | None] = dict.fromkeys(owner_ids)
    for profile_id, keys in stored.items():
        for type, value in keys:
            if type == "EXTERNAL":
                externals[profile_id] = value
    batch = _Batch(
        owner={key: row.profile_id for key, row in cache.items()},
        held={},
        externals=externals,
        stored=stored,
        blocked=merge_blocks_among(tenant_id=tenant.pk, profile_ids=owner_ids),
    )
    for key, row in cache.items():
        batch.held.setdefault(row.profile_id, set()).add(key)
    results = [_decide(batch, cache, request) for request in requests]
    changed = _write(tenant=tenant, batch=batch, cache=cache)
    updates = iter(changed)
    return [
        replace(result, changed_attributes=next(updates)) if request.attributes is not None else result
        for request, result in zip(requests, results, strict=True)
    ]


def _check_usable(identity: NormalizedIdentity) -> None:
    if identity.problems:
        raise Problem.INVALID_IDENTITY.error(f"{len(identity.problems)} problem(s) in identity", identity.problems)
    if not identity.values:
        detail = "identity holds no usable identifier"
        raise Problem.INVALID_IDENTITY.error(detail, [FieldProblem("/identity", "no_usable_identifier", detail)])


def _decide(batch: _Batch, cache: Mapping[tuple[str, str], _Seen], request: ResolveRequest) -> Resolution:
    """One map, as `identity_resolve` would decide and apply it, on the in-memory state."""
    values = request.identity.values
    keys = {type: (type, value) for type, value in values.items()}
    owners = {type: batch.owner[key] for type, key in keys.items() if key in batch.owner}
    plan = resolution_plan(values=values, owners=owners, externals=batch.externals, blocked=batch.blocked)
    if plan.primary_id is None:
        primary = uuid.uuid4()
        batch.new_profiles.append(primary)
        batch.externals[primary] = None
        batch.held[primary] = set()
    else:
        primary = plan.primary_id
    for merged, type in plan.merges:
        moving = batch.held.pop(merged, set())
        for key in moving:
            batch.owner[key] = primary
        batch.held.setdefault(primary, set()).update(moving)
        if batch.externals.get(primary) is None:
            batch.externals[primary] = batch.externals.get(merged)
        batch.merged_into[merged] = primary
        if batch.blocked:  # the primary's family now holds the merged one's blocks too
            batch.blocked = {
                frozenset(primary if member == merged else member for member in pair) for pair in batch.blocked
            }
            batch.blocked = {pair for pair in batch.blocked if len(pair) == 2}
        batch.log.append(("merge", merged, primary, plan, type, values[type], request))
    occurred_at = request.occurred_at
    for type in owners:  # identifiers seen again: first/last seen move
        key = keys[type]
        if key in batch.new_rows:
            row = batch.new_rows[key]
            row[2], row[3] = min(row[2], occurred_at), max(row[3], occurred_at)
        else:
            first, last = batch.seen.get(key, (cache[key].first_seen_at, cache[key].last_seen_at))
            batch.seen[key] = (min(first, occurred_at), max(last, occurred_at))
    for type in plan.attach:
        key = keys[type]
        batch.owner[key] = primary
        batch.held.setdefault(primary, set()).add(key)
        batch.new_rows[key] = [primary, request.source[:63], occurred_at, occurred_at]
        batch.log.append(("attach", primary, key))
        if type == "EXTERNAL":
            batch.externals[primary] = values[type]
    for conflict in plan.conflicts:
        batch.conflicts.append((conflict, primary, request.trigger, request.source))
    if plan.primary_id is not None and plan.attach and not plan.merges:
        batch.touched.add(primary)
    if request.attributes is not None:
        batch.log.append(
            AttributeStep(
                profile_id=primary, attributes=request.attributes, occurred_at=occurred_at, source=request.source
            )
        )
    return _resolution(plan, primary, request.identity)


def _write(*, tenant: Tenant, batch: _Batch, cache: Mapping[tuple[str, str], _Seen]) -> list[tuple[str, ...]]:
    """Write what the batch decided; returns the changed attribute names of each request
    that carried attributes, in order."""
    now = timezone.now()
    new = set(batch.new_profiles)
    merged_existing = [pid for pid in batch.merged_into if pid not in new]
    steps = _steps_of(batch)
    profiles_create(tenant_id=tenant.pk, profile_ids=batch.new_profiles, now=now)
    _identifiers_update(
        tenant=tenant, moves=[(pid, batch.final(pid)) for pid in merged_existing], seen=_seen_changed(cache, batch.seen)
    )
    rows_insert(
        Identifier,
        ["tenant", "profile", "type", "value", "source", "first_seen_at", "last_seen_at", "created_at"],
        [
            (tenant.pk, batch.final(profile_id), type, value, source, first, last, now)
            for (type, value), (profile_id, source, first, last) in batch.new_rows.items()
        ],
    )
    _conflicts_write(
        tenant=tenant,
        conflicts=[
            (conflict, batch.final(primary), trigger, source) for conflict, primary, trigger, source in batch.conflicts
        ],
        now=now,
    )
    applied = profiles_apply(
        tenant_id=tenant.pk, steps=steps, touched=[pid for pid in batch.touched if pid not in batch.merged_into]
    )
    return applied.changed


def _steps_of(batch: _Batch) -> list[MergeStep | AttributeStep]:
    """The batch's merges and attribute updates in their order, for profiles_apply; each
    merge carries the identifiers each side held at that moment."""
    # What each profile of a merge holds when it merges: its stored identifiers, plus what
    # earlier merges and attaches of the batch gave it (a revert gives both sides theirs back).
    merging = set(batch.merged_into) | set(batch.merged_into.values())
    holding = {pid: set(batch.stored.get(pid, ())) for pid in merging}
    steps: list[MergeStep | AttributeStep] = []
    for entry in batch.log:
        if isinstance(entry, AttributeStep):
            steps.append(entry)
        elif entry[0] == "attach":
            _, profile_id, key = entry
            if profile_id in holding:
                holding[profile_id].add(key)
        else:
            _, merged, survivor, plan, type, value, request = entry
            moved = sorted(holding.pop(merged, set()))
            kept = sorted(holding.get(survivor, set()))
            if survivor in holding:
                holding[survivor].update(moved)
            steps.append(
                MergeStep(
                    merged_id=merged,
                    survivor_id=survivor,
                    rule=plan.rule,
                    matched_by=plan.matched_by,
                    identifier_type=type,
                    identifier_value=value,
                    trigger=request.trigger,
                    source=request.source,
                    moved_identifiers=tuple({"type": t, "value": v} for t, v in moved),
                    survivor_identifiers=tuple({"type": t, "value": v} for t, v in kept),
                )
            )
    return steps


def _seen_changed(
    cache: Mapping[tuple[str, str], _Seen], seen: Mapping[tuple[str, str], tuple[dt.datetime, dt.datetime]]
) -> list[_Seen]:
    """The stored identifiers whose first or last seen the batch moves, moved in `cache`."""
    changed = []
    for key, (first, last) in seen.items():
        row = cache[key]
        if first < row.first_seen_at or last > row.last_seen_at:
            row.first_seen_at, row.last_seen_at = min(first, row.first_seen_at), max(last, row.last_seen_at)
            changed.append(row)
    return changed


def _identifiers_update(*, tenant: Tenant, moves: Sequence[tuple[uuid.UUID, uuid.UUID]], seen: Sequence[_Seen]) -> None:
    """Move the identifiers of merged profiles to their final survivor and first/last seen
    of `seen`, in one statement on PostgreSQL: an identifier both moved and seen gets one
    new row version, not two (each with an entry in every index, as the move changes an
    indexed column)."""
    if not moves and not seen:
        return
    if connection.vendor != "postgresql":
        if moves:
            cte, params = values_cte("m", Identifier, ["profile", "profile"], moves, aliases=["old_id", "new_id"])
            with connection.cursor() as cursor:
                cursor.execute(
                    f"WITH {cte} UPDATE identity_identifier SET profile_id = m.new_id FROM m"  # noqa: S608
                    " WHERE identity_identifier.tenant_id = %s AND identity_identifier.profile_id = m.old_id",
                    [*params, tenant.pk],
                )
        if seen:
            Identifier.objects.bulk_update(
                [Identifier(pk=r.pk, first_seen_at=r.first_seen_at, last_seen_at=r.last_seen_at) for r in seen],
                ["first_seen_at", "last_seen_at"],
            )
        return
    ordered = sorted(seen, key=lambda row: row.pk)
    # The rows to change: those of a merged profile (by owner) and those seen (by id), each
    # once; GREATEST/LEAST keep a concurrent writer's later seen value.
    with prepared_cursor(connection) as cursor:
        cursor.execute(
            "WITH m(old_id, new_id) AS (SELECT * FROM unnest(%s::uuid[], %s::uuid[])),"  # noqa: S608 - constants of ours
            " s(id, f, l) AS (SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[])),"
            " moved(id, new_id) AS (SELECT i.id, m.new_id FROM identity_identifier i JOIN m"
            f" ON i.profile_id = m.old_id AND i.{TENANT_RECHECKED}),"
            " v(id, new_id, f, l) AS (SELECT COALESCE(moved.id, s.id), moved.new_id, s.f, s.l"
            " FROM moved FULL JOIN s ON s.id = moved.id)"
            " UPDATE identity_identifier AS i SET profile_id = COALESCE(v.new_id, i.profile_id),"
            " first_seen_at = LEAST(i.first_seen_at, COALESCE(v.f, i.first_seen_at)),"
            " last_seen_at = GREATEST(i.last_seen_at, COALESCE(v.l, i.last_seen_at))"
            f" FROM v WHERE i.id = v.id AND i.{TENANT_RECHECKED}",
            [
                array_literal([old for old, _ in moves]),
                array_literal([new for _, new in moves]),
                array_literal([r.pk for r in ordered]),
                array_literal([r.first_seen_at for r in ordered]),
                array_literal([r.last_seen_at for r in ordered]),
                tenant.pk,
                tenant.pk,
            ],
        )


@dataclass(slots=True)
class _Seen:
    """An identifier of the batch as stored: what resolution reads and `_identifiers_update` moves."""

    pk: int
    profile_id: uuid.UUID
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime


def _read_pairs(*, tenant: Tenant, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], _Seen]:
    """The identifiers of many (type, value) pairs, in one query, as plain rows: on
    PostgreSQL the pairs travel as two arrays and each is one probe of the unique index
    `(tenant, type, value)`."""
    if not pairs:
        return {}
    if connection.vendor != "postgresql":
        types = {type for type, _ in pairs}
        values = {value for _, value in pairs}
        rows = Identifier.objects.filter(tenant=tenant, type__in=types, value__in=values).values_list(
            "type", "value", "pk", "profile_id", "first_seen_at", "last_seen_at"
        )
    else:
        ordered = sorted(pairs)
        with prepared_cursor(connection) as cursor:
            cursor.execute(
                "SELECT i.type, i.value, i.id, i.profile_id, i.first_seen_at, i.last_seen_at"
                " FROM unnest(%s::varchar[], %s::varchar[]) AS p(type, value)"
                " JOIN identity_identifier i ON i.tenant_id = %s AND i.type = p.type AND i.value = p.value",
                [array_literal([t for t, _ in ordered]), array_literal([v for _, v in ordered]), tenant.pk],
            )
            rows = cursor.fetchall()
    return {(t, v): _Seen(pk, pid, first, last) for t, v, pk, pid, first, last in rows if (t, v) in pairs}
