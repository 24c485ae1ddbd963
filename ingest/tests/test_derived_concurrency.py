"""A derived-attribute backfill racing ingestion of the same customer (PostgreSQL)."""

from __future__ import annotations

import copy
import threading
import time

import pytest
from django.db import connection, transaction

from conftest import make_client
from contracts.plans import contracts_plan_import
from ingest.derived import derived_recompute
from ingest.tests.conftest import PLAN
from profiles.models import DerivedValue

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def _order(key, total):
    return {
        "source": "shop-backend",
        "externalEventId": key,
        "eventType": "order_completed",
        "occurredAt": "2026-11-20T10:00:00Z",
        "identity": {"EXTERNAL": "cust-42"},
        "properties": {"orderId": key, "total": total, "currency": "EUR"},
    }


def test_a_backfill_racing_an_event_is_neither_lost_nor_a_500(tenant, key_factory, shop):
    client = make_client(key_factory(tenant, ["ingest"]).plaintext)
    client.raise_request_exception = False
    assert client.post("/api/v1/events", _order("o1", 10), format="json").status_code == 201
    plan = copy.deepcopy(PLAN)
    plan["eventTypes"][0]["properties"][1]["derivable"] = True
    plan["derivedAttributes"] = [
        {"name": "ordersTotal", "eventType": "order_completed", "property": "total", "aggregation": "sum"}
    ]
    contracts_plan_import(tenant_id=tenant.pk, plan=plan)
    DerivedValue.objects.filter(tenant=tenant).delete()  # as if its on-commit backfill had not run yet

    started, errors = threading.Event(), []

    def backfill_holding_its_chunk():
        # derived_recompute's chunk work, kept open while the event arrives.
        try:
            with transaction.atomic():
                derived_recompute(
                    tenant_id=tenant.pk,
                    profile_ids=_profile_ids(tenant),
                    names=["ordersTotal"],
                )
                started.set()
                time.sleep(1.0)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            started.set()
            connection.close()

    thread = threading.Thread(target=backfill_holding_its_chunk)
    thread.start()
    assert started.wait(10)
    response = client.post("/api/v1/events", _order("o2", 5), format="json")
    thread.join()
    assert response.status_code == 201, response.content[:300]
    assert errors == []
    assert DerivedValue.objects.get(tenant=tenant).value == 15


def _profile_ids(tenant):
    from profiles.models import Profile

    return list(Profile.objects.filter(tenant=tenant).values_list("id", flat=True))
