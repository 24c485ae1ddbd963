"""Merge revert: undo one merge exactly from its ledger entry, and keep it undone.

The rules (docs/identity.md, "Reverting a merge"):

- **Order.** A merge can be reverted while its two profiles are as the merge left them: the
  merged profile a tombstone of the survivor, the survivor live, neither erased, and no later
  merge that still stands involving the survivor (as survivor or as merged profile). Otherwise
  `409 merge_not_revertible` names the entry in the way; revert that one first (newest first).
- **What the merge moved goes back**, from the entry's `undo` detail: the merged profile's
  identifiers, the tombstones that pointed at it, its endpoints (with the active flags they had
  at the merge; consent and history as they are now), its participants (a participant combined
  into the survivor's is recreated with its variable values).
- **What arrived after the merge** — events, profile updates, channel updates, the identifiers
  they attached and the endpoints they declared — goes to the profile its stored identity
  resolves to now: `resolution_plan` on the restored identifiers, with the two profiles kept
  apart. Records are taken in arrival order; one whose identity would now merge a third profile
  makes the merge not revertible (the history would have gone differently).
- **Attributes**: each profile gets its own values from just before the merge (kept in the
  entry), then every profile update that now belongs to it applies again by the usual rule
  (latest `occurredAt` wins, ties by value), so the survivor keeps only its own values and what
  arrived for it later.
- Derived values of both profiles are recomputed from their events; one revert entry is
  appended to the ledger (`reverts` = the merge), and a `MergeBlock` keeps the two apart.

Everything runs in one transaction under the global lock order (DESIGN.md §8): identifier
keys, profile rows, channel state, participants. `dry_run` does all of it and rolls back.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone

from cdp_project.core.errors import Problem, ProblemError, not_found
from cdp_project.core.retries import run_with_retries
from cdp_project.core.timestamps import parse_rfc3339
from channels.locks import profile_channels_lock
from channels.models import Endpoint, EndpointHistory, HistoryKind
from identity.locks import identifier_keys_lock_many
from identity.models import Identifier, IdentityConflict, MergeBlock
from identity.resolver import Plan, merge_blocks_among, resolution_plan
from ingest.derived import derived_recompute
from ingest.models import ChannelUpdate, Event, ProfileUpdate, RecordKind
from profiles.locks import profiles_lock
from profiles.merging import UNDO_VERSION
from profiles.models import AttributeValue, DerivedValue, MergeLedgerEntry, Profile
from profiles.services import attribute_wins
from runtime.locks import participants_lock
from runtime.models import Participant, VariableDefinition, VariableValue
from tenants.models import Tenant

Key = tuple[str, str]
RECORD_MODELS: tuple[tuple[str, Any], ...] = (
    ("events", Event),
    ("profileUpdates", ProfileUpdate),
    ("channelUpdates", ChannelUpdate),
)


def not_revertible(detail: str) -> ProblemError:
    return Problem.MERGE_NOT_REVERTIBLE.error(detail)


@dataclass(frozen=True)
class RevertOutcome:
    merge_id: int
    survivor_id: uuid.UUID
    restored_id: uuid.UUID
    dry_run: bool
    identifiers: list[dict[str, str]]
    counts: dict[str, int]
    revert_id: int | None  # the revert's ledger entry (None in a dry run)


@dataclass
class _Record:
    kind: str
    id: uuid.UUID
    identity: dict[str, str]
    attached: tuple[str, ...]
    received_at: dt.datetime
    occurred_at: dt.datetime
    source: str
    external_id: str
    payload: Any

    @property
    def trigger(self) -> str:
        label = {"events": RecordKind.EVENT, "profileUpdates": RecordKind.PROFILE_UPDATE}.get(
            self.kind, RecordKind.CHANNEL_UPDATE
        )
        return f"{label.label} {self.source}/{self.external_id}"


@dataclass
class _Plan:
    """Where everything of the survivor's family goes: to the survivor or the restored profile."""

    identifiers: dict[Key, uuid.UUID] = field(default_factory=dict)
    records: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    record_kind: dict[uuid.UUID, str] = field(default_factory=dict)


def merge_revert(*, tenant: Tenant, merge_id: int, dry_run: bool = False) -> RevertOutcome:
    """Revert merge-ledger entry `merge_id` of `tenant` (see the module docstring). 404 for an
    unknown or another tenant's entry; 409 `merge_not_revertible` with the reason."""

    def attempt() -> RevertOutcome:
        with transaction.atomic(durable=True):
            outcome = _revert(tenant=tenant, merge_id=merge_id, dry_run=dry_run)
            if dry_run:
                transaction.set_rollback(True)
            return outcome

    return run_with_retries(attempt)


def _entry_check(*, tenant: Tenant, merge_id: int) -> MergeLedgerEntry:
    entry = MergeLedgerEntry.objects.filter(tenant=tenant, pk=merge_id).first()
    if entry is None:
        raise not_found("merge")
    if entry.rule == MergeLedgerEntry.RULE_REVERT:
        raise not_revertible(f"Entry {merge_id} is itself a revert (of merge {entry.reverts}); it cannot be reverted.")
    revert = MergeLedgerEntry.objects.filter(tenant=tenant, reverts=entry.pk).first()
    if revert is not None:
        raise not_revertible(f"Merge {merge_id} was already reverted by entry {revert.pk}.")
    if not entry.undo or entry.undo.get("version") != UNDO_VERSION:
        reason = (
            "was written before merges recorded what they moved"
            if entry.undo is None and not _erased(tenant, entry)
            else "lost its detail to an erasure"
        )
        raise not_revertible(f"Merge {merge_id} {reason}; it cannot be reverted exactly.")
    return entry


def _erased(tenant: Tenant, entry: MergeLedgerEntry) -> bool:
    present = Profile.objects.filter(tenant=tenant, pk__in=[entry.survivor_id, entry.merged_id]).count()
    return present < 2


def _later_in_the_way(*, tenant: Tenant, entry: MergeLedgerEntry) -> MergeLedgerEntry | None:
    """The newest later merge that still stands and involves the survivor."""
    later = MergeLedgerEntry.objects.filter(
        Q(survivor_id=entry.survivor_id) | Q(merged_id=entry.survivor_id),
        tenant=tenant,
        pk__gt=entry.pk,
    ).exclude(rule=MergeLedgerEntry.RULE_REVERT)
    reverted = set(
        MergeLedgerEntry.objects.filter(tenant=tenant, reverts__in=later.values("pk")).values_list("reverts", flat=True)
    )
    for candidate in later.order_by("-pk"):
        if candidate.pk not in reverted:
            return candidate
    return None


def _state_check(*, tenant: Tenant, entry: MergeLedgerEntry, profiles: Mapping[uuid.UUID, Profile]) -> None:
    survivor, merged = profiles.get(entry.survivor_id), profiles.get(entry.merged_id)
    if survivor is None or merged is None:
        gone = entry.survivor_id if survivor is None else entry.merged_id
        raise not_revertible(f"Profile {gone} of merge {entry.pk} was erased; the merge cannot be reverted.")
    blocker = _later_in_the_way(tenant=tenant, entry=entry)
    if blocker is not None:
        raise not_revertible(
            f"A later merge stands in the way: entry {blocker.pk} merged {blocker.merged_id} into "
            f"{blocker.survivor_id}. Revert entry {blocker.pk} first."
        )
    if survivor.merged_into_id is not None or merged.merged_into_id != survivor.pk:
        raise not_revertible(f"The profiles of merge {entry.pk} changed since; the merge cannot be reverted.")


def _revert(*, tenant: Tenant, merge_id: int, dry_run: bool) -> RevertOutcome:
    entry = _entry_check(tenant=tenant, merge_id=merge_id)
    undo: dict[str, Any] = entry.undo  # type: ignore[assignment]
    survivor_id, restored_id = entry.survivor_id, entry.merged_id
    tombstones = [uuid.UUID(pid) for pid in undo.get("tombstones", [])]

    # Locks in the global order: identifier keys, then profile rows by id, then channels, participants.
    family = {(t, v): pk for pk, t, v in _identifiers_of(tenant, survivor_id)}
    identifier_keys_lock_many(tenant_id=tenant.pk, pairs=family)
    locked = profiles_lock(tenant_id=tenant.pk, profile_ids={survivor_id, restored_id, *tombstones})
    _state_check(tenant=tenant, entry=entry, profiles={p.pk: p for p in locked})
    family = {(t, v): pk for pk, t, v in _identifiers_of(tenant, survivor_id)}  # as it is under the lock
    profile_channels_lock(tenant_id=tenant.pk, profile_ids={survivor_id, restored_id})
    participants_lock(tenant_id=tenant.pk, profile_ids={survivor_id, restored_id})

    records = _records_of(tenant, survivor_id)
    plan = _route(
        tenant=tenant,
        entry=entry,
        family=family,
        records=records,
        survivor_id=survivor_id,
        restored_id=restored_id,
    )
    now = timezone.now()
    back = sorted(key for key, owner in plan.identifiers.items() if owner == restored_id)
    counts = _rows_move_back(
        tenant=tenant,
        plan=plan,
        moving=[family[key] for key in back],
        tombstones=tombstones,
        survivor_id=survivor_id,
        restored_id=restored_id,
        now=now,
    )
    _attributes_rebuild(
        tenant=tenant, undo=undo, records=records, plan=plan, survivor_id=survivor_id, restored_id=restored_id, now=now
    )
    counts["endpoints"] = _endpoints_restore(
        tenant=tenant,
        entry=entry,
        records=records,
        plan=plan,
        survivor_id=survivor_id,
        restored_id=restored_id,
        now=now,
    )
    counts["participants"] = _participants_restore(
        tenant=tenant, undo=undo, survivor_id=survivor_id, restored_id=restored_id
    )
    DerivedValue.objects.filter(tenant=tenant, profile_id__in=[survivor_id, restored_id]).delete()
    derived_recompute(tenant_id=tenant.pk, profile_ids={survivor_id, restored_id})

    identifiers = [{"type": t, "value": v} for t, v in back]
    revert = _revert_record(tenant=tenant, entry=entry, identifiers=identifiers, counts=counts)
    return RevertOutcome(
        merge_id=entry.pk,
        survivor_id=survivor_id,
        restored_id=restored_id,
        dry_run=dry_run,
        identifiers=identifiers,
        counts=counts,
        revert_id=None if dry_run else revert.pk,
    )


def _rows_move_back(
    *,
    tenant: Tenant,
    plan: _Plan,
    moving: Sequence[int],
    tombstones: Sequence[uuid.UUID],
    survivor_id: uuid.UUID,
    restored_id: uuid.UUID,
    now: dt.datetime,
) -> dict[str, int]:
    """The restored profile lives again with the tombstones merged into it, the identifiers
    `moving` (pks) and its routed records; returns the records moved per kind."""
    counts: dict[str, int] = {}
    Profile.objects.filter(tenant=tenant, pk=restored_id).update(merged_into=None, merged_at=None, updated_at=now)
    if tombstones:
        Profile.objects.filter(tenant=tenant, pk__in=tombstones, merged_into_id=survivor_id).update(
            merged_into=restored_id, updated_at=now
        )
    Profile.objects.filter(tenant=tenant, pk=survivor_id).update(updated_at=now)
    Identifier.objects.filter(tenant=tenant, pk__in=moving).update(profile_id=restored_id)

    for kind, model in RECORD_MODELS:
        ids = [rid for rid, owner in plan.records.items() if owner == restored_id and plan.record_kind[rid] == kind]
        counts[kind] = len(ids)
        if ids:
            model.objects.filter(tenant=tenant, pk__in=ids).update(profile_id=restored_id)
    return counts


def _revert_record(
    *, tenant: Tenant, entry: MergeLedgerEntry, identifiers: list[dict[str, str]], counts: Mapping[str, int]
) -> MergeLedgerEntry:
    """The revert's own ledger entry, and the block that keeps the two profiles apart from now on."""
    survivor_id, restored_id = entry.survivor_id, entry.merged_id
    revert = MergeLedgerEntry.objects.create(
        tenant=tenant,
        survivor_id=survivor_id,
        merged_id=restored_id,
        rule=MergeLedgerEntry.RULE_REVERT,
        matched_by="",
        identifier_type=entry.identifier_type,
        identifier_value=entry.identifier_value,
        trigger=f"revert of merge {entry.pk}",
        source="",
        moved={"identifiers": len(identifiers), **counts},
        moved_identifiers=identifiers,
        reverts=entry.pk,
    )
    a, b = sorted((survivor_id, restored_id))
    MergeBlock.objects.get_or_create(tenant=tenant, profile_a=a, profile_b=b, defaults={"revert_entry_id": revert.pk})
    return revert


def _identifiers_of(tenant: Tenant, profile_id: uuid.UUID) -> list[tuple[int, str, str]]:
    return list(Identifier.objects.filter(tenant=tenant, profile_id=profile_id).values_list("pk", "type", "value"))


def _records_of(tenant: Tenant, profile_id: uuid.UUID) -> list[_Record]:
    """Every record of the survivor's family, in arrival order. The identity maps and the
    attached types come as text and are decoded once per distinct value: a profile's many
    events mostly repeat a handful of identity maps."""
    records: list[_Record] = []
    payloads = {"events": None, "profileUpdates": "attributes", "channelUpdates": "update"}
    decoded: dict[str | None, Any] = {None: None}

    def load(text: str | None) -> Any:
        if text not in decoded:
            decoded[text] = json.loads(text)  # type: ignore[arg-type]
        return decoded[text]

    for kind, model in RECORD_MODELS:
        columns = ["id", "received_at", "occurred_at", "source__key", "external_event_id"]
        if payloads[kind]:
            columns.append(payloads[kind])
        rows = (
            model.objects.filter(tenant=tenant, profile_id=profile_id)
            .annotate(
                identity_text=Cast("identity", TextField()), attached_text=Cast(KT("resolution__attached"), TextField())
            )
            .values_list("identity_text", "attached_text", *columns)
        )
        for identity, attached, rid, received_at, occurred_at, source, external_id, *payload in rows:
            records.append(
                _Record(
                    kind=kind,
                    id=rid,
                    identity=load(identity) or {},
                    attached=tuple(load(attached) or ()),
                    received_at=received_at,
                    occurred_at=occurred_at,
                    source=source,
                    external_id=external_id,
                    payload=payload[0] if payload else None,
                )
            )
    records.sort(key=lambda r: (r.received_at, r.occurred_at, r.kind, str(r.id)))
    return records


def _route(
    *,
    tenant: Tenant,
    entry: MergeLedgerEntry,
    family: Mapping[Key, int],
    records: Sequence[_Record],
    survivor_id: uuid.UUID,
    restored_id: uuid.UUID,
) -> _Plan:
    """Decide the owner of every identifier and record of the family (see the module docstring)."""
    plan = _Plan()
    owner = _owners_at_merge(entry=entry, family=family, survivor_id=survivor_id, restored_id=restored_id)
    floating = {key for key in family if key not in owner}  # attached after the merge
    attacher = _first_attachers(records=records, floating=floating)

    named = {(t, v) for r in records for t, v in r.identity.items()} - set(family)
    outside = _outside_owners(tenant=tenant, keys=named)
    externals: dict[uuid.UUID, str | None] = {pid: ext for pid, ext in outside.values() if ext is not None}
    outside_owner = {key: pid for key, (pid, _) in outside.items()}
    blocked = merge_blocks_among(
        tenant_id=tenant.pk, profile_ids={survivor_id, restored_id, *outside_owner.values()}
    ) | {frozenset((survivor_id, restored_id))}

    def external_of(pid: uuid.UUID) -> str | None:
        if pid in (survivor_id, restored_id):
            return next((v for (t, v), who in owner.items() if t == "EXTERNAL" and who == pid), None)
        return externals.get(pid)

    pending = list(range(len(records)))
    while pending:
        waiting: list[int] = []
        for index in pending:
            record = records[index]
            owners = _record_owners(
                record=record, index=index, owner=owner, outside=outside_owner, floating=floating, attacher=attacher
            )
            if owners is None:
                waiting.append(index)
                continue
            decided = resolution_plan(
                values=record.identity,
                owners=owners,
                externals={pid: external_of(pid) for pid in set(owners.values())},
                blocked=blocked,
            )
            target = _record_target(record=record, decided=decided, entry=entry, pair=(survivor_id, restored_id))
            plan.records[record.id] = target
            plan.record_kind[record.id] = record.kind
            for type in decided.attach:
                key = (type, record.identity[type])
                if key in floating and key not in owner:
                    owner[key] = target
        if len(waiting) == len(pending):  # nothing routed in a whole pass: they stay with the survivor
            for index in waiting:
                plan.records[records[index].id] = survivor_id
                plan.record_kind[records[index].id] = records[index].kind
            break
        pending = waiting
    for key in floating:
        owner.setdefault(key, survivor_id)
    plan.identifiers = owner
    _outsiders_check(
        tenant=tenant,
        entry=entry,
        owner=owner,
        family_ids={survivor_id, restored_id, *map(uuid.UUID, entry.undo.get("tombstones", []))},  # type: ignore[union-attr]
        external_of=external_of,
        blocked=blocked,
    )
    return plan


def _owners_at_merge(
    *, entry: MergeLedgerEntry, family: Mapping[Key, int], survivor_id: uuid.UUID, restored_id: uuid.UUID
) -> dict[Key, uuid.UUID]:
    """The identifiers of the family whose side the ledger entry records: those the merge
    moved go back, those the survivor held stay."""
    undo: dict[str, Any] = entry.undo  # type: ignore[assignment]
    owner: dict[Key, uuid.UUID] = {}
    for item in entry.moved_identifiers:
        key = (item["type"], item["value"])
        if key in family:
            owner[key] = restored_id
    for item in undo.get("survivorIdentifiers", []):
        key = (item["type"], item["value"])
        if key in family and key not in owner:
            owner[key] = survivor_id
    return owner


def _first_attachers(*, records: Sequence[_Record], floating: set[Key]) -> dict[Key, int]:
    """For each identifier attached after the merge, the index of the first record that attached it."""
    attacher: dict[Key, int] = {}
    for index, record in enumerate(records):
        for type in record.attached:
            key = (type, record.identity.get(type, ""))
            if key in floating and key not in attacher:
                attacher[key] = index
    return attacher


def _record_owners(
    *,
    record: _Record,
    index: int,
    owner: Mapping[Key, uuid.UUID],
    outside: Mapping[Key, uuid.UUID],
    floating: set[Key],
    attacher: Mapping[Key, int],
) -> dict[str, uuid.UUID] | None:
    """The owners of the record's identifiers as routed so far, or None while one of them
    is attached by a record not routed yet."""
    owners: dict[str, uuid.UUID] = {}
    wait = False
    for type, value in record.identity.items():
        key = (type, value)
        if key in owner:
            owners[type] = owner[key]
        elif key in outside:
            owners[type] = outside[key]
        elif key in floating and attacher.get(key) != index:
            wait = True  # attached by a record not routed yet
    return None if wait else owners


def _record_target(
    *, record: _Record, decided: Plan, entry: MergeLedgerEntry, pair: tuple[uuid.UUID, uuid.UUID]
) -> uuid.UUID:
    """The side of the reverted pair (survivor, restored) a record resolves to now; a record
    that would now resolve elsewhere, or merge, makes the revert inexact: refused."""
    survivor_id, restored_id = pair
    target = decided.primary_id
    if decided.merges or (target is not None and target not in (survivor_id, restored_id)):
        raise not_revertible(
            f"The {record.trigger} would now resolve differently (to another profile or with a "
            f"merge); merge {entry.pk} cannot be reverted exactly."
        )
    return target or survivor_id


def _outsiders_check(
    *,
    tenant: Tenant,
    entry: MergeLedgerEntry,
    owner: Mapping[Key, uuid.UUID],
    family_ids: set[uuid.UUID],
    external_of: Any,
    blocked: Any,
) -> None:
    """Records that went to *another* profile because the merged family refused them (an
    identity conflict naming it) must land there still once the family is split; one that
    would now go to the restored profile (say, claim it) means the history would have gone
    differently, and the merge is not revertible exactly."""
    primaries = set(
        IdentityConflict.objects.filter(tenant=tenant, owner_profile_id__in=family_ids).values_list(
            "primary_profile_id", flat=True
        )
    )
    if not primaries:
        return
    live = {
        pid if into is None else into
        for pid, into in Profile.objects.filter(tenant=tenant, pk__in=primaries).values_list("pk", "merged_into_id")
    } - family_ids
    named = {str(pid) for pid in family_ids}
    refused: list[tuple[Any, uuid.UUID, dict[str, str], str, str]] = []
    for _, model in RECORD_MODELS:
        rows = model.objects.filter(tenant=tenant, profile_id__in=live).values_list(
            "profile_id", "identity", "resolution", "source__key", "external_event_id"
        )
        for profile_id, identity, resolution, source, external_id in rows:
            if any(c.get("ownerProfileId") in named for c in (resolution or {}).get("conflicts", [])):
                refused.append((model, profile_id, identity, source, external_id))
    # The owners of every identifier those records name outside the family, read once.
    outside = _outside_owners(
        tenant=tenant, keys={(t, v) for _, _, identity, _, _ in refused for t, v in identity.items()} - set(owner)
    )
    for model, profile_id, identity, source, external_id in refused:
        keys = {(t, v) for t, v in identity.items()}
        owners = {
            t: owner[(t, v)] if (t, v) in owner else outside[(t, v)][0]
            for t, v in keys
            if (t, v) in owner or (t, v) in outside
        }
        externals = {pid: external_of(pid) for pid in owners.values()}
        externals.update({pid: ext for pid, ext in outside.values() if pid in externals})
        decided = resolution_plan(values=identity, owners=owners, externals=externals, blocked=blocked)
        if decided.primary_id != profile_id or decided.merges:
            raise not_revertible(
                f"{model._meta.verbose_name.capitalize()} {source}/{external_id} went to profile {profile_id} "
                f"because the merged profile refused it; it would now resolve differently, so merge "
                f"{entry.pk} cannot be reverted exactly."
            )


def _outside_owners(*, tenant: Tenant, keys: set[Key]) -> dict[Key, tuple[uuid.UUID, str | None]]:
    """Owners (and their EXTERNAL ids) of identifiers outside the family, in two queries."""
    if not keys:
        return {}
    rows = Identifier.objects.filter(
        tenant=tenant, type__in={t for t, _ in keys}, value__in={v for _, v in keys}
    ).values_list("type", "value", "profile_id")
    found = {(t, v): pid for t, v, pid in rows if (t, v) in keys}
    ext = dict(
        Identifier.objects.filter(tenant=tenant, type="EXTERNAL", profile_id__in=set(found.values())).values_list(
            "profile_id", "value"
        )
    )
    return {key: (pid, ext.get(pid)) for key, pid in found.items()}


@dataclass
class _Value:
    value: object
    occurred_at: dt.datetime
    source: str


def _attributes_rebuild(
    *,
    tenant: Tenant,
    undo: Mapping[str, Any],
    records: Sequence[_Record],
    plan: _Plan,
    survivor_id: uuid.UUID,
    restored_id: uuid.UUID,
    now: dt.datetime,
) -> None:
    """Each profile: its values from just before the merge, then every profile update that
    belongs to it now, applied again by the usual rule (an update it already held changes nothing)."""
    state: dict[uuid.UUID, dict[str, _Value]] = {}
    for pid, snapshot in (
        (survivor_id, undo.get("survivorAttributes", [])),
        (restored_id, undo.get("mergedAttributes", [])),
    ):
        state[pid] = {
            row["name"]: _Value(row["value"], parse_rfc3339(row["occurredAt"]), row.get("source", ""))
            for row in snapshot
        }
    for record in records:
        if record.kind != "profileUpdates":
            continue
        rows = state[plan.records[record.id]]
        for name, value in sorted((record.payload or {}).items()):
            current = rows.get(name)
            if current is None or attribute_wins(
                new_occurred_at=record.occurred_at,
                new_value=value,
                old_occurred_at=current.occurred_at,
                old_value=current.value,
            ):
                rows[name] = _Value(value, record.occurred_at, record.source)
    AttributeValue.objects.filter(tenant=tenant, profile_id__in=[survivor_id, restored_id]).delete()
    AttributeValue.objects.bulk_create(
        [
            AttributeValue(
                tenant=tenant,
                profile_id=pid,
                name=name,
                value=item.value,
                occurred_at=item.occurred_at,
                source=item.source[:63],
            )
            for pid, rows in state.items()
            for name, item in sorted(rows.items())
        ]
    )


def _endpoints_restore(
    *,
    tenant: Tenant,
    entry: MergeLedgerEntry,
    records: Sequence[_Record],
    plan: _Plan,
    survivor_id: uuid.UUID,
    restored_id: uuid.UUID,
    now: dt.datetime,
) -> int:
    """The endpoints each profile had at the merge go back to it with their active flags then;
    one declared after the merge goes to the profile its latest channel update belongs to now
    and becomes active there when it is the most recently declared. Consent and history stay."""
    undo: dict[str, Any] = entry.undo  # type: ignore[assignment]
    recorded: dict[int, tuple[uuid.UUID, bool]] = {}
    for pk, active in undo.get("survivorEndpointRows", []):
        recorded[pk] = (survivor_id, bool(active))
    for pk, active in undo.get("endpointRows", []):
        recorded[pk] = (restored_id, bool(active))
    rows = list(
        Endpoint.objects.filter(tenant=tenant, profile_id=survivor_id).values_list(
            "pk", "channel", "active", "declared_at"
        )
    )
    later = [pk for pk, _, _, _ in rows if pk not in recorded]
    declared_by = _later_declarers(tenant=tenant, later=later, records=records, plan=plan)
    owner: dict[int, uuid.UUID] = {}
    active: dict[int, bool] = {}
    for pk, _, _, _ in rows:
        if pk in recorded:
            owner[pk], active[pk] = recorded[pk]
        else:
            owner[pk], active[pk] = declared_by.get(pk, survivor_id), False
    channel_of = {pk: channel for pk, channel, _, _ in rows}
    declared_at = {pk: at for pk, _, _, at in rows}
    for pk in sorted(later, key=lambda p: (declared_at[p], p)):
        current = [
            o for o in owner if o != pk and owner[o] == owner[pk] and channel_of[o] == channel_of[pk] and active[o]
        ]
        if not current or declared_at[current[0]] < declared_at[pk]:
            for other in current:
                active[other] = False
            active[pk] = True
    originally = {pk: is_active for pk, _, is_active, _ in rows}
    return _endpoints_move(
        tenant=tenant,
        entry=entry,
        owner=owner,
        active=active,
        originally=originally,
        survivor_id=survivor_id,
        restored_id=restored_id,
        now=now,
    )


def _later_declarers(
    *, tenant: Tenant, later: Sequence[int], records: Sequence[_Record], plan: _Plan
) -> dict[int, uuid.UUID]:
    """For endpoints declared after the merge: the profile their latest channel update is routed to."""
    by_trigger = {r.trigger: r for r in records if r.kind == "channelUpdates"}
    declared_by: dict[int, uuid.UUID] = {}
    if later:
        history = EndpointHistory.objects.filter(tenant=tenant, endpoint_id__in=later).order_by("occurred_at", "pk")
        for endpoint_id, trigger in history.values_list("endpoint_id", "trigger"):
            record = by_trigger.get(trigger)
            if record is not None:
                declared_by[endpoint_id] = plan.records[record.id]
    return declared_by


def _endpoints_move(
    *,
    tenant: Tenant,
    entry: MergeLedgerEntry,
    owner: Mapping[int, uuid.UUID],
    active: Mapping[int, bool],
    originally: Mapping[int, bool],
    survivor_id: uuid.UUID,
    restored_id: uuid.UUID,
    now: dt.datetime,
) -> int:
    """Write the endpoints' end owners and active flags, with a history row for each that goes
    back to the restored profile; returns how many went back."""
    moving = [pk for pk in owner if owner[pk] == restored_id]
    changed = [pk for pk in owner if owner[pk] != survivor_id or active[pk] != originally[pk]]
    # Every changed row inactive first, then each to its end state: no (profile, channel)
    # holds two active rows on the way.
    Endpoint.objects.filter(tenant=tenant, pk__in=changed).update(active=False, updated_at=now)
    for pk in changed:
        if owner[pk] != survivor_id or active[pk]:
            Endpoint.objects.filter(tenant=tenant, pk=pk).update(
                profile_id=owner[pk], active=active[pk], updated_at=now
            )
    EndpointHistory.objects.bulk_create(
        [
            EndpointHistory(
                tenant=tenant,
                endpoint_id=pk,
                profile_id=restored_id,
                kind=HistoryKind.OWNERSHIP,
                state="merged",
                source="",
                occurred_at=now,
                trigger=f"revert of merge {entry.pk}",
                note=f"back to profile {restored_id} with its consent and history (merge {entry.pk} reverted)",
            )
            for pk in moving
        ]
    )
    return len(moving)


def _participants_restore(
    *, tenant: Tenant, undo: Mapping[str, Any], survivor_id: uuid.UUID, restored_id: uuid.UUID
) -> int:
    """Participants the merge moved go back; one it combined into the survivor's participant
    is recreated with its values, and the values it lent the survivor's go with it unless the
    survivor's participant changed them since."""
    rows = undo.get("participantRows", [])
    moved = [uuid.UUID(row["id"]) for row in rows if not row.get("combinedInto")]
    if moved:
        Participant.objects.filter(tenant=tenant, pk__in=moved, profile_id=survivor_id).update(profile_id=restored_id)
    combined = [row for row in rows if row.get("combinedInto")]
    for row in combined:
        participant, _ = Participant.objects.get_or_create(
            tenant=tenant,
            pk=uuid.UUID(row["id"]),
            defaults={"campaign_id": row["campaign"], "profile_id": restored_id},
        )
        if row.get("createdAt"):
            Participant.objects.filter(pk=participant.pk).update(created_at=parse_rfc3339(row["createdAt"]))
        values = {int(definition): value for definition, value in row.get("values", {}).items()}
        existing = set(VariableDefinition.objects.filter(pk__in=list(values)).values_list("pk", flat=True))
        lent = {int(definition) for definition in row.get("lent", [])} & existing
        kept = VariableValue.objects.filter(tenant=tenant, participant_id=uuid.UUID(row["combinedInto"]))
        for definition_id, value in kept.filter(definition_id__in=lent).values_list("definition_id", "value"):
            if value == values[definition_id]:  # lent by the merged participant and unchanged since
                kept.filter(definition_id=definition_id).delete()
        VariableValue.objects.bulk_create(
            [
                VariableValue(tenant=tenant, participant=participant, definition_id=definition_id, value=value)
                for definition_id, value in values.items()
                if definition_id in existing
            ]
        )
    return len(moved) + len(combined)
