"""POST /api/v1/erasures: the whole merge family is forgotten, the audit trail keeps no value
of theirs, replays bring nothing back, and suppressed identifiers stay out."""

from __future__ import annotations

import json
import uuid

import pytest

from channels.models import Endpoint, EndpointHistory
from identity.models import Identifier, IdentityConflict, Suppression
from ingest.models import ChannelUpdate, Event, IdempotencyKey, ProfileUpdate, QuarantinedItem, Violation
from privacy.models import Erasure
from privacy.services import erasure_run
from profiles.models import AttributeValue, DerivedValue, MergeLedgerEntry, Profile
from runtime.models import Participant, VariableValue

from .conftest import ANN, BOB, channel_update, erase, event, ok, profile_update

pytestmark = pytest.mark.django_db


def _rows_of(profile_ids) -> dict[str, int]:
    ids = list(profile_ids)
    return {
        "profiles": Profile.objects.filter(pk__in=ids).count(),
        "identifiers": Identifier.objects.filter(profile_id__in=ids).count(),
        "events": Event.objects.filter(profile_id__in=ids).count(),
        "profileUpdates": ProfileUpdate.objects.filter(profile_id__in=ids).count(),
        "channelUpdates": ChannelUpdate.objects.filter(profile_id__in=ids).count(),
        "endpoints": Endpoint.objects.filter(profile_id__in=ids).count(),
        "endpointHistory": EndpointHistory.objects.filter(profile_id__in=ids).count(),
        "participants": Participant.objects.filter(profile_id__in=ids).count(),
        "variables": VariableValue.objects.filter(participant__profile_id__in=ids).count(),
        "attributes": AttributeValue.objects.filter(profile_id__in=ids).count(),
        "derivedValues": DerivedValue.objects.filter(profile_id__in=ids).count(),
        "conflicts": IdentityConflict.objects.filter(owner_profile_id__in=ids).count()
        + IdentityConflict.objects.filter(primary_profile_id__in=ids).count(),
    }


def _all_text() -> str:
    """Every row the erasure may touch, as text, to look for a value that survived."""
    parts = []
    for model in (
        Identifier,
        IdentityConflict,
        MergeLedgerEntry,
        Violation,
        Event,
        ProfileUpdate,
        ChannelUpdate,
        Endpoint,
    ):
        parts.extend(json.dumps(row, default=str) for row in model.objects.values())
    return "\n".join(parts).lower()


def test_erasing_by_email_removes_the_whole_family_and_keeps_only_hashes(api, ann, bob):
    family = [ann["live"], ann["tombstone"]]
    before = _rows_of(family)
    assert all(
        before[kind] for kind in ("profiles", "identifiers", "events", "endpoints", "participants", "attributes")
    )
    assert before["derivedValues"] and before["variables"] and before["profileUpdates"] and before["channelUpdates"]
    bob_before = _rows_of([bob])
    assert QuarantinedItem.objects.filter(external_event_id="ann-6").exists()  # her refused event

    done = erase(api, {"identity": {"EMAIL": " ANN@example.com "}, "reason": "ticket 4711"})

    assert done["status"] == "succeeded" and done["completedAt"]
    assert done["receipt"] == {
        "profiles": 2,
        "identifiers": 3,
        "events": 3,
        "profileUpdates": 1,
        "channelUpdates": 1,
        "endpoints": 1,
        "participants": 1,
        "attributes": 1,
        "derivedValues": 1,
        "suppressed": 3,
    }
    assert all(count == 0 for count in _rows_of(family).values()), _rows_of(family)
    assert _rows_of([bob]) == bob_before
    for profile_id in family:
        assert api.get(f"/api/v1/profiles/{profile_id}").status_code == 404
    for type, value in (("EMAIL", "ann@example.com"), ("EXTERNAL", "cust-1"), ("DEVICE_KEY", "dev-ann")):
        response = api.get("/api/v1/profiles", {"identifierType": type, "identifierValue": value})
        assert response.status_code == 404
    # The ledger keeps the merge, with keyed hashes instead of her identifiers.
    entry = MergeLedgerEntry.objects.get(merged_id=ann["tombstone"])
    assert entry.identifier_value.startswith("hmac:")
    assert all(item["value"].startswith("hmac:") for item in entry.moved_identifiers)
    text = _all_text()
    for value in ("ann@example.com", "cust-1", "dev-ann"):
        assert value not in text
    assert "bob@example.com" in text
    # The erasure record itself holds no value either.
    assert "ann@example.com" not in json.dumps(list(Erasure.objects.values()), default=str).lower()


def test_suppressions_are_keyed_hashes_listed_without_values(api, ann, tenant):
    erase(api, {"identity": {"EXTERNAL": "cust-1"}, "reason": "ticket 4711"})
    rows = list(Suppression.objects.filter(tenant=tenant))
    assert {row.type for row in rows} == {"EXTERNAL", "EMAIL", "DEVICE_KEY"}
    import hashlib

    plain = hashlib.sha256(b"ann@example.com").hexdigest()
    assert all(row.digest != plain and len(row.digest) == 64 for row in rows)
    listed = ok(api.get("/api/v1/suppressions"))
    assert {item["type"] for item in listed["results"]} == {"EXTERNAL", "EMAIL", "DEVICE_KEY"}
    assert set(listed["results"][0]) == {"id", "type", "createdAt", "reason"}
    assert listed["results"][0]["reason"] == "ticket 4711" and listed["next"] is None


def test_a_replay_of_an_erased_event_answers_duplicate_and_brings_nothing_back(api, ann):
    erase(api, {"profileId": str(ann["tombstone"]), "suppress": False})
    replay = api.post("/api/v1/events", event({"DEVICE_KEY": "dev-ann"}, key="ann-1"), format="json")
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    assert not Event.objects.exists() or not Event.objects.filter(external_event_id__startswith="ann-").exists()
    assert IdempotencyKey.objects.filter(external_id__in=ann["keys"]).count() == len(ann["keys"])
    assert not Identifier.objects.filter(value__in=["dev-ann", "ann@example.com", "cust-1"]).exists()


def test_without_suppression_an_identifier_comes_back_as_a_brand_new_customer(api, ann):
    erase(api, {"identity": {"EMAIL": "ann@example.com"}, "suppress": False})
    again = ok(api.post("/api/v1/events", event(ANN), format="json"))
    assert again["resolution"]["createdProfile"] is True
    assert uuid.UUID(again["profileId"]) not in (ann["live"], ann["tombstone"])


@pytest.mark.parametrize("kind", ["event", "profile_update", "channel_update"])
def test_data_naming_a_suppressed_identifier_is_suppressed_and_claims_its_key(api, ann, kind):
    erase(api, {"identity": {"EMAIL": "ann@example.com"}})
    body, url = {
        "event": (event({"EMAIL": "ann@example.com", "EXTERNAL": "cust-new"}, key="late-1"), "/api/v1/events"),
        "profile_update": (
            profile_update({"DEVICE_KEY": "dev-ann"}, key="late-1", firstName="A"),
            "/api/v1/profile-updates",
        ),
        "channel_update": (
            channel_update({"EXTERNAL": "cust-1"}, "ann@example.com", key="late-1"),
            "/api/v1/channel-updates",
        ),
    }[kind]
    first = api.post(url, body, format="json")
    assert first.status_code == 200 and first.json() == {"status": "suppressed"}
    assert IdempotencyKey.objects.filter(external_id="late-1").exists()
    assert (
        not Profile.objects.exists()
        or not Identifier.objects.filter(value__in=["cust-new", "cust-1", "dev-ann"]).exists()
    )
    assert not Event.objects.filter(external_event_id="late-1").exists()
    assert not ProfileUpdate.objects.filter(external_event_id="late-1").exists()
    assert not ChannelUpdate.objects.filter(external_event_id="late-1").exists()
    assert not Endpoint.objects.filter(address="ann@example.com").exists()
    again = api.post(url, body, format="json")
    assert again.status_code == 200 and again.json()["status"] == "duplicate"


def test_in_a_batch_only_the_suppressed_items_are_suppressed(api, ann, bob):
    erase(api, {"identity": {"EMAIL": "ann@example.com"}})
    batch = {"events": [event(BOB, key="b-1"), event({"DEVICE_KEY": "dev-ann"}, key="b-2"), event(BOB, key="b-3")]}
    body = ok(api.post("/api/v1/events/batch", batch, format="json"))
    assert [item["status"] for item in body["results"]] == ["accepted", "suppressed", "accepted"]
    assert body["results"][1]["eventId"] is None
    assert body["summary"]["suppressed"] == 1 and body["summary"]["accepted"] == 2
    assert Event.objects.filter(external_event_id__in=["b-1", "b-3"], profile_id=bob).count() == 2
    validate = ok(api.post("/api/v1/events/validate", event({"DEVICE_KEY": "dev-ann"}), format="json"))
    assert validate["outcome"] == "suppressed"


def test_lifting_a_suppression_lets_the_identifier_in_as_a_new_customer(api, ann, tenant):
    erase(api, {"identity": {"EMAIL": "ann@example.com"}})
    listed = ok(api.get("/api/v1/suppressions"))["results"]
    email = next(item for item in listed if item["type"] == "EMAIL")
    assert api.delete(f"/api/v1/suppressions/{email['id']}").status_code == 204
    assert api.delete(f"/api/v1/suppressions/{email['id']}").status_code == 404
    back = ok(api.post("/api/v1/events", event({"EMAIL": "ann@example.com"}), format="json"))
    assert back["status"] == "accepted" and back["resolution"]["createdProfile"] is True
    # The other identifiers are still suppressed.
    still = api.post("/api/v1/events", event({"EXTERNAL": "cust-1"}), format="json")
    assert still.json() == {"status": "suppressed"}


def test_runtime_tokens_of_erased_participants_fail_at_once(api, ann):
    assert ann["runtime"].get("/api/v1/runtime/context").status_code == 200
    erase(api, {"identity": {"EXTERNAL": "cust-1"}})
    response = ann["runtime"].get("/api/v1/runtime/context")
    assert response.status_code == 401 and response.json()["code"] == "token_revoked"


def test_an_erasure_cut_short_resumes_to_the_same_end_state(api, ann, bob, settings):
    settings.CDP_ERASURE_CHUNK_ROWS = 1
    started = erase(api, {"identity": {"EMAIL": "ann@example.com"}}, run=False)
    erasure_id = uuid.UUID(started["id"])
    erasure_run(erasure_id=erasure_id, max_chunks=3)  # what a worker killed mid-way leaves behind
    partial = ok(api.get(f"/api/v1/erasures/{erasure_id}"))
    assert partial["status"] == "running" and partial["receipt"] is None
    assert not Identifier.objects.filter(value="ann@example.com").exists()
    assert Profile.objects.filter(pk=ann["live"]).exists()
    erasure_run(erasure_id=erasure_id)
    erasure_run(erasure_id=erasure_id)  # a second run changes nothing
    done = ok(api.get(f"/api/v1/erasures/{erasure_id}"))
    assert done["status"] == "succeeded" and done["receipt"]["events"] == 3 and done["receipt"]["profiles"] == 2
    assert all(count == 0 for count in _rows_of([ann["live"], ann["tombstone"]]).values())
    assert _rows_of([bob])["events"] == 1


def test_bad_requests_are_refused_and_change_nothing(api, ann, tenant, key_factory, other_admin_api):
    from conftest import make_client

    assert api.post("/api/v1/erasures", {"identity": {"EMAIL": "nobody@example.com"}}, format="json").status_code == 404
    assert api.post("/api/v1/erasures", {"profileId": str(uuid.uuid4())}, format="json").status_code == 404
    bad = api.post("/api/v1/erasures", {"identity": {"EMAIL": "not an email", "FAX": "1"}}, format="json")
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_identity"
    assert {e["pointer"] for e in bad.json()["errors"]} == {"/identity/EMAIL", "/identity/FAX"}
    both = api.post("/api/v1/erasures", {"identity": ANN, "profileId": str(ann["live"])}, format="json")
    assert both.status_code == 422
    odd = api.post("/api/v1/erasures", {"profileId": "nope", "suppress": "yes", "extra": 1}, format="json")
    assert odd.status_code == 422
    assert {e["pointer"] for e in odd.json()["errors"]} == {"/profileId", "/suppress", "/extra"}
    ingest_only = make_client(key_factory(tenant, ["ingest"]).plaintext)
    assert ingest_only.post("/api/v1/erasures", {"identity": ANN}, format="json").status_code == 403
    assert ingest_only.get("/api/v1/suppressions").status_code == 403
    assert not Erasure.objects.exists()
    done = erase(api, {"identity": ANN})
    assert other_admin_api.get(f"/api/v1/erasures/{done['id']}").status_code == 404
    suppression = Suppression.objects.first()
    assert other_admin_api.delete(f"/api/v1/suppressions/{suppression.pk}").status_code == 404
    assert other_admin_api.get("/api/v1/suppressions").json()["results"] == []
    assert Suppression.objects.filter(pk=suppression.pk).exists()
    assert api.get(f"/api/v1/erasures/{uuid.uuid4()}").status_code == 404


def test_another_customers_records_keep_no_erased_value(api, ann, bob):
    # Bob's backend once sent Ann's email with Bob's EXTERNAL id: refused as a conflict.
    mixed = ok(api.post("/api/v1/events", event({"EXTERNAL": "cust-2", "EMAIL": "ann@example.com"}), format="json"))
    assert uuid.UUID(mixed["profileId"]) == bob and mixed["resolution"]["conflicts"]
    erase(api, {"identity": {"EMAIL": "ann@example.com"}})
    stored = Event.objects.get(pk=mixed["eventId"])
    assert stored.profile_id == bob and stored.identity["EXTERNAL"] == "cust-2"
    assert stored.identity["EMAIL"].startswith("hmac:")
    assert stored.resolution["conflicts"][0]["value"].startswith("hmac:")
    assert "ann@example.com" not in _all_text()
    assert not IdentityConflict.objects.exists()


def test_the_erasure_job_is_observable_in_the_jobs_api(api, ann):
    done = erase(api, {"identity": {"EMAIL": "ann@example.com"}})
    job = ok(api.get(f"/api/v1/jobs/{done['jobId']}"))
    assert job["status"] == "succeeded" and job["kind"] == "privacy.erasure"
    assert "ann@example.com" not in json.dumps(job)
