"""GET /api/v1/runtime/context: what a runtime may know about its participant.
Channel readiness comes from the channels app, fed here through the real ingest API."""

from __future__ import annotations

import pytest

from contracts.plans import contracts_plan_import
from ingest.services import source_create

from .factories import bearer, mint

pytestmark = pytest.mark.django_db

CONTEXT = "/api/v1/runtime/context"


@pytest.fixture
def shop(tenant):
    contracts_plan_import(
        tenant_id=tenant.pk, plan={"eventTypes": [], "attributeDefinitions": [{"name": "tier", "type": "string"}]}
    )
    return source_create(tenant=tenant, key="crm", name="CRM")


def _channel_update(ingest_api, n: int, **body):
    payload = {
        "source": "crm",
        "externalEventId": f"channel-{n}",
        "occurredAt": "2026-01-02T10:00:00+00:00",
        "identity": {"EXTERNAL": "cust-42"},
        **body,
    }
    response = ingest_api.post("/api/v1/channel-updates", payload, format="json")
    assert response.status_code == 201, response.content


def test_the_context_of_a_new_participant(runtime_api, quiz, ann):
    session = mint(runtime_api, "spring-quiz", identity={"EXTERNAL": "cust-42"})
    response = bearer(session["token"]).get(CONTEXT)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "participant": {"id": session["participantId"], "profileId": str(ann)},
        "campaign": {"key": "spring-quiz", "name": "Spring quiz"},
        "profile": {"attributes": {"firstName": "Ann", "tier": "gold"}, "derived": {}, "derivedStatus": {}},
        "channels": {
            "EMAIL": {"ready": False, "reason": "no_endpoint"},
            "SMS": {"ready": False, "reason": "no_endpoint"},
            "PUSH": {"ready": False, "reason": "no_endpoint"},
            "WHATSAPP": {"ready": False, "reason": "no_endpoint"},
        },
        "variables": {"step": 0, "answers": [], "level": "easy", "score": None, "finishedAt": None},
    }


def test_the_context_shows_channel_readiness_and_the_variables_kept(runtime_api, ingest_api, shop, quiz, ann):
    _channel_update(ingest_api, 1, channel="EMAIL", address="ann@example.com", consent="granted")
    _channel_update(ingest_api, 2, channel="SMS", address="+447911123456", consent="denied")
    session = mint(runtime_api, "spring-quiz", identity={"EXTERNAL": "cust-42"})
    client = bearer(session["token"])
    client.patch("/api/v1/runtime/variables", {"variables": {"step": 2, "answers": ["b"]}}, format="json")

    context = client.get(CONTEXT).json()
    assert context["channels"]["EMAIL"] == {"ready": True}
    assert context["channels"]["SMS"] == {"ready": False, "reason": "no_consent"}
    assert context["channels"]["PUSH"] == {"ready": False, "reason": "no_endpoint"}
    assert context["variables"]["step"] == 2 and context["variables"]["answers"] == ["b"]


def test_an_email_identifier_alone_never_makes_the_participant_email_ready(runtime_api, quiz, ann):
    session = mint(runtime_api, "spring-quiz", identity={"EMAIL": "ann@example.com"})
    assert bearer(session["token"]).get(CONTEXT).json()["channels"]["EMAIL"] == {
        "ready": False,
        "reason": "no_endpoint",
    }
