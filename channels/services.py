"""Writes of the channels app: declaring endpoints, consent and reachability (latest
occurredAt wins per field), ownership moves, and endpoints following a merge.

Rules (DESIGN.md §5, docs/channels.md):
- Ownership follows the latest declaration. A declaration by another profile that is
  newer than the owner's latest takes the endpoint over; an older one changes nothing
  but the consent floor (below). On an exact tie the current owner keeps it.
- Consent belongs to the owner: a takeover resets it to `unknown`, and an owner's consent
  counts only if it occurred after the latest declaration by any other profile
  (`others_declared_at`). So a recycled number never inherits an opt-in, whatever order
  the updates arrive in. `unknown` reads as `no_consent` for readiness.
- Reachability belongs to the address and survives a change of owner.
- Per field the latest `occurredAt` wins; on an exact tie the more restrictive state
  wins (denied > pending > granted; bounced > unreachable > reachable), so the result
  never depends on arrival order.
- A declaration without consent or reachability only claims the endpoint (and may make
  it the profile's active one); it leaves consent and reachability alone.
- The profile's active endpoint on a channel is the one declared most recently; after a
  merge the survivor's stays active until a newer declaration.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from cdp_project.core.bulk import TENANT_RECHECKED, as_uuid, ids_in, rows_insert, rows_update
from cdp_project.core.timestamps import format_utc

from .locks import endpoint_key_lock, endpoint_lock, profile_channels_lock
from .models import CONSENT_UNKNOWN, Endpoint, EndpointHistory, HistoryKind, address_digest
from .normalization import PHONE_CHANNELS, phone_number_type
from .types import ChannelUpdateSpec

# Higher rank wins an exact occurredAt tie.
CONSENT_RANK = {CONSENT_UNKNOWN: 0, "granted": 1, "pending": 2, "denied": 3}
REACHABILITY_RANK = {"reachable": 0, "unreachable": 1, "bounced": 2}


def _newer(
    occurred_at: dt.datetime, state: str, current_at: dt.datetime | None, current: str, rank: dict[str, int]
) -> bool:
    if current_at is None or occurred_at > current_at:
        return True
    return occurred_at == current_at and rank[state] > rank[current]


def _locked_endpoint(*, tenant_id: int, profile_id: uuid.UUID, channel: str, address_key: str) -> Endpoint | None:
    """Take the locks of channels/locks.py in their order and return the endpoint row
    (locked), or None when it does not exist yet."""
    endpoint_key_lock(tenant_id=tenant_id, channel=channel, address_key=address_key)
    locked: set[uuid.UUID] = set()
    while True:
        owner = (
            Endpoint.objects.filter(tenant_id=tenant_id, channel=channel, address_key=address_key)
            .values_list("profile_id", flat=True)
            .first()
        )
        wanted = {profile_id} | ({owner} if owner is not None else set())
        if wanted <= locked:
            break
        # Only a merge can move the endpoint between our read and our lock; then lock its new owner too.
        profile_channels_lock(tenant_id=tenant_id, profile_ids=wanted - locked)
        locked |= wanted
    return endpoint_lock(tenant_id=tenant_id, channel=channel, address_key=address_key)


def _activate_if_newest(endpoint: Endpoint, occurred_at: dt.datetime) -> bool:
    """A declaration at `occurred_at` makes the endpoint its owner's active one on the
    channel unless the active one was declared later (or at the same time)."""
    if endpoint.active:
        return False
    current = (
        Endpoint.objects.filter(
            tenant_id=endpoint.tenant_id, profile_id=endpoint.profile_id, channel=endpoint.channel, active=True
        )
        .exclude(pk=endpoint.pk)
        .first()
    )
    if current is not None and current.declared_at >= occurred_at:
        return False
    if current is not None:
        Endpoint.objects.filter(pk=current.pk).update(active=False, updated_at=timezone.now())
    endpoint.active = True
    return True


def _reactivate_latest(*, tenant_id: int, profile_id: uuid.UUID, channel: str) -> None:
    """After a profile lost its active endpoint on a channel, its most recently declared
    remaining one there becomes active."""
    remaining = Endpoint.objects.filter(tenant_id=tenant_id, profile_id=profile_id, channel=channel)
    if remaining.filter(active=True).exists():
        return
    latest = remaining.order_by("-declared_at", "-pk").first()
    if latest is not None:
        Endpoint.objects.filter(pk=latest.pk).update(active=True, updated_at=timezone.now())


def _history(
    endpoint: Endpoint,
    *,
    profile_id: uuid.UUID,
    kind: str,
    state: str,
    occurred_at: dt.datetime,
    source: str,
    trigger: str,
    evidence: str = "",
    effect: str = EndpointHistory.EFFECT_APPLIED,
    note: str = "",
) -> EndpointHistory:
    return EndpointHistory(
        tenant_id=endpoint.tenant_id,
        endpoint=endpoint,
        profile_id=profile_id,
        kind=kind,
        state=state,
        source=source[:63],
        occurred_at=occurred_at,
        evidence=evidence,
        trigger=trigger[:512],
        effect=effect,
        note=note[:300],
    )


def _reset_consent(endpoint: Endpoint) -> None:
    endpoint.consent = CONSENT_UNKNOWN
    endpoint.consent_occurred_at = None
    endpoint.consent_source = ""
    endpoint.consent_evidence = ""


@dataclass(frozen=True)
class _Declaration:
    """Who declares the endpoint, when, and through what: what every history row of one update shares."""

    profile_id: uuid.UUID
    occurred_at: dt.datetime
    source: str
    trigger: str


def _ownership_history(
    endpoint: Endpoint, by: _Declaration, *, profile_id: uuid.UUID, state: str, note: str
) -> EndpointHistory:
    return _history(
        endpoint,
        profile_id=profile_id,
        kind=HistoryKind.OWNERSHIP,
        state=state,
        occurred_at=by.occurred_at,
        source=by.source,
        trigger=by.trigger,
        note=note,
    )


def _endpoint_claim(
    *, tenant_id: int, spec: ChannelUpdateSpec, address_key: str, by: _Declaration, history: list[EndpointHistory]
) -> Endpoint:
    """The first declaration of an address: a new endpoint, owned by the declaring profile."""
    endpoint = Endpoint.objects.create(
        tenant_id=tenant_id,
        channel=spec.channel,
        address=spec.address,
        address_key=address_key,
        number_type=phone_number_type(spec.address) if spec.channel in PHONE_CHANNELS else "",
        profile_id=by.profile_id,
        declared_at=by.occurred_at,
        declared_source=by.source[:63],
    )
    history.append(_ownership_history(endpoint, by, profile_id=by.profile_id, state="claimed", note="first declared"))
    return endpoint


def _endpoint_take_over(
    endpoint: Endpoint, *, by: _Declaration, history: list[EndpointHistory], outcome: dict[str, Any]
) -> None:
    """A declaration by another profile, newer than the owner's latest: it takes the endpoint
    over, and the previous owner's consent does not come along."""
    previous_owner = endpoint.profile_id
    outcome["ownership"] = "taken_over"
    outcome["previousOwner"] = str(previous_owner)
    outcome["previousConsent"] = endpoint.consent
    note = f"taken over from profile {previous_owner}; consent reset to unknown (was {endpoint.consent})"
    history.append(
        _ownership_history(
            endpoint, by, profile_id=previous_owner, state="released", note=f"declared by profile {by.profile_id}"
        )
    )
    history.append(_ownership_history(endpoint, by, profile_id=by.profile_id, state="claimed", note=note))
    endpoint.others_declared_at = endpoint.declared_at
    endpoint.profile_id = by.profile_id
    endpoint.declared_at = by.occurred_at
    endpoint.declared_source = by.source[:63]
    endpoint.active = False
    _reset_consent(endpoint)


def _declaration_stale(
    endpoint: Endpoint, *, by: _Declaration, history: list[EndpointHistory], outcome: dict[str, Any]
) -> None:
    """A declaration by another profile, older than the owner's latest: the owner keeps
    the endpoint, but consent given before this declaration no longer counts."""
    occurred_at, profile_id = by.occurred_at, by.profile_id
    outcome["ownership"] = "stale"
    outcome["owner"] = str(endpoint.profile_id)
    if endpoint.others_declared_at is None or occurred_at > endpoint.others_declared_at:
        endpoint.others_declared_at = occurred_at
        if endpoint.consent_occurred_at is not None and endpoint.consent_occurred_at <= occurred_at:
            history.append(
                _history(
                    endpoint,
                    profile_id=endpoint.profile_id,
                    kind=HistoryKind.CONSENT,
                    state=CONSENT_UNKNOWN,
                    occurred_at=occurred_at,
                    source=by.source,
                    trigger=by.trigger,
                    note=f"profile {profile_id} declared the endpoint after this consent was given; reset",
                )
            )
            outcome["consentReset"] = True
            _reset_consent(endpoint)


def channel_update_apply(
    *,
    tenant_id: int,
    profile_id: uuid.UUID,
    spec: ChannelUpdateSpec,
    occurred_at: dt.datetime,
    source: str,
    trigger: str,
) -> dict[str, Any]:
    """Claim the endpoint for the profile and apply consent/reachability (latest
    occurredAt wins per field). Runs inside the caller's transaction. Returns a small
    summary of what changed (stored with the update for audit)."""
    key = address_digest(spec.address)
    endpoint = _locked_endpoint(tenant_id=tenant_id, profile_id=profile_id, channel=spec.channel, address_key=key)
    history: list[EndpointHistory] = []
    outcome: dict[str, Any] = {"channel": spec.channel, "address": spec.address}
    previous_owner: uuid.UUID | None = None
    owner_applies = True  # does this update speak for the endpoint's (possibly new) owner?
    by = _Declaration(profile_id=profile_id, occurred_at=occurred_at, source=source, trigger=trigger)

    if endpoint is None:
        endpoint = _endpoint_claim(tenant_id=tenant_id, spec=spec, address_key=key, by=by, history=history)
        outcome["ownership"] = "claimed"
    elif endpoint.profile_id == profile_id:
        outcome["ownership"] = "kept"
        if occurred_at > endpoint.declared_at:
            endpoint.declared_at = occurred_at
            endpoint.declared_source = source[:63]
    elif occurred_at > endpoint.declared_at:
        previous_owner = endpoint.profile_id
        _endpoint_take_over(endpoint, by=by, history=history, outcome=outcome)
    else:
        owner_applies = False
        _declaration_stale(endpoint, by=by, history=history, outcome=outcome)

    if spec.consent is not None:
        history.append(_consent_apply(endpoint, spec, occurred_at, source, trigger, profile_id, owner_applies))
        outcome["consent"] = history[-1].effect
    if spec.reachability is not None:
        history.append(_reachability_apply(endpoint, spec, occurred_at, source, trigger, profile_id))
        outcome["reachability"] = history[-1].effect

    if owner_applies and _activate_if_newest(endpoint, occurred_at):
        outcome["active"] = True
    endpoint.save()
    if previous_owner is not None:
        _reactivate_latest(tenant_id=tenant_id, profile_id=previous_owner, channel=spec.channel)
    EndpointHistory.objects.bulk_create(history)
    outcome["state"] = {"consent": endpoint.consent, "reachability": endpoint.reachability, "active": endpoint.active}
    return outcome


def _consent_apply(
    endpoint: Endpoint,
    spec: ChannelUpdateSpec,
    occurred_at: dt.datetime,
    source: str,
    trigger: str,
    profile_id: uuid.UUID,
    owner_applies: bool,
) -> EndpointHistory:
    assert spec.consent is not None
    effect = EndpointHistory.EFFECT_APPLIED
    note = ""
    if not owner_applies:
        effect = EndpointHistory.EFFECT_BEFORE_OWNER
        note = f"the endpoint belongs to profile {endpoint.profile_id} since a later declaration"
    elif endpoint.others_declared_at is not None and occurred_at <= endpoint.others_declared_at:
        effect = EndpointHistory.EFFECT_BEFORE_OWNER
        note = f"given before another profile declared the endpoint at {format_utc(endpoint.others_declared_at)}"
    elif _newer(occurred_at, spec.consent, endpoint.consent_occurred_at, endpoint.consent, CONSENT_RANK):
        endpoint.consent = spec.consent
        endpoint.consent_occurred_at = occurred_at
        endpoint.consent_source = source[:63]
        endpoint.consent_evidence = spec.reason
    else:
        effect = EndpointHistory.EFFECT_OLDER
        assert endpoint.consent_occurred_at is not None
        note = f"the current consent occurred later, at {format_utc(endpoint.consent_occurred_at)}"
    return _history(
        endpoint,
        profile_id=profile_id,
        kind=HistoryKind.CONSENT,
        state=spec.consent,
        occurred_at=occurred_at,
        source=source,
        trigger=trigger,
        evidence=spec.reason,
        effect=effect,
        note=note,
    )


def _reachability_apply(
    endpoint: Endpoint,
    spec: ChannelUpdateSpec,
    occurred_at: dt.datetime,
    source: str,
    trigger: str,
    profile_id: uuid.UUID,
) -> EndpointHistory:
    assert spec.reachability is not None
    effect = EndpointHistory.EFFECT_APPLIED
    note = ""
    if _newer(
        occurred_at, spec.reachability, endpoint.reachability_occurred_at, endpoint.reachability, REACHABILITY_RANK
    ):
        endpoint.reachability = spec.reachability
        endpoint.reachability_occurred_at = occurred_at
        endpoint.reachability_source = source[:63]
        endpoint.reachability_reason = spec.reason
    else:
        effect = EndpointHistory.EFFECT_OLDER
        assert endpoint.reachability_occurred_at is not None
        note = f"the current reachability occurred later, at {format_utc(endpoint.reachability_occurred_at)}"
    return _history(
        endpoint,
        profile_id=profile_id,
        kind=HistoryKind.REACHABILITY,
        state=spec.reachability,
        occurred_at=occurred_at,
        source=source,
        trigger=trigger,
        evidence=spec.reason,
        effect=effect,
        note=note,
    )


def endpoints_move_on_merge(
    *, tenant_id: int, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Merge handler: the merged profiles' endpoints move to their survivors with their
    consent, reachability and history. Where both had an active endpoint on a channel,
    the survivor's stays active (DESIGN.md §4). Every pair of the batch at once: the
    channel locks of all profiles in one statement, one read, the merges replayed in
    order in memory, then one UPDATE and one history insert."""
    profiles = {pid for pair in pairs for pid in pair}
    profile_channels_lock(tenant_id=tenant_id, profile_ids=profiles)
    condition, params = ids_in(Endpoint, "profile", sorted(profiles))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, profile_id, channel, active FROM {Endpoint._meta.db_table}"  # noqa: S608 - names from metadata
            f" WHERE {condition} AND {TENANT_RECHECKED}",
            [*params, tenant_id],
        )
        rows = [(pk, as_uuid(profile_id), channel, bool(on)) for pk, profile_id, channel, on in cursor.fetchall()]
    merged_ids = {merged for merged, _ in pairs}
    moved: dict[uuid.UUID, dict[str, Any]] = {
        merged: {"endpoints": 0, "endpointRows": [], "survivorEndpointRows": []} for merged in merged_ids
    }
    holding: dict[uuid.UUID, set[int]] = {}  # profile -> its endpoint rows, as the merges replay
    for pk, profile_id, _, _ in rows:
        holding.setdefault(profile_id, set()).add(pk)
    if not any(profile_id in merged_ids for _, profile_id, _, _ in rows):
        active_of = {pk: is_active for pk, _, _, is_active in rows}
        for merged, survivor in pairs:  # a revert still needs the survivor's own endpoints
            moved[merged]["survivorEndpointRows"] = sorted([pk, active_of[pk]] for pk in holding.get(survivor, ()))
        return moved
    now = timezone.now()
    owner = {pk: profile_id for pk, profile_id, _, _ in rows}
    active = {pk: is_active for pk, _, _, is_active in rows}
    channel_of = {pk: channel for pk, _, channel, _ in rows}
    original = dict((pk, (profile_id, is_active)) for pk, profile_id, _, is_active in rows)
    history: list[tuple[object, ...]] = []
    for merged, survivor in pairs:
        kept = holding.setdefault(survivor, set())
        survivor_active = {channel_of[pk] for pk in kept if active[pk]}
        moving = sorted(holding.pop(merged, ()))
        # What a revert puts back: both sides' endpoints with their active flags before the merge.
        moved[merged]["endpointRows"] = [[pk, active[pk]] for pk in moving]
        moved[merged]["survivorEndpointRows"] = sorted([pk, active[pk]] for pk in kept)
        for pk in moving:
            kept_survivors = active[pk] and channel_of[pk] in survivor_active
            if kept_survivors:
                active[pk] = False
            owner[pk] = survivor
            kept.add(pk)
            note = f"moved from merged profile {merged} with its consent and history" + (
                "; the survivor's endpoint stays active" if kept_survivors else ""
            )
            trigger = f"merge of profile {merged}"
            history.append(
                (tenant_id, pk, survivor, HistoryKind.OWNERSHIP.value, "merged", "", now, "", trigger,
                 EndpointHistory.EFFECT_APPLIED, note[:300], now)
            )  # fmt: skip
        moved[merged]["endpoints"] = len(moving)
    changes = [(pk, owner[pk], active[pk], now) for pk in owner if (owner[pk], active[pk]) != original[pk]]
    # Deactivations land in the same statement as the moves; no row ends up active twice
    # on one (profile, channel), and no row moves onto one that stays active there.
    rows_update(Endpoint, ["profile", "active", "updated_at"], changes, tenant_id=tenant_id)
    rows_insert(EndpointHistory, HISTORY_COLUMNS, history)
    return moved


HISTORY_COLUMNS = (
    "tenant",
    "endpoint",
    "profile_id",
    "kind",
    "state",
    "source",
    "occurred_at",
    "evidence",
    "trigger",
    "effect",
    "note",
    "recorded_at",
)
