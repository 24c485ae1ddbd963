"""Identity resolution (DESIGN.md §3, §4, §8): one identity map in, one live profile and
the explanation of the decision out. Deterministic: the same input against the same
state gives the same result, every time."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
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

from .locks import identifier_keys_lock
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
