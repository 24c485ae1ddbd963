"""The runtime admin: campaigns with inline variable definitions saved through the
services; participants and their values read-only."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from runtime.models import Campaign, Participant, VariableDefinition

from .factories import bearer, mint

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def _inline(prefix: str, rows: list[dict], initial: int = 0) -> dict:
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        for name, value in row.items():
            data[f"{prefix}-{index}-{name}"] = value
    return data


def test_a_campaign_with_variables_is_added_in_the_admin(staff_client, tenant):
    data = {"tenant": str(tenant.pk), "key": "spring-quiz", "name": "Spring quiz", "active": "on"}
    data.update(
        _inline(
            "variables",
            [
                {"name": "step", "type": "integer", "default": "0"},
                {"name": "level", "type": "enum", "values": "easy, hard", "default": '"easy"'},
            ],
        )
    )
    response = staff_client.post("/admin/runtime/campaign/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign = Campaign.objects.get()
    definitions = list(
        VariableDefinition.objects.filter(campaign=campaign).values_list("name", "type", "values", "default")
    )
    assert definitions == [("step", "integer", [], 0), ("level", "enum", ["easy", "hard"], "easy")]
    assert all(d.tenant_id == tenant.pk for d in VariableDefinition.objects.all())


def test_a_default_of_the_wrong_type_is_refused_on_its_field(staff_client, tenant):
    data = {"tenant": str(tenant.pk), "key": "spring-quiz", "name": "Spring quiz", "active": "on"}
    data.update(_inline("variables", [{"name": "step", "type": "integer", "default": '"zero"'}]))
    response = staff_client.post("/admin/runtime/campaign/add/", data)
    assert response.status_code == 200
    assert "expected integer" in response.content.decode()
    assert Campaign.objects.count() == 0


def test_the_campaign_change_page_and_the_participant_page_show_without_edits(staff_client, runtime_api, quiz, ann):
    session = mint(runtime_api, "spring-quiz", identity={"EXTERNAL": "cust-42"})
    bearer(session["token"]).patch("/api/v1/runtime/variables", {"variables": {"step": 4}}, format="json")
    assert staff_client.get(f"/admin/runtime/campaign/{quiz.pk}/change/").status_code == 200
    assert staff_client.get("/admin/runtime/participant/").status_code == 200
    page = staff_client.get(f"/admin/runtime/participant/{session['participantId']}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "step" in html and "4" in html
    assert 'name="_save"' not in html  # read-only
    assert staff_client.get("/admin/runtime/participant/add/").status_code == 403
    assert Participant.objects.count() == 1


def test_deactivating_in_the_admin_stops_the_campaigns_tokens(staff_client, runtime_api, tenant, quiz, ann):
    session = mint(runtime_api, "spring-quiz", identity={"EXTERNAL": "cust-42"})
    definitions = list(VariableDefinition.objects.filter(campaign=quiz).order_by("position"))
    rows = [
        {
            "id": str(d.pk),
            "campaign": str(quiz.pk),
            "name": d.name,
            "type": d.type,
            "values": ", ".join(d.values),
            "max_length": "" if d.max_length is None else str(d.max_length),
            "minimum": "" if d.minimum is None else str(d.minimum),
            "maximum": "" if d.maximum is None else str(d.maximum),
            "default": "" if d.default is None else json.dumps(d.default),
        }
        for d in definitions
    ]
    data = {"name": "Spring quiz"}  # "active" unchecked
    data.update(_inline("variables", rows, initial=len(rows)))
    response = staff_client.post(f"/admin/runtime/campaign/{quiz.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    quiz.refresh_from_db()
    assert quiz.active is False
    assert VariableDefinition.objects.filter(campaign=quiz).count() == len(rows)
    assert bearer(session["token"]).get("/api/v1/runtime/variables").status_code == 401
