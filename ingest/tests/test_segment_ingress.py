"""The Segment-compatible ingress, /v1/*, through the whole HTTP stack: authentication by
write key, the mapping onto our own pipeline, bounds, and answers the SDKs understand."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from django.utils import timezone

from conftest import make_client
from ingest.models import Event, Violation
from ingest.tests.helpers import row_counts
from ingest.tests.segment_helpers import basic, segment_tenant_setup
from tenants.services import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture
def write_key(tenant):
    return segment_tenant_setup(tenant)


@pytest.fixture
def admin(tenant, key_factory):
    return make_client(key_factory(tenant, ["admin"]).plaintext)


def recent(minutes: int = 0) -> str:
    moment = timezone.now().replace(microsecond=0) - dt.timedelta(hours=1) + dt.timedelta(minutes=minutes)
    return moment.isoformat()


def send(path: str, body, write_key: str | None, **headers):
    data = body if isinstance(body, bytes) else json.dumps(body)
    if write_key is not None:
        headers.setdefault("HTTP_AUTHORIZATION", basic(write_key))
    return Client().post(path, data=data, content_type="application/json", **headers)


def ok(response) -> list[dict]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    return body["results"]


def profile_of(admin, type_: str, value: str) -> dict:
    response = admin.get("/api/v1/profiles", {"identifierType": type_, "identifierValue": value})
    assert response.status_code == 200, response.content
    return response.json()


def events_of(admin, profile_id: str) -> list[dict]:
    return admin.get(f"/api/v1/profiles/{profile_id}/events").json()["results"]


def track(message_id: str = "m-1", **fields) -> dict:
    body = {
        "messageId": message_id,
        "userId": "cust-42",
        "event": "Order Completed",
        "properties": {"orderId": "10001", "total": 99.5},
        "timestamp": recent(),
    }
    body.update(fields)
    return body


# --- the mapping ---------------------------------------------------------------------------


def test_track_becomes_an_event_of_the_snake_cased_type_in_the_write_keys_source(write_key, admin):
    message = track("3f1c", context={"traits": {"email": " Ann@Example.com "}})
    (result,) = ok(send("/v1/track", message, write_key))
    assert result == {"messageId": "3f1c", "status": "accepted"}
    profile = profile_of(admin, "EXTERNAL", "cust-42")
    assert {(i["type"], i["value"]) for i in profile["identifiers"]} == {
        ("EXTERNAL", "cust-42"),
        ("EMAIL", "ann@example.com"),
    }
    (event,) = events_of(admin, profile["id"])
    assert (event["eventType"], event["source"], event["externalEventId"]) == ("order_completed", "web", "3f1c")
    assert event["properties"] == {"orderId": "10001", "total": 99.5}
    assert dt.datetime.fromisoformat(event["occurredAt"]) == dt.datetime.fromisoformat(message["timestamp"])


def test_identify_sets_registered_traits_and_makes_email_and_phone_identifiers(write_key, admin):
    message = {
        "messageId": "id-1",
        "userId": "cust-42",
        "anonymousId": "anon-7",
        "traits": {"email": "ann@example.com", "phone": "020 7946 0958", "firstName": "Ann", "plan": "pro"},
        "timestamp": recent(),
    }
    (result,) = ok(send("/v1/identify", message, write_key))
    assert result["status"] == "accepted"
    assert result["warnings"] == ["trait 'plan' is not a registered attribute; it was not stored"]
    profile = profile_of(admin, "PHONE", "+442079460958")
    assert profile["attributes"] == {"firstName": "Ann"}
    assert {i["type"]: i["value"] for i in profile["identifiers"]} == {
        "EXTERNAL": "cust-42",
        "EMAIL": "ann@example.com",
        "PHONE": "+442079460958",
        "DEVICE_KEY": "anon-7",
    }


def test_identify_with_a_badly_typed_registered_trait_is_refused_pointing_at_the_trait(write_key):
    message = {"messageId": "id-2", "userId": "cust-42", "traits": {"tier": "platinum"}, "timestamp": recent()}
    (result,) = ok(send("/v1/identify", message, write_key))
    assert (result["status"], result["code"]) == ("rejected", "contract_violation")
    assert result["errors"][0]["pointer"] == "/traits/tier"


def test_alias_joins_the_anonymous_history_to_the_users_profile(write_key, admin):
    ok(
        send(
            "/v1/page", {"messageId": "p-1", "anonymousId": "anon-9", "name": "Home", "timestamp": recent()}, write_key
        )
    )
    anonymous = profile_of(admin, "DEVICE_KEY", "anon-9")
    ok(send("/v1/identify", {"messageId": "i-1", "userId": "cust-9", "timestamp": recent(1)}, write_key))
    (result,) = ok(
        send(
            "/v1/alias",
            {"messageId": "a-1", "previousId": "anon-9", "userId": "cust-9", "timestamp": recent(2)},
            write_key,
        )
    )
    assert result["status"] == "accepted"
    joined = profile_of(admin, "DEVICE_KEY", "anon-9")
    assert joined["id"] == profile_of(admin, "EXTERNAL", "cust-9")["id"]
    assert [e["eventType"] for e in events_of(admin, joined["id"])] == ["page_viewed"]
    assert admin.get(f"/api/v1/profiles/{anonymous['id']}").json()["id"] == joined["id"]  # merged into the user


def test_alias_between_two_customers_is_refused_and_merges_nothing(write_key, admin):
    for n, user in enumerate(("cust-1", "cust-2")):
        ok(send("/v1/identify", {"messageId": f"i-{n}", "userId": user, "timestamp": recent()}, write_key))
    (result,) = ok(send("/v1/alias", {"messageId": "a-1", "previousId": "cust-1", "userId": "cust-2"}, write_key))
    assert (result["status"], result["code"]) == ("rejected", "invalid_identity")
    assert result["errors"][0]["pointer"] == "/previousId"
    assert profile_of(admin, "EXTERNAL", "cust-1")["id"] != profile_of(admin, "EXTERNAL", "cust-2")["id"]
    assert Violation.objects.filter(code="invalid_identity").exists()


def test_page_screen_and_group_become_events(write_key, admin):
    batch = [
        {"type": "page", "messageId": "p", "userId": "u", "name": "Pricing", "properties": {"path": "/pricing"}},
        {"type": "screen", "messageId": "s", "userId": "u", "name": "Basket"},
        {"type": "group", "messageId": "g", "userId": "u", "groupId": "acme-inc", "traits": {"plan": "enterprise"}},
    ]
    for message in batch:
        message["timestamp"] = recent()
    results = ok(send("/v1/batch", {"batch": batch}, write_key))
    assert [r["status"] for r in results] == ["accepted"] * 3
    events = {e["eventType"]: e["properties"] for e in events_of(admin, profile_of(admin, "EXTERNAL", "u")["id"])}
    assert events == {
        "page_viewed": {"path": "/pricing", "name": "Pricing"},
        "screen_viewed": {"name": "Basket"},
        "group_joined": {"groupId": "acme-inc", "plan": "enterprise"},
    }


def test_batch_answers_per_message_in_order_and_a_refused_message_sinks_nothing(write_key, admin):
    batch = [
        {"type": "identify", "messageId": "b-1", "anonymousId": "anon-1", "traits": {"firstName": "Ann"}},
        {"type": "track", **track("b-2", userId=None, anonymousId="anon-1", properties={"orderId": "1", "total": "x"})},
        {"type": "track", **track("b-3", userId=None, anonymousId="anon-1", event="Cart Exploded")},
        {"type": "launch", "messageId": "b-4", "userId": "u"},
        {"type": "track", **track("b-5", userId=None, anonymousId="anon-1")},
        "not a message",
    ]
    results = ok(send("/v1/batch", {"batch": batch, "sentAt": recent()}, write_key))
    assert [(r["messageId"], r["status"]) for r in results] == [
        ("b-1", "accepted"),
        ("b-2", "rejected"),
        ("b-3", "rejected"),
        ("b-4", "rejected"),
        ("b-5", "accepted"),
        (None, "rejected"),
    ]
    assert (results[1]["code"], results[1]["errors"][0]["pointer"]) == ("contract_violation", "/properties/total")
    assert (results[2]["code"], results[2]["errors"][0]["pointer"]) == ("unknown_event_type", "/event")
    assert (results[3]["code"], results[3]["errors"][0]["pointer"]) == ("unknown_message_type", "/type")
    profile = profile_of(admin, "DEVICE_KEY", "anon-1")
    assert profile["attributes"] == {"firstName": "Ann"}
    assert [e["externalEventId"] for e in events_of(admin, profile["id"])] == ["b-5"]
    assert set(Violation.objects.values_list("code", flat=True)) >= {"contract_violation", "unknown_event_type"}


def test_a_message_without_message_id_is_refused_pointing_at_it(write_key):
    (result,) = ok(send("/v1/track", track(messageId=None), write_key))
    assert result["status"] == "rejected"
    assert result["errors"][0]["pointer"] == "/messageId"
    assert Event.objects.count() == 0


def test_the_same_message_id_three_times_is_one_event(write_key, admin):
    message = track("same")  # an SDK retry resends the very same message
    statuses = [ok(send("/v1/track", message, write_key))[0]["status"] for _ in range(3)]
    assert statuses == ["accepted", "duplicate", "duplicate"]
    assert Event.objects.count() == 1


def test_the_same_message_id_with_another_payload_is_a_conflict_that_changes_nothing(write_key):
    ok(send("/v1/track", track("k"), write_key))
    before = row_counts(with_violations=False)
    (result,) = ok(send("/v1/track", track("k", properties={"orderId": "2", "total": 1}), write_key))
    assert (result["status"], result["code"]) == ("conflict", "idempotency_conflict")
    assert result["errors"][0]["pointer"] == "/messageId"
    assert row_counts(with_violations=False) == before


def test_a_message_cannot_choose_another_source(tenant, write_key, admin):
    from ingest.services import source_create

    source_create(tenant=tenant, key="crm")
    ok(send("/v1/track", track("s-1", source="crm"), write_key))
    (event,) = events_of(admin, profile_of(admin, "EXTERNAL", "cust-42")["id"])
    assert event["source"] == "web"


# --- timestamps ----------------------------------------------------------------------------


def test_original_timestamp_is_corrected_by_the_clients_clock_skew(write_key, admin):
    skew = dt.timedelta(minutes=10)  # the client's clock runs 10 minutes behind
    original = timezone.now().replace(microsecond=0) - dt.timedelta(hours=2)
    sent = timezone.now() - skew
    message = track("t-1", timestamp=None, originalTimestamp=original.isoformat(), sentAt=sent.isoformat())
    ok(send("/v1/track", message, write_key))
    (event,) = events_of(admin, profile_of(admin, "EXTERNAL", "cust-42")["id"])
    corrected = dt.datetime.fromisoformat(event["occurredAt"])
    assert abs(corrected - (original + skew)) < dt.timedelta(seconds=5)


def test_without_timestamps_the_time_received_is_taken_and_a_retry_is_still_a_duplicate(write_key, admin):
    before = timezone.now()
    message = track("t-2", timestamp=None)
    assert ok(send("/v1/track", message, write_key))[0]["status"] == "accepted"
    assert ok(send("/v1/track", message, write_key))[0]["status"] == "duplicate"
    (event,) = events_of(admin, profile_of(admin, "EXTERNAL", "cust-42")["id"])
    assert before <= dt.datetime.fromisoformat(event["occurredAt"]) <= timezone.now()


def test_an_absurd_clock_skew_is_refused_not_a_500(write_key):
    message = track("t-4", timestamp=None, originalTimestamp="9999-12-31T00:00:00Z", sentAt="0001-01-01T00:00:00Z")
    (result,) = ok(send("/v1/track", message, write_key))
    assert (result["status"], result["code"]) == ("rejected", "invalid_timestamp")
    assert result["errors"][0]["pointer"] == "/originalTimestamp"


def test_a_timestamp_without_offset_is_refused_pointing_at_it(write_key):
    (result,) = ok(send("/v1/track", track("t-3", timestamp="2026-11-20T10:15:00"), write_key))
    assert (result["status"], result["code"]) == ("rejected", "invalid_timestamp")
    assert result["errors"][0]["pointer"] == "/timestamp"


# --- credentials -----------------------------------------------------------------------------


def test_the_write_key_may_come_in_the_body(write_key):
    body = {"batch": [{"type": "track", **track("w-1")}], "writeKey": write_key}
    assert ok(send("/v1/batch", body, None))[0]["status"] == "accepted"


@pytest.mark.parametrize(
    "authorization",
    [basic("rfk_abcdefgh_not-a-real-secret"), basic("garbage"), "Basic %%%", "Bearer x", "Api-Key nope"],
)
def test_a_bad_write_key_is_401_and_changes_nothing(write_key, authorization):
    response = send("/v1/batch", {"batch": [{"type": "track", **track()}]}, None, HTTP_AUTHORIZATION=authorization)
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response["WWW-Authenticate"].startswith("Basic")
    assert Event.objects.count() == 0


def test_no_write_key_at_all_is_401(write_key):
    response = send("/v1/track", track(), None)
    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")


def test_a_revoked_write_key_is_401(tenant, write_key):
    from tenants.models import ApiKey

    api_key_revoke(api_key=ApiKey.objects.get(source_key="web"))
    response = send("/v1/track", track(), write_key)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_an_ingest_key_without_a_source_is_403(tenant, write_key):
    plain = api_key_create(tenant=tenant, scopes=["ingest"]).plaintext
    response = send("/v1/track", track(), plain)
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert "not a write key" in response.json()["detail"]


def test_a_write_key_of_tenant_a_writes_only_to_tenant_a(tenant, other_tenant, write_key, admin, key_factory):
    other_key = segment_tenant_setup(other_tenant)
    ok(send("/v1/identify", {"messageId": "x", "userId": "cust-42", "traits": {"firstName": "Ann"}}, write_key))
    ok(send("/v1/identify", {"messageId": "x", "userId": "cust-42", "traits": {"firstName": "Bob"}}, other_key))
    other_admin = make_client(key_factory(other_tenant, ["admin"]).plaintext)
    assert profile_of(admin, "EXTERNAL", "cust-42")["attributes"] == {"firstName": "Ann"}
    assert profile_of(other_admin, "EXTERNAL", "cust-42")["attributes"] == {"firstName": "Bob"}
    mine = profile_of(admin, "EXTERNAL", "cust-42")["id"]
    assert other_admin.get(f"/api/v1/profiles/{mine}").status_code == 404


# --- bad bodies and bounds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "malformed_json"),
        (b"", "empty_body"),
        (b"{}", "empty_body"),
        (b"[1, 2]", "not_an_object"),
        (b'{"batch": {}}', "malformed_batch"),
        (b'{"a": 1, "a": 2}', "duplicate_key"),
    ],
)
def test_a_body_that_is_not_a_json_batch_is_400(write_key, body, code):
    response = send("/v1/batch", body, write_key)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == code


def test_gzip_bodies_are_accepted(write_key):
    body = gzip.compress(json.dumps({"batch": [{"type": "track", **track("gz")}]}).encode())
    results = ok(send("/v1/batch", body, write_key, HTTP_CONTENT_ENCODING="gzip"))
    assert results[0]["status"] == "accepted"


@override_settings(CDP_MAX_BODY_BYTES=64 * 1024)
def test_a_gzip_bomb_is_413_without_inflating_it(write_key):
    bomb = gzip.compress(b'{"batch": [' + b" " * (10 * 1024 * 1024) + b"]}", compresslevel=9)
    assert len(bomb) < 64 * 1024
    response = send("/v1/batch", bomb, write_key, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "payload_too_large"


def test_broken_gzip_is_400_and_an_unknown_encoding_is_415(write_key):
    truncated = gzip.compress(json.dumps({"batch": []}).encode())[:-6]
    assert send("/v1/batch", truncated, write_key, HTTP_CONTENT_ENCODING="gzip").status_code == 400
    assert send("/v1/batch", b"not gzip", write_key, HTTP_CONTENT_ENCODING="gzip").status_code == 400
    assert send("/v1/batch", b"{}", write_key, HTTP_CONTENT_ENCODING="br").status_code == 415


@override_settings(CDP_MAX_BODY_BYTES=4096)
def test_a_body_over_the_limit_is_413(write_key):
    body = {"batch": [{"type": "track", **track(f"big-{n}")} for n in range(40)]}
    response = send("/v1/batch", body, write_key)
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")


@override_settings(CDP_MAX_BATCH_EVENTS=2)
def test_a_batch_over_the_message_limit_is_413_and_changes_nothing(write_key):
    body = {"batch": [{"type": "track", **track(f"n-{n}")} for n in range(3)]}
    response = send("/v1/batch", body, write_key)
    assert (response.status_code, response.json()["code"]) == (413, "batch_too_large")
    assert Event.objects.count() == 0


@override_settings(CDP_API_KEY_RATE_PER_MINUTE=1)
def test_over_the_rate_a_write_key_gets_429_with_retry_after(write_key):
    cache.clear()
    assert send("/v1/track", track("r-1"), write_key).status_code == 200
    response = send("/v1/track", track("r-2"), write_key)
    assert (response.status_code, response["Content-Type"]) == (429, PROBLEM)
    assert 1 <= int(response["Retry-After"]) <= 60
    cache.clear()


# --- server-side only -------------------------------------------------------------------------


def test_no_cors_preflight_and_no_cors_headers(write_key):
    preflight = Client().options(
        "/v1/batch", HTTP_ORIGIN="https://shop.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert preflight.status_code in (401, 405)
    assert "Access-Control-Allow-Origin" not in preflight
    response = send("/v1/track", track(), write_key, HTTP_ORIGIN="https://shop.example")
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_unknown_paths_and_methods_under_v1_are_problems(write_key):
    missing = Client().post("/v1/nothing", data="{}", content_type="application/json")
    assert (missing.status_code, missing["Content-Type"]) == (404, PROBLEM)
    wrong = Client().get("/v1/batch", HTTP_AUTHORIZATION=basic(write_key))
    assert (wrong.status_code, wrong["Content-Type"]) == (405, PROBLEM)


def test_the_ingress_is_in_the_openapi_document(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for call in ("batch", "track", "identify", "alias", "page", "screen", "group"):
        operation = schema["paths"][f"/v1/{call}"]["post"]
        assert set(operation["responses"]) >= {"200", "400", "401", "413", "429", "503"}
        assert operation["security"] == [{"WriteKey": []}]


def test_many_messages_cost_a_bounded_number_of_queries(write_key, django_assert_max_num_queries):
    body = {"batch": [{"type": "track", **track(str(uuid.uuid4()))} for _ in range(50)]}
    with django_assert_max_num_queries(60):
        ok(send("/v1/batch", body, write_key))
    assert Event.objects.count() == 50


def test_a_message_with_a_nul_in_a_batch_is_refused_alone(write_key):
    good = {"type": "track", **track("nul-1")}
    bad = {"type": "track", **track("nul-2", properties={"orderId": "10\u00002", "total": 1.0})}
    results = ok(send("/v1/batch", {"batch": [good, bad], "sentAt": recent()}, write_key))
    assert [r["status"] for r in results] == ["accepted", "rejected"]
    assert Event.objects.filter(external_event_id="nul-1").count() == 1
