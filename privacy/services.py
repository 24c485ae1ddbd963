"""Erasure: forget a customer completely — the live profile and every profile ever merged
into it — and, with `suppress`, keep their identifiers out for good.

An erasure runs on the background worker in stages, each stage in bounded chunks of one
transaction each, and records where it is (`Erasure.stage`, `Erasure.receipt`) in the same
transaction as the rows it removed, so a crash anywhere resumes to the same end state.

Stage 0 is the only one that needs the erased *values*, and it does all of that work in one
transaction under the locks ingest takes (identifier keys, then profile rows, DESIGN.md §8):
it suppresses the identifiers (keyed hashes only), scrubs the merge ledger's identifier and
attribute values into keyed hashes, removes identity conflicts and violation samples that name
them, and deletes the identifiers. From its commit on, no ingest can resolve to the family
again: data naming one of the identifiers is either `suppressed` or, without suppression, starts
a brand-new customer. An event that raced it and committed first belongs to the family and is
removed by the later stages. Those stages need only the family's profile ids.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from cdp_project.core.retries import run_with_retries
from channels.models import Endpoint, EndpointHistory
from identity.locks import identifier_keys_lock_many
from identity.models import Identifier, IdentityConflict
from identity.suppression import suppressions_add, value_digest
from ingest.models import ChannelUpdate, Event, ProfileUpdate, Violation
from ingest.quarantine import quarantine_erase
from profiles.locks import profiles_lock
from profiles.models import AttributeValue, DerivedValue, MergeLedgerEntry, Profile
from profiles.selectors import profile_get_live
from runtime.models import Participant, VariableValue
from tenants.models import Tenant

from .models import Erasure, ErasureStatus

logger = logging.getLogger(__name__)

JOB_KIND = "privacy.erasure"
RECEIPT_KINDS = (
    "profiles",
    "identifiers",
    "events",
    "profileUpdates",
    "channelUpdates",
    "endpoints",
    "participants",
    "attributes",
    "derivedValues",
    "suppressed",
)
# Keys of the ledger's JSON whose values are customer data (identifier and attribute values).
_VALUE_KEYS = frozenset({"value", "identifier_value", "previous", "old", "new"})


@dataclass(frozen=True)
class _Deletion:
    receipt: str | None  # None: counted under another kind
    model: type[models.Model]
    profile_field: str


# In dependency order: what references a profile goes before the profile.
DELETIONS = (
    _Deletion("events", Event, "profile_id"),
    _Deletion("profileUpdates", ProfileUpdate, "profile_id"),
    _Deletion("channelUpdates", ChannelUpdate, "profile_id"),
    _Deletion(None, EndpointHistory, "profile_id"),
    _Deletion("endpoints", Endpoint, "profile_id"),
    _Deletion(None, VariableValue, "participant__profile_id"),
    _Deletion("participants", Participant, "profile_id"),
    _Deletion("attributes", AttributeValue, "profile_id"),
    _Deletion("derivedValues", DerivedValue, "profile_id"),
)


class ErasureTargetNotFound(LookupError):
    """Nothing of the tenant matches the identity or profile id of a request."""


def erasure_target_find(
    *, tenant: Tenant, identity: Mapping[str, str] | None = None, profile_id: uuid.UUID | None = None
) -> uuid.UUID:
    """The profile an erasure request names: the owner of the highest-precedence identifier
    of a normalized identity map, or a profile id (live or tombstone)."""
    if profile_id is not None:
        if not Profile.objects.filter(tenant=tenant, pk=profile_id).exists():
            raise ErasureTargetNotFound(f"No profile {profile_id}.")
        return profile_id
    for type, value in (identity or {}).items():  # already in precedence order
        owner = Identifier.objects.filter(tenant=tenant, type=type, value=value).values_list("profile_id", flat=True)
        found = owner.first()
        if found is not None:
            return found
    raise ErasureTargetNotFound("No profile has any of these identifiers.")


def erasure_request(
    *, tenant: Tenant, target_profile_id: uuid.UUID, suppress: bool, reason: str, requested_by: str
) -> Erasure:
    """Record an erasure and queue its job; both become visible when the transaction commits."""
    from jobs.services import job_enqueue

    with transaction.atomic():
        erasure = Erasure.objects.create(
            tenant=tenant,
            target_profile_id=target_profile_id,
            suppress=suppress,
            reason=reason,
            requested_by=requested_by,
        )
        job = job_enqueue(tenant=tenant, kind=JOB_KIND, params={"erasureId": str(erasure.pk)})
        erasure.job_id = str(job.pk)
        erasure.save(update_fields=["job_id"])
    return erasure


def erasure_job(job: Any, params: Mapping[str, Any], progress: Callable[..., None]) -> dict[str, Any]:
    """The job handler: runs (or resumes) the erasure named by the job's params."""
    erasure = erasure_run(erasure_id=uuid.UUID(params["erasureId"]), progress=progress)
    return {"erasureId": str(erasure.pk), "status": erasure.status, "receipt": erasure.receipt}


def erasure_run(
    *, erasure_id: uuid.UUID, max_chunks: int | None = None, progress: Callable[..., None] | None = None
) -> Erasure:
    """Run an erasure from where it stopped. Idempotent: a finished erasure is left as it is.
    `max_chunks` stops after that many chunk transactions (what a crash would leave behind)."""
    erasure = Erasure.objects.get(pk=erasure_id)
    if erasure.status == ErasureStatus.SUCCEEDED:
        return erasure
    if erasure.status != ErasureStatus.RUNNING:
        Erasure.objects.filter(pk=erasure.pk).update(status=ErasureStatus.RUNNING, started_at=timezone.now())
    chunks = 0
    if erasure.stage == 0:
        run_with_retries(lambda: _forget(erasure_id))
        chunks += 1
    erasure = Erasure.objects.get(pk=erasure_id)
    family = [uuid.UUID(pid) for pid in erasure.family]
    limit = settings.CDP_ERASURE_CHUNK_ROWS
    total = len(DELETIONS) + 2
    while erasure.stage <= len(DELETIONS) + 1:
        if max_chunks is not None and chunks >= max_chunks:
            return erasure
        if progress is not None:
            progress(done=erasure.stage, total=total)
        run_with_retries(lambda: _chunk(erasure_id, family, limit))
        chunks += 1
        erasure = Erasure.objects.get(pk=erasure_id)
    if progress is not None:
        progress(done=total, total=total)
    return erasure


def _family_ids(tenant_id: int, live_id: uuid.UUID) -> list[uuid.UUID]:
    """The live profile and every tombstone whose chain leads to it (chains are compressed,
    but an uncompressed one is followed all the same)."""
    family = {live_id}
    frontier = {live_id}
    while frontier:
        children = set(
            Profile.objects.filter(tenant_id=tenant_id, merged_into_id__in=frontier).values_list("pk", flat=True)
        )
        frontier = children - family
        family |= frontier
    return sorted(family)


class _FamilyChanged(Exception):
    pass


def _family_lock(tenant_id: int, target: uuid.UUID) -> tuple[list[uuid.UUID], list[tuple[str, str]]] | None:
    """Lock the family in the global order (identifier keys, then profile rows) and return it
    with its identifiers; None when the target no longer exists."""
    for _attempt in range(10):
        found = profile_get_live(tenant_id=tenant_id, profile_id=target)
        if found is None:
            return None
        family = _family_ids(tenant_id, found[0].pk)
        identifiers = sorted(
            Identifier.objects.filter(tenant_id=tenant_id, profile_id__in=family).values_list("type", "value")
        )
        with transaction.atomic():  # a savepoint: a changed family is locked again from scratch
            try:
                identifier_keys_lock_many(tenant_id=tenant_id, pairs=identifiers)
                locked = profiles_lock(tenant_id=tenant_id, profile_ids=family)
                again = sorted(
                    Identifier.objects.filter(tenant_id=tenant_id, profile_id__in=family).values_list("type", "value")
                )
                live = next((row for row in locked if row.pk == found[0].pk), None)
                if live is None or live.merged_into_id is not None or again != identifiers:
                    raise _FamilyChanged
                if _family_ids(tenant_id, live.pk) != family:
                    raise _FamilyChanged
            except _FamilyChanged:
                continue
        return family, identifiers
    raise RuntimeError("the profile kept changing while the erasure tried to lock it")


def _forget(erasure_id: uuid.UUID) -> None:
    """Stage 0, one transaction: everything that needs the erased values."""
    with transaction.atomic(durable=True):
        erasure = Erasure.objects.select_for_update().get(pk=erasure_id)
        if erasure.stage != 0:
            return
        tenant = erasure.tenant
        locked = _family_lock(tenant.pk, erasure.target_profile_id)
        family, identifiers = locked if locked is not None else ([], [])
        receipt = dict.fromkeys(RECEIPT_KINDS, 0)
        if erasure.suppress and identifiers:
            receipt["suppressed"] = suppressions_add(
                tenant=tenant, identifiers=identifiers, reason=erasure.reason, erasure_id=erasure.pk
            )
        _ledger_scrub(tenant, family)
        _others_scrub(tenant, family, identifiers)
        _conflicts_remove(tenant.pk, family, identifiers)
        _violation_samples_remove(tenant.pk, identifiers)
        by_type: dict[str, set[str]] = {}
        for type, value in identifiers:
            by_type.setdefault(type, set()).add(value)
        quarantine_erase(tenant_id=tenant.pk, identifiers=by_type)
        receipt["identifiers"] = Identifier.objects.filter(tenant=tenant, profile_id__in=family).delete()[0]
        erasure.family = [str(pid) for pid in family]
        erasure.receipt = receipt
        erasure.stage = 1
        erasure.save(update_fields=["family", "receipt", "stage"])


def _scrub(tenant: Tenant, value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(tenant, v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(tenant, v, key) for v in value]
    if key in _VALUE_KEYS and value is not None:
        return value_digest(tenant=tenant, value=value)
    return value


def _ledger_scrub(tenant: Tenant, family: list[uuid.UUID]) -> None:
    """Ledger entries stay as the audit trail; their identifier and attribute values become
    keyed hashes. Profile ids, rules, triggers and counts are kept."""
    entries = MergeLedgerEntry.objects.filter(Q(survivor_id__in=family) | Q(merged_id__in=family), tenant=tenant)
    for entry in entries:
        entry.identifier_value = value_digest(tenant=tenant, value=entry.identifier_value)
        entry.moved_identifiers = _scrub(tenant, entry.moved_identifiers)
        entry.lost_attributes = _scrub(tenant, entry.lost_attributes)
        entry.undo = None  # attribute values and identifiers of the erased: the merge can no longer be reverted
        entry.save(update_fields=["identifier_value", "moved_identifiers", "lost_attributes", "undo"])


def _others_scrub(tenant: Tenant, family: list[uuid.UUID], identifiers: list[tuple[str, str]]) -> None:
    """Another customer's records may name one of the erased identifiers: an identity map that
    put it together with that customer's EXTERNAL id, refused as an identity conflict. Those
    records stay (they are the other customer's), with the erased value replaced by its keyed
    hash in the stored identity and in the resolution's conflicts."""
    erased = set(identifiers)
    naming = Q()
    for type, value in identifiers:
        naming |= Q(identifier_type=type, identifier_value=value)
    if not identifiers:
        return
    others = set(
        IdentityConflict.objects.filter(naming, tenant=tenant)
        .exclude(primary_profile_id__in=family)
        .values_list("primary_profile_id", flat=True)
    )
    if not others:
        return
    for model in (Event, ProfileUpdate, ChannelUpdate):
        for record in model.objects.filter(tenant=tenant, profile_id__in=others).only("id", "identity", "resolution"):
            identity = {
                type: value_digest(tenant=tenant, value=value) if (type, value) in erased else value
                for type, value in record.identity.items()
            }
            resolution = dict(record.resolution)
            resolution["conflicts"] = [
                {**c, "value": value_digest(tenant=tenant, value=c["value"])}
                if (c.get("type"), c.get("value")) in erased
                else c
                for c in resolution.get("conflicts", [])
            ]
            if identity != record.identity or resolution != record.resolution:
                model.objects.filter(pk=record.pk).update(identity=identity, resolution=resolution)


def _conflicts_remove(tenant_id: int, family: list[uuid.UUID], identifiers: Iterable[tuple[str, str]]) -> None:
    naming = Q(owner_profile_id__in=family) | Q(primary_profile_id__in=family)
    for type, value in identifiers:
        naming |= Q(identifier_type=type, identifier_value=value)
    IdentityConflict.objects.filter(naming, tenant_id=tenant_id).delete()


def _violation_samples_remove(tenant_id: int, identifiers: Iterable[tuple[str, str]]) -> None:
    """A violation's sample is a truncated copy of one refused payload: it goes when it holds
    any form of an erased identifier (as normalized, or a phone number without its +)."""
    forms = set()
    for type, value in identifiers:
        forms.add(value)
        if type == "PHONE":
            forms.add(value.lstrip("+"))
    if not forms:
        return
    holds = Q()
    for form in forms:
        holds |= Q(sample__icontains=form)
    Violation.objects.filter(holds, tenant_id=tenant_id).exclude(sample="").update(sample="")


def _chunk(erasure_id: uuid.UUID, family: list[uuid.UUID], limit: int) -> None:
    """One transaction of stages 1…: delete up to `limit` rows of the current kind, or move
    on to the next kind when none is left; the last stage deletes the profiles."""
    with transaction.atomic(durable=True):
        erasure = Erasure.objects.select_for_update().get(pk=erasure_id)
        receipt = dict(erasure.receipt)
        stage = erasure.stage
        if stage <= len(DELETIONS):
            step = DELETIONS[stage - 1]
            rows = step.model._base_manager.filter(tenant_id=erasure.tenant_id, **{f"{step.profile_field}__in": family})
            ids = list(rows.values_list("pk", flat=True)[:limit])
            if ids:
                step.model._base_manager.filter(pk__in=ids).delete()
                if step.receipt:
                    receipt[step.receipt] = receipt.get(step.receipt, 0) + len(ids)
            if len(ids) < limit:
                stage += 1
        else:
            profiles = Profile.objects.filter(tenant_id=erasure.tenant_id, pk__in=family)
            profiles.update(merged_into=None, merged_at=None)
            receipt["profiles"] = receipt.get("profiles", 0) + profiles.count()
            profiles.delete()
            stage += 1
            erasure.status = ErasureStatus.SUCCEEDED
            erasure.completed_at = timezone.now()
        erasure.stage = stage
        erasure.receipt = receipt
        erasure.save(update_fields=["stage", "receipt", "status", "completed_at"])
