"""GET /api/v1/profiles/{id}, lookup by identifier and merge history, as API.md says."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from conftest import make_client
from profiles.extensions import register_profile_section, unregister_profile_section
from profiles.services import profile_attributes_apply

from .factories import T0, resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def ann(tenant):
    result = resolve(tenant, {"EXTERNAL": "cust-42", "EMAIL": " Ann@Example.com "}, source="crm")
    with transaction.atomic():
        profile_attributes_apply(
            tenant_id=tenant.pk, profile_id=result.profile_id, attributes={"tier": "gold"}, occurred_at=T0, source="crm"
        )
    return result.profile_id


def test_profile_detail_has_the_api_shape(admin_api, ann):
    response = admin_api.get(f"/api/v1/profiles/{ann}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(ann)
    assert "requestedId" not in body
    assert body["attributes"] == {"tier": "gold"}
    assert body["derived"] == {}
    assert body["endpoints"] == []
    assert body["readiness"] == {
        channel: {"ready": False, "reason": "no_endpoint"} for channel in ("EMAIL", "SMS", "PUSH", "WHATSAPP")
    }
    assert [(i["type"], i["value"]) for i in body["identifiers"]] == [
        ("EXTERNAL", "cust-42"),
        ("EMAIL", "ann@example.com"),
    ]
    assert body["identifiers"][0]["firstSeenAt"] == "2026-01-01T12:00:00Z"
    assert body["createdAt"].endswith("Z") and body["updatedAt"].endswith("Z")


def test_a_merged_away_id_answers_the_survivor_with_requested_id(tenant, admin_api, ann):
    phone = resolve(tenant, {"PHONE": "+442079460958"}).profile_id
    resolve(tenant, {"EXTERNAL": "cust-42", "PHONE": "020 7946 0958"})
    body = admin_api.get(f"/api/v1/profiles/{phone}").json()
    assert body["id"] == str(ann)
    assert body["requestedId"] == str(phone)
    assert {i["type"] for i in body["identifiers"]} == {"EXTERNAL", "EMAIL", "PHONE"}


def test_unknown_and_other_tenants_profiles_answer_404_alike(admin_api, other_admin_api, ann):
    missing = admin_api.get(f"/api/v1/profiles/{uuid.uuid4()}")
    foreign = other_admin_api.get(f"/api/v1/profiles/{ann}")
    assert missing.status_code == foreign.status_code == 404
    assert missing.json()["code"] == foreign.json()["code"] == "not_found"
    assert other_admin_api.get(f"/api/v1/profiles/{ann}/merges").status_code == 404
    assert admin_api.get("/api/v1/profiles/not-a-uuid").status_code == 404


def test_profile_reads_need_the_admin_scope(tenant, key_factory, ann):
    ingest_only = make_client(key_factory(tenant, ["ingest"]).plaintext)
    assert ingest_only.get(f"/api/v1/profiles/{ann}").status_code == 403
    assert ingest_only.get("/api/v1/profiles?identifierType=EMAIL&identifierValue=a@b.io").status_code == 403
    assert make_client(None).get(f"/api/v1/profiles/{ann}").status_code == 401


def test_lookup_normalizes_the_value_first(admin_api, ann):
    response = admin_api.get("/api/v1/profiles", {"identifierType": "EMAIL", "identifierValue": " ANN@example.com "})
    assert response.status_code == 200
    assert response.json()["id"] == str(ann)


def test_lookup_by_national_phone_number_uses_the_tenants_region(tenant, admin_api):
    profile_id = resolve(tenant, {"PHONE": "+44 20 7946 0958"}).profile_id
    response = admin_api.get("/api/v1/profiles", {"identifierType": "PHONE", "identifierValue": "020 7946 0958"})
    assert response.json()["id"] == str(profile_id)


def test_lookup_of_an_identifier_nobody_has_is_404(admin_api, other_admin_api, ann):
    assert (
        admin_api.get("/api/v1/profiles", {"identifierType": "EMAIL", "identifierValue": "x@y.io"}).status_code == 404
    )
    foreign = other_admin_api.get("/api/v1/profiles", {"identifierType": "EXTERNAL", "identifierValue": "cust-42"})
    assert foreign.status_code == 404


def test_lookup_with_unknown_identifier_type_is_422_with_a_pointer(admin_api):
    response = admin_api.get("/api/v1/profiles", {"identifierType": "FAX", "identifierValue": "1"})
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert [e["pointer"] for e in response.json()["errors"]] == ["/identifierType"]


def test_lookup_without_parameters_is_422_naming_both(admin_api):
    response = admin_api.get("/api/v1/profiles")
    assert response.status_code == 422
    assert {e["pointer"] for e in response.json()["errors"]} == {"/identifierType", "/identifierValue"}


def test_lookup_with_an_invalid_value_is_422_saying_why(admin_api):
    response = admin_api.get("/api/v1/profiles", {"identifierType": "PHONE", "identifierValue": "12"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_identity"
    assert body["errors"] == [
        {
            "pointer": "/identifierValue",
            "code": "invalid_identity",
            "detail": "PHONE is not a valid phone number for region GB",
        }
    ]


def test_merge_history_lists_the_ledger_entries_touching_the_profile(tenant, admin_api, ann):
    phone = resolve(tenant, {"PHONE": "+442079460958"}).profile_id
    device = resolve(tenant, {"DEVICE_KEY": "dev-1"}).profile_id
    resolve(tenant, {"PHONE": "+442079460958", "DEVICE_KEY": "dev-1"}, trigger="event app/e-1", source="app")
    resolve(tenant, {"EXTERNAL": "cust-42", "PHONE": "+442079460958"}, trigger="event shop/o-1", source="shop")
    body = admin_api.get(f"/api/v1/profiles/{ann}/merges").json()
    assert body["next"] is None
    assert [(m["mergedId"], m["survivorId"], m["trigger"]) for m in body["results"]] == [
        (str(phone), str(ann), "event shop/o-1"),
        (str(device), str(phone), "event app/e-1"),  # merged into what later merged into ann
    ]
    newest = body["results"][0]
    assert newest["identifier"] == {"type": "PHONE", "value": "+442079460958"}
    assert newest["rule"] == "external_owner"
    assert newest["matchedBy"] == "EXTERNAL"
    assert newest["source"] == "shop"
    assert newest["moved"]["identifiers"] == 2
    assert newest["movedIdentifiers"] == [
        {"type": "DEVICE_KEY", "value": "dev-1"},
        {"type": "PHONE", "value": "+442079460958"},
    ]
    # A merged-away id shows its survivor's history.
    assert admin_api.get(f"/api/v1/profiles/{device}/merges").json() == body


def test_higher_apps_add_sections_to_the_profile_detail(admin_api, ann):
    def loyalty(*, tenant_id, profile_id):
        return {"points": 7, "profile": str(profile_id)}

    register_profile_section("loyalty", loyalty)
    try:
        body = admin_api.get(f"/api/v1/profiles/{ann}").json()
    finally:
        unregister_profile_section("loyalty")
    assert body["loyalty"] == {"points": 7, "profile": str(ann)}
    assert "loyalty" not in admin_api.get(f"/api/v1/profiles/{ann}").json()


def test_profile_detail_query_count_is_bounded(admin_api, ann, django_assert_max_num_queries):
    with django_assert_max_num_queries(11):  # + derived statuses, the rate budget (count, new minute's cleanup)
        assert admin_api.get(f"/api/v1/profiles/{ann}").status_code == 200
