"""POST /api/v1/events: the status-code table of API.md, one test per row."""

from __future__ import annotations

import copy
import json

import pytest
from django.db import connection

from conftest import make_client
from ingest.models import Event, IdempotencyKey, Violation
from ingest.tests.helpers import row_counts

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"


def post(client, body):
    return client.post(URL, body, format="json")


def assert_problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["type"] == f"/problems/{code}"
    return body


def test_first_delivery_is_201_and_applied(ingest_api, shop, event):
    response = post(ingest_api, event)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "accepted"
    stored = Event.objects.get(pk=body["eventId"])
    assert str(stored.profile_id) == body["profileId"]
    assert stored.contract_version == 1
    assert stored.identity == {"EXTERNAL": "cust-42", "EMAIL": "ann@example.com"}
    assert stored.properties == event["properties"]
    assert body["resolution"]["createdProfile"] is True
    assert set(body["resolution"]) == {
        "matchedBy",
        "createdProfile",
        "mergedProfiles",
        "attached",
        "conflicts",
        "ignored",
    }


def test_replay_with_the_same_payload_is_200_duplicate_and_applies_nothing(ingest_api, shop, event):
    first = post(ingest_api, event).json()
    before = row_counts()
    replay = copy.deepcopy(event)
    replay["identity"]["EMAIL"] = "ann@example.com"  # the same after normalization
    response = post(ingest_api, replay)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "duplicate"
    assert body["eventId"] == first["eventId"]
    assert body["profileId"] == first["profileId"]
    assert row_counts() == before


def test_replay_with_a_different_payload_is_409_and_changes_nothing(ingest_api, shop, event):
    first = post(ingest_api, event).json()
    before = row_counts(with_violations=False)
    changed = copy.deepcopy(event)
    changed["properties"]["total"] = 1000
    body = assert_problem(post(ingest_api, changed), 409, "idempotency_conflict")
    assert "different" in body["detail"]
    assert row_counts(with_violations=False) == before
    assert Event.objects.get(pk=first["eventId"]).properties["total"] == 99.5


@pytest.mark.parametrize(
    ("mutate", "code", "pointer"),
    [
        (lambda e: e.update(eventType="order_refunded"), "unknown_event_type", "/eventType"),
        (lambda e: e.update(source="pos"), "unknown_source", "/source"),
        (lambda e: e["properties"].update(total="99.5"), "contract_violation", "/properties/total"),
        (lambda e: e.update(identity={"EMAIL": "not-an-email"}), "invalid_identity", "/identity/EMAIL"),
        (lambda e: e.update(identity={"TWITTER": "@ann"}), "invalid_identity", "/identity/TWITTER"),
        (lambda e: e.update(identity={"EMAIL": "null"}), "invalid_identity", "/identity"),
        (lambda e: e.update(occurredAt="2026-11-20T10:15:00"), "invalid_timestamp", "/occurredAt"),
        (lambda e: e.update(occurredAt="1999-01-01T00:00:00Z"), "invalid_timestamp", "/occurredAt"),
        (lambda e: e.update(occurredAt="2999-01-01T00:00:00Z"), "invalid_timestamp", "/occurredAt"),
        (lambda e: e.pop("properties"), "contract_violation", "/properties"),
        (lambda e: e.pop("externalEventId"), "validation_error", "/externalEventId"),
    ],
)
def test_invalid_event_is_422_applies_nothing_and_leaves_the_key_free(ingest_api, shop, event, mutate, code, pointer):
    bad = copy.deepcopy(event)
    mutate(bad)
    before = row_counts(with_violations=False)
    body = assert_problem(post(ingest_api, bad), 422, code)
    assert pointer in [error["pointer"] for error in body["errors"]]
    assert row_counts(with_violations=False) == before
    # The corrected retry with the same id is accepted.
    assert post(ingest_api, event).status_code == 201


def test_every_contract_problem_is_reported_at_once(ingest_api, shop, event):
    event["properties"] = {"total": True, "currency": "JPY", "coupon": "X"}
    body = assert_problem(post(ingest_api, event), 422, "contract_violation")
    found = {(e["pointer"], e["code"]) for e in body["errors"]}
    assert {
        ("/properties/orderId", "required"),
        ("/properties/total", "type"),
        ("/properties/currency", "enum"),
        ("/properties/coupon", "undeclared"),
    } <= found


def test_deprecated_event_type_is_accepted_with_a_warning(ingest_api, shop, event):
    event.update(eventType="cart_abandoned", properties={"anything": 1})
    response = post(ingest_api, event)
    assert response.status_code == 201
    assert any("deprecated" in warning for warning in response.json()["warnings"])


def test_body_over_the_limit_is_413_and_changes_nothing(ingest_api, shop, event, settings):
    settings.CDP_MAX_BODY_BYTES = 4096
    event["properties"]["orderId"] = "x" * 5000
    before = row_counts()
    assert_problem(post(ingest_api, event), 413, "payload_too_large")
    assert row_counts() == before


def test_event_over_the_per_event_size_is_413(ingest_api, shop, event, settings):
    settings.CDP_MAX_EVENT_BYTES = 512
    event["properties"]["orderId"] = "x" * 600
    before = row_counts(with_violations=False)
    assert_problem(post(ingest_api, event), 413, "payload_too_large")
    assert row_counts(with_violations=False) == before


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"event"', b"null"])
def test_not_json_or_not_an_object_is_400(ingest_api, shop, raw):
    before = row_counts()
    response = ingest_api.generic("POST", URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] in {"malformed_json", "not_an_object"}
    assert row_counts() == before


def test_admin_only_key_is_403_and_no_key_is_401(admin_api, shop, event):
    assert_problem(post(admin_api, event), 403, "permission_denied")
    assert_problem(post(make_client(None), event), 401, "not_authenticated")


def test_another_tenants_source_is_unknown(ingest_api, other_tenant, shop, event):
    from ingest.services import source_create

    source_create(tenant=other_tenant, key="globex-only")
    event["source"] = "globex-only"
    assert_problem(post(ingest_api, event), 422, "unknown_source")


def test_timestamps_leave_as_utc_and_events_are_listed_newest_first(ingest_api, admin_api, shop, event):
    first = post(ingest_api, event).json()
    later = copy.deepcopy(event)
    later.update(externalEventId="order-2", occurredAt="2026-11-21T00:00:00-05:00")
    later["properties"]["orderId"] = "2"
    post(ingest_api, later)
    listed = admin_api.get(f"/api/v1/profiles/{first['profileId']}/events").json()
    assert [e["externalEventId"] for e in listed["results"]] == ["order-2", "order-10001-completed"]
    assert listed["results"][1]["occurredAt"] == "2026-11-20T09:15:00Z"
    assert listed["results"][0]["occurredAt"] == "2026-11-21T05:00:00Z"
    assert listed["next"] is None
    assert set(listed["results"][0]) == {
        "eventId",
        "source",
        "externalEventId",
        "eventType",
        "occurredAt",
        "receivedAt",
        "properties",
    }


def test_failure_after_the_event_insert_leaves_no_rows_and_the_retry_succeeds(ingest_api, shop, event):
    """A real database error raised by a trigger right after the event row is written."""
    if connection.vendor == "postgresql":
        create = [
            "CREATE FUNCTION cdp_test_boom() RETURNS trigger AS $$ BEGIN "
            "IF NEW.external_event_id = 'order-10001-completed' THEN RAISE EXCEPTION 'boom'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER cdp_test_boom AFTER INSERT ON ingest_event FOR EACH ROW EXECUTE FUNCTION cdp_test_boom()",
        ]
        drop = ["DROP TRIGGER cdp_test_boom ON ingest_event", "DROP FUNCTION cdp_test_boom()"]
    else:
        create = [
            "CREATE TRIGGER cdp_test_boom AFTER INSERT ON ingest_event "
            "WHEN NEW.external_event_id = 'order-10001-completed' BEGIN SELECT RAISE(ABORT, 'boom'); END"
        ]
        drop = ["DROP TRIGGER cdp_test_boom"]
    with connection.cursor() as cursor:
        for sql in create:
            cursor.execute(sql)
    before = row_counts()
    ingest_api.raise_request_exception = False
    response = post(ingest_api, event)
    assert response.status_code == 500
    assert "boom" not in response.content.decode()
    assert row_counts() == before
    assert not IdempotencyKey.objects.exists()
    with connection.cursor() as cursor:
        for sql in drop:
            cursor.execute(sql)
    assert post(ingest_api, event).status_code == 201


def test_rejections_are_counted_in_the_violations_log(ingest_api, shop, event):
    bad = copy.deepcopy(event)
    bad["properties"]["currency"] = "JPY"
    post(ingest_api, bad)
    bad["externalEventId"] = "other"
    post(ingest_api, bad)
    post(ingest_api, {**event, "eventType": "nope"})
    violations = {(v.source_key, v.event_type, v.code): v for v in Violation.objects.all()}
    assert violations[("shop-backend", "order_completed", "contract_violation")].count == 2
    assert violations[("shop-backend", "nope", "unknown_event_type")].count == 1
    sample = violations[("shop-backend", "order_completed", "contract_violation")].sample
    assert "/properties/currency" in sample
    assert json.loads(sample.splitlines()[0])["errors"][0]["code"] == "enum"
