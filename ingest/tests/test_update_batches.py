"""POST /api/v1/profile-updates/batch and /api/v1/channel-updates/batch: the result body
of /events/batch, one result per item in array order, items independent."""

from __future__ import annotations

import pytest
from django.test import override_settings

from channels.models import Endpoint
from ingest.models import ChannelUpdate, ProfileUpdate
from ingest.tests.helpers import row_counts
from profiles.selectors import profile_attributes

pytestmark = pytest.mark.django_db

PROFILE_BATCH = "/api/v1/profile-updates/batch"
CHANNEL_BATCH = "/api/v1/channel-updates/batch"


def profile_update(n, attributes, *, occurred_at="2026-11-20T10:00:00Z", identity=None):
    return {
        "source": "shop-backend",
        "externalEventId": f"upd-{n}",
        "occurredAt": occurred_at,
        "identity": identity or {"EXTERNAL": "cust-42"},
        "attributes": attributes,
    }


def channel_update(n, address, **fields):
    body = {
        "source": "shop-backend",
        "externalEventId": f"cu-{n}",
        "occurredAt": "2026-11-20T10:00:00Z",
        "identity": {"EXTERNAL": "cust-42"},
        "channel": "EMAIL",
        "address": address,
    }
    body.update(fields)
    return body


def test_profile_update_batch_answers_per_item_in_order_and_one_bad_item_sinks_nothing(ingest_api, shop):
    updates = [
        profile_update(1, {"firstName": "Ann"}),
        profile_update(2, {"tier": "platinum"}),
        profile_update(3, {"tier": "gold"}, occurred_at="2026-11-20T11:00:00Z"),
    ]
    response = ingest_api.post(PROFILE_BATCH, {"updates": updates}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["index"] for r in body["results"]] == [0, 1, 2]
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted"]
    assert body["results"][1]["code"] == "contract_violation"
    assert body["results"][1]["errors"][0]["pointer"] == "/attributes/tier"
    assert body["summary"] == {"accepted": 2, "duplicate": 0, "rejected": 1, "conflict": 0}
    assert body["results"][0]["profileId"] == body["results"][2]["profileId"]
    assert profile_attributes(profile_id=body["results"][0]["profileId"]) == {"firstName": "Ann", "tier": "gold"}
    assert ProfileUpdate.objects.count() == 2


def test_profile_update_batch_replay_is_duplicate_with_the_original_ids_and_changes_nothing(ingest_api, shop):
    updates = [profile_update(n, {"firstName": f"Ann{n}"}) for n in range(3)]
    first = ingest_api.post(PROFILE_BATCH, {"updates": updates}, format="json").json()
    before = row_counts()
    again = ingest_api.post(PROFILE_BATCH, {"updates": updates}, format="json").json()
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 3
    assert [r["eventId"] for r in again["results"]] == [r["eventId"] for r in first["results"]]
    assert row_counts() == before


def test_profile_update_batch_items_apply_in_array_order(ingest_api, shop):
    """Same occurredAt on both: the tie goes to the later item (it lands last)."""
    anonymous = profile_update(1, {"firstName": "Ann"}, identity={"DEVICE_KEY": "ios-1"})
    login = profile_update(2, {"tier": "gold"}, identity={"EXTERNAL": "cust-7", "DEVICE_KEY": "ios-1"})
    body = ingest_api.post(PROFILE_BATCH, {"updates": [anonymous, login]}, format="json").json()
    first, second = body["results"]
    assert first["profileId"] == second["profileId"]
    assert profile_attributes(profile_id=first["profileId"]) == {"firstName": "Ann", "tier": "gold"}


def test_channel_update_batch_declares_endpoints_and_reports_refused_items(ingest_api, shop):
    updates = [
        channel_update(1, "Ann@Example.com", consent="granted"),
        channel_update(2, "not an address"),
        channel_update(3, "ann.work@example.com"),
    ]
    response = ingest_api.post(CHANNEL_BATCH, {"updates": updates}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted"]
    assert body["results"][1]["code"] == "invalid_channel_update"
    assert body["results"][1]["eventId"] is None
    assert body["summary"] == {"accepted": 2, "duplicate": 0, "rejected": 1, "conflict": 0}
    assert sorted(Endpoint.objects.values_list("address", flat=True)) == [
        "ann.work@example.com",
        "ann@example.com",
    ]
    assert ChannelUpdate.objects.count() == 2


def test_channel_update_batch_key_twice_is_accepted_then_duplicate(ingest_api, shop):
    update = channel_update(1, "ann@example.com")
    body = ingest_api.post(CHANNEL_BATCH, {"updates": [update, update]}, format="json").json()
    assert [r["status"] for r in body["results"]] == ["accepted", "duplicate"]
    assert body["results"][0]["eventId"] == body["results"][1]["eventId"]


@pytest.mark.parametrize("url", [PROFILE_BATCH, CHANNEL_BATCH])
@override_settings(CDP_MAX_BATCH_EVENTS=2)
def test_update_batch_over_the_limit_is_413_and_changes_nothing(ingest_api, shop, url):
    updates = [profile_update(n, {"firstName": "Ann"}) for n in range(3)]
    before = row_counts()
    response = ingest_api.post(url, {"updates": updates}, format="json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "batch_too_large"
    assert row_counts() == before


@pytest.mark.parametrize("url", [PROFILE_BATCH, CHANNEL_BATCH])
@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({}, "/updates"),
        ({"updates": []}, "/updates"),
        ({"updates": {}}, "/updates"),
        ({"events": [], "updates": [{}]}, "/events"),
    ],
)
def test_malformed_update_batch_is_422_with_a_pointer(ingest_api, shop, url, body, pointer):
    response = ingest_api.post(url, body, format="json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == pointer


@pytest.mark.parametrize("url", [PROFILE_BATCH, CHANNEL_BATCH])
def test_update_batch_needs_the_ingest_scope(admin_api, shop, url):
    response = admin_api.post(url, {"updates": [profile_update(1, {"firstName": "Ann"})]}, format="json")
    assert response.status_code == 403
    assert ProfileUpdate.objects.count() == 0


def test_update_batches_are_in_the_openapi_document(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in ("/api/v1/profile-updates/batch", "/api/v1/channel-updates/batch"):
        operation = schema["paths"][path]["post"]
        assert set(operation["responses"]) >= {"200", "413", "422"}
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert "updates" in schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"]
