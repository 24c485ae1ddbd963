"""POST /api/v1/runtime/sessions: a backend mints a participant-scoped token."""

from __future__ import annotations

import datetime as dt
import uuid

import jwt
import pytest
from django.conf import settings
from django.utils import timezone

from conftest import make_client
from profiles.models import Profile
from runtime.models import Participant
from runtime.services import campaign_update

from .factories import campaign_make, mint, profile_make

pytestmark = pytest.mark.django_db

SESSIONS = "/api/v1/runtime/sessions"


def _decode(token: str) -> dict:
    return jwt.decode(
        token,
        settings.CDP_RUNTIME_JWT_SIGNING_KEY,
        algorithms=["HS256"],
        audience="resultfly-runtime",
        issuer="resultfly-cdp",
    )


def test_a_backend_mints_a_token_for_cust_42_in_spring_quiz(runtime_api, tenant, quiz, ann):
    body = mint(runtime_api, "spring-quiz", identity={"EXTERNAL": "cust-42"})
    participant = Participant.objects.get()
    assert body["participantId"] == str(participant.pk)
    assert body["profileId"] == str(ann)
    assert participant.campaign == quiz and participant.profile_id == ann
    claims = _decode(body["token"])
    assert claims["tenant"] == tenant.pk
    assert claims["campaign"] == "spring-quiz"
    assert claims["participant"] == str(participant.pk)
    assert claims["profile"] == str(ann)
    assert claims["aud"] == "resultfly-runtime" and claims["iss"] == "resultfly-cdp"
    assert claims["jti"] and claims["token_type"] == "runtime"
    assert jwt.get_unverified_header(body["token"])["alg"] == "HS256"


def test_the_token_lives_the_configured_lifetime_and_never_more_than_15_minutes(runtime_api, quiz, ann, settings):
    settings.CDP_RUNTIME_TOKEN_LIFETIME_SECONDS = 120
    before = timezone.now()
    body = mint(runtime_api, "spring-quiz", identity={"EXTERNAL": "cust-42"})
    claims = _decode(body["token"])
    assert claims["exp"] - claims["iat"] == 120
    expires_at = dt.datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
    assert body["expiresAt"].endswith("Z")
    assert before + dt.timedelta(seconds=110) < expires_at <= before + dt.timedelta(seconds=121)

    settings.CDP_RUNTIME_TOKEN_LIFETIME_SECONDS = 900
    claims = _decode(mint(runtime_api, "spring-quiz", identity={"EXTERNAL": "cust-42"})["token"])
    assert claims["exp"] - claims["iat"] == 900


def test_every_token_has_its_own_jti_and_the_participant_is_created_once(runtime_api, quiz, ann):
    first = mint(runtime_api, "spring-quiz", identity={"EXTERNAL": "cust-42"})
    second = mint(runtime_api, "spring-quiz", profileId=str(ann))
    third = mint(runtime_api, "spring-quiz", identity={"EMAIL": " ANN@example.com "})
    assert first["participantId"] == second["participantId"] == third["participantId"]
    assert Participant.objects.count() == 1
    assert len({_decode(b["token"])["jti"] for b in (first, second, third)}) == 3


def test_identity_is_a_lookup_only_an_unknown_customer_is_404_and_no_profile_is_created(runtime_api, quiz, ann):
    profiles = Profile.objects.count()
    response = runtime_api.post(
        SESSIONS, {"campaign": "spring-quiz", "identity": {"EXTERNAL": "cust-999"}}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert Profile.objects.count() == profiles
    assert Participant.objects.count() == 0


def test_an_unknown_external_id_is_not_replaced_by_a_weaker_identifier(runtime_api, quiz, ann):
    body = {"campaign": "spring-quiz", "identity": {"EXTERNAL": "cust-999", "EMAIL": "ann@example.com"}}
    assert runtime_api.post(SESSIONS, body, format="json").status_code == 404


def test_the_highest_precedence_known_identifier_chooses_the_profile(runtime_api, tenant, quiz, ann):
    anonymous = profile_make(tenant, {"DEVICE_KEY": "ios-1"})
    body = mint(runtime_api, "spring-quiz", identity={"EMAIL": "ann@example.com", "DEVICE_KEY": "ios-1"})
    assert body["profileId"] == str(ann)
    body = mint(runtime_api, "spring-quiz", identity={"DEVICE_KEY": "ios-1"})
    assert body["profileId"] == str(anonymous)


def test_an_unknown_profile_id_is_404(runtime_api, quiz):
    response = runtime_api.post(SESSIONS, {"campaign": "spring-quiz", "profileId": str(uuid.uuid4())}, format="json")
    assert response.status_code == 404


def test_another_tenants_profile_and_campaign_answer_404(runtime_api, other_tenant, quiz):
    theirs = profile_make(other_tenant, {"EXTERNAL": "cust-42"})
    campaign_make(other_tenant, "autumn-quiz")
    by_id = runtime_api.post(SESSIONS, {"campaign": "spring-quiz", "profileId": str(theirs)}, format="json")
    by_identity = runtime_api.post(
        SESSIONS, {"campaign": "spring-quiz", "identity": {"EXTERNAL": "cust-42"}}, format="json"
    )
    their_campaign = runtime_api.post(SESSIONS, {"campaign": "autumn-quiz", "profileId": str(theirs)}, format="json")
    assert [r.status_code for r in (by_id, by_identity, their_campaign)] == [404, 404, 404]
    assert Participant.objects.count() == 0


def test_an_inactive_or_unknown_campaign_is_404(runtime_api, quiz, ann):
    campaign_update(campaign=quiz, active=False)
    inactive = runtime_api.post(SESSIONS, {"campaign": "spring-quiz", "profileId": str(ann)}, format="json")
    unknown = runtime_api.post(SESSIONS, {"campaign": "no-such", "profileId": str(ann)}, format="json")
    assert inactive.status_code == unknown.status_code == 404
    assert inactive.json()["title"] == unknown.json()["title"]
    assert Participant.objects.count() == 0


def test_a_merged_profile_id_leads_to_the_survivor(runtime_api, tenant, quiz):
    survivor = profile_make(tenant, {"EMAIL": "bo@example.com"})
    merged = profile_make(tenant, {"PHONE": "+44 20 7946 0958"})
    assert profile_make(tenant, {"EMAIL": "bo@example.com", "PHONE": "+44 20 7946 0958"}) == survivor
    body = mint(runtime_api, "spring-quiz", profileId=str(merged))
    assert body["profileId"] == str(survivor)
    assert Participant.objects.get().profile_id == survivor


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"campaign": "spring-quiz"}, "/identity"),
        ({"campaign": "spring-quiz", "identity": {"EXTERNAL": "x"}, "profileId": str(uuid.uuid4())}, "/identity"),
        ({"identity": {"EXTERNAL": "cust-42"}}, "/campaign"),
        ({"campaign": "spring-quiz", "profileId": "not-a-uuid"}, "/profileId"),
        ({"campaign": "spring-quiz", "identity": {"EXTERNAL": "cust-42"}, "participant": "x"}, "/participant"),
        ({"campaign": "spring-quiz", "identity": {"EXTERNAL": "cust-42"}, "tenant": 2}, "/tenant"),
    ],
)
def test_a_malformed_session_request_is_422_with_a_pointer(runtime_api, quiz, ann, body, pointer):
    response = runtime_api.post(SESSIONS, body, format="json")
    assert response.status_code == 422, response.content
    assert pointer in [error["pointer"] for error in response.json()["errors"]]


def test_an_invalid_identity_is_422(runtime_api, quiz):
    response = runtime_api.post(SESSIONS, {"campaign": "spring-quiz", "identity": {"EMAIL": "nope"}}, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_identity"
    assert response.json()["errors"][0]["pointer"] == "/identity/EMAIL"


def test_minting_needs_the_runtime_scope(tenant, key_factory, quiz, ann):
    client = make_client(key_factory(tenant, ["ingest", "admin"]).plaintext)
    response = client.post(SESSIONS, {"campaign": "spring-quiz", "profileId": str(ann)}, format="json")
    assert response.status_code == 403
    assert "'runtime' scope" in response.json()["detail"]
    assert Participant.objects.count() == 0
