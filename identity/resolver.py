"""Identity resolution (DESIGN.md §3, §4, §8): one identity map in, one live profile and
the explanation of the decision out. Deterministic: the same input against the same
state gives the same result, every time."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q
from django.db.models.functions import Greatest, Least
from django.utils import timezone

from cdp_project.core.errors import FieldProblem, ProblemError, unprocessable
from profiles.locks import profiles_lock
from profiles.merging import profile_merge
from profiles.models import MergeLedgerEntry, Profile
from tenants.models import Tenant

from .locks import identifier_keys_lock, identifier_keys_lock_many
from .models import Identifier, IdentityConflict
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
) -> Plan:
    """DESIGN.md §3 as a pure function.

    values: type -> normalized value; owners: type -> live owner profile (matched types only);
    externals: owner profile -> the EXTERNAL value it holds, if any."""
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
        if owner in refused or (owner_external is not None and primary_external not in (None, owner_external)):
            refused.add(owner)
            conflicts.append(
                Conflict(
                    type=type,
                    value=values[type],
                    owner_profile_id=owner,
                    reason=IdentityConflict.REASON_DIFFERENT_EXTERNAL,
                )
            )
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
    if identity.problems:
        raise unprocessable(
            "invalid_identity",
            "Invalid identity",
            f"{len(identity.problems)} problem(s) in identity",
            identity.problems,
        )
    if not values:
        detail = "identity holds no usable identifier"
        raise unprocessable(
            "invalid_identity", "Invalid identity", detail, [FieldProblem("/identity", "no_usable_identifier", detail)]
        )
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
        raise ProblemError(
            code="busy",
            title="Service busy",
            status=503,
            detail="The identity kept changing under concurrent merges; retry.",
            headers={"Retry-After": "1"},
        )

    externals = _read_externals(tenant=tenant, owner_ids={row.profile_id for row in found.values()})
    owners = {type: row.profile_id for type, row in found.items()}
    plan = resolution_plan(values=values, owners=owners, externals=externals)
    extra = {"rule": plan.rule}
    if dry_run:
        return Resolution(
            profile_id=plan.primary_id,
            matched_by=plan.matched_by,
            created_profile=plan.primary_id is None,
            merged_profiles=tuple(owner for owner, _ in plan.merges),
            attached=plan.attach,
            conflicts=plan.conflicts,
            ignored=identity.ignored,
            extra=extra,
        )
    primary_id = _apply(
        tenant=tenant, values=values, found=found, plan=plan, occurred_at=occurred_at, source=source, trigger=trigger
    )
    return Resolution(
        profile_id=primary_id,
        matched_by=plan.matched_by,
        created_profile=plan.primary_id is None,
        merged_profiles=tuple(owner for owner, _ in plan.merges),
        attached=plan.attach,
        conflicts=plan.conflicts,
        ignored=identity.ignored,
        extra=extra,
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
        primary_id = Profile.objects.create(tenant=tenant).pk
    else:
        primary_id = plan.primary_id

    for merged_id, type in plan.merges:
        moving = Identifier.objects.filter(tenant=tenant, profile_id=merged_id)
        moved_identifiers = list(moving.order_by("type", "value").values("type", "value"))
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

    for conflict in plan.conflicts:
        _conflict_record(
            tenant=tenant, conflict=conflict, primary_id=primary_id, trigger=trigger, source=source, now=now
        )

    if plan.primary_id is not None and (plan.attach and not plan.merges):
        Profile.objects.filter(pk=primary_id).update(updated_at=now)
    return primary_id


def _conflict_record(
    *, tenant: Tenant, conflict: Conflict, primary_id: uuid.UUID, trigger: str, source: str, now: dt.datetime
) -> None:
    # The advisory lock on this identifier key serializes writers of this row on PostgreSQL.
    key = {
        "tenant": tenant,
        "identifier_type": conflict.type,
        "identifier_value": conflict.value,
        "owner_profile_id": conflict.owner_profile_id,
        "primary_profile_id": primary_id,
    }
    row = IdentityConflict.objects.filter(**key).first()
    if row is None:
        IdentityConflict.objects.create(
            **key, reason=conflict.reason, trigger=trigger[:512], source=source[:63], last_seen_at=now
        )
        return
    row.occurrences += 1
    row.trigger, row.source, row.last_seen_at = trigger[:512], source[:63], now
    row.reviewed_at, row.reviewed_by = None, ""  # it happened again: review it again
    row.save(update_fields=["occurrences", "trigger", "source", "last_seen_at", "reviewed_at", "reviewed_by"])


@dataclass(frozen=True)
class ResolveRequest:
    """One identity map of a batch, with what the ledger needs to explain it."""

    identity: NormalizedIdentity
    occurred_at: dt.datetime
    source: str
    trigger: str


def identities_resolve(*, tenant: Tenant, requests: Sequence[ResolveRequest]) -> list[Resolution]:
    """Resolve many identity maps in order, inside the caller's transaction, with the same
    results as calling `identity_resolve` for each in turn.

    Set-based for the common case: the advisory locks of every identifier in the batch are
    taken up front in one sorted pass, the owners are read in one query and their rows
    locked in one `SELECT … FOR UPDATE ORDER BY id`; a map whose identifiers all belong to
    one live profile then resolves in memory (its identifiers' first/last seen are written
    in one statement at the end). Only maps that create, claim, attach or merge go through
    `identity_resolve` one by one; the owner cache is refreshed after each of them."""
    if not requests:
        return []
    if not connection.in_atomic_block:
        raise RuntimeError("identities_resolve must run inside the caller's transaction.atomic()")
    pairs = {(type, value) for request in requests for type, value in request.identity.values.items()}
    identifier_keys_lock_many(tenant_id=tenant.pk, pairs=pairs)

    cache: dict[tuple[str, str], Identifier] = {}
    for _ in range(MAX_RECHECKS):
        cache = _read_pairs(tenant=tenant, pairs=pairs)
        owner_ids = {row.profile_id for row in cache.values()}
        locked = profiles_lock(tenant_id=tenant.pk, profile_ids=owner_ids)
        # With every key of the batch locked, identifiers only move by a merge, which turns
        # their old owner into a tombstone: owners that are all live and locked are current.
        if len(locked) == len(owner_ids) and all(profile.merged_into_id is None for profile in locked):
            break
    else:
        raise ProblemError(
            code="busy",
            title="Service busy",
            status=503,
            detail="The identities kept changing under concurrent merges; retry.",
            headers={"Retry-After": "1"},
        )

    # Identifiers whose first/last seen move, keyed by (type, value), written at the end.
    seen: dict[tuple[str, str], tuple[dt.datetime, dt.datetime]] = {}
    # Profiles made by this batch for maps nobody owned, inserted together before any
    # one-by-one resolution needs to see them, and at the end.
    new_profiles: list[Profile] = []
    new_identifiers: list[Identifier] = []

    def flush_new() -> None:
        if new_profiles:
            Profile.objects.bulk_create(new_profiles)
            Identifier.objects.bulk_create(new_identifiers)
            new_profiles.clear()
            new_identifiers.clear()

    results: list[Resolution] = []
    for request in requests:
        values = request.identity.values
        keys = [(t, v) for t, v in values.items()]
        owned = [key for key in keys if key in cache]
        owners = {cache[key].profile_id for key in owned}
        if keys and len(owned) == len(keys) and len(owners) == 1:
            # Every identifier already belongs to the same live profile: nothing to decide.
            (profile_id,) = owners
            for key in keys:
                row = cache[key]
                first, last = seen.get(key, (row.first_seen_at, row.last_seen_at))
                seen[key] = (min(first, request.occurred_at), max(last, request.occurred_at))
            results.append(
                Resolution(
                    profile_id=profile_id,
                    matched_by=next(t for t in IDENTIFIER_TYPES if t in values),
                    created_profile=False,
                    ignored=request.identity.ignored,
                    extra={
                        "rule": MergeLedgerEntry.RULE_EXTERNAL_OWNER
                        if "EXTERNAL" in values
                        else MergeLedgerEntry.RULE_PRECEDENCE
                    },
                )
            )
            continue
        if keys and not owned:
            # Nobody owns any identifier of the map: a new profile holding all of them.
            profile = Profile(tenant=tenant)
            new_profiles.append(profile)
            for type, value in keys:
                row = Identifier(
                    tenant=tenant,
                    profile_id=profile.pk,
                    type=type,
                    value=value,
                    source=request.source[:63],
                    first_seen_at=request.occurred_at,
                    last_seen_at=request.occurred_at,
                )
                new_identifiers.append(row)
                cache[(type, value)] = row
            results.append(
                Resolution(
                    profile_id=profile.pk,
                    matched_by=None,
                    created_profile=True,
                    attached=tuple(t for t in IDENTIFIER_TYPES if t in values),
                    ignored=request.identity.ignored,
                    extra={
                        "rule": MergeLedgerEntry.RULE_NEW_PROFILE if "EXTERNAL" in values else MergeLedgerEntry.RULE_NEW
                    },
                )
            )
            continue
        flush_new()
        resolution = identity_resolve(
            tenant=tenant,
            identity=request.identity,
            occurred_at=request.occurred_at,
            source=request.source,
            trigger=request.trigger,
        )
        results.append(resolution)
        # Merges moved whole profiles' identifiers; attaches and creations added some.
        merged = set(resolution.merged_profiles)
        if merged:
            for row in cache.values():
                if row.profile_id in merged:
                    row.profile_id = resolution.profile_id
        cache.update(_read_pairs(tenant=tenant, pairs=set(keys)))
    flush_new()
    _seen_write(tenant=tenant, cache=cache, seen=seen)
    return results


def _seen_write(
    *,
    tenant: Tenant,
    cache: Mapping[tuple[str, str], Identifier],
    seen: Mapping[tuple[str, str], tuple[dt.datetime, dt.datetime]],
) -> None:
    """Move first/last seen of many identifiers in one statement."""
    changed = []
    for key, (first, last) in seen.items():
        row = cache[key]
        if first < row.first_seen_at or last > row.last_seen_at:
            row.first_seen_at, row.last_seen_at = min(first, row.first_seen_at), max(last, row.last_seen_at)
            changed.append(row)
    if not changed:
        return
    if connection.vendor != "postgresql":
        Identifier.objects.bulk_update(changed, ["first_seen_at", "last_seen_at"])
        return
    # GREATEST/LEAST keep a concurrent writer's later value; the VALUES join is one statement.
    rows = ", ".join(["(%s, %s::timestamptz, %s::timestamptz)"] * len(changed))
    params: list[object] = []
    for row in changed:
        params += [row.pk, row.first_seen_at, row.last_seen_at]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE identity_identifier AS i SET first_seen_at = LEAST(i.first_seen_at, v.f), "  # noqa: S608
            "last_seen_at = GREATEST(i.last_seen_at, v.l) "
            f"FROM (VALUES {rows}) AS v(id, f, l) WHERE i.id = v.id AND i.tenant_id = %s",
            [*params, tenant.pk],
        )


def _read_pairs(*, tenant: Tenant, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Identifier]:
    """The identifiers of many (type, value) pairs, in one query: the unique index
    `(tenant, type, value)` answers `type = ANY(...) AND value = ANY(...)`."""
    if not pairs:
        return {}
    types = {type for type, _ in pairs}
    values = {value for _, value in pairs}
    rows = Identifier.objects.filter(tenant=tenant, type__in=types, value__in=values)
    return {(row.type, row.value): row for row in rows if (row.type, row.value) in pairs}
