"""Done when: a backend mints a token for cust-42 in the demo's spring-quiz, and a
runtime holding it reads the context and keeps its variables, and nothing else."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from cdp_project.demo.management.commands.demo_load import exported_keys
from conftest import make_client
from runtime.tests.factories import bearer

pytestmark = pytest.mark.django_db


def test_the_demo_runtime_flow_end_to_end(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("demo_load", stdout=out)
    call_command("demo_load", stdout=StringIO())  # idempotent: still one campaign
    keys = exported_keys(out.getvalue())
    ingest, admin, runtime_key = make_client(keys["ingest"]), make_client(keys["admin"]), make_client(keys["runtime"])

    campaigns = admin.get("/api/v1/campaigns").json()["results"]
    assert [(c["key"], c["active"], [v["name"] for v in c["variables"]]) for c in campaigns] == [
        ("spring-quiz", True, ["step", "answers"])
    ]
    update = {
        "source": "crm",
        "externalEventId": "crm-1",
        "occurredAt": "2026-01-02T10:00:00+00:00",
        "identity": {"EXTERNAL": "cust-42", "EMAIL": "ann@example.com"},
        "channel": "EMAIL",
        "address": "ann@example.com",
        "consent": "granted",
    }
    assert ingest.post("/api/v1/channel-updates", update, format="json").status_code == 201

    session = runtime_key.post(
        "/api/v1/runtime/sessions", {"campaign": "spring-quiz", "identity": {"EXTERNAL": "cust-42"}}, format="json"
    )
    assert session.status_code == 201, session.content
    runtime = bearer(session.json()["token"])
    context = runtime.get("/api/v1/runtime/context").json()
    assert context["campaign"] == {"key": "spring-quiz", "name": "Spring quiz"}
    assert context["channels"]["EMAIL"] == {"ready": True}
    assert context["variables"] == {"step": 0, "answers": []}
    kept = runtime.patch("/api/v1/runtime/variables", {"variables": {"step": 1, "answers": ["a"]}}, format="json")
    assert kept.json() == {"variables": {"step": 1, "answers": ["a"]}}
    assert runtime.get("/api/v1/runtime/variables").json() == {"variables": {"step": 1, "answers": ["a"]}}
    # ... and nothing else.
    assert runtime.get("/api/v1/campaigns").status_code == 401
    assert runtime.get(f"/api/v1/profiles/{context['participant']['profileId']}").status_code == 401
    assert runtime.post("/api/v1/runtime/sessions", {"campaign": "spring-quiz"}, format="json").status_code == 401
