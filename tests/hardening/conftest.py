"""A tenant with contracts that hold every kind of field the hardening tests attack:
a datetime property and a datetime attribute (filterable), a source, and clients."""

from __future__ import annotations

import copy

import pytest

from conftest import make_client
from contracts.plans import contracts_plan_import
from ingest.services import source_create
from ingest.tests.conftest import EVENT, PLAN


@pytest.fixture
def plan():
    plan = copy.deepcopy(PLAN)
    plan["eventTypes"].append(
        {
            "name": "signed_up",
            "description": "A customer signed up.",
            "status": "active",
            "allowAdditionalProperties": False,
            "properties": [
                {"name": "at", "type": "datetime", "required": True, "filterable": True, "derivable": False},
            ],
        }
    )
    plan["attributeDefinitions"].append({"name": "birthday", "type": "datetime", "filterable": True})
    return plan


@pytest.fixture
def shop(tenant, plan):
    contracts_plan_import(tenant_id=tenant.pk, plan=plan)
    return source_create(tenant=tenant, key="shop-backend", name="Shop backend")


@pytest.fixture
def api(tenant, key_factory, shop):
    """One client with the ingest and admin scopes."""
    return make_client(key_factory(tenant, ["ingest", "admin"]).plaintext)


@pytest.fixture
def event():
    return copy.deepcopy(EVENT)


def numbered(n: int, **changes) -> dict:
    body = copy.deepcopy(EVENT)
    body["externalEventId"] = f"evt-{n}"
    body["identity"] = {"EXTERNAL": f"cust-{n}"}
    body.update(changes)
    return body
