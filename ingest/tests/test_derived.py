"""Derived attributes stay current through ingestion, replays, merges and backfills."""

from __future__ import annotations

import copy
from io import StringIO

import pytest
from django.core.management import call_command

from contracts.plans import contracts_plan_import
from ingest.tests.conftest import PLAN
from jobs.worker import jobs_run_pending

pytestmark = pytest.mark.django_db

DERIVED = [
    {"name": "ordersTotal", "eventType": "order_completed", "property": "total", "aggregation": "sum"},
    {"name": "ordersCount", "eventType": "order_completed", "aggregation": "count"},
    {"name": "smallestOrder", "eventType": "order_completed", "property": "total", "aggregation": "min"},
    {"name": "largestOrder", "eventType": "order_completed", "property": "total", "aggregation": "max"},
    {"name": "firstCurrency", "eventType": "order_completed", "property": "currency", "aggregation": "first"},
    {"name": "lastCurrency", "eventType": "order_completed", "property": "currency", "aggregation": "last"},
]


@pytest.fixture
def derived(tenant, shop):
    plan = copy.deepcopy(PLAN)
    for prop in plan["eventTypes"][0]["properties"]:
        prop["derivable"] = True
    plan["derivedAttributes"] = DERIVED
    contracts_plan_import(tenant_id=tenant.pk, plan=plan)
    jobs_run_pending()  # the (empty) backfills: the definitions are ready


def order(n, occurred_at, total, currency="EUR", identity=None):
    return {
        "source": "shop-backend",
        "externalEventId": f"order-{n}",
        "eventType": "order_completed",
        "occurredAt": occurred_at,
        "identity": identity or {"EXTERNAL": "cust-42"},
        "properties": {"orderId": str(n), "total": total, "currency": currency},
    }


ORDERS = [
    order(1, "2026-11-20T12:00:00Z", 50, "USD"),
    order(2, "2026-11-20T10:00:00Z", 20, "EUR"),  # earlier than the first one sent
    order(3, "2026-11-20T14:00:00Z", 30.5, "USD"),
]
EXPECTED = {
    "ordersTotal": 100.5,
    "ordersCount": 3,
    "smallestOrder": 20,
    "largestOrder": 50,
    "firstCurrency": "EUR",
    "lastCurrency": "USD",
}


def derived_of(admin_api, profile_id):
    return admin_api.get(f"/api/v1/profiles/{profile_id}").json()["derived"]


@pytest.mark.parametrize("order_of_arrival", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_out_of_order_events_give_the_same_values(ingest_api, admin_api, derived, order_of_arrival):
    for index in order_of_arrival:
        response = ingest_api.post("/api/v1/events", ORDERS[index], format="json")
    assert derived_of(admin_api, response.json()["profileId"]) == EXPECTED


def test_a_batch_gives_the_same_values_as_single_events(ingest_api, admin_api, derived):
    body = ingest_api.post("/api/v1/events/batch", {"events": ORDERS}, format="json").json()
    assert derived_of(admin_api, body["results"][0]["profileId"]) == EXPECTED


def test_replays_change_nothing(ingest_api, admin_api, derived):
    for event in ORDERS:
        ingest_api.post("/api/v1/events", event, format="json")
    response = ingest_api.post("/api/v1/events/batch", {"events": ORDERS}, format="json").json()
    assert response["summary"]["duplicate"] == 3
    assert derived_of(admin_api, response["results"][0]["profileId"]) == EXPECTED


def test_a_merge_recomputes_the_survivor_exactly(ingest_api, admin_api, derived):
    by_email = order(1, "2026-11-20T12:00:00Z", 50, "USD", identity={"EMAIL": "ann@example.com"})
    by_phone = order(2, "2026-11-20T10:00:00Z", 20, "EUR", identity={"PHONE": "+442079460958"})
    ingest_api.post("/api/v1/events", by_email, format="json")
    ingest_api.post("/api/v1/events", by_phone, format="json")
    both = order(
        3, "2026-11-20T14:00:00Z", 30.5, "USD", identity={"EMAIL": "ann@example.com", "PHONE": "+442079460958"}
    )
    response = ingest_api.post("/api/v1/events", both, format="json").json()
    assert len(response["resolution"]["mergedProfiles"]) == 1
    assert derived_of(admin_api, response["profileId"]) == EXPECTED
    merged = response["resolution"]["mergedProfiles"][0]
    assert derived_of(admin_api, merged) == EXPECTED  # the old id answers with the survivor


def test_a_new_definition_answers_at_once_and_is_backfilled_by_a_job(ingest_api, admin_api, tenant, shop):
    plan = copy.deepcopy(PLAN)
    plan["eventTypes"][0]["properties"][1]["derivable"] = True
    contracts_plan_import(tenant_id=tenant.pk, plan=plan)
    for event in ORDERS:
        profile_id = ingest_api.post("/api/v1/events", event, format="json").json()["profileId"]
    assert derived_of(admin_api, profile_id) == {}
    response = admin_api.post(
        "/api/v1/derived-attributes",
        {"name": "ordersTotal", "eventType": "order_completed", "property": "total", "aggregation": "sum"},
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == "backfilling"
    assert created["job"]["kind"] == "derived.backfill" and created["job"]["status"] == "queued"
    job_url = f"/api/v1/jobs/{created['job']['id']}"
    assert admin_api.get(job_url).json()["status"] == "queued"
    profile = admin_api.get(f"/api/v1/profiles/{profile_id}").json()
    assert profile["derived"] == {} and profile["derivedStatus"] == {"ordersTotal": "backfilling"}

    assert jobs_run_pending() == 1

    profile = admin_api.get(f"/api/v1/profiles/{profile_id}").json()
    assert profile["derived"] == {"ordersTotal": 100.5} and profile["derivedStatus"] == {"ordersTotal": "ready"}
    definition = admin_api.get("/api/v1/derived-attributes/ordersTotal").json()
    assert definition["status"] == "ready" and definition["job"]["status"] == "succeeded"
    job = admin_api.get(job_url).json()
    assert job["status"] == "succeeded"
    assert job["progress"] == {"done": 1, "total": 1}
    assert job["result"] == {"profiles": 1, "valuesWritten": 1, "resumedFrom": 0}


def test_events_arriving_during_a_backfill_are_counted_once(ingest_api, admin_api, tenant, shop):
    plan = copy.deepcopy(PLAN)
    plan["eventTypes"][0]["properties"][1]["derivable"] = True
    contracts_plan_import(tenant_id=tenant.pk, plan=plan)
    profile_id = ingest_api.post("/api/v1/events", ORDERS[0], format="json").json()["profileId"]
    admin_api.post(
        "/api/v1/derived-attributes",
        {"name": "ordersTotal", "eventType": "order_completed", "property": "total", "aggregation": "sum"},
        format="json",
    )
    for event in ORDERS[1:]:  # folded in by ingest while the backfill is still queued
        assert ingest_api.post("/api/v1/events", event, format="json").status_code == 201
    assert derived_of(admin_api, profile_id) == {}, "incomplete values are not served"
    jobs_run_pending()
    assert derived_of(admin_api, profile_id) == {"ordersTotal": 100.5}


def test_derived_recompute_command_rebuilds_the_values(ingest_api, admin_api, tenant, derived):
    from profiles.models import DerivedValue

    for event in ORDERS:
        profile_id = ingest_api.post("/api/v1/events", event, format="json").json()["profileId"]
    DerivedValue.objects.filter(tenant=tenant).update(value=0, number=0)  # damage them
    out = StringIO()
    call_command("derived_recompute", "--tenant", tenant.slug, stdout=out)
    assert "Recomputed" in out.getvalue()
    assert derived_of(admin_api, profile_id) == EXPECTED
    out = StringIO()
    call_command("derived_recompute", "--tenant", tenant.slug, "--name", "ordersTotal", stdout=out)
    assert "ordersTotal: 1 values from 3 events" in out.getvalue()


def test_derived_recompute_refuses_unknown_names(tenant, derived):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="No derived attribute 'nope'"):
        call_command("derived_recompute", "--tenant", tenant.slug, "--name", "nope", stdout=StringIO())


def test_the_admin_profile_page_shows_derived_values_and_recent_events(client, ingest_api, derived):
    from django.contrib.auth import get_user_model

    for event in ORDERS:
        profile_id = ingest_api.post("/api/v1/events", event, format="json").json()["profileId"]
    ingest_api.post("/api/v1/events", {**ORDERS[0], "externalEventId": "bad", "eventType": "nope"}, format="json")
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    page = client.get(f"/admin/profiles/profile/{profile_id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Derived attributes" in html and "ordersTotal" in html and "100.5" in html
    assert "Recent events" in html and "shop-backend/order-3" in html
    assert "violations log" in html and "unknown_event_type" in html


def test_a_recompute_over_http_is_a_job_and_the_definition_is_backfilling_until_it_is_done(
    ingest_api, admin_api, tenant, derived
):
    from profiles.models import DerivedValue

    for event in ORDERS:
        profile_id = ingest_api.post("/api/v1/events", event, format="json").json()["profileId"]
    DerivedValue.objects.filter(tenant=tenant, name="ordersTotal").update(value=1.0, number=1.0, exact="1")
    DerivedValue.objects.filter(tenant=tenant, name="ordersCount").delete()  # drifted values, to be repaired

    response = admin_api.post("/api/v1/derived-attributes/ordersTotal/recompute")
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["kind"] == "derived.recompute" and job["status"] == "queued"
    assert response.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    definition = admin_api.get("/api/v1/derived-attributes/ordersTotal").json()
    assert definition["status"] == "backfilling" and definition["job"]["id"] == job["id"]
    assert admin_api.get("/api/v1/derived-attributes/ordersCount").json()["status"] == "ready", "only the one named"
    profile = admin_api.get(f"/api/v1/profiles/{profile_id}").json()
    assert "ordersTotal" not in profile["derived"] and profile["derivedStatus"]["ordersTotal"] == "backfilling"

    assert jobs_run_pending() == 1

    done = admin_api.get(response.headers["Location"]).json()
    assert done["status"] == "succeeded" and done["result"] == {"profiles": 1, "valuesWritten": 1, "resumedFrom": 0}
    assert admin_api.get("/api/v1/derived-attributes/ordersTotal").json()["status"] == "ready"
    assert derived_of(admin_api, profile_id) == {k: v for k, v in EXPECTED.items() if k != "ordersCount"}


def test_a_recompute_that_takes_over_a_backfill_is_the_one_that_marks_it_ready(admin_api, tenant, derived):
    created = admin_api.post(
        "/api/v1/derived-attributes",
        {"name": "itemsTotal", "eventType": "order_completed", "property": "total", "aggregation": "sum"},
        format="json",
    ).json()
    recompute = admin_api.post("/api/v1/derived-attributes/itemsTotal/recompute", {}, format="json").json()
    assert admin_api.get("/api/v1/derived-attributes/itemsTotal").json()["job"]["id"] == recompute["id"]
    assert jobs_run_pending() == 2
    assert admin_api.get(f"/api/v1/jobs/{created['job']['id']}").json()["status"] == "succeeded"
    definition = admin_api.get("/api/v1/derived-attributes/itemsTotal").json()
    assert definition["status"] == "ready" and definition["job"]["status"] == "succeeded"


def test_a_recompute_of_an_unknown_or_another_tenants_attribute_is_404_and_bad_bodies_are_refused(
    admin_api, other_admin_api, ingest_api, tenant, derived
):
    from jobs.models import Job

    before = Job.objects.count()
    assert admin_api.post("/api/v1/derived-attributes/nope/recompute").status_code == 404
    assert other_admin_api.post("/api/v1/derived-attributes/ordersTotal/recompute").status_code == 404
    assert ingest_api.post("/api/v1/derived-attributes/ordersTotal/recompute").status_code == 403
    bad = admin_api.post("/api/v1/derived-attributes/ordersTotal/recompute", {"names": ["x"]}, format="json")
    assert bad.status_code == 422 and [e["pointer"] for e in bad.json()["errors"]] == ["/names"]
    listed = admin_api.post("/api/v1/derived-attributes/ordersTotal/recompute", [], format="json")
    assert listed.status_code == 400
    assert Job.objects.count() == before
    assert admin_api.get("/api/v1/derived-attributes/ordersTotal").json()["status"] == "ready"
