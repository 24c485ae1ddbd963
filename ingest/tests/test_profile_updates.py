"""POST /api/v1/profile-updates: typed attributes, latest occurredAt wins, idempotent."""

from __future__ import annotations

import itertools

import pytest

from ingest.tests.helpers import row_counts
from profiles.selectors import profile_attributes

pytestmark = pytest.mark.django_db

URL = "/api/v1/profile-updates"


def update(n, occurred_at, attributes, identity=None):
    return {
        "source": "shop-backend",
        "externalEventId": f"upd-{n}",
        "occurredAt": occurred_at,
        "identity": identity or {"EXTERNAL": "cust-42"},
        "attributes": attributes,
    }


UPDATES = [
    update(1, "2026-11-20T10:00:00Z", {"firstName": "Ann", "tier": "silver"}),
    update(2, "2026-11-20T12:00:00Z", {"tier": "gold"}),
    update(3, "2026-11-20T11:00:00Z", {"tier": "silver", "firstName": "Anna"}),
    update(4, "2026-11-20T13:00:00Z", {"firstName": None}),
]


def test_update_sets_attributes_and_answers_201(ingest_api, admin_api, shop):
    response = ingest_api.post(URL, UPDATES[0], format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "accepted"
    assert admin_api.get(f"/api/v1/profiles/{body['profileId']}").json()["attributes"] == {
        "firstName": "Ann",
        "tier": "silver",
    }


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_out_of_order_updates_converge_to_the_latest_per_attribute(ingest_api, shop, order):
    profile_ids = set()
    for index in order:
        response = ingest_api.post(URL, UPDATES[index], format="json")
        assert response.status_code == 201
        profile_ids.add(response.json()["profileId"])
    (profile_id,) = profile_ids
    assert profile_attributes(profile_id=profile_id) == {"tier": "gold"}


def test_update_replay_is_duplicate_and_reuse_is_conflict(ingest_api, shop):
    first = ingest_api.post(URL, UPDATES[0], format="json").json()
    before = row_counts()
    again = ingest_api.post(URL, UPDATES[0], format="json")
    assert again.status_code == 200
    assert again.json()["eventId"] == first["eventId"]
    assert row_counts() == before
    reused = update(1, "2026-11-20T10:00:00Z", {"firstName": "Bob"})
    assert ingest_api.post(URL, reused, format="json").status_code == 409


def test_an_update_key_and_an_event_key_share_one_key_space(ingest_api, shop, event):
    event["externalEventId"] = "upd-1"
    assert ingest_api.post("/api/v1/events", event, format="json").status_code == 201
    response = ingest_api.post(URL, UPDATES[0], format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"


@pytest.mark.parametrize(
    ("attributes", "pointer", "code"),
    [
        ({"favouriteColour": "red"}, "/attributes/favouriteColour", "unknown_attribute"),
        ({"tier": "bronze"}, "/attributes/tier", "enum"),
        ({"firstName": 5}, "/attributes/firstName", "type"),
        ("gold", "/attributes", "type"),
    ],
)
def test_invalid_attributes_are_422_with_pointers_and_change_nothing(ingest_api, shop, attributes, pointer, code):
    before = row_counts(with_violations=False)
    response = ingest_api.post(URL, update(9, "2026-11-20T10:00:00Z", attributes), format="json")
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "contract_violation"
    assert (pointer, code) in [(e["pointer"], e["code"]) for e in response.json()["errors"]]
    assert row_counts(with_violations=False) == before
