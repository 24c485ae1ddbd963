"""The backfill of a new derived attribute survives its worker being killed (kill -9) mid-way:
another worker takes the job over once its lease expires, resumes behind the last committed
chunk, and the values end exactly as a full recompute from the event store makes them."""

from __future__ import annotations

import copy
import signal
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from contracts.plans import contracts_plan_import
from ingest.derived import derived_recompute
from ingest.services import source_create
from ingest.tests.conftest import PLAN
from jobs.models import Job
from jobs.tests.workers import wait_for, worker_start, workers_stop
from profiles.models import DerivedValue

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

PROFILES = 2000
BATCH = 500
CHUNK = 40  # profiles per backfill transaction in the worker: 50 checkpoints to be killed between


def order(n: int) -> dict:
    return {
        "source": "shop-backend",
        "externalEventId": f"order-{n}",
        "eventType": "order_completed",
        "occurredAt": "2026-11-20T10:15:00+01:00",
        "identity": {"EXTERNAL": f"cust-{n % PROFILES}"},
        "properties": {"orderId": str(n), "total": (n % 97) + 0.25, "currency": "EUR"},
    }


WORKER_ENV = {"CDP_JOB_LEASE_SECONDS": "3", "CDP_JOB_SWEEP_SECONDS": "1", "CDP_DERIVED_CHUNK_PROFILES": str(CHUNK)}


def start_worker(log: Path) -> subprocess.Popen:
    return worker_start(log, WORKER_ENV)


def values_of(tenant, name: str) -> dict:
    rows = DerivedValue.objects.filter(tenant=tenant, name=name).values_list("profile_id", "value", "count", "exact")
    return {profile_id: (value, count, exact) for profile_id, value, count, exact in rows}


def test_a_backfill_killed_mid_way_resumes_and_ends_exactly_right(tenant, ingest_api, admin_api, tmp_path):
    plan = copy.deepcopy(PLAN)
    for prop in plan["eventTypes"][0]["properties"]:
        prop["derivable"] = True
    contracts_plan_import(tenant_id=tenant.pk, plan=plan)
    source_create(tenant=tenant, key="shop-backend", name="Shop backend")
    orders = [order(n) for n in range(PROFILES + PROFILES // 2)]  # half the customers ordered twice
    for start in range(0, len(orders), BATCH):
        response = ingest_api.post("/api/v1/events/batch", {"events": orders[start : start + BATCH]}, format="json")
        assert response.status_code == 200, response.content
    expected = {}
    for o in orders:
        customer = o["identity"]["EXTERNAL"]
        expected[customer] = expected.get(customer, Decimal(0)) + Decimal(str(o["properties"]["total"]))

    response = admin_api.post(
        "/api/v1/derived-attributes",
        {"name": "ordersTotal", "eventType": "order_completed", "property": "total", "aggregation": "sum"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "backfilling"
    job = Job.objects.get(pk=response.json()["job"]["id"])

    log = tmp_path / "worker.log"
    first = start_worker(log)
    second = None
    try:
        # Kill the first worker once a few chunks are committed, well before the end.
        killed_at = wait_for(
            lambda: (done := Job.objects.get(pk=job.pk).progress_done) >= 3 * CHUNK and done,
            timeout=180,
            what="the first worker to commit some chunks",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        stopped = Job.objects.get(pk=job.pk)
        assert stopped.status == Job.Status.RUNNING, "the dead worker left its job running"
        assert killed_at <= stopped.progress_done < PROFILES, "killed mid-way"
        checkpoint_done = stopped.checkpoint["done"]
        assert admin_api.get("/api/v1/derived-attributes/ordersTotal").json()["status"] == "backfilling"

        second = start_worker(log)
        finished = wait_for(
            lambda: (j := Job.objects.get(pk=job.pk)).is_finished and j,
            timeout=240,
            what="the second worker to finish the job",
        )
    finally:
        workers_stop(first, second)

    assert finished.status == Job.Status.SUCCEEDED, (finished.error, log.read_text()[-3000:])
    assert finished.attempts == 2
    assert finished.result["resumedFrom"] == checkpoint_done > 0, "the second run started behind the last chunk"
    assert finished.progress_done == finished.progress_total == PROFILES
    assert admin_api.get("/api/v1/derived-attributes/ordersTotal").json()["status"] == "ready"

    backfilled = values_of(tenant, "ordersTotal")
    assert len(backfilled) == PROFILES
    derived_recompute(tenant_id=tenant.pk, names=["ordersTotal"])
    assert values_of(tenant, "ordersTotal") == backfilled, "the resumed backfill equals a full recompute"

    by_customer = {}
    for customer, value in DerivedValue.objects.filter(tenant=tenant, name="ordersTotal").values_list(
        "profile__identifiers__value", "value"
    ):
        by_customer[customer] = value
    assert {c: Decimal(str(v)) for c, v in by_customer.items()} == expected
