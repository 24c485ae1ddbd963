"""Readiness: per profile and channel, ready or the first reason why not, judged on the
profile's active endpoint there and on the channel model only (DESIGN.md §5)."""

from __future__ import annotations

import pytest

from .helpers import accepted, at, channel_update, profile

pytestmark = pytest.mark.django_db

ANN = {"EXTERNAL": "cust-42"}
MOBILE = "07400 123456"
LANDLINE = "020 7946 0958"


def readiness(api, profile_id, channel):
    return profile(api, profile_id)["readiness"][channel]


def test_ready_with_consent_granted_and_a_reachable_address(api, base_time):
    ann = accepted(api, channel_update(ANN, "SMS", MOBILE, at(base_time, 0), consent="granted"))
    assert readiness(api, ann, "SMS") == {"ready": True}


def test_no_endpoint_when_nothing_was_declared_on_the_channel(api, base_time):
    ann = accepted(api, channel_update(ANN, "SMS", MOBILE, at(base_time, 0), consent="granted"))
    assert readiness(api, ann, "PUSH") == {"ready": False, "reason": "no_endpoint"}


def test_an_email_identifier_alone_gives_no_endpoint(api, base_time):
    response = api.post(
        "/api/v1/profile-updates",
        {
            "source": "crm",
            "externalEventId": "pu-1",
            "occurredAt": at(base_time, 0),
            "identity": {"EMAIL": "ann@example.com"},
            "attributes": {},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    detail = profile(api, response.json()["profileId"])
    assert [i["type"] for i in detail["identifiers"]] == ["EMAIL"]
    assert detail["endpoints"] == []
    assert detail["readiness"]["EMAIL"] == {"ready": False, "reason": "no_endpoint"}


def test_a_phone_identifier_does_not_make_sms_ready(api, base_time):
    ann = accepted(api, channel_update({"PHONE": MOBILE}, "EMAIL", "ann@example.com", at(base_time, 0)))
    assert readiness(api, ann, "SMS") == {"ready": False, "reason": "no_endpoint"}


def test_no_consent_when_consent_was_never_given(api, base_time):
    ann = accepted(api, channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 0)))
    assert readiness(api, ann, "EMAIL") == {"ready": False, "reason": "no_consent"}


def test_no_consent_when_consent_was_denied(api, base_time):
    ann = accepted(api, channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 0), consent="granted"))
    accepted(api, channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 1), consent="denied"))
    assert readiness(api, ann, "EMAIL") == {"ready": False, "reason": "no_consent"}


def test_consent_pending_while_a_double_opt_in_is_unconfirmed(api, base_time):
    ann = accepted(api, channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 0), consent="pending"))
    assert readiness(api, ann, "EMAIL") == {"ready": False, "reason": "consent_pending"}


def test_bounced_when_the_address_bounced(api, base_time):
    ann = accepted(api, channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 0), consent="granted"))
    accepted(
        api, channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 1), reachability="bounced", reason="550")
    )
    assert readiness(api, ann, "EMAIL") == {"ready": False, "reason": "bounced"}


def test_unreachable_when_the_address_is_unreachable(api, base_time):
    ann = accepted(api, channel_update(ANN, "PUSH", "ios-token-1", at(base_time, 0), consent="granted"))
    accepted(api, channel_update(ANN, "PUSH", "ios-token-1", at(base_time, 1), reachability="unreachable"))
    assert readiness(api, ann, "PUSH") == {"ready": False, "reason": "unreachable"}


def test_a_landline_number_is_not_mobile_for_sms(api, base_time):
    ann = accepted(api, channel_update(ANN, "SMS", LANDLINE, at(base_time, 0), consent="granted"))
    assert profile(api, ann)["endpoints"][0]["address"] == "+442079460958"
    assert readiness(api, ann, "SMS") == {"ready": False, "reason": "not_mobile"}


def test_a_landline_number_is_fine_for_whatsapp(api, base_time):
    ann = accepted(api, channel_update(ANN, "WHATSAPP", LANDLINE, at(base_time, 0), consent="granted"))
    assert readiness(api, ann, "WHATSAPP") == {"ready": True}


def test_the_first_reason_that_applies_is_given(api, base_time):
    ann = accepted(
        api, channel_update(ANN, "SMS", LANDLINE, at(base_time, 0), consent="denied", reachability="bounced")
    )
    assert readiness(api, ann, "SMS") == {"ready": False, "reason": "no_consent"}
    accepted(api, channel_update(ANN, "SMS", LANDLINE, at(base_time, 1), consent="pending"))
    assert readiness(api, ann, "SMS") == {"ready": False, "reason": "consent_pending"}
    accepted(api, channel_update(ANN, "SMS", LANDLINE, at(base_time, 2), consent="granted"))
    assert readiness(api, ann, "SMS") == {"ready": False, "reason": "bounced"}
    accepted(api, channel_update(ANN, "SMS", LANDLINE, at(base_time, 3), reachability="reachable"))
    assert readiness(api, ann, "SMS") == {"ready": False, "reason": "not_mobile"}


def test_readiness_uses_the_endpoint_declared_most_recently(api, base_time):
    ann = accepted(api, channel_update(ANN, "EMAIL", "old@example.com", at(base_time, 0), consent="granted"))
    accepted(api, channel_update(ANN, "EMAIL", "new@example.com", at(base_time, 5)))
    assert readiness(api, ann, "EMAIL") == {"ready": False, "reason": "no_consent"}
    # A late report about the old address, older than the new one's declaration, changes nothing.
    accepted(api, channel_update(ANN, "EMAIL", "old@example.com", at(base_time, 3)))
    assert readiness(api, ann, "EMAIL") == {"ready": False, "reason": "no_consent"}
    active = [e["address"] for e in profile(api, ann)["endpoints"] if e["active"]]
    assert active == ["new@example.com"]
    # Declared again, later: the old address is the active one again.
    accepted(api, channel_update(ANN, "EMAIL", "old@example.com", at(base_time, 6)))
    assert readiness(api, ann, "EMAIL") == {"ready": True}
