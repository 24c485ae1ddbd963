"""POST /api/v1/events/batch and /api/v1/events/validate."""

from __future__ import annotations

import copy

import pytest

from identity.models import Identifier
from ingest.models import Event, Violation
from ingest.tests.helpers import row_counts

pytestmark = pytest.mark.django_db

BATCH = "/api/v1/events/batch"
VALIDATE = "/api/v1/events/validate"


def variant(event, n, **changes):
    item = copy.deepcopy(event)
    item["externalEventId"] = f"evt-{n}"
    item["properties"]["orderId"] = str(n)
    item.update(changes)
    return item


def test_batch_answers_one_result_per_item_in_order_and_items_are_independent(ingest_api, shop, event):
    bad = variant(event, 2)
    bad["properties"]["total"] = "lots"
    events = [variant(event, 1), bad, variant(event, 3, eventType="unknown")]
    response = ingest_api.post(BATCH, {"events": events}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert [r["index"] for r in body["results"]] == [0, 1, 2]
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "rejected"]
    assert body["results"][1]["errors"][0]["pointer"] == "/properties/total"
    assert body["results"][1]["eventId"] is None
    assert body["results"][2]["code"] == "unknown_event_type"
    assert body["summary"] == {"accepted": 1, "duplicate": 0, "rejected": 2, "conflict": 0}
    assert Event.objects.count() == 1


def test_a_key_twice_in_one_batch_is_accepted_then_duplicate(ingest_api, shop, event):
    events = [variant(event, 1), variant(event, 1)]
    body = ingest_api.post(BATCH, {"events": events}, format="json").json()
    assert [r["status"] for r in body["results"]] == ["accepted", "duplicate"]
    assert body["results"][0]["eventId"] == body["results"][1]["eventId"]
    assert Event.objects.count() == 1


def test_a_key_reused_with_another_payload_in_one_batch_is_a_conflict(ingest_api, shop, event):
    other = variant(event, 1)
    other["properties"]["total"] = 1
    body = ingest_api.post(BATCH, {"events": [variant(event, 1), other]}, format="json").json()
    assert [r["status"] for r in body["results"]] == ["accepted", "conflict"]
    assert body["results"][1]["code"] == "idempotency_conflict"
    assert body["summary"]["conflict"] == 1


def test_batch_replay_answers_duplicates_with_the_original_ids(ingest_api, shop, event):
    events = [variant(event, n) for n in range(5)]
    first = ingest_api.post(BATCH, {"events": events}, format="json").json()
    before = row_counts()
    again = ingest_api.post(BATCH, {"events": events}, format="json").json()
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 5
    assert [r["eventId"] for r in again["results"]] == [r["eventId"] for r in first["results"]]
    assert row_counts() == before


def test_items_are_applied_in_array_order(ingest_api, admin_api, shop, event):
    """The device-only event makes an anonymous profile, the later login claims it."""
    anonymous = variant(event, 1, identity={"DEVICE_KEY": "ios-6F9619FF"})
    login = variant(event, 2, identity={"EXTERNAL": "cust-7", "DEVICE_KEY": "ios-6F9619FF"})
    body = ingest_api.post(BATCH, {"events": [anonymous, login]}, format="json").json()
    first, second = body["results"]
    assert first["profileId"] == second["profileId"]
    assert Identifier.objects.get(type="EXTERNAL").profile_id == Identifier.objects.get(type="DEVICE_KEY").profile_id


def test_events_land_on_the_survivor_when_a_later_item_merges_their_profile(ingest_api, admin_api, shop, event):
    by_email = variant(event, 1, identity={"EMAIL": "ann@example.com"})
    by_phone = variant(event, 2, identity={"PHONE": "+44 20 7946 0958"})
    both = variant(event, 3, identity={"EMAIL": "ann@example.com", "PHONE": "020 7946 0958"})
    body = ingest_api.post(BATCH, {"events": [by_email, by_phone, both]}, format="json").json()
    ids = {r["profileId"] for r in body["results"]}
    assert len(ids) == 1, body
    (survivor,) = ids
    assert {str(p) for p in Event.objects.values_list("profile_id", flat=True)} == {survivor}
    listed = admin_api.get(f"/api/v1/profiles/{survivor}/events").json()["results"]
    assert len(listed) == 3


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"events": "nope"}, 422, "validation_error"),
        ({}, 422, "validation_error"),
        ({"events": []}, 422, "validation_error"),
        ({"events": [], "extra": 1}, 422, "validation_error"),
    ],
)
def test_malformed_batch_is_refused_whole(ingest_api, shop, body, status, code):
    before = row_counts()
    response = ingest_api.post(BATCH, body, format="json")
    assert response.status_code == status
    assert response.json()["code"] == code
    assert row_counts() == before


def test_batch_over_the_limit_is_413_and_changes_nothing(ingest_api, shop, event, settings):
    settings.CDP_MAX_BATCH_EVENTS = 3
    before = row_counts()
    response = ingest_api.post(BATCH, {"events": [variant(event, n) for n in range(4)]}, format="json")
    assert response.status_code == 413
    assert response.json()["code"] == "batch_too_large"
    assert row_counts() == before


def test_validate_answers_accepted_and_changes_nothing_at_all(ingest_api, shop, event):
    before = row_counts()
    response = ingest_api.post(VALIDATE, event, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "valid"
    assert body["outcome"] == "accepted"
    assert body["resolution"]["createdProfile"] is True
    assert row_counts() == before


def test_validate_of_a_bad_event_is_the_same_422_and_logs_no_violation(ingest_api, shop, event):
    event["properties"]["currency"] = "JPY"
    response = ingest_api.post(VALIDATE, event, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "contract_violation"
    assert not Violation.objects.exists()


def test_validate_tells_duplicate_and_conflict_apart(ingest_api, shop, event):
    ingest_api.post("/api/v1/events", event, format="json")
    before = row_counts()
    assert ingest_api.post(VALIDATE, event, format="json").json()["outcome"] == "duplicate"
    event["properties"]["total"] = 1
    assert ingest_api.post(VALIDATE, event, format="json").json()["outcome"] == "conflict"
    assert row_counts() == before


def test_validate_explains_a_merge_without_making_it(ingest_api, shop, event):
    ingest_api.post("/api/v1/events", variant(event, 1, identity={"EMAIL": "ann@example.com"}), format="json")
    ingest_api.post("/api/v1/events", variant(event, 2, identity={"PHONE": "+442079460958"}), format="json")
    before = row_counts()
    probe = variant(event, 3, identity={"EMAIL": "ann@example.com", "PHONE": "+442079460958"})
    body = ingest_api.post(VALIDATE, probe, format="json").json()
    assert body["resolution"]["matchedBy"] == "EMAIL"
    assert len(body["resolution"]["mergedProfiles"]) == 1
    assert row_counts() == before
