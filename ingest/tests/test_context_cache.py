"""The per-tenant ingest context is cached per process, but never stale: every request
asks the database whether sources or contracts changed since it was loaded, before it
commits anything it decided with it."""

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


def test_a_request_that_writes_asks_for_the_version_in_its_own_transaction(tenant, shop, event):
    """The question travels with the transaction's opening statements (BEGIN, the key claim)
    instead of a round trip of its own before them."""
    events_ingest(tenant=tenant, events=[event])
    with CaptureQueriesContext(connection) as captured:
        events_ingest(tenant=tenant, events=[{**copy.deepcopy(event), "externalEventId": "order-2"}])
    sqls = [query["sql"] for query in captured.captured_queries]
    opening = next(i for i, sql in enumerate(sqls) if sql.startswith(("BEGIN", "SAVEPOINT")))
    [version] = [i for i, sql in enumerate(sqls) if "FROM ingest_source WHERE" in sql]
    claim = next(i for i, sql in enumerate(sqls) if "INTO ingest_idempotencykey" in sql)
    assert opening < version < claim


def test_items_refused_by_a_stale_context_are_checked_again_with_the_current_one(tenant, shop, event):
    """Every item refused with the cached context: no transaction would ask, so the request
    asks first, and checks its items again when the answer is "changed"."""
    assert events_ingest(tenant=tenant, events=[event])[0].status == "accepted"
    unknown = {**copy.deepcopy(event), "eventType": "order_refunded", "externalEventId": "refund-1"}
    assert events_ingest(tenant=tenant, events=[unknown])[0].status == "rejected"
    plan = copy.deepcopy(PLAN)
    plan["eventTypes"].append({**copy.deepcopy(plan["eventTypes"][0]), "name": "order_refunded"})
    contracts_plan_import(tenant_id=tenant.pk, plan=plan)
    assert events_ingest(tenant=tenant, events=[unknown], dry_run=True)[0].status == "accepted"
    assert events_ingest(tenant=tenant, events=[unknown])[0].status == "accepted"
