"""POST /api/v1/channel-updates: declaring endpoints, normalization per channel, refusals,
and the same idempotency rules as events."""

from __future__ import annotations

import pytest

from channels.models import Endpoint, EndpointHistory
from conftest import make_client
from ingest.models import ChannelUpdate, IdempotencyKey
from ingest.services import source_create

from .helpers import accepted, at, channel_update, post, profile

pytestmark = pytest.mark.django_db

ANN = {"EXTERNAL": "cust-42"}


def _state() -> dict:
    return {
        "endpoints": list(Endpoint.objects.order_by("pk").values()),
        "history": EndpointHistory.objects.count(),
        "updates": ChannelUpdate.objects.count(),
        "keys": IdempotencyKey.objects.count(),
    }


def test_a_channel_update_declares_the_endpoint_and_the_profile_shows_it(api, base_time):
    body = channel_update(
        ANN, "EMAIL", " Ann@Example.com ", at(base_time, 0), consent="granted", reason="doi-confirmation-7781"
    )
    response = post(api, body)
    assert response.status_code == 201
    assert response.json()["status"] == "accepted"
    detail = profile(api, response.json()["profileId"])
    assert detail["endpoints"] == [
        {
            "channel": "EMAIL",
            "address": "ann@example.com",
            "active": True,
            "consent": "granted",
            "reachability": "reachable",
        }
    ]
    assert detail["readiness"] == {
        "EMAIL": {"ready": True},
        "SMS": {"ready": False, "reason": "no_endpoint"},
        "PUSH": {"ready": False, "reason": "no_endpoint"},
        "WHATSAPP": {"ready": False, "reason": "no_endpoint"},
    }
    consent = EndpointHistory.objects.get(kind="consent")
    assert (consent.state, consent.source, consent.evidence) == ("granted", "crm", "doi-confirmation-7781")
    assert ChannelUpdate.objects.get().outcome["ownership"] == "claimed"


@pytest.mark.parametrize(
    ("channel", "typed", "stored"),
    [
        ("EMAIL", "  ANN@Example.COM", "ann@example.com"),
        ("SMS", "07400 123456", "+447400123456"),  # read in the tenant's region (GB)
        ("WHATSAPP", "+49 151 23456789", "+4915123456789"),
        ("PUSH", "  fcm:APA91bH-token_Value  ", "fcm:APA91bH-token_Value"),  # trimmed, case kept
    ],
)
def test_addresses_are_normalized_per_channel(api, base_time, channel, typed, stored):
    profile_id = accepted(api, channel_update(ANN, channel, typed, at(base_time, 0)))
    assert [e["address"] for e in profile(api, profile_id)["endpoints"]] == [stored]


def test_the_same_address_typed_two_ways_is_one_endpoint(api, base_time):
    accepted(api, channel_update(ANN, "SMS", "07400 123456", at(base_time, 0)))
    accepted(api, channel_update(ANN, "SMS", "+44 7400 123456", at(base_time, 1), consent="granted"))
    endpoint = Endpoint.objects.get()
    assert (endpoint.address, endpoint.consent) == ("+447400123456", "granted")


@pytest.mark.parametrize(
    ("channel", "address"),
    [
        ("EMAIL", "not-an-email"),
        ("EMAIL", "a" * 250 + "@example.com"),
        ("SMS", "12"),
        ("SMS", "+44 20 7946 09581234"),
        ("WHATSAPP", "call me"),
        ("PUSH", "   "),
        ("PUSH", "x" * 4097),
        ("PUSH", "token\u0007with-bell"),  # NUL never gets this far: the parser answers 400
        ("EMAIL", 42),
        ("PUSH", "null"),  # the tenant's blocked placeholder values are no address either
    ],
)
def test_an_invalid_address_is_refused_with_422_and_nothing_is_applied(api, base_time, channel, address):
    before = _state()
    response = post(api, channel_update(ANN, channel, address, at(base_time, 0), key="cu-bad"))
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "invalid_channel_update"
    assert [(e["pointer"], e["code"]) for e in problem["errors"]] == [("/address", "invalid_address")]
    assert _state() == before


def test_a_corrected_retry_with_the_same_key_is_accepted(api, base_time):
    assert post(api, channel_update(ANN, "EMAIL", "nope", at(base_time, 0), key="cu-1")).status_code == 422
    assert post(api, channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 0), key="cu-1")).status_code == 201


def test_a_push_token_of_4096_characters_is_one_endpoint(api, base_time):
    token = "t" * 4096
    accepted(api, channel_update(ANN, "PUSH", token, at(base_time, 0), consent="granted"))
    accepted(api, channel_update(ANN, "PUSH", f" {token} ", at(base_time, 1)))
    assert Endpoint.objects.get().address == token


@pytest.mark.parametrize(
    ("fields", "pointer", "code"),
    [
        ({"channel": "FAX"}, "/channel", "unknown_channel"),
        ({"channel": "email"}, "/channel", "unknown_channel"),
        ({"consent": "yes"}, "/consent", "unknown_consent_state"),
        ({"consent": "unknown"}, "/consent", "unknown_consent_state"),
        ({"reachability": "gone"}, "/reachability", "unknown_reachability_state"),
        ({"reason": "r" * 501}, "/reason", "too_long"),
        ({"reason": 7}, "/reason", "type"),
    ],
)
def test_unknown_values_are_refused_with_a_pointer(api, base_time, fields, pointer, code):
    body = channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 0))
    body.update(fields)
    response = post(api, body)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_channel_update"
    assert (pointer, code) in [(e["pointer"], e["code"]) for e in response.json()["errors"]]
    assert not Endpoint.objects.exists()


def test_a_missing_channel_or_address_is_refused(api, base_time):
    body = channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 0))
    del body["channel"], body["address"]
    response = post(api, body)
    assert response.status_code == 422
    assert {(e["pointer"], e["code"]) for e in response.json()["errors"]} == {
        ("/channel", "required"),
        ("/address", "required"),
    }


def test_a_replayed_channel_update_changes_nothing(api, base_time):
    body = channel_update(ANN, "SMS", "07400 123456", at(base_time, 0), key="cu-1", consent="granted")
    first = post(api, body)
    assert first.status_code == 201
    # A newer update, then the old one replayed: the replay must not re-apply its consent.
    accepted(api, channel_update(ANN, "SMS", "07400 123456", at(base_time, 5), key="cu-2", consent="denied"))
    before = _state()
    replay = post(api, body)
    assert replay.status_code == 200
    assert replay.json()["status"] == "duplicate"
    assert replay.json()["eventId"] == first.json()["eventId"]
    assert replay.json()["profileId"] == first.json()["profileId"]
    assert _state() == before
    assert Endpoint.objects.get().consent == "denied"


def test_a_replay_typed_differently_but_normalizing_the_same_is_a_duplicate(api, base_time):
    post(api, channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 0), key="cu-1"))
    replay = post(api, channel_update(ANN, "EMAIL", " ANN@example.com", at(base_time, 0), key="cu-1"))
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"


def test_a_reused_key_with_a_different_payload_is_409_and_changes_nothing(api, base_time):
    accepted(api, channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 0), key="cu-1", consent="granted"))
    before = _state()
    response = post(
        api, channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 0), key="cu-1", consent="denied")
    )
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"
    assert _state() == before


def test_endpoints_are_per_tenant(api, other_tenant, key_factory, base_time):
    source_create(tenant=other_tenant, key="crm")
    other = make_client(key_factory(other_tenant, ["ingest", "admin"]).plaintext)
    mine = accepted(api, channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 0), consent="granted"))
    theirs = accepted(other, channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 1)))
    assert Endpoint.objects.count() == 2
    assert profile(api, mine)["readiness"]["EMAIL"] == {"ready": True}
    assert profile(other, theirs)["readiness"]["EMAIL"] == {"ready": False, "reason": "no_consent"}
    assert api.get(f"/api/v1/profiles/{theirs}").status_code == 404


def test_channel_updates_need_the_ingest_scope(tenant, key_factory, crm, base_time):
    admin_only = make_client(key_factory(tenant, ["admin"]).plaintext)
    assert post(admin_only, channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 0))).status_code == 403
