"""The ops console: find a profile as a human types an identifier, read why it merged."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from identity.models import IdentityConflict
from profiles.extensions import AdminSection, register_profile_admin_section, unregister_profile_admin_section
from profiles.models import MergeLedgerEntry
from profiles.services import profile_attributes_apply

from .factories import T0, resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


@pytest.fixture
def merged_ann(tenant):
    """Ann's newsletter profile (email) merged into her CRM profile by a shop event."""
    crm = resolve(tenant, {"EXTERNAL": "cust-42", "PHONE": "+44 20 7946 0958"}, source="crm").profile_id
    newsletter = resolve(tenant, {"EMAIL": "ann@example.com"}, source="newsletter").profile_id
    with transaction.atomic():
        profile_attributes_apply(
            tenant_id=tenant.pk, profile_id=crm, attributes={"tier": "silver"}, occurred_at=T0, source="crm"
        )
        profile_attributes_apply(
            tenant_id=tenant.pk,
            profile_id=newsletter,
            attributes={"tier": "gold"},
            occurred_at=T0.replace(hour=13),
            source="newsletter",
        )
    resolve(
        tenant,
        {"EXTERNAL": "cust-42", "EMAIL": "Ann@Example.com"},
        trigger="event shop-backend/order-1",
        source="shop-backend",
    )
    return crm, newsletter


def test_staff_finds_a_profile_by_an_email_typed_carelessly(staff_client, merged_ann):
    crm, newsletter = merged_ann
    listing = staff_client.get("/admin/profiles/profile/", {"q": "ANN@example.com "}).content.decode()
    assert str(crm) in listing
    assert "1 result" in listing


def test_staff_finds_a_profile_by_a_national_phone_number(staff_client, merged_ann):
    crm, _ = merged_ann
    listing = staff_client.get("/admin/profiles/profile/", {"q": "020 7946 0958"}).content.decode()
    assert str(crm) in listing
    assert "1 result" in listing


def test_search_for_an_identifier_nobody_has_finds_nothing(staff_client, merged_ann):
    listing = staff_client.get("/admin/profiles/profile/", {"q": "nobody@example.com"}).content.decode()
    assert "0 results" in listing


def test_profile_page_explains_why_the_profile_was_merged(staff_client, merged_ann):
    crm, newsletter = merged_ann
    page = staff_client.get(f"/admin/profiles/profile/{crm}/change/").content.decode()
    assert "ann@example.com" in page and "cust-42" in page and "+442079460958" in page  # identifiers
    assert "tier" in page and "&quot;gold&quot;" in page  # attributes
    assert "Merge history" in page
    assert "event shop-backend/order-1" in page
    assert "shop-backend" in page
    assert "EMAIL:ann@example.com" in page  # what moved
    assert "external_owner" in page
    assert "&quot;silver&quot;" in page  # the value that lost
    assert str(newsletter) in page


def test_a_tombstones_page_links_to_its_survivor(staff_client, merged_ann):
    crm, newsletter = merged_ann
    page = staff_client.get(f"/admin/profiles/profile/{newsletter}/change/").content.decode()
    assert 'id="profile-tombstone"' in page
    assert f"/admin/profiles/profile/{crm}/change/" in page


def test_higher_apps_add_read_only_sections_to_the_profile_page(staff_client, merged_ann):
    crm, _ = merged_ann

    def endpoints(*, tenant_id, profile_id):
        return AdminSection(title="Channel endpoints", columns=["Channel", "Address"], rows=[["SMS", "+4479"]])

    register_profile_admin_section("channels.endpoints", endpoints)
    try:
        page = staff_client.get(f"/admin/profiles/profile/{crm}/change/").content.decode()
    finally:
        unregister_profile_admin_section("channels.endpoints")
    assert "Channel endpoints" in page and "+4479" in page


def test_the_merge_ledger_is_read_only_even_for_superusers(staff_client, merged_ann):
    entry = MergeLedgerEntry.objects.get()
    listing = staff_client.get("/admin/profiles/mergeledgerentry/")
    assert listing.status_code == 200
    assert "delete_selected" not in listing.content.decode()
    view = staff_client.get(f"/admin/profiles/mergeledgerentry/{entry.pk}/change/")
    assert view.status_code == 200
    assert "event shop-backend/order-1" in view.content.decode()
    assert staff_client.get("/admin/profiles/mergeledgerentry/add/").status_code == 403
    assert (
        staff_client.post(f"/admin/profiles/mergeledgerentry/{entry.pk}/change/", {"trigger": "x"}).status_code == 403
    )
    assert staff_client.get(f"/admin/profiles/mergeledgerentry/{entry.pk}/delete/").status_code == 403
    assert staff_client.post(f"/admin/profiles/mergeledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert entry.trigger == "event shop-backend/order-1"


def test_ledger_search_by_profile_id(staff_client, merged_ann):
    crm, _ = merged_ann
    listing = staff_client.get("/admin/profiles/mergeledgerentry/", {"q": str(crm)}).content.decode()
    assert "1 merge ledger entry" in listing or "1 result" in listing


def test_identity_conflicts_are_listed_for_review_and_can_be_marked_reviewed(staff_client, tenant):
    resolve(tenant, {"EXTERNAL": "cust-1", "EMAIL": "family@example.com"})
    resolve(tenant, {"EXTERNAL": "cust-2", "EMAIL": "family@example.com"}, trigger="event shop/o-7")
    conflict = IdentityConflict.objects.get()
    listing = staff_client.get("/admin/identity/identityconflict/").content.decode()
    assert "EMAIL:family@example.com" in listing and "event shop/o-7" in listing
    detail = staff_client.get(f"/admin/identity/identityconflict/{conflict.pk}/change/").content.decode()
    assert "different EXTERNAL ids" in detail
    response = staff_client.post(
        "/admin/identity/identityconflict/",
        {"action": "mark_reviewed", "_selected_action": [conflict.pk]},
        follow=True,
    )
    assert "Marked 1 conflict(s) as reviewed" in response.content.decode()
    conflict.refresh_from_db()
    assert conflict.reviewed_by == "ops"
    assert staff_client.get(f"/admin/identity/identityconflict/{conflict.pk}/delete/").status_code == 403


def test_identifier_admin_searches_normalized_values(staff_client, merged_ann):
    listing = staff_client.get("/admin/identity/identifier/", {"q": " ANN@EXAMPLE.COM"}).content.decode()
    assert "ann@example.com" in listing
    assert staff_client.get("/admin/identity/identifier/add/").status_code == 403


def test_profiles_cannot_be_added_or_deleted_in_the_admin(staff_client, merged_ann):
    crm, _ = merged_ann
    assert staff_client.get("/admin/profiles/profile/add/").status_code == 403
    assert staff_client.get(f"/admin/profiles/profile/{crm}/delete/").status_code == 403
