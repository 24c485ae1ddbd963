"""Who owns an endpoint, and whose consent counts: ownership follows the latest
declaration, a new owner never inherits an opt-in, and per field the latest occurredAt
wins whatever order the updates arrive in (DESIGN.md §5)."""

from __future__ import annotations

import itertools

import pytest

from channels.models import Endpoint, EndpointHistory

from .helpers import accepted, at, channel_update, profile

pytestmark = pytest.mark.django_db

ANN = {"EXTERNAL": "cust-ann"}
BOB = {"EXTERNAL": "cust-bob"}
NUMBER = "+447400123456"


def test_ownership_transfer_resets_consent(api, base_time):
    ann = accepted(api, channel_update(ANN, "SMS", NUMBER, at(base_time, 0), consent="granted", reason="sms-doi-1"))
    assert profile(api, ann)["readiness"]["SMS"] == {"ready": True}
    # The number was recycled: Bob declares it later, without any consent of his own.
    bob = accepted(api, channel_update(BOB, "SMS", "07400 123456", at(base_time, 10)))
    endpoint = Endpoint.objects.get()
    assert (endpoint.profile_id.hex, endpoint.consent) == (bob.replace("-", ""), "unknown")
    assert profile(api, bob)["endpoints"] == [
        {"channel": "SMS", "address": NUMBER, "active": True, "consent": "unknown", "reachability": "reachable"}
    ]
    assert profile(api, bob)["readiness"]["SMS"] == {"ready": False, "reason": "no_consent"}
    assert profile(api, ann)["endpoints"] == []
    assert profile(api, ann)["readiness"]["SMS"] == {"ready": False, "reason": "no_endpoint"}


def test_the_previous_owner_keeps_the_history(api, base_time):
    ann = accepted(api, channel_update(ANN, "SMS", NUMBER, at(base_time, 0), consent="granted", reason="sms-doi-1"))
    bob = accepted(api, channel_update(BOB, "SMS", NUMBER, at(base_time, 10)))
    anns = EndpointHistory.objects.filter(profile_id=ann).order_by("occurred_at", "id")
    assert [(h.kind, h.state, h.evidence) for h in anns] == [
        ("ownership", "claimed", ""),
        ("consent", "granted", "sms-doi-1"),
        ("ownership", "released", ""),
    ]
    bobs = EndpointHistory.objects.get(profile_id=bob)
    assert (bobs.kind, bobs.state) == ("ownership", "claimed")
    assert "consent reset to unknown (was granted)" in bobs.note


def test_the_new_owner_can_give_consent_of_his_own(api, base_time):
    accepted(api, channel_update(ANN, "SMS", NUMBER, at(base_time, 0), consent="granted"))
    bob = accepted(api, channel_update(BOB, "SMS", NUMBER, at(base_time, 10)))
    accepted(api, channel_update(BOB, "SMS", NUMBER, at(base_time, 11), consent="granted"))
    assert profile(api, bob)["readiness"]["SMS"] == {"ready": True}


def test_a_late_declaration_by_the_previous_owner_does_not_take_the_endpoint_back(api, base_time):
    accepted(api, channel_update(ANN, "SMS", NUMBER, at(base_time, 0)))
    bob = accepted(api, channel_update(BOB, "SMS", NUMBER, at(base_time, 10)))
    ann = accepted(api, channel_update(ANN, "SMS", NUMBER, at(base_time, 5), consent="granted"))
    endpoint = Endpoint.objects.get()
    assert str(endpoint.profile_id) == bob
    assert endpoint.consent == "unknown"
    late = EndpointHistory.objects.get(kind="consent")
    assert (str(late.profile_id), late.effect) == (ann, EndpointHistory.EFFECT_BEFORE_OWNER)
    assert profile(api, ann)["readiness"]["SMS"] == {"ready": False, "reason": "no_endpoint"}


def test_the_previous_owner_falls_back_to_its_other_endpoint(api, base_time):
    ann = accepted(api, channel_update(ANN, "SMS", "+447911123456", at(base_time, 0), consent="granted"))
    accepted(api, channel_update(ANN, "SMS", NUMBER, at(base_time, 1), consent="denied"))
    assert profile(api, ann)["readiness"]["SMS"] == {"ready": False, "reason": "no_consent"}
    accepted(api, channel_update(BOB, "SMS", NUMBER, at(base_time, 2)))
    detail = profile(api, ann)
    assert detail["endpoints"] == [
        {
            "channel": "SMS",
            "address": "+447911123456",
            "active": True,
            "consent": "granted",
            "reachability": "reachable",
        }
    ]
    assert detail["readiness"]["SMS"] == {"ready": True}


def _apply_in_order(api, updates, address):
    for identity, minutes, fields in updates:
        accepted(api, channel_update(identity, "EMAIL", address, at(api.base_time, minutes), **fields))
    endpoint = Endpoint.objects.get(address=address)
    return endpoint


@pytest.fixture
def timed_api(api, base_time):
    api.base_time = base_time
    return api


def test_out_of_order_consent_updates_converge(timed_api):
    updates = [
        (ANN, 0, {"consent": "pending", "reason": "doi-sent"}),
        (ANN, 5, {"consent": "granted", "reason": "doi-confirmed-4711"}),
        (ANN, 9, {"consent": "denied", "reason": "unsubscribe link"}),
        (ANN, 7, {}),
    ]
    finals = set()
    for number, order in enumerate(itertools.permutations(updates)):
        endpoint = _apply_in_order(timed_api, order, f"ann{number}@example.com")
        finals.add((endpoint.consent, endpoint.consent_evidence, endpoint.consent_occurred_at))
    assert len(finals) == 1
    consent, evidence, _ = finals.pop()
    assert (consent, evidence) == ("denied", "unsubscribe link")


def test_out_of_order_reachability_updates_converge(timed_api):
    updates = [
        (ANN, 0, {"reachability": "bounced", "reason": "550 mailbox full"}),
        (ANN, 3, {"reachability": "reachable"}),
        (ANN, 1, {"consent": "granted"}),
    ]
    finals = set()
    for number, order in enumerate(itertools.permutations(updates)):
        endpoint = _apply_in_order(timed_api, order, f"ann{number}@example.com")
        finals.add((endpoint.reachability, endpoint.consent))
    assert finals == {("reachable", "granted")}


def test_ownership_and_consent_converge_whatever_the_arrival_order(timed_api):
    """Ann declared the address; Bob gave consent and declared it later; a late report
    says Ann still declared it after Bob's consent. Bob owns it, with no consent that
    counts, in every arrival order."""
    updates = [
        (ANN, 0, {"consent": "granted"}),
        (BOB, 5, {"consent": "granted"}),
        (ANN, 7, {}),
        (BOB, 10, {}),
    ]
    finals = set()
    for number, order in enumerate(itertools.permutations(updates)):
        endpoint = _apply_in_order(timed_api, order, f"shared{number}@example.com")
        finals.add((endpoint.profile_id, endpoint.consent, endpoint.declared_at, endpoint.others_declared_at))
    assert len(finals) == 1
    owner, consent, _, _ = finals.pop()
    bob = accepted(timed_api, channel_update(BOB, "PUSH", "bob-device", at(timed_api.base_time, 0)))
    assert (str(owner), consent) == (bob, "unknown")


def test_an_exact_tie_goes_to_the_more_restrictive_consent(timed_api):
    for number, order in enumerate(itertools.permutations(["granted", "denied"])):
        for state in order:
            accepted(
                timed_api,
                channel_update(ANN, "EMAIL", f"tie{number}@example.com", at(timed_api.base_time, 0), consent=state),
            )
    assert set(Endpoint.objects.values_list("consent", flat=True)) == {"denied"}


def test_a_declaration_without_consent_keeps_the_owners_consent(api, base_time):
    ann = accepted(api, channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 0), consent="granted"))
    accepted(api, channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 5)))
    assert profile(api, ann)["readiness"]["EMAIL"] == {"ready": True}


def test_reachability_belongs_to_the_address_and_survives_a_new_owner(api, base_time):
    accepted(api, channel_update(ANN, "EMAIL", "shared@example.com", at(base_time, 0), reachability="bounced"))
    bob = accepted(api, channel_update(BOB, "EMAIL", "shared@example.com", at(base_time, 5), consent="granted"))
    assert profile(api, bob)["readiness"]["EMAIL"] == {"ready": False, "reason": "bounced"}
