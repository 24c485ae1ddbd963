"""Reads of the segments app: saved segments and their members, always scoped by tenant."""

from __future__ import annotations

import datetime as dt
import uuid

from django.db.models import QuerySet

from cdp_project.core.errors import FieldProblem, not_found, unprocessable
from profiles.models import Profile

from .compiler import members_queryset
from .language import CheckedDefinition, ContractView, definition_check
from .models import Segment

SAMPLE_SIZE = 20


def segment_queryset(*, tenant_id: int) -> QuerySet[Segment]:
    return Segment.objects.filter(tenant_id=tenant_id).order_by("key")


def segment_get(*, tenant_id: int, key: str) -> Segment:
    """The tenant's segment by key, or a 404 problem (also for another tenant's)."""
    segment = segment_queryset(tenant_id=tenant_id).filter(key=key).first()
    if segment is None:
        raise not_found(f"No segment {key!r}.")
    return segment


def segment_checked(*, segment: Segment) -> CheckedDefinition:
    """The segment's definition checked against the contracts as they are now. Contract
    changes that would break a saved segment are refused, so this fails only for a
    segment saved before its contract changed by other means: a 422 that says where."""
    checked, problems = definition_check(definition=segment.definition, contract=ContractView(segment.tenant_id))
    if checked is None:
        raise unprocessable(
            "segment_invalid",
            "Segment no longer matches the contracts",
            f"Segment {segment.key!r} uses contract fields that changed; fix its definition.",
            tuple(FieldProblem(p.pointer, p.code, p.detail) for p in problems),
        )
    return checked


def segment_members(*, segment: Segment, now: dt.datetime | None = None) -> QuerySet[Profile]:
    """The segment's live members (one query, not yet run)."""
    return members_queryset(tenant_id=segment.tenant_id, checked=segment_checked(segment=segment), now=now)


def segment_member_count(*, segment: Segment) -> int:
    return segment_members(segment=segment).count()


def segment_member_sample(*, segment: Segment, size: int = SAMPLE_SIZE) -> list[uuid.UUID]:
    """A few member ids (the newest profiles first), for the admin."""
    members = segment_members(segment=segment).order_by("-created_at", "pk")
    return list(members.values_list("pk", flat=True)[:size])
