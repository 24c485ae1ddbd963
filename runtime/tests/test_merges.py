"""Participants follow their profile into a merge (DESIGN.md §4)."""

from __future__ import annotations

import pytest

from profiles.models import MergeLedgerEntry
from runtime.models import Participant, VariableValue

from .factories import bearer, campaign_make, mint, profile_make

pytestmark = pytest.mark.django_db

CONTEXT = "/api/v1/runtime/context"
VARIABLES = "/api/v1/runtime/variables"


@pytest.fixture
def bo(tenant):
    """The survivor: Bo's email profile."""
    return profile_make(tenant, {"EMAIL": "bo@example.com"})


@pytest.fixture
def bo_phone(tenant):
    """Bo's phone profile, merged into the email profile by `merge`."""
    return profile_make(tenant, {"PHONE": "+44 20 7946 0958"})


def merge(tenant, survivor, merged):
    assert profile_make(tenant, {"EMAIL": "bo@example.com", "PHONE": "+44 20 7946 0958"}) == survivor
    return MergeLedgerEntry.objects.get(survivor_id=survivor, merged_id=merged)


def test_two_participants_of_one_campaign_combine_with_the_survivors_values_winning(
    tenant, runtime_api, quiz, bo, bo_phone
):
    kept = mint(runtime_api, "spring-quiz", profileId=str(bo))
    lost = mint(runtime_api, "spring-quiz", profileId=str(bo_phone))
    bearer(kept["token"]).patch(VARIABLES, {"variables": {"step": 5, "level": "hard"}}, format="json")
    bearer(lost["token"]).patch(VARIABLES, {"variables": {"step": 2, "answers": ["a", "b"], "score": 7}}, format="json")

    entry = merge(tenant, bo, bo_phone)

    assert entry.moved["participants"] == 1
    assert list(Participant.objects.values_list("pk", flat=True)) == [
        Participant.objects.get(pk=kept["participantId"]).pk
    ]
    variables = bearer(kept["token"]).get(VARIABLES).json()["variables"]
    assert variables == {"step": 5, "answers": ["a", "b"], "level": "hard", "score": 7, "finishedAt": None}
    assert VariableValue.objects.count() == 4
    # The merged participant is gone: its token stops; a new token for its old profile id finds the survivor's.
    assert bearer(lost["token"]).get(VARIABLES).status_code == 401
    again = mint(runtime_api, "spring-quiz", profileId=str(bo_phone))
    assert again["participantId"] == kept["participantId"] and again["profileId"] == str(bo)


def test_a_participant_of_another_campaign_moves_to_the_survivor_and_its_token_keeps_working(
    tenant, runtime_api, quiz, bo, bo_phone
):
    campaign_make(tenant, "autumn-quiz", name="Autumn quiz")
    session = mint(runtime_api, "autumn-quiz", profileId=str(bo_phone))
    client = bearer(session["token"])
    client.patch(VARIABLES, {"variables": {"step": 9}}, format="json")

    entry = merge(tenant, bo, bo_phone)

    assert entry.moved["participants"] == 1
    participant = Participant.objects.get(pk=session["participantId"])
    assert participant.profile_id == bo
    assert client.get(VARIABLES).json()["variables"]["step"] == 9
    context = client.get(CONTEXT).json()
    assert context["participant"] == {"id": session["participantId"], "profileId": str(bo)}


def test_a_merge_without_participants_moves_none(tenant, quiz, bo, bo_phone):
    assert merge(tenant, bo, bo_phone).moved["participants"] == 0
