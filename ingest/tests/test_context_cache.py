"""The per-tenant ingest context is cached per process, but never stale: every request
asks the database whether sources or contracts changed since it was loaded."""

from __future__ import annotations

import copy

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contracts.plans import contracts_plan_import
from ingest.services import events_ingest, source_create
from ingest.tests.conftest import PLAN

pytestmark = pytest.mark.django_db


def test_a_source_registered_after_the_context_was_cached_is_known_at_once(tenant, shop, event):
    assert events_ingest(tenant=tenant, events=[event])[0].status == "accepted"
    crm = {**copy.deepcopy(event), "source": "crm", "externalEventId": "crm-1"}
    assert events_ingest(tenant=tenant, events=[crm])[0].code == "unknown_source"
    source_create(tenant=tenant, key="crm")
    assert events_ingest(tenant=tenant, events=[crm])[0].status == "accepted"


def test_a_contract_change_after_the_context_was_cached_applies_at_once(tenant, shop, event):
    assert events_ingest(tenant=tenant, events=[event])[0].warnings == ()
    plan = copy.deepcopy(PLAN)
    plan["eventTypes"][0]["status"] = "deprecated"
    contracts_plan_import(tenant_id=tenant.pk, plan=plan)
    again = {**copy.deepcopy(event), "externalEventId": "order-2"}
    assert "deprecated" in events_ingest(tenant=tenant, events=[again])[0].warnings[0]


def test_a_cached_context_costs_one_statement(tenant, shop, event):
    events_ingest(tenant=tenant, events=[event])
    from ingest.context import ingest_context

    with CaptureQueriesContext(connection) as captured:
        ctx = ingest_context(tenant=tenant)
    assert len(captured.captured_queries) == 1
    assert set(ctx.sources) == {"shop-backend"}
