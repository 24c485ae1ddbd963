"""Reads of the runtime app."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet

from cdp_project.core.errors import not_found
from channels.selectors import profile_readiness
from contracts.selectors import derived_attribute_statuses
from profiles.selectors import profile_attributes, profile_derived
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


def campaign_get_active(*, tenant: Tenant, key: str) -> Campaign:
    """An active campaign of the tenant, or 404: an inactive campaign takes no participant."""
    campaign = Campaign.objects.filter(tenant=tenant, key=key, active=True).first()
    if campaign is None:
        raise not_found(f"No active campaign {key!r}.")
    return campaign


def participant_for_token(*, tenant_id: int, campaign_key: str, participant_id: uuid.UUID) -> Participant | None:
    """The participant a token names, only if tenant, campaign and participant all agree
    (one query). None when it no longer exists."""
    return (
        Participant.objects.select_related("campaign", "tenant")
        .filter(pk=participant_id, tenant_id=tenant_id, campaign__tenant_id=tenant_id, campaign__key=campaign_key)
        .first()
    )


def participant_checker(*, participant: Participant) -> VariableChecker:
    definitions = VariableDefinition.objects.filter(
        tenant_id=participant.tenant_id, campaign_id=participant.campaign_id
    ).order_by("position", "name")
    return VariableChecker(list(definitions))


def participant_stored_values(*, participant: Participant) -> dict[str, Any]:
    rows = VariableValue.objects.filter(tenant_id=participant.tenant_id, participant_id=participant.pk)
    return {name: value for name, value in rows.values_list("definition__name", "value")}


def participant_variables(*, participant: Participant) -> dict[str, Any]:
    """Every variable of the participant's campaign: the value it holds, or the default."""
    checker = participant_checker(participant=participant)
    return checker.current(participant_stored_values(participant=participant))


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
    attributes and derived values, channel readiness and the campaign's variables."""
    profile_id = participant.profile_id
    readiness = profile_readiness(tenant_id=participant.tenant_id, profile_id=profile_id)
    return RuntimeContext(
        participant=participant,
        campaign=participant.campaign,
        attributes=profile_attributes(profile_id=profile_id),
        derived=profile_derived(profile_id=profile_id),
        derived_status=derived_attribute_statuses(tenant_id=participant.tenant_id),
        channels={channel: state.as_public() for channel, state in readiness.items()},
        variables=participant_variables(participant=participant),
    )


def participant_queryset(*, tenant: Tenant) -> QuerySet[Participant]:
    return Participant.objects.filter(tenant=tenant).select_related("campaign")
