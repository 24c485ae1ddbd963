"""The ops console answers "why can't we email this customer?": the profile page shows
readiness with the reason in words, the endpoints and their history; endpoints are
searchable by address as typed and filterable; nothing here can be edited."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from channels.models import Endpoint, EndpointHistory

from .helpers import accepted, at, channel_update

pytestmark = pytest.mark.django_db

ANN = {"EXTERNAL": "cust-42", "EMAIL": "ann@example.com"}


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


@pytest.fixture
def unsubscribed_ann(api, base_time):
    ann = accepted(api, channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 0), consent="granted"))
    accepted(
        api,
        channel_update(ANN, "EMAIL", "ann@example.com", at(base_time, 5), consent="denied", reason="unsubscribe link"),
    )
    accepted(api, channel_update(ANN, "SMS", "07400 123456", at(base_time, 6), consent="granted"))
    return ann


def test_staff_sees_on_the_profile_page_why_we_cannot_email_the_customer(staff_client, unsubscribed_ann):
    page = staff_client.get(f"/admin/profiles/profile/{unsubscribed_ann}/change/").content.decode()
    assert "Channel readiness" in page
    assert "no_consent" in page
    assert "consent was denied at" in page and "by source crm (unsubscribe link)" in page
    assert "Channel endpoints" in page and "ann@example.com" in page and "+447400123456" in page
    assert "Consent, reachability and ownership history" in page and "unsubscribe link" in page
    endpoint = Endpoint.objects.get(channel="EMAIL")
    assert f"/admin/channels/endpoint/{endpoint.pk}/change/" in page


def test_the_profile_page_says_an_email_identifier_is_no_endpoint(staff_client, api, base_time):
    ann = accepted(api, channel_update(ANN, "SMS", "07400 123456", at(base_time, 0)))
    page = staff_client.get(f"/admin/profiles/profile/{ann}/change/").content.decode()
    assert "no_endpoint" in page and "never makes a profile ready" in page


def test_the_profile_page_explains_a_consent_lost_with_a_recycled_number(staff_client, api, base_time):
    accepted(api, channel_update({"EXTERNAL": "old"}, "SMS", "07400 123456", at(base_time, 0), consent="granted"))
    bob = accepted(api, channel_update({"EXTERNAL": "bob"}, "SMS", "07400 123456", at(base_time, 5)))
    page = staff_client.get(f"/admin/profiles/profile/{bob}/change/").content.decode()
    assert "consent never moves with an address to its new owner" in page
    assert "consent reset to unknown (was granted)" in page


def test_staff_finds_an_endpoint_by_an_address_typed_carelessly(staff_client, unsubscribed_ann, api, base_time):
    accepted(api, channel_update({"EXTERNAL": "bob"}, "EMAIL", "bob@example.com", at(base_time, 0)))
    listing = staff_client.get("/admin/channels/endpoint/", {"q": " ANN@Example.com"}).content.decode()
    assert "ann@example.com" in listing and "1 result" in listing
    listing = staff_client.get("/admin/channels/endpoint/", {"q": "example.com"}).content.decode()
    assert "2 results" in listing  # part of an address
    listing = staff_client.get("/admin/channels/endpoint/", {"q": "07400 123456"}).content.decode()
    assert "+447400123456" in listing and "1 result" in listing
    listing = staff_client.get("/admin/channels/endpoint/", {"q": unsubscribed_ann}).content.decode()
    assert "2 results" in listing and "bob@example.com" not in listing


def test_endpoints_can_be_filtered_by_channel_consent_and_reachability(staff_client, unsubscribed_ann):
    listing = staff_client.get("/admin/channels/endpoint/", {"consent__exact": "denied"}).content.decode()
    assert "ann@example.com" in listing and "+447400123456" not in listing
    listing = staff_client.get("/admin/channels/endpoint/", {"channel__exact": "SMS"}).content.decode()
    assert "+447400123456" in listing and "ann@example.com</" not in listing
    listing = staff_client.get("/admin/channels/endpoint/", {"reachability__exact": "bounced"}).content.decode()
    assert "0 endpoints" in listing


def test_an_endpoint_page_shows_its_history_read_only(staff_client, unsubscribed_ann):
    endpoint = Endpoint.objects.get(channel="EMAIL")
    page = staff_client.get(f"/admin/channels/endpoint/{endpoint.pk}/change/").content.decode()
    assert "Not ready (no_consent)" in page and "unsubscribe link" in page and "granted" in page
    assert staff_client.get("/admin/channels/endpoint/add/").status_code == 403
    assert (
        staff_client.post(f"/admin/channels/endpoint/{endpoint.pk}/change/", {"consent": "granted"}).status_code == 403
    )
    assert staff_client.get(f"/admin/channels/endpoint/{endpoint.pk}/delete/").status_code == 403
    entry = EndpointHistory.objects.filter(kind="consent").first()
    assert staff_client.get(f"/admin/channels/endpointhistory/{entry.pk}/change/").status_code == 200
    assert staff_client.get(f"/admin/channels/endpointhistory/{entry.pk}/delete/").status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.consent == "denied"
