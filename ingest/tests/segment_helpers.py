"""Shared set-up of the Segment-compatible ingress tests: a tenant with contracts for
the calls of a typical Segment integration, a source and a write key for it."""

from __future__ import annotations

import base64
import copy

from contracts.plans import contracts_plan_import
from ingest.services import source_create
from tenants.services import api_key_create

SEGMENT_PLAN = {
    "eventTypes": [
        {
            "name": "order_completed",
            "description": "An order was paid.",
            "status": "active",
            "allowAdditionalProperties": False,
            "properties": [
                {"name": "orderId", "type": "string", "required": True, "filterable": False, "derivable": False},
                {"name": "total", "type": "number", "required": True, "filterable": True, "derivable": True},
            ],
        },
        {
            "name": "page_viewed",
            "description": "Segment page call.",
            "status": "active",
            "allowAdditionalProperties": True,
            "properties": [],
        },
        {
            "name": "screen_viewed",
            "description": "Segment screen call.",
            "status": "active",
            "allowAdditionalProperties": True,
            "properties": [],
        },
        {
            "name": "group_joined",
            "description": "Segment group call.",
            "status": "active",
            "allowAdditionalProperties": True,
            "properties": [
                {"name": "groupId", "type": "string", "required": True, "filterable": True, "derivable": False},
            ],
        },
    ],
    "attributeDefinitions": [
        {"name": "firstName", "type": "string", "filterable": False},
        {"name": "tier", "type": "enum", "values": ["silver", "gold"], "filterable": True},
    ],
}


def segment_tenant_setup(tenant, source_key: str = "web") -> str:
    """Contracts, a source and a write key for it; returns the write key's plaintext."""
    contracts_plan_import(tenant_id=tenant.pk, plan=copy.deepcopy(SEGMENT_PLAN))
    source_create(tenant=tenant, key=source_key, name="Web SDK")
    return api_key_create(tenant=tenant, scopes=["ingest"], source=source_key, name="web-sdk").plaintext


def basic(write_key: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{write_key}:{password}".encode()).decode()
