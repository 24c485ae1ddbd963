"""Write keys: ingest keys bound to one source, created from the shell or the admin."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from conftest import make_client
from ingest.services import source_create
from tenants.models import ApiKey

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def shop(tenant):
    return source_create(tenant=tenant, key="shop", name="Shop")


def test_create_api_key_with_a_source_prints_a_write_key_bound_to_it(shop):
    printed = json.loads(
        run(
            "create_api_key",
            "--tenant",
            "acme",
            "--scopes",
            "ingest",
            "--source",
            "shop",
            "--name",
            "web-sdk",
            "--json",
        )
    )
    assert set(printed) == {"key", "prefix", "scopes", "source"}
    assert (printed["scopes"], printed["source"]) == (["ingest"], "shop")
    api_key = ApiKey.objects.get()
    assert (api_key.source_key, api_key.name, api_key.is_write_key) == ("shop", "web-sdk", True)


def test_a_write_key_for_an_unknown_source_fails_clearly_and_creates_nothing(shop):
    with pytest.raises(CommandError, match="'nope' is not a registered source of tenant 'acme'"):
        run("create_api_key", "--tenant", "acme", "--scopes", "ingest", "--source", "nope")
    assert ApiKey.objects.count() == 0


def test_a_source_of_another_tenant_is_unknown(shop, other_tenant):
    with pytest.raises(CommandError, match="not a registered source"):
        run("create_api_key", "--tenant", "globex", "--scopes", "ingest", "--source", "shop")
    assert ApiKey.objects.count() == 0


def test_a_write_key_carries_the_ingest_scope_only(shop):
    with pytest.raises(CommandError, match="ingest scope only"):
        run("create_api_key", "--tenant", "acme", "--scopes", "ingest,admin", "--source", "shop")
    assert ApiKey.objects.count() == 0


def test_a_write_key_is_refused_by_the_api_v1_endpoints(shop):
    printed = json.loads(run("create_api_key", "--tenant", "acme", "--scopes", "ingest", "--source", "shop", "--json"))
    client = make_client(printed["key"])
    response = client.post("/api/v1/events", {}, format="json")
    assert response.status_code == 403
    assert "Segment-compatible ingress" in response.json()["detail"]
    assert client.get("/api/v1/sources").status_code == 403


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def _add(staff_client, tenant, **fields):
    data = {"tenant": tenant.pk, "name": "web-sdk", "scopes": ["ingest"], "expires_at_0": "", "expires_at_1": ""}
    data.update(fields)
    return staff_client.post("/admin/tenants/apikey/add/", data)


def test_the_admin_creates_a_write_key_and_shows_its_source(staff_client, tenant, shop):
    response = _add(staff_client, tenant, source_key="shop")
    assert response.status_code == 200
    assert re.search(r'id="api-key-plaintext"[^>]*>(rfk_[^<]+)<', response.content.decode())
    api_key = ApiKey.objects.get()
    assert api_key.source_key == "shop"
    change_page = staff_client.get(f"/admin/tenants/apikey/{api_key.pk}/change/").content.decode()
    assert "shop" in change_page


def test_the_admin_refuses_an_unknown_source_or_extra_scopes(staff_client, tenant, shop):
    unknown = _add(staff_client, tenant, source_key="nope")
    assert unknown.status_code == 200
    assert "is not a registered source of this tenant" in unknown.content.decode()
    wide = _add(staff_client, tenant, source_key="shop", scopes=["ingest", "admin"])
    assert "ingest scope only" in wide.content.decode()
    assert ApiKey.objects.count() == 0
