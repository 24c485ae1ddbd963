"""POST /api/v1/rejections/replay: quarantined items go through ingest again, as a job."""

from __future__ import annotations

import copy

import pytest

from ingest.models import Event, IdempotencyKey, QuarantinedItem
from ingest.quarantine import RejectionFilter, rejections_replay
from ingest.services import events_ingest
from jobs.worker import jobs_run_pending

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events"
BATCH = "/api/v1/events/batch"
REPLAY = "/api/v1/rejections/replay"
PROPERTIES = [
    {"name": "orderId", "type": "string", "required": True},
    {"name": "total", "type": "number", "required": True, "filterable": True, "derivable": True},
    {"name": "currency", "type": "enum", "values": ["EUR", "USD"], "required": True, "filterable": True},
]
COUPON = {"name": "coupon", "type": "string", "required": False}


def variant(event, n, **properties):
    item = copy.deepcopy(event)
    item["externalEventId"] = f"evt-{n}"
    item["properties"]["orderId"] = str(n)
    item["properties"].update(properties)
    return item


@pytest.fixture
def quarantined(ingest_api, shop, event):
    """Two events refused only for an undeclared `coupon`, one that stays bad, a profile update."""
    events = [variant(event, 1, coupon="X"), variant(event, 2, coupon="Y"), variant(event, 3, coupon="Z", total="?")]
    assert ingest_api.post(BATCH, {"events": events}, format="json").json()["summary"]["rejected"] == 3
    update = {
        "source": "shop-backend",
        "externalEventId": "upd-1",
        "occurredAt": event["occurredAt"],
        "identity": {"EXTERNAL": "cust-42"},
        "attributes": {"shoeSize": 42},
    }
    assert ingest_api.post("/api/v1/profile-updates", update, format="json").status_code == 422
    assert QuarantinedItem.objects.count() == 4
    return events


def fix_contract(admin_api):
    response = admin_api.patch(
        "/api/v1/event-types/order_completed", {"properties": [*PROPERTIES, COUPON]}, format="json"
    )
    assert response.status_code == 200, response.content


def replay(admin_api, body=None):
    response = admin_api.post(REPLAY, body or {}, format="json")
    assert response.status_code == 202, response.content
    job = response.json()
    assert response["Location"] == f"/api/v1/jobs/{job['id']}"
    assert job["status"] == "queued" and job["kind"] == "ingest.rejections_replay"
    assert jobs_run_pending() == 1
    done = admin_api.get(f"/api/v1/jobs/{job['id']}").json()
    assert done["status"] == "succeeded", done
    return done


def summary(accepted=0, duplicate=0, rejected=0, conflict=0, suppressed=0):
    return {
        "accepted": accepted,
        "duplicate": duplicate,
        "rejected": rejected,
        "conflict": conflict,
        "suppressed": suppressed,
    }


def test_after_a_contract_fix_a_replay_ingests_each_item_exactly_once(admin_api, ingest_api, quarantined):
    fix_contract(admin_api)
    job = replay(admin_api, {"filter": {"eventType": "order_completed"}, "dryRun": False})
    assert job["result"]["summary"] == summary(accepted=2, rejected=1)
    assert job["progress"] == {"done": 3, "total": 3}
    assert sorted(Event.objects.values_list("external_event_id", flat=True)) == ["evt-1", "evt-2"]
    assert Event.objects.get(external_event_id="evt-1").properties["coupon"] == "X"

    still = {row.external_event_id: row for row in QuarantinedItem.objects.all()}
    assert set(still) == {"evt-3", "upd-1"}
    assert [e["pointer"] for e in still["evt-3"].errors] == ["/properties/total"]
    assert still["evt-3"].replay_count == 1 and still["upd-1"].replay_count == 0

    resend = ingest_api.post(EVENTS, quarantined[0], format="json")
    assert resend.status_code == 200 and resend.json()["status"] == "duplicate"
    again = replay(admin_api)
    assert again["result"]["summary"] == summary(rejected=2)
    assert Event.objects.count() == 2


def test_a_replay_cut_short_and_run_again_applies_nothing_twice(admin_api, tenant, quarantined):
    fix_contract(admin_api)

    class Killed(Exception):
        pass

    def dies_after_the_first_chunk(*, done, total=None, checkpoint=None):
        if checkpoint is not None:
            raise Killed  # the chunk's quarantine changes roll back with the checkpoint; its ingest stays

    with pytest.raises(Killed):
        rejections_replay(
            tenant=tenant, filter=RejectionFilter(), dry_run=False, progress=dies_after_the_first_chunk, chunk_size=1
        )
    assert Event.objects.count() == 1 and QuarantinedItem.objects.count() == 4

    checkpoints = []
    first = rejections_replay(
        tenant=tenant,
        filter=RejectionFilter(),
        dry_run=False,
        chunk_size=2,
        progress=lambda *, done, total=None, checkpoint=None: checkpoints.append(checkpoint),
    )
    assert first["summary"] == summary(accepted=1, duplicate=1, rejected=2)
    assert Event.objects.count() == 2
    resumed = rejections_replay(tenant=tenant, filter=RejectionFilter(), dry_run=False, resume=checkpoints[1])
    assert resumed["summary"] == first["summary"]
    assert resumed["total"] == 4


def test_an_item_applied_directly_meanwhile_answers_duplicate_and_leaves(admin_api, quarantined, tenant):
    fix_contract(admin_api)
    (first,) = events_ingest(tenant=tenant, events=[quarantined[0]])
    assert first.status == "accepted"
    job = replay(admin_api, {"filter": {"eventType": "order_completed"}})
    assert job["result"]["summary"] == summary(accepted=1, duplicate=1, rejected=1)
    assert Event.objects.count() == 2


def test_a_dry_run_counts_the_outcomes_and_changes_nothing(admin_api, quarantined):
    fix_contract(admin_api)
    before = list(QuarantinedItem.objects.order_by("id").values())
    job = replay(admin_api, {"dryRun": True})
    assert job["result"]["summary"] == summary(accepted=2, rejected=2)
    assert job["result"]["dryRun"] is True
    assert list(QuarantinedItem.objects.order_by("id").values()) == before
    assert not Event.objects.exists() and not IdempotencyKey.objects.exists()


def test_a_key_taken_meanwhile_by_another_payload_is_a_conflict_and_stays(admin_api, ingest_api, quarantined, event):
    fix_contract(admin_api)
    taken = variant(event, 1)
    assert ingest_api.post(EVENTS, taken, format="json").status_code == 201
    job = replay(admin_api, {"filter": {"eventType": "order_completed"}})
    assert job["result"]["summary"] == summary(accepted=1, rejected=1, conflict=1)
    row = QuarantinedItem.objects.get(external_event_id="evt-1")
    assert row.code == "idempotency_conflict" and row.errors[0]["pointer"] == "/externalEventId"
    listed = admin_api.get("/api/v1/rejections?code=idempotency_conflict").json()["results"]
    assert [r["externalEventId"] for r in listed] == ["evt-1"]


def test_another_tenant_can_neither_replay_nor_see_the_items(admin_api, other_admin_api, quarantined):
    fix_contract(admin_api)
    job = replay(other_admin_api, {"filter": {"eventType": "order_completed"}})
    assert job["result"]["summary"] == summary()
    assert QuarantinedItem.objects.count() == 4 and not Event.objects.exists()
    assert admin_api.get(f"/api/v1/jobs/{job['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "pointer", "code"),
    [
        ({"filter": {"code": "nope"}}, "/filter/code", "unknown_code"),
        ({"filter": {"kind": "profile"}}, "/filter/kind", "unknown_kind"),
        ({"filter": {"colour": "red"}}, "/filter/colour", "unknown_parameter"),
        ({"filter": {"source": 7}}, "/filter/source", "type"),
        ({"filter": ["eventType"]}, "/filter", "type"),
        ({"dryRun": "yes"}, "/dryRun", "type"),
        ({"tenant": "globex"}, "/tenant", "undeclared"),
    ],
)
def test_a_bad_replay_request_answers_422_with_a_pointer_and_queues_nothing(admin_api, body, pointer, code):
    response = admin_api.post(REPLAY, body, format="json")
    assert response.status_code == 422
    assert [(e["pointer"], e["code"]) for e in response.json()["errors"]] == [(pointer, code)]
    assert jobs_run_pending() == 0


def test_replay_needs_the_admin_scope(ingest_api):
    assert ingest_api.post(REPLAY, {}, format="json").status_code == 403


def test_a_refused_message_of_the_compatible_ingress_is_quarantined_discovered_and_replayed(tenant, admin_api):
    import base64
    import json as jsonlib

    from django.test import Client
    from django.utils import timezone

    from contracts.plans import contracts_plan_import
    from ingest.tests.segment_helpers import segment_tenant_setup

    write_key = segment_tenant_setup(tenant)
    message = {
        "messageId": "m-signup-1",
        "userId": "cust-42",
        "event": "Signup Started",
        "properties": {"plan": "pro"},
        "timestamp": timezone.now().replace(microsecond=0).isoformat(),
    }
    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    response = Client().post(
        "/v1/track", data=jsonlib.dumps(message), content_type="application/json", HTTP_AUTHORIZATION=auth
    )
    assert response.json()["results"][0]["status"] == "rejected"
    (row,) = QuarantinedItem.objects.all()
    assert (row.kind, row.source_key, row.external_event_id, row.event_type) == (
        "event",
        "web",
        "m-signup-1",
        "signup_started",
    )
    discovered = admin_api.get("/api/v1/rejections/discovered").json()["results"]
    assert [(d["eventType"], d["sources"]) for d in discovered] == [("signup_started", ["web"])]

    contracts_plan_import(
        tenant_id=tenant.pk,
        plan={"eventTypes": [{"name": "signup_started", "properties": [{"name": "plan", "type": "string"}]}]},
    )
    assert replay(admin_api)["result"]["summary"] == summary(accepted=1)
    event = Event.objects.get()
    assert (event.event_type, event.external_event_id, event.properties) == (
        "signup_started",
        "m-signup-1",
        {"plan": "pro"},
    )
    again = Client().post(
        "/v1/track", data=jsonlib.dumps(message), content_type="application/json", HTTP_AUTHORIZATION=auth
    )
    assert again.json()["results"][0]["status"] == "duplicate"


def test_the_prune_job_drops_the_tenants_expired_items(tenant, other_tenant, admin_api, quarantined):
    import datetime as dt

    from django.utils import timezone

    from jobs.services import job_enqueue

    QuarantinedItem.objects.filter(external_event_id="evt-1").update(received_at=timezone.now() - dt.timedelta(days=40))
    job = job_enqueue(tenant=other_tenant, kind="ingest.quarantine_prune", params={})
    assert jobs_run_pending() == 1
    assert QuarantinedItem.objects.count() == 4  # another tenant's prune touches nothing here
    job = job_enqueue(tenant=tenant, kind="ingest.quarantine_prune", params={})
    assert jobs_run_pending() == 1
    job.refresh_from_db()
    assert job.result == {"removed": 1}
    assert QuarantinedItem.objects.count() == 3
