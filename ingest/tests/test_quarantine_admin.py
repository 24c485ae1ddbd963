"""The quarantine in the admin, as ops use it through the Django test client."""

from __future__ import annotations

import copy
import html
import json
import re

import pytest
from django.contrib.auth import get_user_model

from contracts.models import EventType
from ingest.models import Event, QuarantinedItem, Violation
from ingest.services import events_ingest
from jobs.models import Job
from jobs.worker import jobs_run_pending

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/ingest/quarantineditem/"


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def variant(event, n, **changes):
    item = copy.deepcopy(event)
    item["externalEventId"] = f"evt-{n}"
    item["properties"]["orderId"] = str(n)
    item.update(changes)
    return item


@pytest.fixture
def refused(tenant, shop, event):
    events = [variant(event, n) for n in range(3)]
    for item in events[:2]:
        item["properties"]["coupon"] = "X"  # undeclared: accepted once the contract declares it
    events[2]["properties"]["total"] = "lots"
    signups = [
        variant(event, 10 + n, eventType="signup_started", properties={"plan": "pro", "seats": n}) for n in (1, 2)
    ]
    results = events_ingest(tenant=tenant, events=events + signups)
    assert {r.status for r in results} == {"rejected"}
    return events


def test_the_list_shows_the_items_and_the_page_shows_the_payload_read_only(staff_client, refused):
    response = staff_client.get(CHANGELIST)
    assert response.status_code == 200
    assert response.content.decode().count('class="field-code"') == 5
    row = QuarantinedItem.objects.get(external_event_id="evt-2")
    page = staff_client.get(f"{CHANGELIST}{row.pk}/change/").content.decode()
    assert "lots" in page and "/properties/total" in page
    assert 'name="payload"' not in page and 'value="Save"' not in page
    searched = staff_client.get(f"{CHANGELIST}?q=evt-2").content.decode()
    assert searched.count('class="field-code"') == 1
    filtered = staff_client.get(f"{CHANGELIST}?event_type__exact=signup_started").content.decode()
    assert filtered.count('class="field-code"') == 2


def test_the_violations_log_links_to_the_quarantined_items_of_each_row(staff_client, refused):
    violation = Violation.objects.get(event_type="order_completed", code="contract_violation")
    page = staff_client.get("/admin/ingest/violation/").content.decode()
    links = [html.unescape(link) for link in re.findall(r'href="(/admin/ingest/quarantineditem/\?[^"]+)"', page)]
    (link,) = [link for link in links if "order_completed" in link]
    assert f"tenant__id__exact={violation.tenant_id}" in link
    listed = staff_client.get(link).content.decode()
    assert listed.count('class="field-code"') == 3


def test_the_event_type_page_says_how_many_quarantined_events_the_version_would_accept_and_replays_them(
    staff_client, refused, tenant
):
    event_type = EventType.objects.get(tenant=tenant, name="order_completed")
    page = staff_client.get(f"/admin/contracts/eventtype/{event_type.pk}/change/").content.decode()
    assert "Version 1 would accept 0 of 3 quarantined order_completed events" in page

    from contracts.services import event_type_update, property_specs_of
    from contracts.types import FieldSpec

    event_type_update(
        event_type=event_type,
        description=event_type.description,
        status=event_type.status,
        allow_additional_properties=False,
        properties=(*property_specs_of(event_type), FieldSpec(name="coupon", type="string")),
    )
    page = staff_client.get(f"/admin/contracts/eventtype/{event_type.pk}/change/").content.decode()
    assert "Version 2 would accept 2 of 3 quarantined order_completed events" in page
    impact_url = f"/admin/ingest/quarantineditem/impact/{event_type.pk}/"
    assert impact_url in page

    response = staff_client.post(impact_url, {"replay": "1"})
    assert response.status_code == 302
    job = Job.objects.get()
    assert (job.tenant_id, job.kind, job.params["filter"]) == (
        tenant.pk,
        "ingest.rejections_replay",
        {"eventType": "order_completed", "kind": "event"},
    )
    assert not Event.objects.exists()  # nothing runs inside the request
    assert jobs_run_pending() == 1
    job.refresh_from_db()
    assert job.result["summary"]["accepted"] == 2 and Event.objects.count() == 2
    page = staff_client.get(f"/admin/contracts/eventtype/{event_type.pk}/change/").content.decode()
    assert "Version 2 would accept 0 of 1 quarantined order_completed events" in page


def test_a_discovered_type_becomes_an_event_type_only_when_ops_save_the_draft(staff_client, refused, tenant):
    page = staff_client.get("/admin/ingest/quarantineditem/discovered/").content.decode()
    assert "signup_started" in page
    draft_url = html.unescape(re.search(r'href="(/admin/ingest/quarantineditem/discovered/draft/[^"]+)"', page)[1])
    draft = staff_client.get(draft_url)
    assert draft.status_code == 200
    assert not EventType.objects.filter(name="signup_started").exists()  # a draft accepts nothing
    definition = json.loads(
        html.unescape(re.search(r"<textarea[^>]*>(.*?)</textarea>", draft.content.decode(), re.S)[1])
    )
    assert definition["name"] == "signup_started"
    assert {p["name"]: (p["type"], p["required"]) for p in definition["properties"]} == {
        "plan": ("string", True),
        "seats": ("integer", True),
    }
    definition["description"] = "Someone started to sign up."
    response = staff_client.post(draft_url, {"definition": json.dumps(definition)})
    assert response.status_code == 302, response.content.decode()[:2000]
    created = EventType.objects.get(tenant=tenant, name="signup_started")
    assert response["Location"] == f"/admin/contracts/eventtype/{created.pk}/change/"
    page = staff_client.get(response["Location"]).content.decode()
    assert "Version 1 would accept 2 of 2 quarantined signup_started events" in page


def test_a_bad_draft_is_refused_with_its_problems_and_registers_nothing(staff_client, refused, tenant):
    url = f"/admin/ingest/quarantineditem/discovered/draft/?tenant={tenant.pk}&event_type=signup_started"
    bad = {"name": "signup_started", "properties": [{"name": "plan", "type": "text"}]}
    page = staff_client.post(url, {"definition": json.dumps(bad)}).content.decode()
    assert "/properties/0/type" in page
    renamed = {"name": "signup", "properties": []}
    assert "Keep the name" in staff_client.post(url, {"definition": json.dumps(renamed)}).content.decode()
    assert not EventType.objects.filter(name__startswith="signup").exists()


def test_the_replay_form_queues_a_job_for_the_chosen_filter(staff_client, refused, tenant):
    response = staff_client.post(
        "/admin/ingest/quarantineditem/replay/", {"tenant": tenant.pk, "code": "unknown_event_type", "dry_run": "on"}
    )
    assert response.status_code == 302
    job = Job.objects.get()
    assert job.params == {"filter": {"code": "unknown_event_type"}, "dryRun": True}


def test_the_impact_says_so_when_it_checked_only_the_newest_items(staff_client, refused, tenant, monkeypatch):
    from ingest import quarantine_selectors

    monkeypatch.setattr(quarantine_selectors, "IMPACT_LIMIT", 1)
    event_type = EventType.objects.get(tenant=tenant, name="order_completed")
    page = staff_client.get(f"/admin/contracts/eventtype/{event_type.pk}/change/").content.decode()
    assert "Version 1 would accept 0 of 3 quarantined order_completed events (of the newest 1 checked)" in page
