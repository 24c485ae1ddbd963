"""Endpoints follow a merge to the survivor with their consent and history; where both
profiles had an active endpoint on a channel, the survivor's stays active (DESIGN.md §4)."""

from __future__ import annotations

import pytest

from channels.models import Endpoint, EndpointHistory
from profiles.models import MergeLedgerEntry

from .helpers import accepted, at, channel_update, profile

pytestmark = pytest.mark.django_db

NEWSLETTER = {"EMAIL": "ann@example.com"}
CRM = {"EXTERNAL": "cust-42"}
BOTH = {"EXTERNAL": "cust-42", "EMAIL": "ann@example.com"}


def test_endpoints_follow_a_merge_to_the_survivor(api, base_time):
    newsletter = accepted(
        api, channel_update(NEWSLETTER, "EMAIL", "ann@example.com", at(base_time, 0), consent="granted", reason="doi-1")
    )
    crm = accepted(api, channel_update(CRM, "SMS", "07400 123456", at(base_time, 1), consent="granted"))
    assert newsletter != crm
    # Ann's push token arrives with both ids: the newsletter profile merges into the CRM one.
    survivor = accepted(api, channel_update(BOTH, "PUSH", "ios-token-1", at(base_time, 2)))
    assert survivor == crm

    detail = profile(api, crm)
    assert detail["endpoints"] == [
        {
            "channel": "EMAIL",
            "address": "ann@example.com",
            "active": True,
            "consent": "granted",
            "reachability": "reachable",
        },
        {
            "channel": "SMS",
            "address": "+447400123456",
            "active": True,
            "consent": "granted",
            "reachability": "reachable",
        },
        {
            "channel": "PUSH",
            "address": "ios-token-1",
            "active": True,
            "consent": "unknown",
            "reachability": "reachable",
        },
    ]
    assert detail["readiness"]["EMAIL"] == {"ready": True}
    old = profile(api, newsletter)
    assert old["requestedId"] == newsletter and old["id"] == crm and old["readiness"]["EMAIL"] == {"ready": True}
    assert not Endpoint.objects.filter(profile_id=newsletter).exists()
    # The consent history moved with the endpoint, and the ledger counts it.
    email = Endpoint.objects.get(channel="EMAIL")
    assert list(email.history.filter(kind="consent").values_list("state", "evidence")) == [("granted", "doi-1")]
    assert email.history.filter(kind="ownership", state="merged").count() == 1
    assert MergeLedgerEntry.objects.get().moved["endpoints"] == 1


def test_the_survivors_active_endpoint_stays_active_after_a_merge(api, base_time):
    crm = accepted(api, channel_update(CRM, "EMAIL", "ann@work.example", at(base_time, 0), consent="denied"))
    newsletter = accepted(
        api, channel_update(NEWSLETTER, "EMAIL", "ann@example.com", at(base_time, 5), consent="granted")
    )
    accepted(api, channel_update(BOTH, "PUSH", "ios-token-1", at(base_time, 6)))
    detail = profile(api, crm)
    emails = [(e["address"], e["active"], e["consent"]) for e in detail["endpoints"] if e["channel"] == "EMAIL"]
    assert emails == [("ann@work.example", True, "denied"), ("ann@example.com", False, "granted")]
    # Readiness is judged on the survivor's active endpoint, although the other one is newer.
    assert detail["readiness"]["EMAIL"] == {"ready": False, "reason": "no_consent"}
    assert profile(api, newsletter)["id"] == crm
    # A newer declaration makes the moved endpoint the active one.
    accepted(api, channel_update(CRM, "EMAIL", "ann@example.com", at(base_time, 7)))
    assert profile(api, crm)["readiness"]["EMAIL"] == {"ready": True}


def test_the_merged_profiles_active_endpoint_stays_active_where_the_survivor_had_none(api, base_time):
    accepted(api, channel_update(NEWSLETTER, "EMAIL", "ann@example.com", at(base_time, 0), consent="granted"))
    accepted(api, channel_update(CRM, "SMS", "07400 123456", at(base_time, 1)))
    crm = accepted(api, channel_update(BOTH, "PUSH", "ios-token-1", at(base_time, 2)))
    assert Endpoint.objects.get(channel="EMAIL").active
    assert Endpoint.objects.filter(profile_id=crm, active=True).count() == 3


def test_history_of_endpoints_the_merged_profile_had_given_up_stays_readable(api, base_time):
    newsletter = accepted(api, channel_update(NEWSLETTER, "SMS", "07400 123456", at(base_time, 0), consent="granted"))
    accepted(api, channel_update({"EXTERNAL": "someone-else"}, "SMS", "07400 123456", at(base_time, 1)))
    accepted(api, channel_update(BOTH, "PUSH", "ios-token-1", at(base_time, 2)))
    assert EndpointHistory.objects.filter(profile_id=newsletter, kind="consent").count() == 1
