"""Writes of the runtime app: campaigns and their variables, runtime sessions, variable values."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from cdp_project.core.errors import FieldProblem, Problem, ProblemError, already_exists, not_found, problems_detail
from cdp_project.core.retries import run_with_retries
from identity.normalization import identity_normalize
from identity.selectors import identifier_owner_get
from identity.types import IDENTIFIER_TYPES
from profiles.locks import profiles_lock
from tenants.models import Tenant

from .authentication import participant_gone
from .locks import participant_lock_for_variables, participants_lock
from .models import Campaign, Participant, VariableDefinition, VariableValue
from .selectors import (
    campaign_checker,
    campaign_checker_forget,
    campaign_get_active,
    participant_of_profile,
    participant_stored_values,
)
from .tokens import TokenClaims, runtime_token_mint
from .variables import VariableSpec

# --- campaigns ----------------------------------------------------------------------------


def _already_exists(key: str) -> ProblemError:
    return already_exists(f"A campaign {key!r} exists already.")


def campaign_create(
    *, tenant: Tenant, key: str, name: str, active: bool = True, variables: Sequence[VariableSpec] = ()
) -> Campaign:
    """Create a campaign with its variable definitions; 409 `already_exists` for a taken key."""
    try:
        with transaction.atomic():
            campaign = Campaign.objects.create(tenant=tenant, key=key, name=name, active=active)
            _variables_write(campaign=campaign, variables=variables)
    except IntegrityError:
        if Campaign.objects.filter(tenant=tenant, key=key).exists():
            raise _already_exists(key) from None
        raise
    return campaign


def campaign_update(
    *,
    campaign: Campaign,
    name: str | None = None,
    active: bool | None = None,
    variables: Sequence[VariableSpec] | None = None,
) -> Campaign:
    """Change what is given. `variables` replaces the whole list: definitions are matched
    by name, so values of a kept variable survive; a removed variable loses its values.
    Deactivating makes the campaign's runtime tokens fail on their next request.

    The campaign row is written first: that waits for variable writes in flight (they
    share the row, `runtime.locks`) and holds off new ones until the definitions are done.
    A change of variables raises `variables_version`, which per-process caches compare."""
    with transaction.atomic():
        fields = ["updated_at"]
        if name is not None:
            campaign.name = name
            fields.append("name")
        if active is not None:
            campaign.active = active
            fields.append("active")
        if variables is not None:
            campaign.variables_version = F("variables_version") + 1
            fields.append("variables_version")
        campaign.save(update_fields=fields)
        if variables is not None:
            campaign.refresh_from_db(fields=["variables_version"])
            _variables_write(campaign=campaign, variables=variables)
    if variables is not None:
        campaign_checker_forget(campaign=campaign)
    return campaign


def _variables_write(*, campaign: Campaign, variables: Sequence[VariableSpec]) -> None:
    existing = {row.name: row for row in VariableDefinition.objects.filter(campaign=campaign)}
    wanted = {spec.name for spec in variables}
    gone = [row.pk for name, row in existing.items() if name not in wanted]
    if gone:
        VariableDefinition.objects.filter(pk__in=gone).delete()
    for position, spec in enumerate(variables):
        field = spec.field
        attrs = {
            "type": field.type,
            "values": list(field.values),
            "max_length": field.max_length,
            "minimum": field.minimum,
            "maximum": field.maximum,
            "default": spec.default,
            "position": position,
        }
        row = existing.get(spec.name)
        if row is None:
            VariableDefinition.objects.create(tenant_id=campaign.tenant_id, campaign=campaign, name=spec.name, **attrs)
        else:
            for attr, value in attrs.items():
                setattr(row, attr, value)
            row.save()


# --- sessions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RuntimeSession:
    token: str
    claims: TokenClaims
    participant: Participant
    created_participant: bool


def _profile_by_identity(*, tenant: Tenant, identity: Any) -> uuid.UUID:
    """Lookup only: the owner of the highest-precedence identifier that has one. An
    EXTERNAL id nobody owns is a 404: a weaker identifier never stands in for an unknown
    customer id. Never creates a profile."""
    normalized = identity_normalize(tenant=tenant, identity=identity)
    if normalized.problems:
        count = len(normalized.problems)
        raise Problem.INVALID_IDENTITY.error(f"{count} problem(s) in identity", normalized.problems)
    for type_ in IDENTIFIER_TYPES:
        value = normalized.values.get(type_)
        if value is None:
            continue
        owner = identifier_owner_get(tenant=tenant, type=type_, value=value)
        if owner is not None:
            return owner.pk
        if type_ == "EXTERNAL":
            break
    raise not_found("No profile has this identity.")


def runtime_session_create(
    *, tenant: Tenant, campaign_key: str, identity: Mapping[str, Any] | None = None, profile_id: uuid.UUID | None = None
) -> RuntimeSession:
    """Mint a runtime token for one profile in one active campaign, creating its
    participant on first use. The profile is found by identity (lookup only) or by id
    (merged ids lead to the survivor). Unknown or inactive campaign, unknown profile: 404."""
    if (identity is None) == (profile_id is None):
        raise Problem.VALIDATION_ERROR.error(
            "Give exactly one of identity and profileId.",
            [FieldProblem("/identity", "required", "Give exactly one of identity and profileId.")],
        )
    campaign = campaign_get_active(tenant=tenant, key=campaign_key)
    requested = _profile_by_identity(tenant=tenant, identity=identity) if identity is not None else profile_id
    assert requested is not None

    participant, created = _participant_get_or_create(tenant=tenant, campaign=campaign, profile_id=requested)
    token, claims = runtime_token_mint(
        tenant_id=tenant.pk,
        campaign_key=campaign.key,
        participant_id=participant.pk,
        profile_id=participant.profile_id,
    )
    return RuntimeSession(token=token, claims=claims, participant=participant, created_participant=created)


# Merges compress chains, so a tombstone leads to a live profile in one hop; the bound only
# guards against a corrupted chain.
_MAX_HOPS = 8


def _participant_get_or_create(
    *, tenant: Tenant, campaign: Campaign, profile_id: uuid.UUID
) -> tuple[Participant, bool]:
    """The participant of the live profile `profile_id` leads to, created on first use:
    two statements for a known participant, three for a new one."""
    wanted = profile_id
    conflicts = 0
    for _ in range(_MAX_HOPS):
        try:
            outcome = run_with_retries(
                lambda: _participant_attempt(tenant=tenant, campaign=campaign, profile_id=wanted)  # noqa: B023
            )
        except IntegrityError:
            # A participant inserted by a transaction that did not hold the profile row;
            # the next attempt finds it.
            conflicts += 1
            if conflicts > 1:
                raise
            continue
        if isinstance(outcome, uuid.UUID):
            wanted = outcome  # a tombstone: its lock was released with the transaction
            continue
        return outcome
    raise not_found(f"No profile {profile_id}.")


def _participant_attempt(
    *, tenant: Tenant, campaign: Campaign, profile_id: uuid.UUID
) -> tuple[Participant, bool] | uuid.UUID:
    """One transaction: lock the profile row, then find or create the participant. The
    lock orders us against a merge of this profile (which takes it too): a participant is
    never created for a profile that is becoming a tombstone. For a tombstone, answers the
    survivor's id without holding its row (a merge compressing the chain locks tombstones
    after survivors)."""
    with transaction.atomic(durable=True):
        locked = profiles_lock(tenant_id=tenant.pk, profile_ids=[profile_id])
        if not locked:
            raise not_found(f"No profile {profile_id}.")
        if locked[0].merged_into_id is not None:
            return locked[0].merged_into_id
        participant = participant_of_profile(tenant_id=tenant.pk, campaign_id=campaign.pk, profile_id=profile_id)
        if participant is not None:
            return participant, False
        return Participant.objects.create(tenant=tenant, campaign=campaign, profile_id=profile_id), True


# --- variables ----------------------------------------------------------------------------


def participant_variables_set(*, participant: Participant, changes: Any) -> dict[str, Any]:
    """Check `changes` against the campaign's definitions (unknown name or wrong type:
    422 with a pointer per problem, nothing written), then store them; null resets a
    variable to its default. Answers every variable, defaults filled in.

    The check and the write happen in one transaction that holds the participant row and
    shares its campaign row (`runtime.locks`): a concurrent campaign edit lands wholly
    before (a removed variable is then `unknown_variable`) or after, and a participant
    combined away by a merge is a 401 `token_revoked`, as its next request would be.
    Deadlocks are retried. Four statements with the definitions cached, five with resets."""

    def attempt() -> dict[str, Any]:
        with transaction.atomic(durable=True):
            version = participant_lock_for_variables(tenant_id=participant.tenant_id, participant_id=participant.pk)
            if version is None:
                raise participant_gone()
            checker = campaign_checker(campaign=participant.campaign, version=version)
            problems = checker.problems(changes)
            if problems:
                raise Problem.INVALID_VARIABLES.error(problems_detail(len(problems), "variables"), problems)
            stored = checker.by_name(participant_stored_values(participant=participant))
            written = [
                VariableValue(
                    tenant_id=participant.tenant_id,
                    participant_id=participant.pk,
                    definition=checker.definition(name),
                    value=value,
                )
                for name, value in changes.items()
                if value is not None
            ]
            if written:
                VariableValue.objects.bulk_create(
                    written,
                    update_conflicts=True,
                    unique_fields=["tenant", "participant", "definition"],
                    update_fields=["value", "updated_at"],
                )
            resets = [checker.definition(name).pk for name, value in changes.items() if value is None]
            if resets:
                VariableValue.objects.filter(
                    tenant_id=participant.tenant_id, participant_id=participant.pk, definition_id__in=resets
                ).delete()
            for name, value in changes.items():
                if value is None:
                    stored.pop(name, None)
                else:
                    stored[name] = value
            return checker.current(stored)

    return run_with_retries(attempt)


# --- merges -------------------------------------------------------------------------------


def participants_move_on_merge(
    *, tenant_id: int, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]
) -> dict[uuid.UUID, dict[str, int]]:
    """Merge handler for every merge of a batch: one query when none of the merged
    profiles takes part in a campaign (the usual case), else each pair in order."""
    merged_ids = [merged for merged, _ in pairs]
    moved: dict[uuid.UUID, dict[str, Any]] = {merged: {"participants": 0} for merged in merged_ids}
    if Participant.objects.filter(tenant_id=tenant_id, profile_id__in=merged_ids).exists():
        for merged, survivor in pairs:
            moved[merged] = _participants_move(tenant_id=tenant_id, survivor_id=survivor, merged_id=merged)
    return moved


def _participants_move(*, tenant_id: int, survivor_id: uuid.UUID, merged_id: uuid.UUID) -> dict[str, Any]:
    """One merge (DESIGN.md §4): the merged profile's participants move to the
    survivor. Where both took part in the same campaign, the two participants combine
    into the survivor's: its values win, the merged one's fill the gaps, and the merged
    participant is deleted (its tokens stop working; the backend mints new ones).

    Returns the counts and, for a revert, `participantRows`: every participant of the
    merged profile with its variable values as they were (`combinedInto` names the
    survivor's participant it was combined into, whose values from it can be told apart)."""
    # Both profiles' participants are locked (in id order, after the profile rows the merge
    # holds) before any value is read or moved: a concurrent variable write to either
    # waits for the merge, or the merge for it (DESIGN.md §8).
    locked = participants_lock(tenant_id=tenant_id, profile_ids=[survivor_id, merged_id])
    merged = [p for p in locked if p.profile_id == merged_id]
    if not merged:
        return {"participants": 0}
    survivors = {p.campaign_id: p for p in locked if p.profile_id == survivor_id}
    move_ids = [p.pk for p in merged if p.campaign_id not in survivors]
    combined = [p for p in merged if p.campaign_id in survivors]
    rows: list[dict[str, Any]] = []
    if combined:
        values: dict[uuid.UUID, dict[str, Any]] = {}
        for participant_id, definition_id, value in VariableValue.objects.filter(
            participant_id__in=[p.pk for p in combined]
        ).values_list("participant_id", "definition_id", "value"):
            values.setdefault(participant_id, {})[str(definition_id)] = value
        held = {
            (participant_id, str(definition_id))
            for participant_id, definition_id in VariableValue.objects.filter(
                participant_id__in=[survivors[p.campaign_id].pk for p in combined]
            ).values_list("participant_id", "definition_id")
        }
        rows = [
            {
                "id": str(p.pk),
                "campaign": p.campaign_id,
                "createdAt": p.created_at.isoformat(),
                "combinedInto": str(survivors[p.campaign_id].pk),
                "values": values.get(p.pk, {}),
                # the values it lends the survivor's participant (which had none of these)
                "lent": sorted(d for d in values.get(p.pk, {}) if (survivors[p.campaign_id].pk, d) not in held),
            }
            for p in combined
        ]
    rows += [{"id": str(pk), "campaign": None, "combinedInto": None, "values": {}} for pk in move_ids]
    for participant in combined:
        kept = survivors[participant.campaign_id]
        taken = set(VariableValue.objects.filter(participant=kept).values_list("definition_id", flat=True))
        VariableValue.objects.filter(participant=participant).exclude(definition_id__in=taken).update(
            participant_id=kept.pk
        )
        participant.delete()  # cascades to its losing values
    if move_ids:
        Participant.objects.filter(tenant_id=tenant_id, pk__in=move_ids).update(profile_id=survivor_id)
    return {"participants": len(move_ids) + len(combined), "participantRows": rows}
