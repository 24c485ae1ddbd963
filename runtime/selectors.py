"""Reads of the runtime app."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import JSONField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from cdp_project.core.compiled import CompiledQuery, Read, model_columns, model_from_row, reads_run
from cdp_project.core.errors import not_found
from channels.selectors import profile_readiness_read
from profiles.selectors import profile_values_read
from tenants.models import Tenant

from .models import Campaign, Participant, VariableDefinition, VariableValue
from .tokens import TokenClaims
from .variables import VariableChecker

T = TypeVar("T")


def campaign_queryset(*, tenant: Tenant) -> QuerySet[Campaign]:
    """The tenant's campaigns with their variable definitions prefetched in order."""
    definitions = VariableDefinition.objects.order_by("position", "name")
    return Campaign.objects.filter(tenant=tenant).prefetch_related(Prefetch("variables", queryset=definitions))


def campaign_get(*, tenant: Tenant, key: str) -> Campaign:
    """A campaign of the tenant by key, or a 404 problem (another tenant's is missing)."""
    campaign = campaign_queryset(tenant=tenant).filter(key=key).first()
    if campaign is None:
        raise not_found(f"No campaign {key!r}.")
    return campaign


_active_campaign = CompiledQuery(
    lambda *, tenant_id, key: (
        Campaign.objects.filter(tenant_id=tenant_id, key=key, active=True)
        .order_by()
        .values_list(*model_columns(Campaign))[:1]
    ),
    fields={"tenant_id": Tenant._meta.pk, "key": Campaign._meta.get_field("key")},
    sentinels={"tenant_id": -7_303, "key": "\x01compiled-campaign-key"},
)


def campaign_get_active(*, tenant: Tenant, key: str) -> Campaign:
    """An active campaign of the tenant, or 404: an inactive campaign takes no participant.
    A compiled read: every session mint starts with it."""
    rows = _active_campaign.run(tenant_id=tenant.pk, key=key)
    if not rows:
        raise not_found(f"No active campaign {key!r}.")
    return model_from_row(Campaign, rows[0])


_TOKEN_COLUMNS = (
    model_columns(Participant),
    model_columns(Campaign, via="campaign"),
    model_columns(Tenant, via="tenant"),
)


def _participant_for_token_query(*, tenant_id: int, campaign_key: str, participant_id: uuid.UUID) -> QuerySet:
    return (
        Participant.objects.filter(
            pk=participant_id, tenant_id=tenant_id, campaign__tenant_id=tenant_id, campaign__key=campaign_key
        )
        .annotate(live_profile_id=Coalesce("profile__merged_into_id", "profile_id"))
        .order_by()
        .values_list(*(name for columns in _TOKEN_COLUMNS for name in columns), "live_profile_id")[:1]
    )


_participant_for_token = CompiledQuery(
    _participant_for_token_query,
    fields={
        "tenant_id": Tenant._meta.pk,
        "campaign_key": Campaign._meta.get_field("key"),
        "participant_id": Participant._meta.pk,
    },
    sentinels={
        "tenant_id": -7_301,
        "campaign_key": "\x01compiled-campaign-key",
        "participant_id": uuid.UUID(int=7_301),
    },
)


def participant_for_token(*, tenant_id: int, campaign_key: str, participant_id: uuid.UUID) -> Participant | None:
    """The participant a token names, only if tenant, campaign and participant all agree,
    with its campaign, tenant and `live_profile_id` (its profile, or the survivor should
    the profile be a tombstone), in one query. None when it no longer exists."""
    rows = _participant_for_token.run(tenant_id=tenant_id, campaign_key=campaign_key, participant_id=participant_id)
    return _token_participant_shape(rows)


def _token_participant_shape(rows: list[tuple[Any, ...]]) -> Participant | None:
    if not rows:
        return None
    row = rows[0]
    participant_columns, campaign_columns, tenant_columns = _TOKEN_COLUMNS
    split = (len(participant_columns), len(participant_columns) + len(campaign_columns))
    participant = model_from_row(Participant, row[: split[0]])
    participant.campaign = model_from_row(Campaign, row[split[0] : split[1]])
    participant.tenant = model_from_row(Tenant, row[split[1] : -1])
    participant.live_profile_id = row[-1]
    return participant


_participant_of_profile = CompiledQuery(
    lambda *, tenant_id, campaign_id, profile_id: (
        Participant.objects.filter(tenant_id=tenant_id, campaign_id=campaign_id, profile_id=profile_id)
        .order_by()
        .values_list(*model_columns(Participant))[:1]
    ),
    fields={
        "tenant_id": Tenant._meta.pk,
        "campaign_id": Campaign._meta.pk,
        "profile_id": Participant._meta.get_field("profile"),
    },
    sentinels={"tenant_id": -7_305, "campaign_id": -7_306, "profile_id": uuid.UUID(int=7_306)},
)


def participant_of_profile(*, tenant_id: int, campaign_id: int, profile_id: uuid.UUID) -> Participant | None:
    """The campaign's participant for this profile, or None (a compiled read)."""
    rows = _participant_of_profile.run(tenant_id=tenant_id, campaign_id=campaign_id, profile_id=profile_id)
    return model_from_row(Participant, rows[0]) if rows else None


# --- campaign variable definitions, compiled once per process --------------------------------

# (campaign id, created_at) -> (variables_version, checker). An entry is used only for the
# version it was stored under, and what is stored under a version is never older than that
# version (it is read after the version was), so a campaign edit is seen on the first request
# after it. created_at tells a campaign from an earlier one that had its id (a restored
# database, a rolled-back SQLite sequence).
_checkers: dict[tuple[int, Any], tuple[int, VariableChecker]] = {}
CHECKERS_CACHED = 1_024


def _definitions(campaign_id: int) -> QuerySet[VariableDefinition]:
    return VariableDefinition.objects.filter(campaign_id=campaign_id).order_by("position", "name")


def _checker_remember(campaign: Campaign, version: int, definitions: list[VariableDefinition]) -> VariableChecker:
    checker = VariableChecker(definitions)
    if len(_checkers) >= CHECKERS_CACHED:
        _checkers.clear()
        _campaign_keys.clear()
    key = (campaign.pk, campaign.created_at)
    _checkers[key] = (version, checker)
    _campaign_keys[(campaign.tenant_id, campaign.key)] = key
    return checker


def _checker_cached(campaign: Campaign, version: int) -> VariableChecker | None:
    cached = _checkers.get((campaign.pk, campaign.created_at))
    return cached[1] if cached is not None and cached[0] == version else None


def campaign_checker(*, campaign: Campaign, version: int) -> VariableChecker:
    """The campaign's compiled variable definitions at `variables_version` `version`: from
    the process cache, or one query."""
    checker = _checker_cached(campaign, version)
    if checker is None:
        checker = _checker_remember(campaign, version, list(_definitions(campaign.pk)))
    return checker


_stored_values = CompiledQuery(
    lambda *, tenant_id, participant_id: (
        VariableValue.objects.filter(tenant_id=tenant_id, participant_id=participant_id)
        .order_by()
        .values_list("definition_id", "value")
    ),
    fields={"tenant_id": Tenant._meta.pk, "participant_id": Participant._meta.pk},
    sentinels={"tenant_id": -7_302, "participant_id": uuid.UUID(int=7_302)},
)


def participant_stored_values(*, participant: Participant) -> dict[int, Any]:
    """The participant's stored values by definition id (one query)."""
    return dict(_stored_values.run(tenant_id=participant.tenant_id, participant_id=participant.pk))


def participant_variables(*, participant: Participant) -> dict[str, Any]:
    """Every variable of the participant's campaign: the value it holds, or the default.
    One query with the definitions cached (the version comes with the participant), and
    one when they are not: the definitions with this participant's values alongside."""
    campaign = participant.campaign
    checker = _checker_cached(campaign, campaign.variables_version)
    if checker is not None:
        return checker.current(checker.by_name(participant_stored_values(participant=participant)))
    return _participant_variables_uncached(participant=participant)


def _participant_variables_uncached(*, participant: Participant) -> dict[str, Any]:
    campaign = participant.campaign
    stored = VariableValue.objects.filter(
        tenant_id=participant.tenant_id, participant_id=participant.pk, definition_id=OuterRef("pk")
    )
    definitions = list(
        _definitions(campaign.pk).annotate(stored=Subquery(stored.values("value")[:1], output_field=JSONField()))
    )
    checker = _checker_remember(campaign, campaign.variables_version, definitions)
    return checker.current({row.name: row.stored for row in definitions if row.stored is not None})


@dataclass(frozen=True)
class RuntimeContext:
    participant: Participant
    campaign: Campaign
    attributes: dict[str, object]
    derived: dict[str, object]
    channels: dict[str, dict[str, object]]
    derived_status: dict[str, str]
    variables: dict[str, Any]


def runtime_context_get(*, participant: Participant) -> RuntimeContext:
    """What a runtime may know about its participant (API.md "Runtime"): the profile's
    attributes and derived values, channel readiness and the campaign's variables. Three
    queries for a participant from `participant_for_token`."""
    profile_id = getattr(participant, "live_profile_id", None) or participant.profile_id
    tenant_id = participant.tenant_id
    campaign = participant.campaign
    checker = _checker_cached(campaign, campaign.variables_version)
    reads: list[Read[Any]] = [
        profile_values_read(tenant_id=tenant_id, profile_id=profile_id),
        profile_readiness_read(tenant_id=tenant_id, profile_id=profile_id),
    ]
    if checker is not None:
        reads.append(_stored_values.read(dict, tenant_id=tenant_id, participant_id=participant.pk))
    # Independent reads: on PostgreSQL one round trip for all of them.
    results = reads_run(*reads)
    (attributes, derived, derived_status), readiness = results[0], results[1]
    if checker is not None:
        variables = checker.current(checker.by_name(results[2]))
    else:
        variables = _participant_variables_uncached(participant=participant)
    return _context(participant, attributes, derived, derived_status, readiness, variables)


def _context(participant, attributes, derived, derived_status, readiness, variables) -> RuntimeContext:  # noqa: ANN001
    return RuntimeContext(
        participant=participant,
        campaign=participant.campaign,
        attributes=attributes,
        derived=derived,
        derived_status=derived_status,
        channels={channel: state.as_public() for channel, state in readiness.items()},
        variables=variables,
    )


# --- the token's whole answer in one round trip -------------------------------------------------

# Campaign (tenant id, key) -> the `_checkers` key its definitions were last compiled under: a
# guess, before the participant's row says which campaign and version it is, whether the
# definitions need reading with the values.
_campaign_keys: dict[tuple[int, str], tuple[int, Any]] = {}


def _checker_guess(tenant_id: int, campaign_key: str) -> tuple[tuple[int, Any], int, VariableChecker] | None:
    key = _campaign_keys.get((tenant_id, campaign_key))
    cached = _checkers.get(key) if key is not None else None
    return (key, *cached) if cached is not None else None


def campaign_checker_forget(*, campaign: Campaign) -> None:
    """This process changed the campaign's definitions: its next read takes them with the values
    (the version on the participant's row would tell every process anyway, one statement later)."""
    _campaign_keys.pop((campaign.tenant_id, campaign.key), None)


_definitions_with_values = CompiledQuery(
    lambda *, tenant_id, participant_id: (
        VariableDefinition.objects.filter(tenant_id=tenant_id, campaign__participants__id=participant_id)
        .annotate(
            stored=Subquery(
                VariableValue.objects.filter(
                    tenant_id=tenant_id, participant_id=participant_id, definition_id=OuterRef("pk")
                ).values("value")[:1],
                output_field=JSONField(),
            )
        )
        .order_by("position", "name")
        .values_list(*model_columns(VariableDefinition), "stored")
    ),
    fields={"tenant_id": Tenant._meta.pk, "participant_id": Participant._meta.pk},
    sentinels={"tenant_id": -7_304, "participant_id": uuid.UUID(int=7_304)},
)


def _definitions_shape(rows: list[tuple[Any, ...]]) -> list[VariableDefinition]:
    definitions = []
    for row in rows:
        definition = model_from_row(VariableDefinition, row[:-1])
        definition.stored = row[-1]
        definitions.append(definition)
    return definitions


def _token_participant_read(claims: TokenClaims) -> Read[Participant | None]:
    return _participant_for_token.read(
        _token_participant_shape,
        tenant_id=claims.tenant_id,
        campaign_key=claims.campaign_key,
        participant_id=claims.participant_id,
    )


def _variables_read(claims: TokenClaims) -> tuple[Read[Any], tuple[tuple[int, Any], int, VariableChecker] | None]:
    """The participant's stored values when this process has the campaign's definitions
    compiled (as far as it knows), else the definitions with the values alongside."""
    guess = _checker_guess(claims.tenant_id, claims.campaign_key)
    values = {"tenant_id": claims.tenant_id, "participant_id": claims.participant_id}
    if guess is not None:
        return _stored_values.read(dict, **values), guess
    return _definitions_with_values.read(_definitions_shape, **values), None


def _variables_from(participant: Participant, result: Any, guess: Any) -> dict[str, Any]:
    campaign = participant.campaign
    if guess is None:  # the definitions came with the values
        checker = _checker_remember(campaign, campaign.variables_version, result)
        return checker.current({row.name: row.stored for row in result if row.stored is not None})
    key, version, checker = guess
    if key == (campaign.pk, campaign.created_at) and version == campaign.variables_version:
        return checker.current(checker.by_name(result))
    # Edited since this process compiled them (in another process): one more statement.
    return _participant_variables_uncached(participant=participant)


@dataclass(frozen=True)
class TokenRead(Generic[T]):
    """What a runtime token's request read in one round trip: the token's participant (None
    when it is gone) and the answer (None with it)."""

    participant: Participant | None
    answer: T | None


def runtime_context_for_token(*, claims: TokenClaims) -> TokenRead[RuntimeContext]:
    """The token's participant and its whole context in one round trip: the four statements
    of the context (participant, profile values, readiness, variables) go out together. The
    profile is read by the token's `profile` claim, the participant's profile when the token
    was minted; should a merge have moved the participant or made its profile a tombstone
    since, its live profile is read in a second round trip (two more statements)."""
    variables_read, guess = _variables_read(claims)
    participant, values, readiness, stored = reads_run(
        _token_participant_read(claims),
        profile_values_read(tenant_id=claims.tenant_id, profile_id=claims.profile_id),
        profile_readiness_read(tenant_id=claims.tenant_id, profile_id=claims.profile_id),
        variables_read,
    )
    if participant is None or not participant.campaign.active:
        return TokenRead(participant, None)
    if participant.live_profile_id != claims.profile_id:
        values, readiness = reads_run(
            profile_values_read(tenant_id=claims.tenant_id, profile_id=participant.live_profile_id),
            profile_readiness_read(tenant_id=claims.tenant_id, profile_id=participant.live_profile_id),
        )
    attributes, derived, derived_status = values
    variables = _variables_from(participant, stored, guess)
    return TokenRead(participant, _context(participant, attributes, derived, derived_status, readiness, variables))


def participant_variables_for_token(*, claims: TokenClaims) -> TokenRead[dict[str, Any]]:
    """The token's participant and its variables in one round trip (two statements)."""
    variables_read, guess = _variables_read(claims)
    participant, stored = reads_run(_token_participant_read(claims), variables_read)
    if participant is None or not participant.campaign.active:
        return TokenRead(participant, None)
    return TokenRead(participant, _variables_from(participant, stored, guess))
