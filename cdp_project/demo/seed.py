"""What the demo tenant starts with: sources, contracts, a campaign, a segment and a
little traffic (events, profile updates, consent, one merge, one identity conflict and a
few refused events), so the console has something to show on the first visit.

Everything goes through the services, exactly as the API would write it. The traffic
uses its own ids (`demo-…`, customers `demo-cust-…`), so the README's examples (`cust-42`,
`order-10001-completed`) run against the demo without colliding with it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.utils import timezone

from contracts.plans import contracts_plan_import
from ingest.services import channel_updates_ingest, events_ingest, profile_updates_ingest, source_create
from runtime.services import campaign_create, participant_variables_set, runtime_session_create
from runtime.variables import variables_parse
from segments.services import segment_create, segment_spec_parse
from tenants.models import Tenant

SOURCES = {"shop-backend": "Shop backend", "crm": "CRM"}
CAMPAIGN = {
    "key": "spring-quiz",
    "name": "Spring quiz",
    "variables": [
        {"name": "step", "type": "integer", "default": 0},
        {"name": "answers", "type": "array", "default": []},
    ],
}
SEGMENT = {
    "key": "gold-customers",
    "name": "Gold customers",
    "definition": {"attribute": "tier", "op": "eq", "value": "gold"},
}
CONTRACTS = Path(__file__).resolve().parent / "demo_contracts.json"


def _at(now: dt.datetime, *, days: float = 0, hours: float = 0) -> str:
    return (now - dt.timedelta(days=days, hours=hours)).replace(microsecond=0).isoformat()


def _order(n: int, customer: dict[str, str], total: float, occurred_at: str) -> dict[str, Any]:
    return {
        "source": "shop-backend",
        "externalEventId": f"demo-order-{n}",
        "eventType": "order_completed",
        "occurredAt": occurred_at,
        "identity": customer,
        "properties": {"orderId": f"D-{n}", "total": total, "currency": "EUR"},
    }


def demo_traffic(now: dt.datetime) -> dict[str, list[dict[str, Any]]]:
    """Sample data as backends send it. Mia first browses on her phone (a device key) and
    signs up to the newsletter with her email: two anonymous profiles. Then she orders
    signed in from the phone: the profiles merge. Later someone else's account sends Mia's
    email: two different EXTERNAL ids are never merged, so ops get a conflict to review."""
    return {
        "events": _demo_events(now),
        "profile_updates": _demo_profile_updates(now),
        "channel_updates": _demo_channel_updates(now),
    }


def _demo_events(now: dt.datetime) -> list[dict[str, Any]]:
    ann = {"EXTERNAL": "demo-cust-1", "EMAIL": "ann.demo@example.com"}
    bob = {"EXTERNAL": "demo-cust-2", "PHONE": "+44 7400 123456"}
    mia_phone = {"DEVICE_KEY": "demo-device-mia"}
    mia = {"EXTERNAL": "demo-cust-3", "EMAIL": "mia.demo@example.com", "DEVICE_KEY": "demo-device-mia"}
    return [
        _order(1, ann, 120.0, _at(now, days=6)),
        _order(2, ann, 35.5, _at(now, days=2)),
        _order(3, bob, 18.0, _at(now, days=1)),
        {
            "source": "shop-backend",
            "externalEventId": "demo-view-1",
            "eventType": "page_viewed",
            "occurredAt": _at(now, days=1, hours=2),
            "identity": mia_phone,
            "properties": {"url": "https://shop.example.com/shoes"},
        },
        {
            "source": "crm",
            "externalEventId": "demo-signup-1",
            "eventType": "newsletter_signup",
            "occurredAt": _at(now, days=1),
            "identity": {"EMAIL": "mia.demo@example.com"},
            "properties": {"list": "weekly"},
        },
        _order(4, mia, 89.9, _at(now, hours=20)),
        {
            "source": "crm",
            "externalEventId": "demo-signup-2",
            "eventType": "newsletter_signup",
            "occurredAt": _at(now, hours=5),
            "identity": {"EXTERNAL": "demo-cust-4", "EMAIL": "mia.demo@example.com"},
            "properties": {"list": "offers"},
        },
        # Refused: a total sent as text, and an event type nobody registered.
        {
            "source": "shop-backend",
            "externalEventId": "demo-order-bad-1",
            "eventType": "order_completed",
            "occurredAt": _at(now, hours=3),
            "identity": bob,
            "properties": {"orderId": "D-5", "total": "18,00", "currency": "EUR"},
        },
        {
            "source": "shop-backend",
            "externalEventId": "demo-wishlist-1",
            "eventType": "wishlist_added",
            "occurredAt": _at(now, hours=2),
            "identity": ann,
            "properties": {"productId": "P-1"},
        },
    ]


def _demo_profile_updates(now: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "source": "crm",
            "externalEventId": "demo-crm-1",
            "occurredAt": _at(now, days=5),
            "identity": {"EXTERNAL": "demo-cust-1"},
            "attributes": {"firstName": "Ann", "lastName": "Example", "tier": "gold", "country": "GB"},
        },
        {
            "source": "crm",
            "externalEventId": "demo-crm-2",
            "occurredAt": _at(now, days=1),
            "identity": {"EXTERNAL": "demo-cust-2"},
            "attributes": {"firstName": "Bob", "tier": "silver"},
        },
    ]


def _demo_channel_updates(now: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "source": "crm",
            "externalEventId": "demo-optin-1",
            "occurredAt": _at(now, days=5),
            "identity": {"EXTERNAL": "demo-cust-1"},
            "channel": "EMAIL",
            "address": "ann.demo@example.com",
            "consent": "granted",
            "reason": "double opt-in confirmed",
        },
        {
            "source": "crm",
            "externalEventId": "demo-optin-2",
            "occurredAt": _at(now, days=1),
            "identity": {"EXTERNAL": "demo-cust-2"},
            "channel": "SMS",
            "address": "+44 7400 123456",
            "consent": "pending",
        },
    ]


def demo_tenant_seed(*, tenant: Tenant, changed_by: str = "demo_load") -> None:
    """Load the demo's configuration and sample traffic into `tenant` (once: callers
    decide whether the tenant is new; nothing here is meant to run twice). Not inside a
    transaction: ingestion owns its transactions."""
    demo_tenant_configure(tenant=tenant, changed_by=changed_by)
    demo_traffic_send(tenant=tenant)


def demo_tenant_configure(*, tenant: Tenant, changed_by: str = "demo_load") -> None:
    """Sources, contracts, campaign and segment of the demo."""
    for key, name in SOURCES.items():
        source_create(tenant=tenant, key=key, name=name)
    contracts_plan_import(tenant_id=tenant.pk, plan=json.loads(CONTRACTS.read_text()), changed_by=changed_by)
    variables, problems = variables_parse(CAMPAIGN["variables"])
    assert not problems, problems
    campaign_create(tenant=tenant, key=CAMPAIGN["key"], name=CAMPAIGN["name"], variables=variables)
    segment_create(tenant_id=tenant.pk, spec=segment_spec_parse(tenant_id=tenant.pk, body=SEGMENT))


def demo_traffic_send(*, tenant: Tenant) -> None:
    """The sample traffic of `demo_traffic`, ingested as the API would, plus one campaign
    participant with a variable kept."""
    traffic = demo_traffic(timezone.now())
    profile_updates_ingest(tenant=tenant, updates=traffic["profile_updates"])
    channel_updates_ingest(tenant=tenant, updates=traffic["channel_updates"])
    for event in traffic["events"]:  # one by one, in order, as the story above needs
        events_ingest(tenant=tenant, events=[event])
    session = runtime_session_create(tenant=tenant, campaign_key=CAMPAIGN["key"], identity={"EXTERNAL": "demo-cust-1"})
    participant_variables_set(participant=session.participant, changes={"step": 2})
