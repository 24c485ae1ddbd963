"""Isolation of runtime tokens: the authorization matrix of 2 tenants × 2 campaigns ×
2 participants over every runtime endpoint, and the separation of runtime tokens from
API keys over every URL of the API."""

from __future__ import annotations

import itertools
import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from conftest import make_client
from runtime.models import Participant, VariableValue
from runtime.tests.factories import bearer, campaign_make, mint, profile_make

pytestmark = pytest.mark.django_db

TOKEN_ENDPOINTS = {"/api/v1/runtime/context", "/api/v1/runtime/variables"}
CAMPAIGNS = ("spring-quiz", "autumn-quiz")
CUSTOMERS = ("cust-42", "cust-43")


@pytest.fixture
def matrix(tenant, other_tenant, key_factory):
    """Two tenants with the same campaign keys and the same customer ids: one token per
    (tenant, campaign, customer), eight in all."""
    cells = []
    for owner in (tenant, other_tenant):
        runtime_api = make_client(key_factory(owner, ["runtime"]).plaintext)
        for key in CAMPAIGNS:
            campaign_make(owner, key, name=key.title())
        for external in CUSTOMERS:
            profile_make(owner, {"EXTERNAL": external})
        for key, external in itertools.product(CAMPAIGNS, CUSTOMERS):
            session = mint(runtime_api, key, identity={"EXTERNAL": external})
            cells.append({"tenant": owner, "campaign": key, "external": external, **session})
    assert len({cell["participantId"] for cell in cells}) == 8
    return cells


def test_each_token_reads_and_writes_only_its_own_participant(matrix):
    for index, cell in enumerate(matrix):
        client = bearer(cell["token"])
        context = client.get("/api/v1/runtime/context")
        assert context.status_code == 200, context.content
        body = context.json()
        assert body["participant"] == {"id": cell["participantId"], "profileId": cell["profileId"]}
        assert body["campaign"]["key"] == cell["campaign"]
        response = client.patch("/api/v1/runtime/variables", {"variables": {"step": index + 1}}, format="json")
        assert response.status_code == 200
        assert response.json()["variables"]["step"] == index + 1

    for index, cell in enumerate(matrix):
        assert bearer(cell["token"]).get("/api/v1/runtime/variables").json()["variables"]["step"] == index + 1
        participant = Participant.objects.get(pk=cell["participantId"])
        assert participant.tenant_id == cell["tenant"].pk
        assert participant.campaign.key == cell["campaign"]
        values = list(VariableValue.objects.filter(participant=participant).values_list("value", flat=True))
        assert values == [index + 1]
    assert VariableValue.objects.count() == 8


def test_nothing_in_the_url_or_the_body_can_widen_a_token(matrix):
    mine, *others = matrix
    client = bearer(mine["token"])
    for other in others:
        query = {
            "tenant": other["tenant"].pk,
            "campaign": other["campaign"],
            "participant": other["participantId"],
            "participantId": other["participantId"],
            "profileId": other["profileId"],
        }
        context = client.get("/api/v1/runtime/context", query).json()
        assert context["participant"]["id"] == mine["participantId"]
        assert context["campaign"]["key"] == mine["campaign"]
        refused = client.patch(
            "/api/v1/runtime/variables",
            {"variables": {"step": 99}, "participant": other["participantId"], "campaign": other["campaign"]},
            format="json",
        )
        assert refused.status_code == 422
        assert bearer(other["token"]).get("/api/v1/runtime/variables").json()["variables"]["step"] == 0
    assert VariableValue.objects.count() == 0


def test_a_token_of_one_campaign_cannot_reach_another_campaign(matrix):
    # Same tenant, same customer, other campaign: two participants, two separate states.
    spring = next(c for c in matrix if c["campaign"] == "spring-quiz" and c["external"] == "cust-42")
    autumn = next(
        c
        for c in matrix
        if c["campaign"] == "autumn-quiz" and c["external"] == "cust-42" and c["tenant"] == spring["tenant"]
    )
    assert spring["profileId"] == autumn["profileId"]
    bearer(spring["token"]).patch("/api/v1/runtime/variables", {"variables": {"step": 7}}, format="json")
    assert bearer(autumn["token"]).get("/api/v1/runtime/variables").json()["variables"]["step"] == 0


def test_an_api_key_is_refused_on_context_and_variables(tenant, key_factory, matrix):
    key = make_client(key_factory(tenant, ["ingest", "admin", "runtime"]).plaintext)
    for path in sorted(TOKEN_ENDPOINTS):
        for method in ("get", "patch"):
            if path.endswith("context") and method == "patch":
                continue
            response = getattr(key, method)(path, {"variables": {"step": 1}}, format="json")
            assert response.status_code == 401, (method, path)
            assert response.json()["code"] == "not_authenticated"
            assert response["WWW-Authenticate"] == 'Bearer realm="runtime"'
    assert VariableValue.objects.count() == 0


def _api_routes() -> list[tuple[str, type]]:
    """Every (path, view class) under /api/v1/, with sample values in its converters."""
    samples = {"uuid": str(uuid.uuid4()), "int": "1", "str": "x", "slug": "x", "path": "x"}
    routes: list[tuple[str, type]] = []

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and route.startswith("api/v1/"):
                view_class = getattr(entry.callback, "view_class", None) or getattr(entry.callback, "cls", None)
                if view_class is not None:
                    path = re.sub(r"<(?:(\w+):)?\w+>", lambda m: samples[m.group(1) or "str"], route)
                    routes.append(("/" + path, view_class))

    walk(get_resolver().url_patterns, "")
    return routes


def test_a_runtime_token_is_refused_on_every_ingest_and_admin_endpoint(matrix):
    token = matrix[0]["token"]
    checked = []
    for path, view_class in _api_routes():
        if path in TOKEN_ENDPOINTS:
            continue
        for method in ("get", "post", "put", "patch", "delete"):
            if not hasattr(view_class, method):
                continue
            response = getattr(bearer(token), method)(path, {}, format="json")
            assert response.status_code == 401, (method, path, response.content)
            assert response.json()["code"] == "not_authenticated"
            checked.append(f"{method.upper()} {path}")
    assert "POST /api/v1/runtime/sessions" in checked
    assert "POST /api/v1/events" in checked and "PATCH /api/v1/campaigns/x" in checked
    assert len(checked) >= 20, checked


def test_the_runtime_endpoints_answer_only_a_runtime_token():
    anonymous = APIClient()
    for path in TOKEN_ENDPOINTS:
        assert anonymous.get(path).status_code == 401
