from __future__ import annotations

import copy

import pytest

from contracts.plans import contracts_plan_import
from ingest.services import source_create

PLAN = {
    "eventTypes": [
        {
            "name": "order_completed",
            "description": "An order was paid.",
            "status": "active",
            "allowAdditionalProperties": False,
            "properties": [
                {"name": "orderId", "type": "string", "required": True, "filterable": False, "derivable": False},
                {"name": "total", "type": "number", "required": True, "filterable": True, "derivable": True},
                {
                    "name": "currency",
                    "type": "enum",
                    "values": ["EUR", "USD"],
                    "required": True,
                    "filterable": True,
                    "derivable": False,
                },
            ],
        },
        {
            "name": "cart_abandoned",
            "description": "Old-style event.",
            "status": "deprecated",
            "allowAdditionalProperties": True,
            "properties": [],
        },
    ],
    "attributeDefinitions": [
        {"name": "firstName", "type": "string", "filterable": False},
        {"name": "tier", "type": "enum", "values": ["silver", "gold"], "filterable": True},
    ],
}

EVENT = {
    "source": "shop-backend",
    "externalEventId": "order-10001-completed",
    "eventType": "order_completed",
    "occurredAt": "2026-11-20T10:15:00+01:00",
    "identity": {"EXTERNAL": "cust-42", "EMAIL": " Ann@Example.com "},
    "properties": {"orderId": "10001", "total": 99.5, "currency": "EUR"},
}


@pytest.fixture
def shop(tenant):
    contracts_plan_import(tenant_id=tenant.pk, plan=copy.deepcopy(PLAN))
    return source_create(tenant=tenant, key="shop-backend", name="Shop backend")


@pytest.fixture
def event():
    """A fresh, valid event body (occurredAt recent enough for the default limits)."""
    return copy.deepcopy(EVENT)
