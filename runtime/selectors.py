"""Reads of the runtime app."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import JSONField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from cdp_project.core.compiled import CompiledQuery, Read, model_columns, model_from_row, reads_run
from cdp_project.core.errors import not_found
from channels.selectors import profile_readiness_read
from profiles.selectors import profile_values_read
from tenants.models import Tenant

from .models import Campaign, Participant, VariableDefinition, VariableValue
from .variables import VariableChecker


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
    _checkers[(campaign.pk, campaign.created_at)] = (version, checker)
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
    queries for a participant from `participant_for_token`: a runtime reads it on every step
    of a flow."""
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
    return RuntimeContext(
        participant=participant,
        campaign=campaign,
        attributes=attributes,
        derived=derived,
        derived_status=derived_status,
        channels={channel: state.as_public() for channel, state in readiness.items()},
        variables=variables,
    )
