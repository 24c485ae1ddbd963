"""Reads of the identity app: identifiers, profile details, conflicts, admin search."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import Q

from cdp_project.core.compiled import CompiledQuery, model_columns, model_from_row
from profiles.models import Profile
from tenants.models import Tenant

from .models import Identifier, IdentityConflict
from .normalization import identifier_candidates
from .types import IDENTIFIER_TYPES


def _type_rank(identifier: Identifier) -> tuple[int, str]:
    return IDENTIFIER_TYPES.index(identifier.type), identifier.value


def profile_identifiers(*, profile_id: uuid.UUID) -> list[Identifier]:
    """The profile's identifiers, highest precedence first."""
    return sorted(Identifier.objects.filter(profile_id=profile_id), key=_type_rank)


def profile_identifiers_section(*, tenant_id: int, profile_id: uuid.UUID) -> list[Identifier]:
    """The `identifiers` of the profile detail (registered with profiles' sections)."""
    return profile_identifiers(profile_id=profile_id)


_owner = CompiledQuery(
    lambda *, tenant_id, type, value: (
        Identifier.objects.filter(tenant_id=tenant_id, type=type, value=value)
        .order_by()
        .values_list(*model_columns(Profile, via="profile"))[:1]
    ),
    fields={
        "tenant_id": Tenant._meta.pk,
        "type": Identifier._meta.get_field("type"),
        "value": Identifier._meta.get_field("value"),
    },
    sentinels={"tenant_id": -7_304, "type": "\x01compiled-type", "value": "\x01compiled-value"},
)


def identifier_owner_get(*, tenant: Tenant, type: str, value: str) -> Profile | None:
    """The live profile holding a normalized identifier, or None (a compiled read: runtime
    sessions look their customer up with it)."""
    rows = _owner.run(tenant_id=tenant.pk, type=type, value=value)
    return model_from_row(Profile, rows[0]) if rows else None


def admin_profile_ids_search(*, text: str) -> set[uuid.UUID]:
    """Profiles a human-typed text could mean, across tenants (the admin is an ops console):
    a profile id, or any identifier after normalization (`ANN@example.com ` finds
    `ann@example.com`; `020 7946 0958` finds `+442079460958` in tenants whose default
    region is GB)."""
    text = text.strip()
    if not text:
        return set()
    ids: set[uuid.UUID] = set()
    try:
        ids.update(Profile.objects.filter(pk=uuid.UUID(text)).values_list("pk", flat=True))
    except ValueError:
        pass
    condition = Q()
    regions = Tenant.objects.order_by().values_list("default_region", flat=True).distinct()
    for region in regions:
        for type, value in identifier_candidates(text=text, region=region).items():
            if type == "PHONE" and not text.startswith("+"):  # read with this region only in its tenants
                condition |= Q(type=type, value=value, tenant__default_region=region)
            else:
                condition |= Q(type=type, value=value)
    if condition:
        ids.update(Identifier.objects.filter(condition).values_list("profile_id", flat=True))
    return ids


LABEL_ORDER = ("EXTERNAL", "EMAIL", "PHONE", "DEVICE_KEY")


def profile_labels(*, profile_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """How ops know a customer: its EXTERNAL id, else its email, phone or device key, in
    one query; profiles without identifiers are left out."""
    best: dict[uuid.UUID, tuple[int, str]] = {}
    for profile_id, type_, value in Identifier.objects.filter(profile_id__in=set(profile_ids)).values_list(
        "profile_id", "type", "value"
    ):
        rank = LABEL_ORDER.index(type_) if type_ in LABEL_ORDER else len(LABEL_ORDER)
        if profile_id not in best or (rank, value) < best[profile_id]:
            best[profile_id] = (rank, value)
    return {profile_id: value for profile_id, (_, value) in best.items()}


def identity_conflicts_open(*, tenant_id: int | None, limit: int = 5) -> tuple[int, list[IdentityConflict]]:
    """Conflicts nobody reviewed yet: how many, and the latest few."""
    rows = IdentityConflict.objects.filter(reviewed_at__isnull=True)
    if tenant_id is not None:
        rows = rows.filter(tenant_id=tenant_id)
    return rows.count(), list(rows.order_by("-last_seen_at")[:limit])
