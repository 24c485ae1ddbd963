"""Chunked request bodies are read (bounded) where the server decodes them, refused with
411 where it does not, and never read as an empty body; an empty body is a 400
(issue 11 item 4)."""

from __future__ import annotations

import http.client
import json

import pytest

from ingest.models import Event, Violation

from .conftest import numbered

pytestmark = pytest.mark.django_db


def test_a_chunked_body_the_server_does_not_decode_is_411(api, event):
    response = api.generic(
        "POST",
        "/api/v1/events",
        json.dumps(event),
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
    )
    assert response.status_code == 411, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "length_required"
    assert Event.objects.count() == 0 and Violation.objects.count() == 0


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/events/batch", "/api/v1/sources"])
def test_an_empty_body_is_400_not_422(api, path):
    response = api.generic("POST", path, b"", content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "malformed_json"
    assert Violation.objects.count() == 0


def _post_chunked(server, path: str, key: str, chunks: list[bytes]) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request(
            "POST",
            path,
            body=iter(chunks),
            headers={"Authorization": f"Api-Key {key}", "Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


@pytest.mark.postgres_only
def test_gunicorn_reads_a_chunked_body(gunicorn, api_key):
    body = json.dumps(numbered(1)).encode()
    status, answer = _post_chunked(gunicorn, "/api/v1/events", api_key, [body[:20], body[20:]])
    assert status == 201, answer
    assert answer["status"] == "accepted"


@pytest.mark.postgres_only
def test_gunicorn_bounds_a_chunked_body_like_any_other(gunicorn, api_key, settings):
    chunk = b" " * 65536
    limit = 1_048_576
    status, answer = _post_chunked(gunicorn, "/api/v1/events", api_key, [b"{"] + [chunk] * (limit // len(chunk) + 1))
    assert status == 413, answer
    assert answer["code"] == "payload_too_large"
