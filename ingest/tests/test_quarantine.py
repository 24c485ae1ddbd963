"""The quarantine: every item refused with a 422-class problem is kept whole, bounded."""

from __future__ import annotations

import copy
import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ingest.models import QuarantinedItem, Violation

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events"
BATCH = "/api/v1/events/batch"


def variant(event, n, **properties):
    item = copy.deepcopy(event)
    item["externalEventId"] = f"evt-{n}"
    item["properties"]["orderId"] = str(n)
    item["properties"].update(properties)
    return item


def quarantine_inserts(queries):
    return [q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "ingest_quarantineditem"')]


def test_a_refused_event_is_kept_whole_with_its_problems_kind_source_key_and_type(ingest_api, shop, event):
    event["properties"]["total"] = "lots"
    event["properties"]["coupon"] = {"code": "X1", "nested": [1, 2.5, None]}
    response = ingest_api.post(EVENTS, event, format="json")
    assert response.status_code == 422
    (row,) = QuarantinedItem.objects.all()
    assert row.payload == event
    assert row.errors == response.json()["errors"]
    assert row.code == "contract_violation"
    assert (row.tenant_id, row.kind, row.source_key, row.external_event_id, row.event_type) == (
        shop.tenant_id,
        "event",
        "shop-backend",
        "order-10001-completed",
        "order_completed",
    )
    assert abs(row.received_at - timezone.now()) < dt.timedelta(minutes=1)
    assert row.identity == {"EXTERNAL": "cust-42", "EMAIL": "ann@example.com"}


def test_refused_batch_items_are_kept_in_one_insert_and_accepted_ones_are_not(ingest_api, shop, event):
    bad_type = variant(event, 2)
    bad_type["eventType"] = "signup_started"
    events = [variant(event, 1), bad_type, variant(event, 3, total="lots"), "not an object"]
    with CaptureQueriesContext(connection) as queries:
        response = ingest_api.post(BATCH, {"events": events}, format="json")
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["accepted", "rejected", "rejected", "rejected"]
    assert len(quarantine_inserts(queries.captured_queries)) == 1
    kept = {row.external_event_id: row for row in QuarantinedItem.objects.all()}
    assert set(kept) == {"evt-2", "evt-3", ""}
    assert kept["evt-2"].payload == bad_type and kept["evt-2"].code == "unknown_event_type"
    assert kept["evt-2"].event_type == "signup_started"
    assert kept["evt-3"].payload == events[2]
    assert kept[""].payload == "not an object" and kept[""].errors[0]["pointer"] == ""


def test_a_null_batch_item_is_refused_and_kept_as_json_null_not_a_server_error(ingest_api, shop, event):
    # Django stores None in a JSONField as SQL NULL; the payload column is NOT NULL (it was a 500).
    for path, key, good in ((BATCH, "events", variant(event, 1)), ("/api/v1/profile-updates/batch", "updates", None)):
        items = [None, good] if good else [None]
        response = ingest_api.post(path, {key: items}, format="json")
        assert response.status_code == 200, response.content
        results = response.json()["results"]
        assert results[0]["status"] == "rejected" and results[0]["errors"][0]["pointer"] == ""
        if good:
            assert results[1]["status"] == "accepted"
    # `payload=None` matches the JSON null value, `payload__isnull` an SQL NULL.
    assert QuarantinedItem.objects.filter(payload=None, payload__isnull=False).count() == 2
    rows = list(QuarantinedItem.objects.all())
    assert {row.kind for row in rows} == {"event", "profile_update"}
    assert all(row.payload is None for row in rows)


def test_a_request_without_refusals_does_not_touch_the_quarantine(ingest_api, shop, event):
    with CaptureQueriesContext(connection) as queries:
        response = ingest_api.post(BATCH, {"events": [variant(event, 1), variant(event, 2)]}, format="json")
    assert response.json()["summary"]["accepted"] == 2
    assert not [q for q in queries.captured_queries if "ingest_quarantineditem" in q["sql"]]


def test_refused_profile_and_channel_updates_are_kept_with_their_kind(ingest_api, shop):
    update = {
        "source": "shop-backend",
        "externalEventId": "upd-1",
        "occurredAt": "2026-11-20T10:00:00Z",
        "identity": {"EXTERNAL": "cust-42"},
        "attributes": {"shoeSize": 42},
    }
    channel = {
        "source": "shop-backend",
        "externalEventId": "chan-1",
        "occurredAt": "2026-11-20T10:00:00Z",
        "identity": {"EXTERNAL": "cust-42"},
        "channel": "FAX",
        "address": "+44 20 7946 0958",
    }
    assert ingest_api.post("/api/v1/profile-updates", update, format="json").status_code == 422
    assert ingest_api.post("/api/v1/channel-updates", channel, format="json").status_code == 422
    rows = {row.kind: row for row in QuarantinedItem.objects.all()}
    assert rows["profile_update"].payload == update and rows["profile_update"].event_type == ""
    assert rows["channel_update"].payload == channel and rows["channel_update"].code == "invalid_channel_update"


def test_nothing_is_kept_for_a_validate_dry_run(ingest_api, shop, event):
    event["properties"]["total"] = "lots"
    assert ingest_api.post("/api/v1/events/validate", event, format="json").status_code == 422
    assert not QuarantinedItem.objects.exists()


def test_conflicts_and_items_over_the_size_limit_are_not_quarantined(ingest_api, shop, event, settings):
    assert ingest_api.post(EVENTS, event, format="json").status_code == 201
    reused = copy.deepcopy(event)
    reused["properties"]["total"] = 1
    assert ingest_api.post(EVENTS, reused, format="json").status_code == 409
    settings.CDP_MAX_EVENT_BYTES = 300
    huge = variant(event, 9, orderId="x" * 400)
    body = ingest_api.post(BATCH, {"events": [huge]}, format="json").json()
    assert body["results"][0]["code"] == "payload_too_large"
    assert not QuarantinedItem.objects.exists()


def test_the_same_payload_refused_again_refreshes_its_row_instead_of_adding_one(ingest_api, shop, event):
    event["properties"]["total"] = "lots"
    for _ in range(3):
        assert ingest_api.post(EVENTS, event, format="json").status_code == 422
    body = ingest_api.post(BATCH, {"events": [event, event]}, format="json").json()
    assert body["summary"]["rejected"] == 2
    assert QuarantinedItem.objects.count() == 1


def test_the_per_tenant_cap_keeps_the_first_items_and_counts_what_it_drops(
    ingest_api, shop, event, settings, other_tenant
):
    settings.CDP_QUARANTINE_MAX_ITEMS = 2
    events = [variant(event, n, total="lots") for n in range(3)]
    body = ingest_api.post(BATCH, {"events": events}, format="json").json()
    assert body["summary"]["rejected"] == 3
    assert sorted(QuarantinedItem.objects.values_list("external_event_id", flat=True)) == ["evt-0", "evt-1"]
    dropped = Violation.objects.get(code="quarantine_full")
    assert (dropped.count, dropped.source_key, dropped.event_type) == (1, "shop-backend", "order_completed")
    assert '"evt-2"' in dropped.sample
    assert ingest_api.post(EVENTS, variant(event, 7, total="lots"), format="json").status_code == 422
    assert QuarantinedItem.objects.count() == 2
    assert Violation.objects.get(code="quarantine_full").count == 2
    assert ingest_api.post(EVENTS, events[0], format="json").status_code == 422  # a retry of a kept item
    assert Violation.objects.get(code="quarantine_full").count == 2
    assert QuarantinedItem.objects.count() == 2


def test_prune_drops_items_older_than_the_retention_and_keeps_the_rest(ingest_api, shop, event, settings):
    settings.CDP_QUARANTINE_RETENTION_DAYS = 30
    for n in range(3):
        assert ingest_api.post(EVENTS, variant(event, n, total="lots"), format="json").status_code == 422
    old = timezone.now() - dt.timedelta(days=31)
    QuarantinedItem.objects.filter(external_event_id__in=["evt-0", "evt-1"]).update(received_at=old)
    out = io.StringIO()
    call_command("quarantine_prune", stdout=out)
    assert list(QuarantinedItem.objects.values_list("external_event_id", flat=True)) == ["evt-2"]
    assert "2" in out.getvalue()


def test_erasure_removes_the_quarantined_items_of_the_erased_identifiers_only(ingest_api, shop, event, tenant):
    from ingest.quarantine import quarantine_erase

    ann = variant(event, 1, total="lots")
    bob = variant(event, 2, total="lots")
    bob["identity"] = {"EMAIL": "bob@example.com"}
    for item in (ann, bob):
        assert ingest_api.post(EVENTS, item, format="json").status_code == 422
    assert quarantine_erase(tenant_id=tenant.pk, identifiers={"EMAIL": ["ann@example.com"]}) == 1
    assert list(QuarantinedItem.objects.values_list("external_event_id", flat=True)) == ["evt-2"]
    assert quarantine_erase(tenant_id=tenant.pk + 1, identifiers={"EMAIL": ["bob@example.com"]}) == 0
    assert QuarantinedItem.objects.count() == 1


def test_a_refused_item_of_an_erased_and_suppressed_customer_is_not_kept(ingest_api, shop, event, tenant):
    from identity.suppression import suppressions_add

    suppressions_add(tenant=tenant, identifiers=[("EMAIL", "ann@example.com")], reason="ticket 4711", erasure_id=None)
    ann = variant(event, 1, total="lots")
    bob = variant(event, 2, total="lots")
    bob["identity"] = {"EMAIL": "bob@example.com"}
    body = ingest_api.post(BATCH, {"events": [ann, bob]}, format="json").json()
    assert body["summary"]["rejected"] == 2
    assert list(QuarantinedItem.objects.values_list("external_event_id", flat=True)) == ["evt-2"]
