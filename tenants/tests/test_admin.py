"""The tenants admin as a staff user uses it, through the Django test client."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from conftest import make_client
from tenants.models import ApiKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def test_creating_a_key_shows_the_plaintext_once_and_it_works(staff_client, tenant):
    response = staff_client.post(
        "/admin/tenants/apikey/add/",
        {"tenant": tenant.pk, "name": "shop", "scopes": ["ingest", "admin"], "expires_at_0": "", "expires_at_1": ""},
    )
    assert response.status_code == 200
    html = response.content.decode()
    plaintext = re.search(r'id="api-key-plaintext"[^>]*>(rfk_[^<]+)<', html).group(1)
    api_key = ApiKey.objects.get()
    assert api_key.scopes == ["ingest", "admin"]
    assert "no-store" in response["Cache-Control"]
    assert make_client(plaintext).get("/api/v1/sources").status_code == 200

    change_page = staff_client.get(f"/admin/tenants/apikey/{api_key.pk}/change/").content.decode()
    listing = staff_client.get("/admin/tenants/apikey/").content.decode()
    assert plaintext not in change_page
    assert plaintext not in listing
    assert api_key.prefix in listing


def test_revoke_action_revokes_and_the_key_stops_working(staff_client, tenant, key_factory):
    created = key_factory(tenant, ["admin"])
    response = staff_client.post(
        "/admin/tenants/apikey/",
        {"action": "revoke_selected", "_selected_action": [created.api_key.pk]},
        follow=True,
    )
    assert "Revoked 1 API key" in response.content.decode()
    created.api_key.refresh_from_db()
    assert created.api_key.revoked_at is not None
    assert make_client(created.plaintext).get("/api/v1/sources").status_code == 401


def test_a_tenant_cannot_be_deleted_in_the_admin(staff_client, tenant):
    assert staff_client.get(f"/admin/tenants/tenant/{tenant.pk}/delete/").status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [tenant.pk], "post": "yes"}
    assert staff_client.post("/admin/tenants/tenant/", bulk).status_code in (200, 302)
    assert "delete_selected" not in staff_client.get("/admin/tenants/tenant/").content.decode()
    assert type(tenant).objects.filter(pk=tenant.pk).exists()


def test_keys_cannot_be_deleted_in_the_admin(staff_client, tenant, key_factory):
    created = key_factory(tenant, ["admin"])
    assert staff_client.get(f"/admin/tenants/apikey/{created.api_key.pk}/delete/").status_code == 403


def test_tenant_admin_pages_load(staff_client, tenant):
    assert staff_client.get("/admin/tenants/tenant/").status_code == 200
    assert staff_client.get(f"/admin/tenants/tenant/{tenant.pk}/change/").status_code == 200
    assert staff_client.get("/admin/tenants/apikey/add/").status_code == 200
