"""Inputs found by fuzzing the running API that once ended in a 500; each now answers a 4xx
problem and changes nothing."""

from __future__ import annotations

import base64
import copy

import pytest

from contracts.plans import contracts_plan_import
from ingest.services import source_create
from ingest.tests.conftest import EVENT, PLAN
from jobs.worker import jobs_run_pending

pytestmark = pytest.mark.django_db


def cursor(position: str) -> str:
    raw = f"o=0&r=0&p={position}".encode()
    return base64.b64encode(raw).decode()


@pytest.fixture
def shop(tenant):
    contracts_plan_import(tenant_id=tenant.pk, plan=copy.deepcopy(PLAN))
    return source_create(tenant=tenant, key="shop-backend")


@pytest.fixture
def profile_id(ingest_api, shop):
    return ingest_api.post("/api/v1/events", copy.deepcopy(EVENT), format="json").json()["profileId"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sources/%00",
        "/api/v1/sources/a%00b",
        "/api/v1/event-types/%00",
        "/api/v1/attribute-definitions/a%00",
        "/api/v1/derived-attributes/%00x",
        "/api/v1/campaigns/%00",
        "/api/v1/segments/%00",
    ],
)
def test_a_nul_in_a_path_parameter_is_400(admin_api, path):
    response = admin_api.get(path)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_characters"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/derived-attributes?eventType=a%00b",
        "/api/v1/profiles?identifierType=EMAIL&identifierValue=a%00b",
        "/api/v1/sources?x%00=1",
    ],
)
def test_a_nul_in_a_query_parameter_is_400(admin_api, url):
    response = admin_api.get(url)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_characters"


def test_a_nul_in_a_path_is_also_refused_for_writes(admin_api):
    response = admin_api.patch("/api/v1/sources/%00", {"name": "x"}, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "path_template",
    ["/api/v1/profiles/{p}/events", "/api/v1/profiles/{p}/merges", "/api/v1/sources", "/api/v1/event-types"],
)
@pytest.mark.parametrize("position", ["xyz", "2026-02-30T00:00:00Z", "%00", "-1"])
def test_a_crafted_cursor_is_400_on_every_list(admin_api, profile_id, path_template, position):
    path = path_template.format(p=profile_id)
    response = admin_api.get(path, {"cursor": cursor(position)})
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response.json()["code"] == "invalid_cursor"


def test_an_undecodable_cursor_is_400_not_404(admin_api):
    response = admin_api.get("/api/v1/sources", {"cursor": "xyz"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


def test_a_cursor_position_of_the_wrong_type_is_refused(admin_api, profile_id):
    response = admin_api.get(f"/api/v1/profiles/{profile_id}/events", {"cursor": cursor("xyz")})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


def test_a_real_next_cursor_still_works(admin_api, ingest_api, shop):
    for n in range(3):
        ingest_api.post("/api/v1/sources", {}, format="json")  # noise: refused, not listed
        source_create(tenant=shop.tenant, key=f"src-{n}")
    first = admin_api.get("/api/v1/sources", {"limit": 2}).json()
    assert len(first["results"]) == 2 and first["next"]
    second = admin_api.get(first["next"]).json()
    assert [s["key"] for s in second["results"]] == ["src-1", "src-2"]


@pytest.mark.parametrize("total", ["1.7e308", "1e16", "-2.5e15"])
def test_a_number_beyond_the_magnitude_limit_is_400(ingest_api, shop, total):
    raw = (
        '{"source": "shop-backend", "externalEventId": "big", "eventType": "order_completed", '
        '"occurredAt": "2026-11-20T10:15:00+01:00", "identity": {"EXTERNAL": "cust-1"}, '
        '"properties": {"orderId": "1", "total": ' + total + ', "currency": "EUR"}}'
    )
    response = ingest_api.generic("POST", "/api/v1/events", raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "number_too_large"


def test_numbers_up_to_the_limit_sum_without_overflow(ingest_api, admin_api, tenant, shop):
    plan = copy.deepcopy(PLAN)
    plan["eventTypes"][0]["properties"][1]["derivable"] = True
    plan["derivedAttributes"] = [
        {"name": "ordersTotal", "eventType": "order_completed", "property": "total", "aggregation": "sum"}
    ]
    contracts_plan_import(tenant_id=tenant.pk, plan=plan)
    jobs_run_pending()  # the backfill: the definition is ready
    for n in range(3):
        event = copy.deepcopy(EVENT)
        event["externalEventId"] = f"big-{n}"
        event["properties"]["total"] = 1e15
        response = ingest_api.post("/api/v1/events", event, format="json")
        assert response.status_code == 201, response.content
    derived = admin_api.get(f"/api/v1/profiles/{response.json()['profileId']}").json()["derived"]
    assert derived == {"ordersTotal": 3e15}
