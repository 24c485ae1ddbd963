"""Every error class leaves the API as RFC 9457 application/problem+json."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from conftest import make_client

pytestmark = pytest.mark.django_db

SOURCES = "/api/v1/sources"


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"/problems/{code}"
    assert body["code"] == code
    assert body["status"] == status
    assert body["title"]
    return body


def post_raw(client, path: str, raw: bytes | str, content_type: str = "application/json"):
    return client.generic("POST", path, raw, content_type=content_type)


def test_validation_error_is_422_with_pointers(admin_api):
    body = problem(
        admin_api.post(SOURCES, {"key": "Not A Key!", "name": 5 * "x" * 100}, format="json"), 422, "validation_error"
    )
    pointers = {e["pointer"]: e["code"] for e in body["errors"]}
    assert pointers == {"/key": "invalid", "/name": "max_length"}
    assert "2 problems" in body["detail"]


def test_missing_field_points_at_it(admin_api):
    body = problem(admin_api.post(SOURCES, {}, format="json"), 422, "validation_error")
    assert body["errors"] == [{"pointer": "/key", "code": "required", "detail": "This field is required."}]


def test_unparseable_body_is_400(admin_api):
    body = problem(post_raw(admin_api, SOURCES, b'{"key": '), 400, "malformed_json")
    assert "not valid JSON" in body["detail"]


def test_body_that_is_not_an_object_is_400(admin_api):
    problem(post_raw(admin_api, SOURCES, b'["key"]'), 400, "not_an_object")
    problem(post_raw(admin_api, SOURCES, b'"shop"'), 400, "not_an_object")


def test_invalid_utf8_is_400(admin_api):
    problem(post_raw(admin_api, SOURCES, b'{"key": "\xff"}'), 400, "malformed_json")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ('{"key": "a\\u0000b"}', "invalid_characters"),
        ('{"key": "x", "name": {"deep": ["\\ud800"]}}', "invalid_characters"),
        ('{"key": NaN}', "invalid_number"),
        ('{"key": Infinity}', "invalid_number"),
        ('{"key": ' + "9" * 5000 + "}", "number_too_large"),
        ('{"key": 1e999}', "number_too_large"),
        ('{"key": "a", "key": "b"}', "duplicate_key"),
        ("[" * 50 + "]" * 50, "too_deep"),
        ("[" * 100_000 + "]" * 100_000, "too_deep"),
    ],
)
def test_hostile_json_is_refused_with_400_before_any_work(admin_api, raw, code):
    body = problem(post_raw(admin_api, SOURCES, raw), 400, code)
    assert body["detail"]
    assert admin_api.get(SOURCES).json()["results"] == []


def test_nul_deep_inside_is_reported_with_its_pointer(admin_api):
    raw = json.dumps({"key": "x", "name": {"a": [1, {"b/c": "bad\u0000"}]}})
    body = problem(post_raw(admin_api, SOURCES, raw), 400, "invalid_characters")
    assert body["errors"][0]["pointer"] == "/name/a/1/b~1c"


@override_settings(CDP_MAX_BODY_BYTES=2048)
def test_body_over_the_limit_is_413(admin_api):
    raw = json.dumps({"key": "big", "name": "x" * 5000})
    body = problem(post_raw(admin_api, SOURCES, raw), 413, "payload_too_large")
    assert "2048" in body["detail"]


def test_unsupported_media_type_is_415(admin_api):
    problem(
        post_raw(admin_api, SOURCES, "key=x", content_type="application/x-www-form-urlencoded"),
        415,
        "unsupported_media_type",
    )


def test_no_credential_is_401_with_www_authenticate():
    response = make_client(None).get(SOURCES)
    problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Api-Key")


def test_missing_scope_is_403(ingest_api):
    problem(ingest_api.get(SOURCES), 403, "permission_denied")


def test_unknown_url_under_api_is_404_problem(admin_api):
    body = problem(admin_api.get("/api/v1/no/such/thing"), 404, "not_found")
    assert "/api/v1/no/such/thing" in body["detail"]
    problem(make_client(None).get("/api/nothing-here"), 404, "not_found")


def test_unknown_url_outside_api_is_a_normal_404_page(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_wrong_method_is_405(admin_api):
    body = problem(admin_api.delete(SOURCES), 405, "method_not_allowed")
    assert "DELETE" in body["detail"]


@override_settings(CDP_API_KEY_RATE_PER_MINUTE=2)
def test_throttled_is_429_with_retry_after(admin_api):
    from django.core.cache import cache

    cache.clear()
    assert admin_api.get(SOURCES).status_code == 200
    assert admin_api.get(SOURCES).status_code == 200
    response = admin_api.get(SOURCES)
    problem(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
    cache.clear()


@pytest.mark.urls("tests.urls")
def test_unhandled_error_is_500_without_traceback(client):
    client.raise_request_exception = False
    response = client.get("/api/v1/_boom")
    body = problem(response, 500, "internal_error")
    text = response.content.decode()
    assert "hunter2" not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text
    assert set(body) == {"type", "title", "status", "code", "detail"}
