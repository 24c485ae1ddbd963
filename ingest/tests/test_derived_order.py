"""Derived values equal a recompute from the event store whatever the order of arrival
(found in review: float sums and first/last ties once depended on it)."""

from __future__ import annotations

import copy

import pytest
from django.db import transaction

from contracts.plans import contracts_plan_import
from ingest.derived import derived_recompute
from ingest.tests.conftest import PLAN
from profiles.models import DerivedValue

pytestmark = pytest.mark.django_db

DERIVED = [
    {"name": "ordersTotal", "eventType": "order_completed", "property": "total", "aggregation": "sum"},
    {"name": "firstTotal", "eventType": "order_completed", "property": "total", "aggregation": "first"},
    {"name": "lastTotal", "eventType": "order_completed", "property": "total", "aggregation": "last"},
    {"name": "smallest", "eventType": "order_completed", "property": "total", "aggregation": "min"},
    {"name": "largest", "eventType": "order_completed", "property": "total", "aggregation": "max"},
]


@pytest.fixture
def derived(tenant, shop):
    plan = copy.deepcopy(PLAN)
    for prop in plan["eventTypes"][0]["properties"]:
        prop["derivable"] = True
    plan["derivedAttributes"] = DERIVED
    contracts_plan_import(tenant_id=tenant.pk, plan=plan)


def order(key, occurred_at, total, customer="cust-42"):
    return {
        "source": "shop-backend",
        "externalEventId": key,
        "eventType": "order_completed",
        "occurredAt": occurred_at,
        "identity": {"EXTERNAL": customer},
        "properties": {"orderId": key, "total": total, "currency": "EUR"},
    }


def stored(tenant):
    return {(r.profile_id, r.name): r.value for r in DerivedValue.objects.filter(tenant=tenant)}


def recomputed(tenant):
    with transaction.atomic():
        derived_recompute(tenant_id=tenant.pk)
        values = stored(tenant)
        transaction.set_rollback(True)
    return values


def test_a_sum_does_not_depend_on_the_order_of_arrival(tenant, ingest_api, derived):
    # Newest first; a recompute adds oldest first: 0.3+0.2+0.1 != 0.1+0.2+0.3 in doubles.
    arrivals = [
        ("o3", "2026-11-20T12:00:00Z", 0.3),
        ("o2", "2026-11-20T11:00:00Z", 0.2),
        ("o1", "2026-11-20T10:00:00Z", 0.1),
    ]
    for key, at, total in arrivals:
        assert ingest_api.post("/api/v1/events", order(key, at, total), format="json").status_code == 201
    values = stored(tenant)
    assert values == recomputed(tenant)
    assert sorted(v for (_, name), v in values.items() if name == "ordersTotal") == [0.6]


def test_first_and_last_ties_inside_a_batch_match_the_recompute(tenant, ingest_api, derived):
    for customer in ("cust-a", "cust-b", "cust-c"):
        events = [order(f"{customer}-{n}", "2026-11-20T10:00:00Z", n, customer) for n in range(12)]
        body = ingest_api.post("/api/v1/events/batch", {"events": events}, format="json").json()
        assert body["summary"]["accepted"] == 12
    assert stored(tenant) == recomputed(tenant)


def test_equal_numbers_written_differently_give_one_min_and_max(tenant, ingest_api, derived):
    ingest_api.post("/api/v1/events", order("a", "2026-11-20T10:00:00Z", 1), format="json")
    ingest_api.post("/api/v1/events", order("b", "2026-11-20T11:00:00Z", 1.0), format="json")
    assert stored(tenant) == recomputed(tenant)
