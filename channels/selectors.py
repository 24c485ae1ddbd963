"""Reads of the channels app: endpoints, their history, and readiness (DESIGN.md §5).

Readiness is computed from the channel model only, on the profile's *active* endpoint
for the channel; identifiers never make anything ready. The first reason that applies:
`no_endpoint`, `no_consent` (denied, or never given: `unknown`), `consent_pending`,
`bounced`, `unreachable`, `not_mobile` (SMS needs a number phonenumbers types as MOBILE
or FIXED_LINE_OR_MOBILE). WHATSAPP accepts any valid E.164 number: WhatsApp accounts
can be registered on landlines (verified by a voice call), so a fixed line is no reason
to refuse it. EMAIL and PUSH addresses were validated when declared."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.db.models import Q, QuerySet

from cdp_project.core.compiled import CompiledQuery, Read
from tenants.models import Tenant

from .models import CONSENT_UNKNOWN, Endpoint, EndpointHistory, address_digest
from .normalization import InvalidAddress, address_normalize
from .types import CHANNELS, Readiness

MOBILE_TYPES = frozenset({"MOBILE", "FIXED_LINE_OR_MOBILE"})
# Profile ids per query in profiles_readiness: under SQLite's and PostgreSQL's bind-parameter limits.
READINESS_CHUNK = 5_000

_READINESS_FIELDS = ("profile_id", "channel", "consent", "reachability", "number_type")


def readiness_judge(*, channel: str, endpoint: Mapping[str, Any] | Endpoint | None) -> Readiness:
    """The readiness of one active endpoint (or of none). Pure: the one place the rules live."""
    if endpoint is None:
        return Readiness(ready=False, reason="no_endpoint")

    def get(name: str) -> Any:
        return endpoint[name] if isinstance(endpoint, Mapping) else getattr(endpoint, name)

    consent = get("consent")
    if consent in (CONSENT_UNKNOWN, "denied"):
        return Readiness(ready=False, reason="no_consent")
    if consent == "pending":
        return Readiness(ready=False, reason="consent_pending")
    reachability = get("reachability")
    if reachability == "bounced":
        return Readiness(ready=False, reason="bounced")
    if reachability == "unreachable":
        return Readiness(ready=False, reason="unreachable")
    if channel == "SMS" and get("number_type") not in MOBILE_TYPES:
        return Readiness(ready=False, reason="not_mobile")
    return Readiness(ready=True)


def ready_endpoints(*, tenant_id: int, channel: str, profile: Any = None) -> QuerySet[Endpoint]:
    """`readiness_judge`'s rules as SQL: the active endpoints on `channel` that make their
    profile ready (consent granted; not bounced or unreachable; SMS: a mobile number).
    `profile` may be an id or an `OuterRef`, for `EXISTS` subqueries in segments and
    exports. Kept next to the Python rules; a test holds the two in agreement."""
    endpoints = Endpoint.objects.filter(tenant_id=tenant_id, channel=channel, active=True, consent="granted")
    endpoints = endpoints.exclude(reachability__in=("bounced", "unreachable"))
    if channel == "SMS":
        endpoints = endpoints.filter(number_type__in=sorted(MOBILE_TYPES))
    if profile is not None:
        endpoints = endpoints.filter(profile_id=profile)
    return endpoints


# One profile's active endpoints, compiled once: profile_readiness runs on every runtime context read.
_active_endpoints = CompiledQuery(
    lambda *, tenant_id, profile_id: (
        Endpoint.objects.filter(tenant_id=tenant_id, profile_id=profile_id, active=True)
        .order_by()
        .values_list(*_READINESS_FIELDS)
    ),
    fields={
        "tenant_id": Endpoint._meta.get_field("tenant").target_field,
        "profile_id": Endpoint._meta.get_field("profile").target_field,
    },
    sentinels={"tenant_id": -7_101, "profile_id": uuid.UUID(int=7_101)},
)


def profile_readiness(*, tenant_id: int, profile_id: uuid.UUID) -> dict[str, Readiness]:
    """Readiness of one live profile on every channel (EMAIL, SMS, PUSH, WHATSAPP), judged
    on its active endpoint there (DESIGN.md §5). One query."""
    return _readiness_shape(_active_endpoints.run(tenant_id=tenant_id, profile_id=profile_id))


def profile_readiness_read(*, tenant_id: int, profile_id: uuid.UUID) -> Read[dict[str, Readiness]]:
    """`profile_readiness` as a read to run together with others (`cdp_project.core.compiled.reads_run`)."""
    return _active_endpoints.read(_readiness_shape, tenant_id=tenant_id, profile_id=profile_id)


def _readiness_shape(rows: list[tuple[Any, ...]]) -> dict[str, Readiness]:
    by_channel = {row[1]: dict(zip(_READINESS_FIELDS, row, strict=True)) for row in rows}
    return {channel: readiness_judge(channel=channel, endpoint=by_channel.get(channel)) for channel in CHANNELS}


def profiles_readiness(*, tenant_id: int, profile_ids: Iterable[uuid.UUID], channel: str) -> dict[uuid.UUID, Readiness]:
    """Readiness of many profiles on one channel, in a constant number of queries (exports).

    A QuerySet of profile ids is used as a subquery: one query whatever its size. Any other
    iterable is read in chunks of READINESS_CHUNK ids, one query per chunk. Every id asked
    for is in the answer (`no_endpoint` when it has no active endpoint on the channel)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    base = Endpoint.objects.filter(tenant_id=tenant_id, channel=channel, active=True)
    found: dict[uuid.UUID, dict[str, Any]] = {}
    if isinstance(profile_ids, QuerySet):
        for row in base.filter(profile_id__in=profile_ids).values(*_READINESS_FIELDS):
            found[row["profile_id"]] = row
        wanted: Iterable[uuid.UUID] = list(profile_ids)
    else:
        wanted = list(profile_ids)
        iterator = iter(wanted)
        while chunk := list(islice(iterator, READINESS_CHUNK)):
            for row in base.filter(profile_id__in=chunk).values(*_READINESS_FIELDS):
                found[row["profile_id"]] = row
    return {profile_id: readiness_judge(channel=channel, endpoint=found.get(profile_id)) for profile_id in wanted}


def profile_endpoints(*, tenant_id: int, profile_id: uuid.UUID) -> list[Endpoint]:
    """The profile's endpoints: by channel (EMAIL, SMS, PUSH, WHATSAPP), active first, then address."""
    rows = list(Endpoint.objects.filter(tenant_id=tenant_id, profile_id=profile_id))
    return sorted(rows, key=lambda e: (CHANNELS.index(e.channel), not e.active, e.address))


def profile_endpoints_public(*, tenant_id: int, profile_id: uuid.UUID) -> list[dict[str, object]]:
    """The `endpoints` section of `GET /api/v1/profiles/{id}`."""
    return [
        {
            "channel": e.channel,
            "address": e.address,
            "active": e.active,
            "consent": e.consent,
            "reachability": e.reachability,
        }
        for e in profile_endpoints(tenant_id=tenant_id, profile_id=profile_id)
    ]


def profile_readiness_public(*, tenant_id: int, profile_id: uuid.UUID) -> dict[str, dict[str, object]]:
    """The `readiness` section of `GET /api/v1/profiles/{id}`."""
    readiness = profile_readiness(tenant_id=tenant_id, profile_id=profile_id)
    return {channel: readiness[channel].as_public() for channel in CHANNELS}


def profile_endpoint_history(
    *, tenant_id: int, profile_id: uuid.UUID, former_ids: Iterable[uuid.UUID] = (), limit: int = 50
) -> list[EndpointHistory]:
    """History touching the profile: of the endpoints it owns now, and the entries that
    concerned it (or profiles merged into it, `former_ids`) on endpoints it no longer owns."""
    ids = [profile_id, *former_ids]
    return list(
        EndpointHistory.objects.filter(tenant_id=tenant_id)
        .filter(Q(endpoint__profile_id=profile_id) | Q(profile_id__in=ids))
        .select_related("endpoint")
        .order_by("-occurred_at", "-id")[:limit]
    )


@dataclass(frozen=True)
class ChannelReport:
    """Readiness of one channel, with the endpoint it was judged on (for the admin)."""

    channel: str
    readiness: Readiness
    endpoint: Endpoint | None
    others: int  # further, inactive endpoints of the profile on the channel


def profile_channel_report(*, tenant_id: int, profile_id: uuid.UUID) -> list[ChannelReport]:
    endpoints = profile_endpoints(tenant_id=tenant_id, profile_id=profile_id)
    reports = []
    for channel in CHANNELS:
        mine = [e for e in endpoints if e.channel == channel]
        active = next((e for e in mine if e.active), None)
        reports.append(
            ChannelReport(
                channel=channel,
                readiness=readiness_judge(channel=channel, endpoint=active),
                endpoint=active,
                others=len(mine) - (1 if active else 0),
            )
        )
    return reports


def admin_endpoints_search(*, queryset: QuerySet[Endpoint], text: str) -> QuerySet[Endpoint]:
    """Endpoints a human-typed text could mean, across tenants (the admin is an ops console):
    an address as typed on any channel (normalized first: ` ANN@Example.com`,
    `07400 123456` read in each tenant's default region), a part of an address (3+
    characters), or the id of the owning profile."""
    text = text.strip()
    if not text:
        return queryset
    condition = Q()
    try:
        condition |= Q(profile_id=uuid.UUID(text))
    except ValueError:
        pass
    regions = Tenant.objects.order_by().values_list("default_region", flat=True).distinct()
    for region in regions:
        for channel in CHANNELS:
            try:
                address = address_normalize(channel=channel, address=text, region=region)
            except InvalidAddress:
                continue
            match = Q(channel=channel, address_key=address_digest(address))
            if channel in ("SMS", "WHATSAPP") and not text.startswith("+"):
                match &= Q(tenant__default_region=region)  # a national number means this region only
            condition |= match
    if len(text) >= 3:
        condition |= Q(address__icontains=text)
    return queryset.filter(condition) if condition else queryset.none()
