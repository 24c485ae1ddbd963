"""Writes of the profiles app: attribute values."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping

from django.utils import timezone

from cdp_project.core.jsonvalues import canonical_json

from .locks import profiles_lock
from .models import AttributeValue, Profile


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
