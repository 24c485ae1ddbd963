"""Reads of the profiles app."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models
from django.db.models import Count, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import JSONObject, TruncDate

from cdp_project.core.bulk import TENANT_RECHECKED, array_literal, tenant_rechecked
from cdp_project.core.compiled import CompiledQuery, Read, prepared_cursor
from contracts.models import DerivedAttributeDefinition
from contracts.selectors import derived_attribute_statuses, derived_backfilling_exists

from .extensions import profile_sections
from .models import AttributeValue, DerivedValue, MergeLedgerEntry, Profile

# Merges compress chains, so a tombstone normally points straight at a live profile;
# the bound only guards against a corrupted chain.
MAX_CHAIN = 64


def profile_get_live(*, tenant_id: int, profile_id: uuid.UUID) -> tuple[Profile, uuid.UUID | None] | None:
    """The live profile for an id: itself, or the survivor its merges lead to.
    Returns (survivor, requested_id if it was merged away) or None when the tenant has no such profile."""
    profile = Profile.objects.filter(tenant_id=tenant_id, pk=profile_id).first()
    if profile is None:
        return None
    hops = 0
    while profile.merged_into_id is not None and hops < MAX_CHAIN:
        profile = Profile.objects.filter(tenant_id=tenant_id, pk=profile.merged_into_id).first()
        if profile is None:
            return None
        hops += 1
    if profile.merged_into_id is not None:
        return None
    return profile, (profile_id if profile.pk != profile_id else None)


@dataclass(frozen=True)
class ProfileDetail:
    profile: Profile
    requested_id: uuid.UUID | None
    attributes: dict[str, object]
    derived: dict[str, object]
    identifiers: list[Any]  # identity's Identifier rows, through the `identifiers` section
    derived_status: dict[str, str] = field(default_factory=dict)
    sections: dict[str, object] = field(default_factory=dict)


def profile_detail_build(*, tenant_id: int, profile: Profile, requested_id: uuid.UUID | None) -> ProfileDetail:
    """Everything `GET /api/v1/profiles/{id}` shows of a live profile: its values, and the
    sections higher apps registered (identity's identifiers, channels' endpoints and readiness)."""
    sections = profile_sections(tenant_id=tenant_id, profile_id=profile.pk)
    return ProfileDetail(
        profile=profile,
        requested_id=requested_id,
        attributes=profile_attributes(profile_id=profile.pk),
        derived=profile_derived(profile_id=profile.pk),
        derived_status=derived_attribute_statuses(tenant_id=tenant_id),
        identifiers=sections.pop("identifiers"),
        sections=sections,
    )


def profile_attributes(*, profile_id: uuid.UUID) -> dict[str, object]:
    """Current attribute values by name; removed attributes are left out."""
    rows = AttributeValue.objects.filter(profile_id=profile_id, value__isnull=False).order_by("name")
    return {name: value for name, value in rows.values_list("name", "value")}


def profile_attribute_values(*, profile_id: uuid.UUID) -> QuerySet[AttributeValue]:
    """Every attribute row with its occurred_at and source, removals included (for the admin)."""
    return AttributeValue.objects.filter(profile_id=profile_id).order_by("name")


def profile_derived(*, profile_id: uuid.UUID) -> dict[str, object]:
    """Derived attribute values by name (kept current by ingest). The values of a definition
    whose backfill still runs are incomplete and left out (contracts' derived_attribute_statuses
    tells which), in the same query."""
    backfilling = derived_backfilling_exists(tenant_id=OuterRef("tenant_id"), name=OuterRef("name"))
    rows = DerivedValue.objects.filter(~backfilling, profile_id=profile_id).order_by("name")
    return {name: value for name, value in rows.values_list("name", "value")}


def profile_derived_rows(*, tenant_id: int, profile_id: uuid.UUID) -> QuerySet[DerivedValue]:
    """Every derived value row of the profile by name, backfilling ones included (for the admin)."""
    return DerivedValue.objects.filter(tenant_id=tenant_id, profile_id=profile_id).order_by("name")


def derived_values_stored(
    *, tenant_id: int, profile_ids: Collection[uuid.UUID], names: Collection[str]
) -> list[tuple[int, uuid.UUID, str, int, object, Any, bool]]:
    """The stored derived values of these profiles and names, as
    (pk, profile_id, name, count, value, occurred_at, exact), in one query: ingest folds new
    events into them (PostgreSQL: the ids and names bound as two arrays, values decoded here)."""
    if connection.vendor == "postgresql":
        with prepared_cursor(connection) as cursor:
            cursor.execute(
                f"SELECT id, profile_id, name, count, value, occurred_at, exact FROM {DerivedValue._meta.db_table}"  # noqa: S608
                f" WHERE profile_id = ANY(%s::uuid[]) AND name = ANY(%s::varchar[]) AND {TENANT_RECHECKED}",
                [array_literal(sorted(profile_ids)), array_literal(sorted(names)), tenant_id],
            )
            return [
                (pk, pid, name, count, None if value is None else json.loads(value), at, exact)
                for pk, pid, name, count, value, at, exact in cursor.fetchall()
            ]
    stored = DerivedValue.objects.filter(tenant_id=tenant_id, profile_id__in=profile_ids, name__in=names)
    return list(stored.values_list("pk", "profile_id", "name", "count", "value", "occurred_at", "exact"))


def profiles_live(*, tenant_id: int) -> QuerySet[Profile]:
    """The tenant's live profiles (merge tombstones left out), not yet run."""
    return Profile.objects.filter(tenant_id=tenant_id, merged_into__isnull=True)


def attribute_values_present(*, tenant_id: int, profile: Any, name: str) -> QuerySet[AttributeValue]:
    """The row holding a value of attribute `name` for `profile` (an id or an `OuterRef`,
    for `EXISTS` subqueries in segments)."""
    return AttributeValue.objects.filter(tenant_id=tenant_id, profile_id=profile, name=name, value__isnull=False)


def derived_values_present(*, tenant_id: int, profile: Any, name: str) -> QuerySet[DerivedValue]:
    """The row holding a value of derived attribute `name` for `profile` (an id or an
    `OuterRef`, for `EXISTS` subqueries in segments)."""
    return DerivedValue.objects.filter(tenant_id=tenant_id, profile_id=profile, name=name, value__isnull=False)


def _profile_values_query(*, tenant_id: int, profile_id: uuid.UUID) -> QuerySet:
    kind = models.IntegerField()
    attributes = AttributeValue.objects.filter(tenant_id=tenant_id, profile_id=profile_id, value__isnull=False)
    # The values of a definition whose backfill still runs are incomplete: left out, and the
    # statuses of every definition come along as a third part of the same query.
    backfilling = derived_backfilling_exists(tenant_id=OuterRef("tenant_id"), name=OuterRef("name"))
    derived = DerivedValue.objects.filter(~backfilling, tenant_id=tenant_id, profile_id=profile_id)
    statuses = DerivedAttributeDefinition.objects.filter(tenant_id=tenant_id)
    # SQLite: no ORDER BY inside a UNION
    attributes, derived, statuses = attributes.order_by(), derived.order_by(), statuses.order_by()
    return attributes.values_list(Value(0, output_field=kind), "name", "value").union(
        derived.values_list(Value(1, output_field=kind), "name", "value"),
        statuses.values_list(Value(2, output_field=kind), "name", JSONObject(status=F("status"))),
        all=True,
    )


_profile_values = CompiledQuery(
    _profile_values_query,
    fields={"tenant_id": Profile._meta.get_field("tenant").target_field, "profile_id": Profile._meta.pk},
    sentinels={"tenant_id": -7_201, "profile_id": uuid.UUID(int=7_201)},
)


ProfileValues = tuple[dict[str, object], dict[str, object], dict[str, str]]


def _profile_values_shape(rows: list[tuple[Any, ...]]) -> ProfileValues:
    found: ProfileValues = ({}, {}, {})
    for which, name, value in sorted(rows, key=lambda row: (row[0], row[1])):
        if which == 2:
            value = (json.loads(value) if isinstance(value, str) else value)["status"]
        found[which][name] = value
    return found


def profile_values_read(*, tenant_id: int, profile_id: uuid.UUID) -> Read[ProfileValues]:
    """`profile_values` as a read to run together with others (`cdp_project.core.compiled.reads_run`)."""
    return _profile_values.read(_profile_values_shape, tenant_id=tenant_id, profile_id=profile_id)


def profile_values(*, tenant_id: int, profile_id: uuid.UUID) -> ProfileValues:
    """`profile_attributes`, `profile_derived` and the derived attributes' statuses of one
    profile in one query (UNION ALL, compiled once), for hot paths such as the runtime context."""
    return _profile_values_shape(_profile_values.run(tenant_id=tenant_id, profile_id=profile_id))


def profile_merged_ids(*, tenant_id: int, profile_id: uuid.UUID) -> list[uuid.UUID]:
    """Ids of the tombstones that lead to this profile (chains are compressed on merge)."""
    return list(Profile.objects.filter(tenant_id=tenant_id, merged_into_id=profile_id).values_list("pk", flat=True))


def merge_ledger_for_profile(*, tenant_id: int, profile_id: uuid.UUID) -> QuerySet[MergeLedgerEntry]:
    """Ledger entries touching the profile or any profile that was merged into it, newest first."""
    ids = [profile_id, *profile_merged_ids(tenant_id=tenant_id, profile_id=profile_id)]
    return MergeLedgerEntry.objects.filter(Q(survivor_id__in=ids) | Q(merged_id__in=ids), tenant_id=tenant_id)


def profiles_live_ids(*, tenant_id: int, profile_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """For many ids at once, the live profile each leads to (itself when live), in one
    query per merge hop (chains are compressed, so normally one). Unknown ids are left out."""
    result: dict[uuid.UUID, uuid.UUID] = {}
    pending = {pid: pid for pid in set(profile_ids)}  # requested id -> current hop
    for _ in range(MAX_CHAIN):
        if not pending:
            break
        rows = dict(
            tenant_rechecked(Profile.objects.filter(pk__in=set(pending.values())), tenant_id).values_list(
                "pk", "merged_into_id"
            )
        )
        following: dict[uuid.UUID, uuid.UUID] = {}
        for requested, current in pending.items():
            if current not in rows:
                continue
            target = rows[current]
            if target is None:
                result[requested] = current
            else:
                following[requested] = target
        pending = following
    return result


def _per_day(rows: QuerySet, *, tenant_id: int | None, since: Any) -> dict[Any, int]:
    rows = rows.filter(created_at__gte=since)
    if tenant_id is not None:
        rows = rows.filter(tenant_id=tenant_id)
    per_day = rows.annotate(day=TruncDate("created_at")).values("day").annotate(n=Count("pk"))
    return {row["day"]: row["n"] for row in per_day}


def profiles_created_per_day(*, tenant_id: int | None, since: Any) -> dict[Any, int]:
    """New profiles per UTC day since `since` (every tenant when tenant_id is None)."""
    return _per_day(Profile.objects.all(), tenant_id=tenant_id, since=since)


def merges_per_day(*, tenant_id: int | None, since: Any) -> dict[Any, int]:
    """Merges per UTC day since `since` (every tenant when tenant_id is None)."""
    return _per_day(MergeLedgerEntry.objects.all(), tenant_id=tenant_id, since=since)


def attribute_documents_drift(*, tenant_id: int) -> dict[uuid.UUID, tuple[dict[str, object], dict[str, object]]]:
    """The tenant's profiles whose attribute document (`Profile.attributes`, kept by the
    triggers of migration 0005) differs from their attribute rows, as
    {profile id: (document, rows)}; empty when every document is exact."""
    rows: dict[uuid.UUID, dict[str, object]] = {}
    values = AttributeValue.objects.filter(tenant_id=tenant_id, value__isnull=False)
    for profile_id, name, value in values.values_list("profile_id", "name", "value").iterator():
        rows.setdefault(profile_id, {})[name] = value
    drift = {}
    for profile_id, document in Profile.objects.filter(tenant_id=tenant_id).values_list("pk", "attributes").iterator():
        expected = rows.get(profile_id, {})
        if document != expected:
            drift[profile_id] = (document, expected)
    return drift
