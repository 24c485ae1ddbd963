"""Campaign variables are runtime state, never CDP data (DESIGN.md §1): they appear in
no profile, segment or export response."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from conftest import make_client
from runtime.tests.factories import bearer, campaign_make, mint, profile_make
from runtime.tests.test_isolation import TOKEN_ENDPOINTS, _api_routes

pytestmark = pytest.mark.django_db

MARKER = "zz-campaign-variable-marker-7f3a"


@pytest.fixture
def noted(tenant, key_factory):
    """cust-42 in spring-quiz, with campaign variables holding a marker no profile data has."""
    campaign_make(
        tenant,
        variables=[{"name": "answers", "type": "array", "default": []}, {"name": "note", "type": "string"}],
    )
    profile_id = profile_make(tenant, {"EXTERNAL": "cust-42", "EMAIL": "ann@example.com"}, {"tier": "gold"})
    session = mint(make_client(key_factory(tenant, ["runtime"]).plaintext), "spring-quiz", profileId=str(profile_id))
    response = bearer(session["token"]).patch(
        "/api/v1/runtime/variables", {"variables": {"answers": [MARKER], "note": MARKER}}, format="json"
    )
    assert response.status_code == 200
    return profile_id


def test_campaign_variables_appear_in_no_profile_response(noted, admin_api):
    responses = {
        "detail": admin_api.get(f"/api/v1/profiles/{noted}"),
        "lookup": admin_api.get("/api/v1/profiles", {"identifierType": "EXTERNAL", "identifierValue": "cust-42"}),
        "events": admin_api.get(f"/api/v1/profiles/{noted}/events"),
        "merges": admin_api.get(f"/api/v1/profiles/{noted}/merges"),
    }
    for name, response in responses.items():
        assert response.status_code == 200, name
        assert MARKER not in response.content.decode(), name
    detail = responses["detail"].json()
    assert detail["attributes"] == {"tier": "gold"}
    assert "variables" not in detail and "answers" not in detail["attributes"]


def test_campaign_variables_appear_in_no_other_server_api_response(noted, tenant, key_factory):
    # Every parameterless GET of the server API (segments and exports included once they
    # exist), read with a key holding every scope. Only the campaign admin API itself
    # shows variable *definitions*, never values.
    client = make_client(key_factory(tenant, ["ingest", "admin", "runtime"]).plaintext)
    read = 0
    for path, view_class in _api_routes():
        if path in TOKEN_ENDPOINTS or "<" in path or not hasattr(view_class, "get") or path.endswith("/x"):
            continue
        response = client.get(path)
        if response.status_code == 200:
            read += 1
            assert MARKER not in response.content.decode(), path
    assert read >= 3


def test_campaign_variables_do_not_show_on_the_admin_profile_page(noted, client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    response = client.get(f"/admin/profiles/profile/{noted}/change/")
    assert response.status_code == 200
    assert MARKER not in response.content.decode()
