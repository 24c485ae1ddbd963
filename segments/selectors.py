"""Reads of the segments app: saved segments and their members, always scoped by tenant."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Q, QuerySet

from cdp_project.core.errors import FieldProblem, Problem, ProblemError, not_found

from .compiler import members_condition, members_queryset
from .language import CheckedDefinition, ContractView, definition_check
from .models import Segment

SAMPLE_SIZE = 20
DERIVED_BACKFILLING_CODE = Problem.DERIVED_BACKFILLING.code
# The session settings of a member count on PostgreSQL. No JIT: a count reads a good part of
# the tenant's rows, so its plan's cost passes jit_above_cost, and compiling its expressions
# takes about 0.1 s, more than it saves on a read of well under a second. A work_mem for the
# sorts and bitmaps of a few hundred thousand rows (the default 4 MB spills the sort of an
# event condition's matches to disk and makes a bitmap scan of the recent events look lossy,
# so the planner reads the whole event table instead: 0.9 s -> 0.7 s on 3M events).
MEMBERS_READ_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL work_mem = '32MB'")


@contextmanager
def settings_read(statements: Sequence[str], *, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """One transaction with these `SET LOCAL` statements run first (on PostgreSQL; SQLite
    has no such settings): the reads inside it plan with them, and nothing else does."""
    with transaction.atomic(using=using):
        connection = connections[using]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        yield


def segment_queryset(*, tenant_id: int) -> QuerySet[Segment]:
    return Segment.objects.filter(tenant_id=tenant_id).order_by("key")


def segment_get(*, tenant_id: int, key: str) -> Segment:
    """The tenant's segment by key, or a 404 problem (also for another tenant's)."""
    segment = segment_queryset(tenant_id=tenant_id).filter(key=key).first()
    if segment is None:
        raise not_found(f"No segment {key!r}.")
    return segment


def segment_checked(*, segment: Segment, contract: ContractView | None = None) -> CheckedDefinition:
    """The segment's definition checked against the contracts as they are now. Contract
    changes that would break a saved segment are refused, so this fails only for a
    segment saved before its contract changed by other means: a 422 that says where."""
    contract = contract if contract is not None else ContractView(segment.tenant_id)
    checked, problems = definition_check(definition=segment.definition, contract=contract)
    if checked is None:
        raise Problem.SEGMENT_INVALID.error(
            f"Segment {segment.key!r} uses contract fields that changed; fix its definition.",
            tuple(FieldProblem(p.pointer, p.code, p.detail) for p in problems),
        )
    return checked


def derived_backfilling_error(*, segment: Segment, problems: Sequence[FieldProblem]) -> ProblemError:
    """409 `derived_backfilling`: the answer would read derived values still being computed."""
    names = sorted({p.detail for p in problems})
    return Problem.DERIVED_BACKFILLING.error(
        (
            f"Segment {segment.key!r} reads {', '.join(repr(n) for n in names)}, whose values are still being "
            "computed from the stored events, so the answer would be incomplete. Try again once "
            "GET /api/v1/derived-attributes/{name} says status ready."
        ),
        errors=tuple(problems),
    )


def segment_members(
    *, segment: Segment, now: dt.datetime | None = None, incomplete: Sequence[FieldProblem] = ()
) -> QuerySet:
    """The segment's live members (one query, not yet run).

    Never an incomplete answer: when a derived attribute the definition reads is still
    backfilling (or the caller reads one too, given in `incomplete`), a 409
    `derived_backfilling` problem names each (its pointer, the name as `detail`)."""
    checked = _checked_complete(segment=segment, incomplete=incomplete)
    return members_queryset(tenant_id=segment.tenant_id, checked=checked, now=now)


def segment_member_condition(
    *,
    segment: Segment,
    profile: str,
    now: dt.datetime | None = None,
    incomplete: Sequence[FieldProblem] = (),
    joined: Mapping[str, str] | None = None,
) -> Q:
    """The segment's definition as a condition on another query whose field `profile` holds
    a live profile's id (`compiler.members_condition`), checked as `segment_members` is."""
    checked = _checked_complete(segment=segment, incomplete=incomplete)
    return members_condition(tenant_id=segment.tenant_id, checked=checked, now=now, profile=profile, joined=joined)


def _checked_complete(*, segment: Segment, incomplete: Sequence[FieldProblem]) -> CheckedDefinition:
    contract = ContractView(segment.tenant_id)
    checked = segment_checked(segment=segment, contract=contract)
    problems = [
        FieldProblem(r.pointer, DERIVED_BACKFILLING_CODE, r.name)
        for r in checked.references
        if r.kind == "derived" and contract.derived_backfilling(r.name)
    ]
    if problems or incomplete:
        raise derived_backfilling_error(segment=segment, problems=[*problems, *incomplete])
    return checked


def segment_member_count(*, segment: Segment, now: dt.datetime | None = None) -> int:
    """How many live members the segment has (`now` anchors `within`; the time of the call by
    default), read with MEMBERS_READ_SETTINGS."""
    members = segment_members(segment=segment, now=now)
    with settings_read(MEMBERS_READ_SETTINGS, using=members.db):
        return members.count()


def segment_member_sample(*, segment: Segment, size: int = SAMPLE_SIZE) -> list[uuid.UUID]:
    """A few member ids (the newest profiles first), for the admin."""
    members = segment_members(segment=segment).order_by("-created_at", "pk")
    return list(members.values_list("pk", flat=True)[:size])
