"""DESIGN.md §10: hostile bodies are refused with a clear 4xx and change nothing."""

from __future__ import annotations

import json

import pytest

from ingest.tests.helpers import row_counts

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/api/v1/events", "/api/v1/events/batch", "/api/v1/profile-updates", "/api/v1/events/validate"]


def wrap(url, event_json: str) -> str:
    return '{"events": [' + event_json + "]}" if url.endswith("/batch") else event_json


def event_with_properties(properties_json: str) -> str:
    return (
        '{"source": "shop-backend", "externalEventId": "e1", "eventType": "order_completed", '
        '"occurredAt": "2026-11-20T10:15:00+01:00", "identity": {"EXTERNAL": "cust-1"}, '
        '"properties": ' + properties_json + "}"
    )


HOSTILE = {
    "nul_deep_in_properties": (event_with_properties('{"a": {"b": ["ok", "bad\\u0000"]}}'), "invalid_characters"),
    "nul_in_a_key": (event_with_properties('{"bad\\u0000key": 1}'), "invalid_characters"),
    "lone_surrogate_deep": (event_with_properties('{"a": [{"b": "\\udc00"}]}'), "invalid_characters"),
    "lone_surrogate_in_identity": (
        '{"source": "shop-backend", "externalEventId": "e1", "eventType": "order_completed", '
        '"occurredAt": "2026-11-20T10:15:00+01:00", "identity": {"EXTERNAL": "\\ud83d"}, "properties": {}}',
        "invalid_characters",
    ),
    "nesting_too_deep": (event_with_properties('{"a": ' + "[" * 40 + "]" * 40 + "}"), "too_deep"),
    "integer_with_thousands_of_digits": (event_with_properties('{"total": ' + "7" * 4000 + "}"), "number_too_large"),
    "nan": (event_with_properties('{"total": NaN}'), "invalid_number"),
    "duplicate_keys": (event_with_properties('{"total": 1, "total": 2}'), "duplicate_key"),
}


@pytest.mark.parametrize("url", ENDPOINTS)
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_json_is_400_and_changes_nothing(ingest_api, shop, url, case):
    """A single item is refused with 400; in a batch only the item is rejected (issue 11)."""
    raw, code = HOSTILE[case]
    before = row_counts()
    response = ingest_api.generic("POST", url, wrap(url, raw).encode("utf-8"), content_type="application/json")
    if url.endswith("/batch"):
        assert response.status_code == 200, response.content
        (item,) = response.json()["results"]
        assert item["status"] == "rejected"
        assert item["errors"][0]["code"] == code and item["errors"][0]["pointer"]
        after = row_counts()
        assert after.pop("Violation") == before.pop("Violation") + 1  # counted like any refused item
        assert after == before
        return
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == code
    assert body["errors"][0]["pointer"]
    assert row_counts() == before


@pytest.mark.parametrize("url", ENDPOINTS)
def test_non_object_json_is_400(ingest_api, shop, url):
    before = row_counts()
    response = ingest_api.generic("POST", url, b"[]", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "not_an_object"
    assert row_counts() == before


@pytest.mark.parametrize("url", ENDPOINTS)
def test_body_over_the_limit_is_413(ingest_api, shop, url, settings):
    settings.CDP_MAX_BODY_BYTES = 1024
    raw = wrap(url, event_with_properties(json.dumps({"pad": "x" * 2000})))
    before = row_counts()
    response = ingest_api.generic("POST", url, raw, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert row_counts() == before


def test_naive_timestamp_in_a_batch_rejects_only_that_item(ingest_api, shop, event):
    good = dict(event, externalEventId="good")
    naive = dict(event, externalEventId="naive", occurredAt="2026-11-20 10:15:00")
    body = ingest_api.post("/api/v1/events/batch", {"events": [naive, good]}, format="json").json()
    assert [r["status"] for r in body["results"]] == ["rejected", "accepted"]
    assert body["results"][0]["code"] == "invalid_timestamp"


def test_a_string_over_the_string_limit_is_refused(ingest_api, shop, event, settings):
    settings.CDP_MAX_STRING_LENGTH = 100
    event["properties"]["orderId"] = "x" * 101
    before = row_counts()
    response = ingest_api.post("/api/v1/events", event, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "pointer": "/properties/orderId",
        "code": "too_long",
        "detail": "the string is longer than 100 characters",
    }
    assert row_counts() == before
