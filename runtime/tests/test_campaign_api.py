"""GET|POST /api/v1/campaigns, GET|PATCH /api/v1/campaigns/{key} (scope admin)."""

from __future__ import annotations

import pytest

from runtime.models import Campaign, VariableDefinition

pytestmark = pytest.mark.django_db

CAMPAIGNS = "/api/v1/campaigns"
QUIZ = {
    "key": "spring-quiz",
    "name": "Spring quiz",
    "active": True,
    "variables": [
        {"name": "step", "type": "integer", "default": 0},
        {"name": "answers", "type": "array", "default": []},
        {"name": "level", "type": "enum", "values": ["easy", "hard"], "default": "easy"},
    ],
}


def _without_times(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("createdAt", "updatedAt")}


def test_a_campaign_is_created_and_read_back_as_api_md_shows_it(admin_api):
    response = admin_api.post(CAMPAIGNS, QUIZ, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert _without_times(body) == QUIZ
    assert body["createdAt"].endswith("Z")
    assert _without_times(admin_api.get(f"{CAMPAIGNS}/spring-quiz").json()) == QUIZ
    listed = admin_api.get(CAMPAIGNS).json()
    assert [_without_times(c) for c in listed["results"]] == [QUIZ] and listed["next"] is None


def test_active_defaults_to_true_and_variables_to_none(admin_api):
    response = admin_api.post(CAMPAIGNS, {"key": "plain", "name": "Plain"}, format="json")
    assert _without_times(response.json()) == {"key": "plain", "name": "Plain", "active": True, "variables": []}


def test_a_taken_key_is_409(admin_api):
    admin_api.post(CAMPAIGNS, QUIZ, format="json")
    response = admin_api.post(CAMPAIGNS, QUIZ, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "already_exists"
    assert Campaign.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        ({"name": "x"}, ["/key"]),
        ({"key": "Bad Key", "name": "x"}, ["/key"]),
        ({"key": "k"}, ["/name"]),
        ({"key": "k", "name": "x", "active": "yes"}, ["/active"]),
        ({"key": "k", "name": "x", "owner": "me"}, ["/owner"]),
        ({"key": "k", "name": "x", "variables": {}}, ["/variables"]),
        ({"key": "k", "name": "x", "variables": [{"name": "step", "type": "float"}]}, ["/variables/0/type"]),
        (
            {"key": "k", "name": "x", "variables": [{"name": "step", "type": "integer", "default": "0"}]},
            ["/variables/0/default"],
        ),
        ({"key": "k", "name": "x", "variables": [{"name": "c", "type": "enum"}]}, ["/variables/0/values"]),
        (
            {"key": "k", "name": "x", "variables": [{"name": "c", "type": "enum", "values": ["a"], "default": "b"}]},
            ["/variables/0/default"],
        ),
        (
            {"key": "k", "name": "x", "variables": [{"name": "s", "type": "string", "filterable": True}]},
            ["/variables/0/filterable"],
        ),
        (
            {"key": "k", "name": "x", "variables": [{"name": "s", "type": "string"}, {"name": "s", "type": "integer"}]},
            ["/variables/1/name"],
        ),
        ({"key": "k", "name": "x", "variables": [{"name": "1bad", "type": "string"}]}, ["/variables/0/name"]),
    ],
)
def test_a_bad_definition_is_422_with_pointers_and_creates_nothing(admin_api, body, pointers):
    response = admin_api.post(CAMPAIGNS, body, format="json")
    assert response.status_code == 422, response.content
    assert [e["pointer"] for e in response.json()["errors"]] == pointers
    assert Campaign.objects.count() == 0


def test_patch_changes_what_is_given_and_replaces_the_variable_list(admin_api):
    admin_api.post(CAMPAIGNS, QUIZ, format="json")
    step_id = VariableDefinition.objects.get(name="step").pk
    response = admin_api.patch(f"{CAMPAIGNS}/spring-quiz", {"name": "Spring quiz 2"}, format="json")
    assert _without_times(response.json()) == {**QUIZ, "name": "Spring quiz 2"}
    variables = [
        {"name": "step", "type": "integer", "default": 1},
        {"name": "done", "type": "boolean", "default": False},
    ]
    response = admin_api.patch(f"{CAMPAIGNS}/spring-quiz", {"variables": variables, "active": False}, format="json")
    assert response.status_code == 200
    assert response.json()["variables"] == variables and response.json()["active"] is False
    assert VariableDefinition.objects.get(name="step").pk == step_id  # kept by name: its values survive


def test_the_key_cannot_change(admin_api):
    admin_api.post(CAMPAIGNS, QUIZ, format="json")
    response = admin_api.patch(f"{CAMPAIGNS}/spring-quiz", {"key": "other"}, format="json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/key"


def test_another_tenants_campaign_is_404_exactly_like_a_missing_one(admin_api, other_admin_api):
    other_admin_api.post(CAMPAIGNS, QUIZ, format="json")
    theirs = admin_api.get(f"{CAMPAIGNS}/spring-quiz")
    missing = admin_api.get(f"{CAMPAIGNS}/no-such")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["title"] == missing.json()["title"]
    assert admin_api.patch(f"{CAMPAIGNS}/spring-quiz", {"active": False}, format="json").status_code == 404
    assert admin_api.get(CAMPAIGNS).json()["results"] == []
    assert Campaign.objects.get().active is True
    # The same key is free in every tenant.
    assert admin_api.post(CAMPAIGNS, QUIZ, format="json").status_code == 201


def test_campaigns_need_the_admin_scope(tenant, key_factory):
    from conftest import make_client

    client = make_client(key_factory(tenant, ["runtime", "ingest"]).plaintext)
    assert client.get(CAMPAIGNS).status_code == 403
    assert client.post(CAMPAIGNS, QUIZ, format="json").status_code == 403
