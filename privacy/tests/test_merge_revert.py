"""POST /api/v1/merges/{id}/revert: a wrong merge is undone exactly from the ledger, later data
goes where its identity resolves now, and the two profiles are never merged again."""

from __future__ import annotations

import json
import uuid

import pytest

from channels.models import Endpoint
from conftest import make_client
from identity.models import Identifier, IdentityConflict, MergeBlock
from ingest.models import Event, ProfileUpdate
from jobs.worker import jobs_run_pending
from profiles.models import AttributeValue, DerivedValue, MergeLedgerEntry, Profile
from runtime.models import Participant, VariableValue

from .conftest import channel_update, erase, event, ok, profile_update, when

pytestmark = pytest.mark.django_db

DEVICE = {"DEVICE_KEY": "dev-kiosk"}
ANN = {"EXTERNAL": "cust-1", "EMAIL": "ann@example.com"}


def post(api, body: dict, path: str = "/api/v1/events") -> dict:
    return ok(api.post(path, body, format="json"))


def revert(api, merge_id: int, *, dry_run: bool = False, expect: int = 200) -> dict:
    response = api.post(f"/api/v1/merges/{merge_id}/revert", {"dryRun": dry_run}, format="json")
    assert response.status_code == expect, response.content[:600]
    if expect >= 400:
        assert response["Content-Type"].startswith("application/problem+json")
    return response.json()


def merges_of(api, profile_id) -> list[dict]:
    return ok(api.get(f"/api/v1/profiles/{profile_id}/merges"))["results"]


def profile(api, profile_id) -> dict:
    return ok(api.get(f"/api/v1/profiles/{profile_id}"))


def state() -> str:
    """Every row a revert may touch, as text: equal before and after means nothing changed."""
    parts = []
    for model in (Profile, Identifier, Event, ProfileUpdate, AttributeValue, DerivedValue, Endpoint, MergeBlock):
        parts.extend(json.dumps(row, default=str, sort_keys=True) for row in model.objects.order_by("pk").values())
    parts.extend(
        json.dumps(row, default=str, sort_keys=True)
        for row in MergeLedgerEntry.objects.order_by("pk").values("pk", "rule", "reverts")
    )
    return "\n".join(parts)


@pytest.fixture
def ready(contracts):
    jobs_run_pending()  # the derived attribute's backfill: its values are complete from here on


@pytest.fixture
def kiosk(api, ready):
    """A shared kiosk device (its own events, endpoint, attribute, participant) wrongly merged
    into Ann when she once used it: returns the ids and the merge entry."""
    device = post(api, event(DEVICE, key="k-1", total=3))
    post(api, profile_update(DEVICE, key="k-2", firstName="Kiosk"), "/api/v1/profile-updates")
    post(api, channel_update(DEVICE, "kiosk@example.com", key="k-3"), "/api/v1/channel-updates")
    ok(api.post("/api/v1/runtime/sessions", {"campaign": "quiz", "identity": DEVICE}, format="json"), 201)
    ann = post(api, event(ANN, key="a-1", total=5))
    post(api, profile_update(ANN, key="a-2", firstName="Ann"), "/api/v1/profile-updates")
    post(api, channel_update(ANN, "ann@example.com", key="a-3"), "/api/v1/channel-updates")
    merged = post(api, event({"EMAIL": "ann@example.com", **DEVICE}, key="a-4", total=100))
    assert merged["resolution"]["mergedProfiles"] == [device["profileId"]]
    entry = merges_of(api, ann["profileId"])[0]
    assert entry["mergedId"] == device["profileId"] and entry["reverts"] is None
    return {"ann": uuid.UUID(ann["profileId"]), "kiosk": uuid.UUID(device["profileId"]), "merge": entry["id"]}


def test_a_revert_brings_the_merged_profile_back_with_everything_it_had(api, kiosk):
    merged = profile(api, kiosk["kiosk"])
    assert merged["id"] == str(kiosk["ann"]) and merged["attributes"] == {"firstName": "Ann"}
    assert merged["derived"] == {"ordersTotal": 108.0}

    body = revert(api, kiosk["merge"])

    assert body["mergeId"] == kiosk["merge"] and body["dryRun"] is False
    assert body["survivorId"] == str(kiosk["ann"]) and body["restoredProfileId"] == str(kiosk["kiosk"])
    assert body["moved"] == {
        "identifiers": [{"type": "DEVICE_KEY", "value": "dev-kiosk"}],
        "events": 1,
        "profileUpdates": 1,
        "channelUpdates": 1,
        "endpoints": 1,
        "participants": 1,
    }
    kiosk_now = profile(api, kiosk["kiosk"])
    assert "requestedId" not in kiosk_now and kiosk_now["id"] == str(kiosk["kiosk"])
    assert [(i["type"], i["value"]) for i in kiosk_now["identifiers"]] == [("DEVICE_KEY", "dev-kiosk")]
    assert kiosk_now["attributes"] == {"firstName": "Kiosk"} and kiosk_now["derived"] == {"ordersTotal": 3.0}
    assert [(e["address"], e["consent"]) for e in kiosk_now["endpoints"]] == [("kiosk@example.com", "granted")]
    assert kiosk_now["readiness"]["EMAIL"] == {"ready": True}
    events = ok(api.get(f"/api/v1/profiles/{kiosk['kiosk']}/events"))["results"]
    assert [e["externalEventId"] for e in events] == ["k-1"]

    ann_now = profile(api, kiosk["ann"])
    assert sorted(i["value"] for i in ann_now["identifiers"]) == ["ann@example.com", "cust-1"]
    # The triggering event named both; it stays with Ann (its highest-precedence identifier).
    assert ann_now["derived"] == {"ordersTotal": 105.0} and ann_now["attributes"] == {"firstName": "Ann"}
    assert [e["address"] for e in ann_now["endpoints"]] == ["ann@example.com"]
    assert Participant.objects.filter(profile_id=kiosk["kiosk"]).count() == 1

    # The ledger keeps the merge and gains the revert, listed for both profiles.
    for pid in (kiosk["ann"], kiosk["kiosk"]):
        entries = merges_of(api, pid)
        assert [(e["rule"], e["reverts"]) for e in entries][:2] == [
            ("revert", kiosk["merge"]),
            ("highest_precedence", None),
        ]


def test_data_after_the_merge_goes_where_its_identity_resolves_now(api, kiosk):
    # After the merge: the kiosk is used again (with a new phone), Ann shops by email.
    post(api, event({**DEVICE, "PHONE": "+447911123001"}, key="late-1", total=1))
    post(api, event({"PHONE": "+447911123001"}, key="late-2", total=2))
    post(api, event({"EMAIL": "ann@example.com"}, key="late-3", total=10))
    later_update = {**profile_update(DEVICE, key="late-4", firstName="Kiosk 2"), "occurredAt": when(5)}
    post(api, later_update, "/api/v1/profile-updates")

    revert(api, kiosk["merge"])

    kiosk_now = profile(api, kiosk["kiosk"])
    assert sorted(i["value"] for i in kiosk_now["identifiers"]) == ["+447911123001", "dev-kiosk"]
    assert kiosk_now["derived"] == {"ordersTotal": 6.0} and kiosk_now["attributes"] == {"firstName": "Kiosk 2"}
    kiosk_events = ok(api.get(f"/api/v1/profiles/{kiosk['kiosk']}/events"))["results"]
    assert sorted(e["externalEventId"] for e in kiosk_events) == ["k-1", "late-1", "late-2"]
    ann_now = profile(api, kiosk["ann"])
    assert ann_now["derived"] == {"ordersTotal": 115.0} and ann_now["attributes"] == {"firstName": "Ann"}


def test_the_two_profiles_are_never_merged_again_automatically(api, kiosk):
    revert(api, kiosk["merge"])

    again = post(api, event({"EMAIL": "ann@example.com", **DEVICE}, key="again-1", total=1))

    assert again["profileId"] == str(kiosk["ann"]) and again["resolution"]["mergedProfiles"] == []
    assert again["resolution"]["conflicts"] == [
        {"type": "DEVICE_KEY", "value": "dev-kiosk", "ownerProfileId": str(kiosk["kiosk"]), "reason": "reverted_merge"}
    ]
    assert Identifier.objects.get(type="DEVICE_KEY").profile_id == kiosk["kiosk"]
    conflict = IdentityConflict.objects.get()
    assert conflict.reason == "reverted_merge" and conflict.owner_profile_id == kiosk["kiosk"]
    # A batch decides the same way.
    batch = ok(
        api.post(
            "/api/v1/events/batch",
            {"events": [event({**DEVICE, "EMAIL": "ann@example.com"}, key="again-2"), event(DEVICE, key="again-3")]},
            format="json",
        )
    )
    assert [r["profileId"] for r in batch["results"]] == [str(kiosk["ann"]), str(kiosk["kiosk"])]
    assert IdentityConflict.objects.get().occurrences == 2


def test_a_dry_run_answers_the_same_and_changes_nothing(api, kiosk):
    before = state()
    preview = revert(api, kiosk["merge"], dry_run=True)
    assert state() == before
    done = revert(api, kiosk["merge"])
    assert preview["dryRun"] is True and preview["revertId"] is None and done["revertId"]
    assert {**preview, "dryRun": False, "revertId": done["revertId"]} == done


def test_a_second_revert_is_refused_and_changes_nothing(api, kiosk):
    revert(api, kiosk["merge"])
    before = state()
    problem = revert(api, kiosk["merge"], expect=409)
    assert problem["code"] == "merge_not_revertible" and "already reverted" in problem["detail"]
    assert state() == before


def test_a_later_merge_of_the_survivor_stands_in_the_way_until_it_is_reverted(api, kiosk):
    other = post(api, event({"PHONE": "+447911123002"}, key="o-1", total=7))
    post(api, event({"EMAIL": "ann@example.com", "PHONE": "+447911123002"}, key="o-2", total=0))
    later = merges_of(api, kiosk["ann"])[0]
    assert later["mergedId"] == other["profileId"]

    problem = revert(api, kiosk["merge"], expect=409)
    assert problem["code"] == "merge_not_revertible" and f"entry {later['id']}" in problem["detail"]

    revert(api, later["id"])
    revert(api, kiosk["merge"])
    assert profile(api, other["profileId"])["derived"] == {"ordersTotal": 7.0}
    assert profile(api, kiosk["kiosk"])["derived"] == {"ordersTotal": 3.0}
    assert profile(api, kiosk["ann"])["derived"] == {"ordersTotal": 105.0}


def test_a_merge_whose_survivor_was_merged_into_a_third_profile_waits_for_that_one(api, kiosk):
    zed = post(api, event({"EMAIL": "zed@example.com"}, key="t-1", total=1))
    post(api, event({"EMAIL": "ann@example.com", "PHONE": "+447911123003"}, key="t-2", total=0))
    # Zed's EMAIL outranks the PHONE Ann holds: Ann (and the kiosk inside her) merge into Zed.
    into_zed = post(api, event({"EMAIL": "zed@example.com", "PHONE": "+447911123003"}, key="t-3", total=0))
    assert into_zed["profileId"] == zed["profileId"]
    anonymous = zed
    later = merges_of(api, anonymous["profileId"])[0]
    assert later["mergedId"] == str(kiosk["ann"])

    problem = revert(api, kiosk["merge"], expect=409)
    assert f"entry {later['id']}" in problem["detail"]
    revert(api, later["id"])
    revert(api, kiosk["merge"])
    assert profile(api, kiosk["kiosk"])["id"] == str(kiosk["kiosk"])


def test_erased_profiles_cannot_be_reverted(api, kiosk):
    erase(api, {"profileId": str(kiosk["ann"])})
    problem = revert(api, kiosk["merge"], expect=409)
    assert problem["code"] == "merge_not_revertible" and "erasure" in problem["detail"]


def test_an_entry_written_before_reverts_existed_is_not_revertible(api, kiosk):
    MergeLedgerEntry.objects.filter(pk=kiosk["merge"]).update(undo=None)
    problem = revert(api, kiosk["merge"], expect=409)
    assert "before merges recorded what they moved" in problem["detail"]


def test_unknown_and_other_tenants_merges_are_404(api, kiosk, other_admin_api):
    assert other_admin_api.post(f"/api/v1/merges/{kiosk['merge']}/revert", {}, format="json").status_code == 404
    assert api.post("/api/v1/merges/999999/revert", {}, format="json").status_code == 404
    assert Profile.objects.get(pk=kiosk["kiosk"]).merged_into_id == kiosk["ann"]


def test_bad_bodies_are_refused_with_a_problem(api, kiosk):
    for body, code in (({"dryRun": "yes"}, 422), ({"dry": True}, 422), ([], 400)):
        response = api.post(f"/api/v1/merges/{kiosk['merge']}/revert", body, format="json")
        assert response.status_code == code, response.content
    assert api.post(f"/api/v1/merges/{kiosk['merge']}/revert").status_code == 400
    ingest_only = make_client(None)
    assert ingest_only.post(f"/api/v1/merges/{kiosk['merge']}/revert", {}, format="json").status_code == 401
    assert Profile.objects.get(pk=kiosk["kiosk"]).merged_into_id == kiosk["ann"]


def test_a_participant_combined_by_the_merge_is_recreated_with_its_values(api, kiosk_and_ann_in_quiz):
    ids = kiosk_and_ann_in_quiz
    combined = Participant.objects.get(profile_id=ids["ann"])
    assert VariableValue.objects.filter(participant=combined).count() == 1

    body = revert(api, ids["merge"])

    assert body["moved"]["participants"] == 1
    restored = Participant.objects.get(profile_id=ids["kiosk"])
    assert restored.pk == ids["kiosk_participant"]
    assert list(VariableValue.objects.filter(participant=restored).values_list("value", flat=True)) == [4]
    assert Participant.objects.filter(profile_id=ids["ann"]).count() == 1


@pytest.fixture
def kiosk_and_ann_in_quiz(api, ready):
    device = post(api, event(DEVICE, key="q-1"))
    session = ok(api.post("/api/v1/runtime/sessions", {"campaign": "quiz", "identity": DEVICE}, format="json"), 201)
    runtime = make_client(None)
    runtime.credentials(HTTP_AUTHORIZATION=f"Bearer {session['token']}")
    ok(runtime.patch("/api/v1/runtime/variables", {"variables": {"step": 4}}, format="json"))
    ann = post(api, event(ANN, key="q-2"))
    ok(api.post("/api/v1/runtime/sessions", {"campaign": "quiz", "identity": ANN}, format="json"), 201)
    post(api, event({"EMAIL": "ann@example.com", **DEVICE}, key="q-3"))
    entry = merges_of(api, ann["profileId"])[0]
    return {
        "ann": uuid.UUID(ann["profileId"]),
        "kiosk": uuid.UUID(device["profileId"]),
        "merge": entry["id"],
        "kiosk_participant": uuid.UUID(session["participantId"]),
    }


def test_a_merge_decided_inside_a_batch_reverts_too(api, ready):
    batch = ok(
        api.post(
            "/api/v1/events/batch",
            {
                "events": [
                    event(DEVICE, key="b-1", total=1),
                    event(ANN, key="b-2", total=2),
                    event({"EMAIL": "ann@example.com", **DEVICE}, key="b-3", total=4),
                    event(DEVICE, key="b-4", total=8),
                ]
            },
            format="json",
        )
    )
    ann = batch["results"][1]["profileId"]
    entry = merges_of(api, ann)[0]
    kiosk = entry["mergedId"]
    assert [r["profileId"] for r in batch["results"]] == [ann] * 4  # each answer names the final survivor
    revert(api, entry["id"])
    assert profile(api, kiosk)["derived"] == {"ordersTotal": 9.0}
    assert profile(api, ann)["derived"] == {"ordersTotal": 6.0}
