"""The attribute documents segments read (Profile.attributes) stay equal to the attribute
rows through every writer a customer's data meets, driven through the public API: profile
updates (single and batch, with removals), a merge, a merge revert and an erasure (also
one cut short); and a segment on those attributes answers from them over HTTP."""

from __future__ import annotations

import uuid

import pytest

from privacy.services import erasure_run
from profiles.models import Profile
from profiles.selectors import attribute_documents_drift

from .conftest import ANN, BOB, erase, event, ok, profile_update

pytestmark = pytest.mark.django_db

DEVICE = {"DEVICE_KEY": "dev-kiosk"}
VIP = {"key": "vip", "name": "VIP", "definition": {"attribute": "tier", "op": "eq", "value": "gold"}}


def document(profile_id) -> dict:
    return Profile.objects.get(pk=profile_id).attributes


def members(api, key: str = "vip") -> set[uuid.UUID]:
    return {uuid.UUID(m["profileId"]) for m in ok(api.get(f"/api/v1/segments/{key}/members"))["results"]}


@pytest.fixture
def tiers(api, contracts, tenant):
    ok(
        api.post(
            "/api/v1/attribute-definitions",
            {"name": "tier", "type": "enum", "values": ["silver", "gold"], "filterable": True},
            format="json",
        ),
        201,
    )
    ok(api.post("/api/v1/segments", VIP, format="json"), 201)
    return tenant


def test_profile_updates_single_and_batch_keep_the_documents(api, tiers):
    ann = ok(api.post("/api/v1/profile-updates", profile_update(ANN, firstName="Ann", tier="gold"), format="json"))
    ann_id = uuid.UUID(ann["profileId"])
    assert document(ann_id) == {"firstName": "Ann", "tier": "gold"}
    assert members(api) == {ann_id}
    batch = {
        "updates": [
            profile_update(ANN, tier=None),  # a removal
            profile_update(BOB, firstName="Bob", tier="gold"),
            profile_update(BOB, tier="silver"),
        ]
    }
    results = ok(api.post("/api/v1/profile-updates/batch", batch, format="json"))["results"]
    bob_id = uuid.UUID(results[1]["profileId"])
    assert document(ann_id) == {"firstName": "Ann"}
    assert document(bob_id) == {"firstName": "Bob", "tier": "silver"}
    assert members(api) == set()
    assert attribute_documents_drift(tenant_id=tiers.pk) == {}


@pytest.fixture
def merged(api, tiers):
    """A kiosk device with its own attributes merged into Ann."""
    kiosk = ok(api.post("/api/v1/events", event(DEVICE, key="k-1", total=3), format="json"))
    ok(api.post("/api/v1/profile-updates", profile_update(DEVICE, firstName="Kiosk", tier="gold"), format="json"))
    ann = ok(api.post("/api/v1/events", event(ANN, key="a-1", total=5), format="json"))
    ok(api.post("/api/v1/profile-updates", profile_update(ANN, firstName="Ann"), format="json"))
    both = ok(api.post("/api/v1/events", event({"EMAIL": ANN["EMAIL"], **DEVICE}, key="a-2"), format="json"))
    assert both["resolution"]["mergedProfiles"] == [kiosk["profileId"]]
    entry = ok(api.get(f"/api/v1/profiles/{ann['profileId']}/merges"))["results"][0]
    return {"ann": uuid.UUID(ann["profileId"]), "kiosk": uuid.UUID(kiosk["profileId"]), "merge": entry["id"]}


def test_a_merge_moves_the_winning_values_into_the_survivors_document(api, tiers, merged):
    # firstName: both sent at the same moment, the survivor keeps hers; tier comes over.
    assert document(merged["ann"]) == {"firstName": "Ann", "tier": "gold"}
    assert document(merged["kiosk"]) == {}  # the tombstone holds no values
    assert members(api) == {merged["ann"]}
    assert attribute_documents_drift(tenant_id=tiers.pk) == {}


def test_a_merge_revert_gives_each_profile_its_document_back(api, tiers, merged):
    response = api.post(f"/api/v1/merges/{merged['merge']}/revert", {}, format="json")
    assert response.status_code == 200, response.content[:500]
    assert document(merged["ann"]) == {"firstName": "Ann"}
    assert document(merged["kiosk"]) == {"firstName": "Kiosk", "tier": "gold"}
    assert members(api) == {merged["kiosk"]}
    assert attribute_documents_drift(tenant_id=tiers.pk) == {}


def test_an_erasure_cut_short_and_finished_leaves_no_document_behind(api, tiers, merged):
    ok(api.post("/api/v1/profile-updates", profile_update(BOB, firstName="Bob", tier="gold"), format="json"))
    started = erase(api, {"identity": {"EMAIL": ANN["EMAIL"]}}, run=False)
    erasure_id = uuid.UUID(started["id"])
    erasure_run(erasure_id=erasure_id, max_chunks=3)  # what a worker killed mid-way leaves behind
    assert attribute_documents_drift(tenant_id=tiers.pk) == {}
    erasure_run(erasure_id=erasure_id)
    assert ok(api.get(f"/api/v1/erasures/{erasure_id}"))["status"] == "succeeded"
    assert not Profile.objects.filter(pk__in=[merged["ann"], merged["kiosk"]]).exists()
    (bob,) = members(api)
    assert document(bob) == {"firstName": "Bob", "tier": "gold"}
    assert attribute_documents_drift(tenant_id=tiers.pk) == {}
