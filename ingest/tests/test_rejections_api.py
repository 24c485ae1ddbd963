"""GET /api/v1/rejections and /api/v1/rejections/discovered (scope admin)."""

from __future__ import annotations

import copy

import pytest

from contracts.plans import contracts_plan_import
from ingest.services import source_create

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events"
BATCH = "/api/v1/events/batch"
LIST = "/api/v1/rejections"
DISCOVERED = "/api/v1/rejections/discovered"


def variant(event, n, **changes):
    item = copy.deepcopy(event)
    item["externalEventId"] = f"evt-{n}"
    item["properties"]["orderId"] = str(n)
    item.update(changes)
    return item


@pytest.fixture
def refused(ingest_api, shop, event):
    """Three refusals in order: a contract violation, an unknown type, a profile update."""
    bad = variant(event, 1)
    bad["properties"]["total"] = "lots"
    assert ingest_api.post(EVENTS, bad, format="json").status_code == 422
    unknown = variant(event, 2, eventType="signup_started")
    assert ingest_api.post(EVENTS, unknown, format="json").status_code == 422
    update = {
        "source": "shop-backend",
        "externalEventId": "upd-1",
        "occurredAt": event["occurredAt"],
        "identity": {"EXTERNAL": "cust-42"},
        "attributes": {"shoeSize": 42},
    }
    assert ingest_api.post("/api/v1/profile-updates", update, format="json").status_code == 422
    return [bad, unknown, update]


def test_the_list_answers_every_refused_item_whole_newest_first(admin_api, refused):
    response = admin_api.get(LIST)
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    assert [r["payload"] for r in body["results"]] == list(reversed(refused))
    update, unknown, bad = body["results"]
    assert set(bad) == {
        "id",
        "kind",
        "source",
        "externalEventId",
        "eventType",
        "receivedAt",
        "code",
        "errors",
        "payload",
    }
    assert (bad["kind"], bad["source"], bad["externalEventId"], bad["eventType"], bad["code"]) == (
        "event",
        "shop-backend",
        "evt-1",
        "order_completed",
        "contract_violation",
    )
    assert bad["errors"] == [{"pointer": "/properties/total", "code": "type", "detail": "expected number, got string"}]
    assert bad["receivedAt"].endswith("Z")
    assert unknown["code"] == "unknown_event_type"
    assert (update["kind"], update["eventType"]) == ("profile_update", None)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("source=shop-backend", ["upd-1", "evt-2", "evt-1"]),
        ("source=web", []),
        ("eventType=signup_started", ["evt-2"]),
        ("code=contract_violation", ["upd-1", "evt-1"]),
        ("kind=profile_update", ["upd-1"]),
        ("kind=event&code=contract_violation", ["evt-1"]),
    ],
)
def test_filters_narrow_the_list(admin_api, refused, query, expected):
    body = admin_api.get(f"{LIST}?{query}").json()
    assert [r["externalEventId"] for r in body["results"]] == expected


def test_the_list_is_cursor_paginated(admin_api, refused):
    first = admin_api.get(f"{LIST}?limit=2").json()
    assert len(first["results"]) == 2 and first["next"]
    second = admin_api.get(first["next"]).json()
    assert [r["externalEventId"] for r in first["results"] + second["results"]] == ["upd-1", "evt-2", "evt-1"]
    assert second["next"] is None


@pytest.mark.parametrize(
    ("query", "pointer", "code"),
    [
        ("code=no_such_code", "/code", "unknown_code"),
        ("kind=order", "/kind", "unknown_kind"),
        ("colour=red", "/colour", "unknown_parameter"),
        ("source=", "/source", "type"),
    ],
)
def test_bad_filters_answer_422_with_a_pointer(admin_api, refused, query, pointer, code):
    response = admin_api.get(f"{LIST}?{query}")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert [(e["pointer"], e["code"]) for e in response.json()["errors"]] == [(pointer, code)]


def test_another_tenant_sees_none_of_the_quarantine_and_ingest_keys_are_refused(refused, other_admin_api, ingest_api):
    assert other_admin_api.get(LIST).json() == {"results": [], "next": None}
    assert other_admin_api.get(DISCOVERED).json() == {"results": [], "next": None}
    assert ingest_api.get(LIST).status_code == 403


def test_discovered_lists_unregistered_types_with_counts_sources_and_inferred_properties(
    ingest_api, admin_api, shop, event, tenant
):
    source_create(tenant=tenant, key="web")
    sent = [
        {"plan": "pro", "seats": 3, "at": "2026-11-20T10:00:00Z", "price": 9.5},
        {"plan": "free", "seats": 1, "at": "2026-11-21T10:00:00+01:00", "price": 10, "trial": True},
        {"plan": "pro", "seats": 2, "at": "2026-11-22T10:00:00Z", "price": 9.75, "trial": None},
    ]
    events = [variant(event, n, eventType="signup_started", properties=p) for n, p in enumerate(sent)]
    events.append(variant(event, 9, eventType="page_viewed", source="web", properties={}))
    events.append(variant(event, 10, properties={"total": "lots"}))  # a registered type: not discovered
    assert ingest_api.post(BATCH, {"events": events}, format="json").json()["summary"]["rejected"] == 5

    body = admin_api.get(DISCOVERED).json()
    assert [r["eventType"] for r in body["results"]] == ["page_viewed", "signup_started"]
    page_viewed, signup = body["results"]
    assert (page_viewed["count"], page_viewed["sources"], page_viewed["properties"]) == (1, ["web"], [])
    assert (signup["count"], signup["sources"], signup["sampled"]) == (3, ["shop-backend"], 3)
    assert {p["name"]: (p["type"], p["types"], p["required"]) for p in signup["properties"]} == {
        "at": ("datetime", ["datetime"], True),
        "plan": ("string", ["string"], True),
        "price": ("number", ["integer", "number"], True),
        "seats": ("integer", ["integer"], True),
        "trial": ("boolean", ["boolean"], False),
    }
    assert signup["firstSeenAt"].endswith("Z") and signup["lastSeenAt"].endswith("Z")
    assert [r["eventType"] for r in admin_api.get(f"{DISCOVERED}?source=web").json()["results"]] == ["page_viewed"]
    assert admin_api.get(f"{DISCOVERED}?limit=1").json()["next"]

    contracts_plan_import(
        tenant_id=tenant.pk,
        plan={"eventTypes": [{"name": "page_viewed", "allowAdditionalProperties": True, "properties": []}]},
    )
    assert [r["eventType"] for r in admin_api.get(DISCOVERED).json()["results"]] == ["signup_started"]
    assert admin_api.get(f"{DISCOVERED}?code=unknown_event_type").status_code == 422
