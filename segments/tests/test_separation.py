"""Campaign variables are runtime state, never CDP data (DESIGN.md §1): a segment cannot
name them, and neither members nor exports ever carry them, even when a variable has the
name of a profile attribute."""

from __future__ import annotations

import pytest

from conftest import make_client
from contracts.plans import contracts_plan_import
from ingest.services import source_create
from runtime.tests.factories import bearer, campaign_make, mint

pytestmark = pytest.mark.django_db

MARKER = "zz-campaign-variable-marker-51c2"
PLAN = {"attributeDefinitions": [{"name": "tier", "type": "string", "filterable": True}]}


@pytest.fixture
def client(tenant, key_factory):
    contracts_plan_import(tenant_id=tenant.pk, plan=PLAN)
    source_create(tenant=tenant, key="crm", name="CRM")
    return make_client(key_factory(tenant, ["ingest", "admin", "runtime"]).plaintext)


@pytest.fixture
def noted(client, tenant):
    body = {
        "source": "crm",
        "externalEventId": "pu-1",
        "occurredAt": "2026-11-01T10:00:00Z",
        "identity": {"EXTERNAL": "cust-42"},
        "attributes": {"tier": "gold"},
    }
    profile_id = client.post("/api/v1/profile-updates", body, format="json").json()["profileId"]
    body = {
        "source": "crm",
        "externalEventId": "cu-1",
        "occurredAt": "2026-11-01T10:00:00Z",
        "identity": {"EXTERNAL": "cust-42"},
        "channel": "EMAIL",
        "address": "ann@example.com",
        "consent": "granted",
    }
    assert client.post("/api/v1/channel-updates", body, format="json").status_code == 201
    campaign_make(tenant, variables=[{"name": "tier", "type": "string"}, {"name": "note", "type": "string"}])
    session = mint(client, "spring-quiz", profileId=profile_id)
    response = bearer(session["token"]).patch(
        "/api/v1/runtime/variables", {"variables": {"tier": MARKER, "note": MARKER}}, format="json"
    )
    assert response.status_code == 200, response.content
    return profile_id


def test_members_and_exports_never_carry_campaign_variables(client, noted):
    definition = {"attribute": "tier", "op": "eq", "value": "gold"}
    assert (
        client.post(
            "/api/v1/segments", {"key": "gold", "name": "Gold", "definition": definition}, format="json"
        ).status_code
        == 201
    )
    members = client.get("/api/v1/segments/gold/members")
    assert [m["profileId"] for m in members.json()["results"]] == [noted]
    for fmt in ("csv", "ndjson"):
        response = client.get("/api/v1/segments/gold/export", {"channel": "EMAIL", "format": fmt, "attributes": "tier"})
        text = b"".join(response.streaming_content).decode()
        assert "gold" in text and MARKER not in text
    assert MARKER not in members.content.decode()


def test_a_segment_cannot_select_on_a_campaign_variable(client, noted):
    definition = {"attribute": "tier", "op": "eq", "value": MARKER}
    client.post("/api/v1/segments", {"key": "marked", "name": "Marked", "definition": definition}, format="json")
    assert client.get("/api/v1/segments/marked/members").json()["results"] == []
    refused = client.post(
        "/api/v1/segments",
        {"key": "noted", "name": "Noted", "definition": {"attribute": "note", "op": "exists"}},
        format="json",
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "unknown_attribute"
    client.post(
        "/api/v1/segments",
        {"key": "all", "name": "All", "definition": {"attribute": "tier", "op": "exists"}},
        format="json",
    )
    export = client.get("/api/v1/segments/all/export", {"channel": "EMAIL", "attributes": "note"})
    assert export.status_code == 422
    assert export.json()["errors"][0] == {
        "pointer": "/attributes/0",
        "code": "unknown_attribute",
        "detail": "'note' is not an attribute or derived attribute.",
    }
