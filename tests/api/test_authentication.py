"""The authentication matrix of API keys, through real requests."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conftest import make_client
from ingest.services import source_create
from tenants.models import ApiKey
from tenants.services import api_key_revoke

pytestmark = pytest.mark.django_db

SOURCES = "/api/v1/sources"


def _assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"/problems/{code}"
    assert body["title"]
    return body


def test_request_without_a_key_is_401_with_www_authenticate():
    response = make_client(None).get(SOURCES)
    _assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Api-Key realm="api"'


@pytest.mark.parametrize(
    "header",
    ["Api-Key", "Api-Key ", "Api-Key not-a-key", "Api-Key rfk_short_x", "Api-Key rfk_abcdefgh_x y"],
)
def test_malformed_key_is_401(header):
    client = make_client(None)
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(SOURCES)
    _assert_problem(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"] == 'Api-Key realm="api"'


def test_unknown_key_with_a_valid_shape_is_401(tenant, key_factory):
    real = key_factory(tenant, ["admin"]).plaintext
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    body = _assert_problem(make_client(forged).get(SOURCES), 401, "authentication_failed")
    assert "not known" in body["detail"]


def test_revoked_key_fails_on_the_very_next_request(tenant, key_factory):
    created = key_factory(tenant, ["admin"])
    client = make_client(created.plaintext)
    assert client.get(SOURCES).status_code == 200
    api_key_revoke(api_key=created.api_key)
    body = _assert_problem(client.get(SOURCES), 401, "authentication_failed")
    assert "revoked" in body["detail"]


def test_expired_key_is_401(tenant, key_factory):
    created = key_factory(tenant, ["admin"], expires_at=timezone.now() + dt.timedelta(minutes=5))
    client = make_client(created.plaintext)
    assert client.get(SOURCES).status_code == 200
    ApiKey.objects.filter(pk=created.api_key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    body = _assert_problem(client.get(SOURCES), 401, "authentication_failed")
    assert "expired" in body["detail"]


def test_key_without_the_needed_scope_is_403(tenant, key_factory):
    client = make_client(key_factory(tenant, ["ingest", "runtime"]).plaintext)
    body = _assert_problem(client.get(SOURCES), 403, "permission_denied")
    assert "'admin' scope" in body["detail"]


def test_key_with_the_scope_is_let_in(admin_api):
    response = admin_api.get(SOURCES)
    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None}


def test_another_tenants_object_answers_404_exactly_like_a_missing_one(tenant, other_tenant, admin_api):
    source_create(tenant=other_tenant, key="globex-shop", name="Globex shop")
    theirs = admin_api.get(f"{SOURCES}/globex-shop")
    missing = admin_api.get(f"{SOURCES}/no-such-source")
    _assert_problem(theirs, 404, "not_found")
    _assert_problem(missing, 404, "not_found")
    assert theirs.json()["title"] == missing.json()["title"]
    assert admin_api.get(SOURCES).json()["results"] == []
    assert admin_api.patch(f"{SOURCES}/globex-shop", {"name": "hijacked"}, format="json").status_code == 404


def test_a_tenant_sees_only_its_own_list(tenant, other_tenant, admin_api, other_admin_api):
    source_create(tenant=tenant, key="acme-shop")
    source_create(tenant=other_tenant, key="globex-shop")
    assert [s["key"] for s in admin_api.get(SOURCES).json()["results"]] == ["acme-shop"]
    assert [s["key"] for s in other_admin_api.get(SOURCES).json()["results"]] == ["globex-shop"]


def test_bearer_token_is_not_an_api_key():
    client = make_client(None)
    client.credentials(HTTP_AUTHORIZATION="Bearer eyJhbGciOiJIUzI1NiJ9.e30.x")
    _assert_problem(client.get(SOURCES), 401, "not_authenticated")


def test_last_used_is_recorded(tenant, key_factory):
    created = key_factory(tenant, ["admin"])
    assert created.api_key.last_used_at is None
    make_client(created.plaintext).get(SOURCES)
    created.api_key.refresh_from_db()
    assert created.api_key.last_used_at is not None


def test_no_cors_preflight_and_no_allow_origin(admin_api):
    preflight = admin_api.options(
        SOURCES, HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert preflight.status_code >= 400
    assert "Access-Control-Allow-Origin" not in preflight
    response = admin_api.get(SOURCES, HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response
