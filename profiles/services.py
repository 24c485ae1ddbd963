"""Writes of the profiles app: profile rows, attribute values and derived values. Other apps
(identity creates profiles, ingest keeps derived values) write these tables only through here."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping, Sequence

from django.db import connection
from django.utils import timezone

from cdp_project.core.bulk import TENANT_RECHECKED, ids_in, rows_insert, rows_update, tenant_rechecked
from cdp_project.core.jsonvalues import canonical_json

from .locks import profiles_lock
from .models import AttributeValue, DerivedValue, Profile

# A derived value as ingest folds it: (profile_id, name, value, number, count, occurred_at, exact).
DerivedRow = tuple[uuid.UUID, str, object, float | None, int, dt.datetime | None, bool]
# A changed stored derived value: (pk, count, value, number, occurred_at, exact).
DerivedChange = tuple[int, int, object, float | None, dt.datetime | None, bool]


def profile_create(*, tenant_id: int) -> uuid.UUID:
    """A new, empty live profile (one INSERT); returns its id."""
    return Profile.objects.create(tenant_id=tenant_id).pk


def profiles_create(*, tenant_id: int, profile_ids: Sequence[uuid.UUID], now: dt.datetime) -> None:
    """New, empty live profiles with the given ids, in one statement (none: no statement)."""
    rows_insert(
        Profile, ["id", "tenant", "created_at", "updated_at"], [(pid, tenant_id, now, now) for pid in profile_ids]
    )


def profile_touch(*, profile_id: uuid.UUID, now: dt.datetime) -> None:
    """Mark the profile changed at `now` (one UPDATE), when something of another app that
    belongs to it (an identifier) changed."""
    Profile.objects.filter(pk=profile_id).update(updated_at=now)


def derived_values_save(
    *, tenant_id: int, created: Sequence[DerivedRow], changed: Sequence[DerivedChange], now: dt.datetime
) -> None:
    """Store folded derived values: one INSERT for the new ones and one UPDATE for the
    changed ones (plain rows, no ORM instances or CASE expressions: ingest's hot path);
    an empty side costs no statement. Runs in the caller's transaction, which holds the
    profiles' row locks."""
    rows_insert(
        DerivedValue,
        ["tenant", "profile", "name", "value", "number", "count", "occurred_at", "exact", "updated_at"],
        [
            (tenant_id, pid, name, value, number, count, at, exact, now)
            for pid, name, value, number, count, at, exact in created
        ],
    )
    rows_update(
        DerivedValue,
        ["count", "value", "number", "occurred_at", "exact", "updated_at"],
        [(*row, now) for row in changed],
        tenant_id=tenant_id,
    )


def derived_values_create(*, tenant_id: int, rows: Sequence[DerivedRow]) -> None:
    """Store recomputed derived values (a profile's names were deleted first), in batches of 1000."""
    values = [
        DerivedValue(
            tenant_id=tenant_id,
            profile_id=profile_id,
            name=name,
            value=value,
            number=number,
            count=count,
            occurred_at=occurred_at,
            exact=exact,
        )
        for profile_id, name, value, number, count, occurred_at, exact in rows
    ]
    DerivedValue.objects.bulk_create(values, batch_size=1000)


def derived_values_delete(
    *, tenant_id: int, profile_ids: Collection[uuid.UUID], names: Collection[str] | None = None
) -> None:
    """Delete the profiles' derived values (only the named ones, given `names`), in one statement."""
    if names is not None:
        tenant_rechecked(DerivedValue.objects.filter(name__in=names, profile_id__in=profile_ids), tenant_id).delete()
        return
    condition, ids = ids_in(DerivedValue, "profile", profile_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {DerivedValue._meta.db_table} WHERE {condition} AND {TENANT_RECHECKED}",  # noqa: S608
            [*ids, tenant_id],
        )


def attribute_wins(
    *, new_occurred_at: dt.datetime, new_value: object, old_occurred_at: dt.datetime, old_value: object
) -> bool:
    """Does an incoming value replace the stored one? The latest occurred_at wins; equal
    times are broken by the canonical JSON of the value (larger wins), so order never matters."""
    if new_occurred_at != old_occurred_at:
        return new_occurred_at > old_occurred_at
    return canonical_json(new_value) > canonical_json(old_value)


def profile_attributes_apply(
    *,
    tenant_id: int,
    profile_id: uuid.UUID,
    attributes: Mapping[str, object],
    occurred_at: dt.datetime,
    source: str,
) -> tuple[str, ...]:
    """Apply attribute values observed at `occurred_at`; returns the names whose value changed.

    Per attribute the value with the latest occurred_at wins whatever the arrival order;
    None removes the attribute but remembers its occurred_at, so an older update cannot
    bring it back. Runs inside the caller's transaction and locks the profile row (a
    no-op when the resolver already holds it). Values must already be validated."""
    if not attributes:
        return ()
    locked = profiles_lock(tenant_id=tenant_id, profile_ids=[profile_id])
    if not locked:
        raise Profile.DoesNotExist(f"No profile {profile_id} in tenant {tenant_id}.")
    existing = {
        row.name: row for row in AttributeValue.objects.filter(profile_id=profile_id, name__in=list(attributes))
    }
    changed: list[str] = []
    to_create: list[AttributeValue] = []
    to_update: list[AttributeValue] = []
    for name in sorted(attributes):
        value = attributes[name]
        row = existing.get(name)
        if row is None:
            to_create.append(
                AttributeValue(
                    tenant_id=tenant_id,
                    profile_id=profile_id,
                    name=name,
                    value=value,
                    occurred_at=occurred_at,
                    source=source,
                )
            )
            if value is not None:
                changed.append(name)
            continue
        if not attribute_wins(
            new_occurred_at=occurred_at, new_value=value, old_occurred_at=row.occurred_at, old_value=row.value
        ):
            continue
        if canonical_json(row.value) != canonical_json(value):
            changed.append(name)
        row.value, row.occurred_at, row.source = value, occurred_at, source
        to_update.append(row)
    if to_create:
        AttributeValue.objects.bulk_create(to_create)
    if to_update:
        now = timezone.now()
        for row in to_update:
            row.updated_at = now
        AttributeValue.objects.bulk_update(to_update, ["value", "occurred_at", "source", "updated_at"])
    if changed:
        Profile.objects.filter(pk=profile_id).update(updated_at=timezone.now())
    return tuple(changed)
